"""The API's database: SQLite in DATA_DIR (set by the kit), tables made by alembic."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine

metadata = MetaData()
items = Table(
    "items", metadata, Column("id", Integer, primary_key=True), Column("name", String(200))
)


def url() -> str:
    return f"sqlite:///{Path(os.environ.get('DATA_DIR', '.')) / 'workspace-api.sqlite3'}"


def engine() -> Engine:
    return create_engine(url())
