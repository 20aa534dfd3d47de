"""The app's glue, next to `app.py`: what its events do (`service`), what it accepts
(`inputs`), what the page says about the model (`wording`), and a launcher for tests and
benchmarks (`server`). Not part of the installed `memesent` package."""
