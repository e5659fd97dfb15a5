"""A FastAPI app kept as modules at the project root, with a pinned requirements.txt: no package."""

from __future__ import annotations

import os
import sqlite3
from itertools import count
from pathlib import Path

from fastapi import FastAPI, Response
from pydantic import BaseModel

DATABASE = Path(os.environ.get("DATA_DIR", ".")) / "requirements-project.sqlite3"

app = FastAPI(title="requirements.txt project")
_ids = count(1)
_items: list[dict[str, object]] = []


class NewItem(BaseModel):
    name: str


@app.get("/api/health")
def health(response: Response) -> dict[str, str]:
    try:
        with sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True) as conn:
            conn.execute("SELECT count(*) FROM visits").fetchone()
    except sqlite3.Error:
        response.status_code = 503
        return {"status": "migrate first"}
    return {"status": "ok"}


@app.get("/version")
def version() -> dict[str, str]:
    return {"version": os.environ.get("APP_RELEASE", "dev"), "project": "requirements"}


@app.get("/v1/items")
def list_items(limit: int = 10) -> list[dict[str, object]]:
    return _items[-limit:]


@app.post("/v1/items", status_code=201)
def create_item(item: NewItem) -> dict[str, object]:
    created = {"id": next(_ids), "name": item.name}
    _items.append(created)
    del _items[:-100]
    return created
