"""Configuration from environment variables and a secrets directory (systemd credentials).

Non-secret settings come from environment variables (``APP_RELEASE``, ``DATA_DIR``, ...).
Secrets come from one file per secret in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``)
when that variable is set; an environment variable of the same name works too (``environment``
mode, tests). A missing or invalid setting raises :class:`SettingsError` naming the setting,
never its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


class SettingsError(RuntimeError):
    """The configuration is unusable; the message names settings, never values."""


class Settings(BaseSettings):
    """Settings of the reference app. Field names map to upper-case variable and file names."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    app_release: str = "dev"
    """Release label the process was started with; ``/version`` reports it."""

    data_dir: Path = Path("data")
    """Directory for state that survives releases (the SQLite database by default)."""

    database_path: Path | None = None
    """SQLite database file; defaults to ``<data_dir>/app.sqlite3``."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    enable_diagnostics: bool = False
    """Serve ``/_diag/*`` (a slow endpoint for shutdown and load tests); off in production."""

    api_token: SecretStr
    """Bearer token accepted by ``/v1/me`` (secret, required)."""

    api_token_previous: SecretStr | None = None
    """The token being rotated out, accepted until the operator ends the overlap (secret)."""

    @property
    def database_file(self) -> Path:
        return self.database_path or self.data_dir / "app.sqlite3"

    def accepted_tokens(self) -> dict[str, str]:
        """Tokens ``/v1/me`` accepts, by role: ``current`` and, during a rotation, ``previous``."""
        tokens = {"current": self.api_token.get_secret_value()}
        if self.api_token_previous is not None and self.api_token_previous.get_secret_value():
            tokens["previous"] = self.api_token_previous.get_secret_value()
        return tokens


def _describe(error: ValidationError) -> str:
    """Turn a validation error into a message that names settings and never echoes input values."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in item["loc"]).upper() or "settings"
        if item["type"] == "missing":
            problems.append(
                f"{name} is required: provide it as a credential file named {name} in "
                f"${CREDENTIALS_ENV} or as the environment variable {name}"
            )
        else:
            problems.append(f"{name} is invalid: {item['msg']}")
    return "configuration error: " + "; ".join(problems)


def load_settings() -> Settings:
    """Read the settings, taking secrets from ``$CREDENTIALS_DIRECTORY`` when it is set."""
    secrets_dir = os.environ.get(CREDENTIALS_ENV)
    if secrets_dir and not Path(secrets_dir).is_dir():
        raise SettingsError(
            f"configuration error: ${CREDENTIALS_ENV} is set but {secrets_dir} is not a readable "
            "directory"
        )
    try:
        if secrets_dir:
            return Settings(_secrets_dir=secrets_dir)
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
