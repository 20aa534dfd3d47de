"""memesent's benchmarks: speed, app latency, OCR accuracy and explanation faithfulness.

Each module runs with `python -m benchmarks.NAME` from the repository root and writes its
results with `--json`; docs/performance.md lists the commands, and its tables are written from
those files (`python -m tools.doc_tables`). Not part of the installed package.
"""
