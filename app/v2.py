"""Version 2 of the API, mounted at ``/v2``: items carry their creation time."""

from __future__ import annotations

from fastapi import FastAPI, Query

from app.errors import install_error_handlers
from app.models import ItemV2
from app.runtime import RuntimeDep


def create_v2() -> FastAPI:
    api = install_error_handlers(FastAPI(title="Reference app API", version="2"))

    @api.get("/items")
    def list_items(
        runtime: RuntimeDep,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0),
    ) -> list[ItemV2]:
        items = runtime.database.list_items(limit=limit, offset=offset)
        return [
            ItemV2(id=i.id, name=i.name, description=i.description, created_at=i.created_at)
            for i in items
        ]

    return api
