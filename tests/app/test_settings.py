from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, load_settings

CANARY = "canary-5d1f0c-never-print-me"


def _credentials(directory: Path, **secrets: str) -> Path:
    directory.mkdir()
    for name, value in secrets.items():
        (directory / name).write_text(value)
    return directory


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("API_TOKEN", "from-env")
    monkeypatch.setenv("APP_RELEASE", "r42")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.api_token.get_secret_value() == "from-env"
    assert settings.app_release == "r42"
    assert settings.database_file == tmp_path / "app.sqlite3"


def test_credentials_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    creds = _credentials(tmp_path / "creds", API_TOKEN="from-file\n", API_TOKEN_PREVIOUS="old")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    settings = load_settings()
    # systemd credentials are files; a trailing newline from an editor is not part of the secret.
    assert settings.accepted_tokens() == {"current": "from-file", "previous": "old"}


def test_database_path_can_be_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("API_TOKEN", "t")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "x.db"))
    assert load_settings().database_file == tmp_path / "x.db"


def test_missing_secret_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    creds = _credentials(tmp_path / "creds", API_TOKEN_PREVIOUS=CANARY)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "API_TOKEN is required" in message
    assert CANARY not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_invalid_value_is_named_but_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "t")
    monkeypatch.setenv("LOG_LEVEL", CANARY)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "LOG_LEVEL is invalid" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_unreadable_credentials_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match="CREDENTIALS_DIRECTORY"):
        load_settings()


def test_importing_the_entry_point_without_secret_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.modules.pop("app.main", None)
    with pytest.raises(SettingsError, match="API_TOKEN is required"):
        importlib.import_module("app.main")


def test_secret_is_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(api_token=CANARY)
    assert CANARY not in repr(settings)
    assert CANARY not in str(settings.model_dump())
