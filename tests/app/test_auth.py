from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.application import create_app
from app.security import match_token
from app.settings import Settings
from tests.conftest import PREVIOUS, TOKEN


def test_me_requires_a_token(client: TestClient) -> None:
    response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer ", TOKEN, f"Bearer {PREVIOUS}"],
)
def test_me_refuses_wrong_credentials(client: TestClient, header: str) -> None:
    assert client.get("/v1/me", headers={"Authorization": header}).status_code == 401


def test_me_accepts_the_current_token(client: TestClient) -> None:
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.json() == {"subject": "api-client", "token": "current"}


def test_previous_token_is_accepted_during_a_rotation(settings: Settings) -> None:
    rotating = Settings(api_token=TOKEN, api_token_previous=PREVIOUS, data_dir=settings.data_dir)
    with TestClient(create_app(rotating)) as client:
        old = client.get("/v1/me", headers={"Authorization": f"Bearer {PREVIOUS}"})
        new = client.get("/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert old.json()["token"] == "previous"
    assert new.json()["token"] == "current"


def test_an_empty_previous_token_opens_nothing(settings: Settings) -> None:
    rotating = Settings(api_token=TOKEN, api_token_previous="", data_dir=settings.data_dir)
    assert set(rotating.accepted_tokens()) == {"current"}
    with TestClient(create_app(rotating)) as client:
        assert client.get("/v1/me", headers={"Authorization": "Bearer "}).status_code == 401


def test_match_token() -> None:
    accepted = {"current": "aaa", "previous": "bbb"}
    assert match_token("aaa", accepted) == "current"
    assert match_token("bbb", accepted) == "previous"
    assert match_token("ccc", accepted) is None
    assert match_token("", accepted) is None
