"""The service's SQLite store in DATA_DIR; the migration creates its one table."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def database() -> Path:
    return Path(os.environ.get("DATA_DIR", ".")) / "factory.sqlite3"


def migrate() -> None:
    with sqlite3.connect(database()) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"
        )
    print(f"kitdemo-factory: migrated {database()}")


def ready() -> bool:
    try:
        with sqlite3.connect(f"file:{database()}?mode=ro", uri=True) as conn:
            conn.execute("SELECT count(*) FROM notes").fetchone()
    except sqlite3.Error:
        return False
    return True
