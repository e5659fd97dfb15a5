"""Checks a secret set must pass before the app reports ready.

A rotation that ships an unusable secret (a token pasted with a trailing newline, one too short
to be a real token, the "previous" token equal to the new one) must never take traffic. The app
stays alive, ``/health/ready`` answers 503 and names the rejected secrets (names only, never a
value), so a deploy gate keeps the old secret set serving and can say which name was wrong.
"""

from __future__ import annotations

from app.settings import Settings

TOKEN_MIN_LENGTH = 16
"""Shortest bearer token accepted; generate real ones with ``openssl rand -hex 32``."""


def _token_problem(token: str) -> str | None:
    if token != token.strip() or any(not char.isprintable() or char.isspace() for char in token):
        return "contains whitespace or control characters (a pasted newline?)"
    if len(token) < TOKEN_MIN_LENGTH:
        return f"is shorter than {TOKEN_MIN_LENGTH} characters"
    return None


def rejected_secrets(settings: Settings) -> dict[str, str]:
    """Secret name -> why it is rejected, for every secret of the set that fails a check."""
    rejected: dict[str, str] = {}
    current = settings.api_token.get_secret_value()
    problem = _token_problem(current)
    if problem:
        rejected["API_TOKEN"] = problem
    previous = settings.api_token_previous
    if previous is not None and previous.get_secret_value():
        value = previous.get_secret_value()
        problem = _token_problem(value)
        if problem:
            rejected["API_TOKEN_PREVIOUS"] = problem
        elif value == current:
            rejected["API_TOKEN_PREVIOUS"] = "equals API_TOKEN (rotate to a new token)"  # noqa: S105
    return rejected
