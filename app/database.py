"""SQLite storage for items. The file lives in the data directory, outside any release."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("app")
T = TypeVar("T")

SCHEMA_VERSION = 1
"""Bumped by each change to :data:`SCHEMA`; stored in SQLite's ``user_version``."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL
)
"""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached (file gone, directory unreadable, disk error)."""


# A failed SQLite transaction leaves nothing behind (it is rolled back), so one more attempt is
# safe for a read and for a write alike. Seen under full-speed load while workers recycle, one in
# about 100,000 requests: "disk I/O error", "file is not a database" on a sound file.
RETRY_DELAY = 0.01


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    description: str | None
    created_at: str


class Database:
    """Opens the SQLite file at start-up (creating the schema) and a connection per operation.

    A connection per operation keeps the synchronous endpoints (run in FastAPI's thread pool)
    free of shared-connection locking; opening an SQLite file costs microseconds. Operations
    open the file read-write without creating it, so a database that disappears is reported as
    unavailable instead of being silently recreated empty.

    One more connection stays open from :meth:`open` to :meth:`close`. In WAL mode the last
    connection to close checkpoints and deletes the write-ahead log; with a connection per
    operation that happened whenever no request was in the database, thousands of times a second
    under load, across every worker process, and a request racing it now and then got "disk I/O
    error". With one connection held per process, the log is only removed when the app stops.
    """

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._opened = False
        self._held: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the data directory, the file and the schema; switch to WAL journaling."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=self.timeout)) as conn, conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SCHEMA)
            if self._held is None:
                self._held = sqlite3.connect(
                    f"file:{self.path}?mode=rw", uri=True, check_same_thread=False
                )
        except (OSError, sqlite3.Error) as error:
            raise DatabaseUnavailable(f"cannot open database {self.path}: {error}") from error
        self._opened = True

    def migrate(self) -> tuple[int, int]:
        """Bring the schema to :data:`SCHEMA_VERSION`; returns (version before, version after).

        Every step is idempotent (``IF NOT EXISTS``), so running it on an up-to-date database,
        or while the previous release still serves, changes nothing.
        """
        self.open()
        with self.connect() as conn:
            before = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if before < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return before, max(before, SCHEMA_VERSION)

    def close(self) -> None:
        self._opened = False
        if self._held is not None:
            self._held.close()
            self._held = None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        if not self._opened:
            raise DatabaseUnavailable("database is not open")
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=self.timeout)
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open database {self.path}: {error}") from error
        try:
            with conn:
                yield conn
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise
        except sqlite3.DatabaseError as error:  # locked, disk I/O, not a database, ...
            raise DatabaseUnavailable(str(error)) from error
        finally:
            conn.close()

    def ping(self) -> bool:
        """True when a ``SELECT 1`` against the items table answers on a new connection.

        A bare ``SELECT 1`` never reads the file, so it would pass on a corrupt or foreign file;
        selecting from the table makes SQLite read the header and the schema. A database that
        could not be opened at start-up is opened here, so readiness recovers on its own.
        """
        try:
            if not self._opened:
                self.open()
            with self.connect() as conn:
                conn.execute("SELECT 1 FROM items LIMIT 1").fetchall()
        except DatabaseUnavailable:
            return False
        return True

    def transaction(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation`` in one transaction, tried once more when SQLite fails it (see
        :data:`RETRY_DELAY`); a second failure is :class:`DatabaseUnavailable`."""
        try:
            with self.connect() as conn:
                return operation(conn)
        except DatabaseUnavailable as error:
            if not self._opened:
                raise
            log.warning("database error, trying again once: %s", error)
        time.sleep(RETRY_DELAY)
        with self.connect() as conn:
            return operation(conn)

    def add_item(self, name: str, description: str | None) -> Item:
        created_at = datetime.now(UTC).isoformat(timespec="seconds")

        def insert(conn: sqlite3.Connection) -> int | None:
            cursor = conn.execute(
                "INSERT INTO items (name, description, created_at) VALUES (?, ?, ?)",
                (name, description, created_at),
            )
            return cursor.lastrowid

        item_id = self.transaction(insert)
        if item_id is None:
            raise DatabaseUnavailable("the insert returned no row id")
        return Item(id=item_id, name=name, description=description, created_at=created_at)

    def list_items(self, limit: int = 100, offset: int = 0) -> list[Item]:
        rows = self.transaction(
            lambda conn: conn.execute(
                "SELECT id, name, description, created_at FROM items ORDER BY id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        )
        return [Item(*row) for row in rows]
