"""The diagnostics routes: absent unless enabled, a bounded slow request when enabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.application import create_app
from app.diagnostics import MAX_SLEEP_SECONDS
from app.settings import Settings, SettingsError, load_settings
from tests.conftest import TOKEN


@pytest.fixture
def diag_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(api_token=TOKEN, data_dir=tmp_path, enable_diagnostics=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_off_by_default(client: TestClient) -> None:
    assert client.get("/_diag/sleep", params={"seconds": 0}).status_code == 404


def test_sleep_answers_after_the_requested_time(diag_client: TestClient) -> None:
    started = time.monotonic()
    response = diag_client.get("/_diag/sleep", params={"seconds": 0.3})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["requested"] == 0.3
    assert 0.3 <= body["slept"] <= elapsed
    assert elapsed >= 0.3


@pytest.mark.parametrize("seconds", ["-1", str(MAX_SLEEP_SECONDS + 1), "soon", None])
def test_sleep_refuses_unbounded_or_bad_durations(
    diag_client: TestClient, seconds: str | None
) -> None:
    params = {} if seconds is None else {"seconds": seconds}
    started = time.monotonic()
    assert diag_client.get("/_diag/sleep", params=params).status_code == 422
    assert time.monotonic() - started < 5


def test_not_in_the_schema(diag_client: TestClient) -> None:
    paths = diag_client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/_diag")]


def test_enabled_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "t")
    assert load_settings().enable_diagnostics is False
    monkeypatch.setenv("ENABLE_DIAGNOSTICS", "true")
    assert load_settings().enable_diagnostics is True
    monkeypatch.setenv("ENABLE_DIAGNOSTICS", "sometimes")
    with pytest.raises(SettingsError, match="ENABLE_DIAGNOSTICS is invalid"):
        load_settings()
