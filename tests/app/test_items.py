from __future__ import annotations

from fastapi.testclient import TestClient

from app.application import create_app
from app.settings import Settings


def test_items_start_empty(client: TestClient) -> None:
    assert client.get("/v1/items").json() == []
    assert client.get("/v2/items").json() == []


def test_post_then_list_in_v1_and_v2(client: TestClient) -> None:
    created = client.post("/v1/items", json={"name": "widget", "description": "blue"})
    assert created.status_code == 201
    item = created.json()
    assert item == {"id": item["id"], "name": "widget", "description": "blue"}

    v1 = client.get("/v1/items").json()
    assert v1 == [item]

    v2 = client.get("/v2/items").json()
    assert len(v2) == 1
    assert {k: v2[0][k] for k in ("id", "name", "description")} == item
    assert "created_at" in v2[0]
    assert "created_at" not in v1[0]


def test_listing_pages(client: TestClient) -> None:
    for n in range(5):
        client.post("/v1/items", json={"name": f"item-{n}"})
    page = client.get("/v1/items", params={"limit": 2, "offset": 2}).json()
    assert [i["name"] for i in page] == ["item-2", "item-3"]
    assert client.get("/v1/items", params={"limit": 0}).status_code == 422


def test_invalid_items_are_rejected(client: TestClient) -> None:
    assert client.post("/v1/items", json={}).status_code == 422
    assert client.post("/v1/items", json={"name": ""}).status_code == 422
    assert client.get("/v1/items").json() == []


def test_items_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.post("/v1/items", json={"name": "kept"})
    with TestClient(create_app(settings)) as second:
        assert [i["name"] for i in second.get("/v1/items").json()] == ["kept"]


def test_writes_fail_cleanly_when_the_database_is_gone(
    client: TestClient, settings: Settings
) -> None:
    settings.database_file.unlink()
    assert client.post("/v1/items", json={"name": "lost"}).status_code == 503
    assert client.get("/v2/items").status_code == 503
    assert not settings.database_file.exists(), "the database must not be recreated empty"


def test_each_version_has_its_own_docs_and_schema(client: TestClient) -> None:
    v1 = client.get("/v1/openapi.json").json()
    v2 = client.get("/v2/openapi.json").json()
    assert v1["info"]["version"] == "1"
    assert v2["info"]["version"] == "2"
    assert set(v1["paths"]) == {"/items", "/me"}
    assert set(v2["paths"]) == {"/items"}
    assert "created_at" in v2["components"]["schemas"]["ItemV2"]["properties"]
    for prefix in ("/v1", "/v2"):
        docs = client.get(f"{prefix}/docs")
        assert docs.status_code == 200
        assert f"{prefix}/openapi.json" in docs.text
