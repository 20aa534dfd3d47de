"""memesent's benchmarks: speed, app latency, OCR accuracy and explanation faithfulness.

Each module runs with `python -m benchmarks.NAME` from the repository root; README lists the
commands and the numbers they gave. Not part of the installed package.
"""
