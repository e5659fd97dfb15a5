"""create_app(): the service's routes, built on each call (gunicorn calls it once per worker)."""

from __future__ import annotations

import itertools
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kitdemo_factory import store


def create_app() -> Starlette:
    counter = itertools.count(1)
    items: list[dict[str, object]] = []

    async def livez(_: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        ok = store.ready()
        return JSONResponse(
            {"status": "ready" if ok else "no notes table"}, status_code=200 if ok else 503
        )

    async def version(_: Request) -> JSONResponse:
        return JSONResponse({"version": os.environ.get("APP_RELEASE", "dev"), "project": "factory"})

    async def list_items(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", "10"))
        return JSONResponse(items[-limit:])

    async def create_item(request: Request) -> JSONResponse:
        body = await request.json()
        item = {"id": next(counter), "name": str(body["name"])}
        items.append(item)
        del items[:-100]
        return JSONResponse(item, status_code=201)

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/version", version),
            Route("/v1/items", list_items, methods=["GET"]),
            Route("/v1/items", create_item, methods=["POST"]),
        ]
    )
