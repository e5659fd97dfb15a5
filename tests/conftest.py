"""Shared fixtures: isolated settings, a started app (lifespan run) and its client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.application import create_app
from app.settings import Settings

TOKEN = "test-token-current"
PREVIOUS = "test-token-previous"
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the machine running the tests."""
    for name in (
        "CREDENTIALS_DIRECTORY",
        "API_TOKEN",
        "API_TOKEN_PREVIOUS",
        "APP_RELEASE",
        "DATA_DIR",
        "DATABASE_PATH",
        "LOG_LEVEL",
        "ENABLE_DIAGNOSTICS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(api_token=TOKEN, data_dir=tmp_path / "data", app_release="r-test")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
