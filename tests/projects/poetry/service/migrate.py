"""python -m service.migrate: creates the table the ready route reads."""

from __future__ import annotations

import sqlite3

from service.db import DATABASE

with sqlite3.connect(DATABASE) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total INTEGER)")
print(f"poetry project: migrated {DATABASE}")
