"""Version 1 of the API, mounted at ``/v1`` with its own ``/docs`` and OpenAPI schema."""

from __future__ import annotations

from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect, status

from app.errors import install_error_handlers
from app.models import ItemIn, ItemV1, Me
from app.runtime import RuntimeDep
from app.security import TokenRole


def create_v1() -> FastAPI:
    api = install_error_handlers(FastAPI(title="Reference app API", version="1"))

    @api.get("/items")
    def list_items(
        runtime: RuntimeDep,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0),
    ) -> list[ItemV1]:
        items = runtime.database.list_items(limit=limit, offset=offset)
        return [ItemV1(id=i.id, name=i.name, description=i.description) for i in items]

    @api.post("/items", status_code=status.HTTP_201_CREATED)
    def create_item(runtime: RuntimeDep, body: ItemIn) -> ItemV1:
        item = runtime.database.add_item(body.name, body.description)
        return ItemV1(id=item.id, name=item.name, description=item.description)

    @api.get("/me")
    def me(role: TokenRole) -> Me:
        return Me(subject="api-client", token=role)

    @api.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        """A WebSocket that sends back each text message it receives until the client closes
        (through nginx: docs/hardening.md#websockets)."""
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    return api
