"""`python -m memesent`: the command line (`memesent.cli`)."""

from .cli import main

raise SystemExit(main())
