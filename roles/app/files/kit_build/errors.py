"""The one error the build reports: a message for the operator, naming the setting to change."""

from __future__ import annotations


class BuildError(RuntimeError):
    """The project cannot become a release for the target host; the message says why, and which
    setting to change."""
