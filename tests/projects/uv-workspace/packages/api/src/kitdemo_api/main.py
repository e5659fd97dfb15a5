"""The API: routes under /api/, its health check among them, plus /version and /v1/items."""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI, HTTPException
from kitdemo_shared import label
from pydantic import BaseModel
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

from kitdemo_api.db import engine, items

app = FastAPI(title=label("api"))
utils = APIRouter(prefix="/api/v1/utils")
_engine = engine()


class NewItem(BaseModel):
    name: str


@utils.get("/live")
def live() -> bool:
    return True


@utils.get("/health-check/")
def health_check() -> dict[str, int]:
    try:
        with _engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(items)).scalar_one()
    except OperationalError as error:
        raise HTTPException(503, "run the migrations") from error
    return {"items": count}


app.include_router(utils)


@app.get("/version")
def version() -> dict[str, str]:
    return {"version": os.environ.get("APP_RELEASE", "dev"), "project": label("api")}


@app.get("/v1/items")
def list_items(limit: int = 10) -> list[dict[str, object]]:
    with _engine.connect() as conn:
        rows = conn.execute(select(items).order_by(items.c.id.desc()).limit(limit)).all()
    return [{"id": row.id, "name": row.name} for row in rows]


@app.post("/v1/items", status_code=201)
def create_item(item: NewItem) -> dict[str, object]:
    with _engine.begin() as conn:
        new_id = conn.execute(insert(items).values(name=item.name)).inserted_primary_key[0]
    return {"id": new_id, "name": item.name}
