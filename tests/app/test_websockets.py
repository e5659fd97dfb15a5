from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect


def test_the_echo_websocket_sends_back_each_message(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws/echo") as websocket:
        for message in ("hello", "", "ünïcode " * 100):
            websocket.send_text(message)
            assert websocket.receive_text() == message


def test_the_echo_route_is_websocket_only(client: TestClient) -> None:
    assert client.get("/v1/ws/echo").status_code == 404
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/ws/missing"):
        pass
