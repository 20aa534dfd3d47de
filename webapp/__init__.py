"""The app's glue, next to `app.py`: what its events do (`service`) and return to the page
(`events`), what it accepts (`inputs`), how it draws an answer (`views`, `card`), what the page
says about the model (`wording`), people's corrections (`corrections`), and a launcher for tests
and benchmarks (`server`). Not part of the installed `memesent` package."""
