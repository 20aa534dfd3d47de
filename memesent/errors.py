"""`MemesentError`, the base of every error memesent raises for a user to act on, and the two
such errors whose own modules load torch (`BackboneError`, `NothingToScoreError`), so that
catching them costs no import.

Each error also keeps its built-in base (`ValueError`, `RuntimeError`), so that code catching
those still catches it; `memesent` exports every one by name.
"""

from __future__ import annotations


class MemesentError(Exception):
    """Something memesent was asked to do cannot be done; the message says what to change."""


class BackboneError(MemesentError, RuntimeError):
    """A backbone name is unknown or its weights cannot be loaded."""


class NothingToScoreError(MemesentError, ValueError):
    """A meme with neither a picture nor a caption: there is nothing to read."""
