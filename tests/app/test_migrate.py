"""The reference app's migration command (the kit's migration hook)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app import migrate
from app.database import SCHEMA_VERSION


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_migrates_a_new_database_then_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_TOKEN", "t")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("APP_RELEASE", "r1")
    assert migrate.main() == 0
    assert "migrated from version 0" in capsys.readouterr().out
    assert _user_version(tmp_path / "app.sqlite3") == SCHEMA_VERSION
    assert migrate.main() == 0
    assert f"up to date, version {SCHEMA_VERSION}" in capsys.readouterr().out


def test_fails_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert migrate.main() == 1
    assert "API_TOKEN is required" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("API_TOKEN", "t")
    monkeypatch.setenv("DATA_DIR", str(blocker / "data"))
    assert migrate.main() == 1
    assert "cannot open database" in capsys.readouterr().err
