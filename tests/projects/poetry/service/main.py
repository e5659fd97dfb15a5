"""The service's routes; it runs from the project's source tree."""

from __future__ import annotations

import os
import sqlite3

from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from service.db import DATABASE

app = FastAPI(title="Poetry project")
status = APIRouter(prefix="/status")
items: list[dict[str, object]] = []


class Item(BaseModel):
    name: str


@status.get("/live")
def live() -> dict[str, str]:
    return {"status": "live"}


@status.get("/ready")
def ready() -> dict[str, int]:
    try:
        with sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True) as conn:
            (orders,) = conn.execute("SELECT count(*) FROM orders").fetchone()
    except sqlite3.Error as error:
        raise HTTPException(503, "orders table missing") from error
    return {"orders": orders}


app.include_router(status)


@app.get("/version")
def version() -> dict[str, str]:
    return {"version": os.environ.get("APP_RELEASE", "dev"), "project": "poetry"}


@app.get("/v1/items")
def recent(limit: int = 10) -> list[dict[str, object]]:
    return items[-limit:]


@app.post("/v1/items", status_code=201)
def add(item: Item) -> dict[str, object]:
    items.append({"id": len(items) + 1, "name": item.name})
    del items[:-100]
    return items[-1]
