"""The reference app's SQLite storage against real database files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.database import Database, DatabaseUnavailable


def test_a_write_blocked_once_is_tried_again(tmp_path: Path) -> None:
    """Another connection holds the write lock past the first attempt's busy timeout and lets go
    before the second: the item is written once."""
    database = Database(tmp_path / "app.sqlite3", timeout=0.001)
    database.open()
    blocker = sqlite3.connect(tmp_path / "app.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    attempts: list[int] = []

    def insert(conn: sqlite3.Connection) -> None:
        attempts.append(1)
        if len(attempts) == 2:
            blocker.rollback()
        conn.execute("INSERT INTO items (name, created_at) VALUES ('written once', '2026-01-01')")

    database.transaction(insert)
    blocker.close()
    assert len(attempts) == 2
    assert [i.name for i in database.list_items()] == ["written once"]
    database.close()


def test_a_write_blocked_twice_is_unavailable(tmp_path: Path) -> None:
    database = Database(tmp_path / "app.sqlite3", timeout=0.001)
    database.open()
    blocker = sqlite3.connect(tmp_path / "app.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailable, match="locked"):
            database.add_item("never written", None)
    finally:
        blocker.rollback()
        blocker.close()
    assert database.list_items() == []
    database.close()


def test_a_database_that_disappears_is_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    database = Database(path)
    database.open()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(DatabaseUnavailable):
        database.list_items()
    assert not path.exists()
    database.close()
