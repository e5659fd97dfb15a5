"""Creates the table the ready route reads; run from the project's root (python migrate.py)."""

from __future__ import annotations

import sqlite3

from main import DATABASE

with sqlite3.connect(DATABASE) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, at TEXT)")
print(f"requirements project: migrated {DATABASE}")
