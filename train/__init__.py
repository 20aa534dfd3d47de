"""Training memesent heads on labelled memes: `python -m train`, `python -m train.evaluate`."""
