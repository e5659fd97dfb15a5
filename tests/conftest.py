"""Shared fixtures: isolated settings, a started app (lifespan run) and its client; a loader
for the project's scripts, which are files rather than packages."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from app.application import create_app
from app.settings import Settings

TOKEN = "test-token-current"
PREVIOUS = "test-token-previous"
PROJECT = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str) -> ModuleType:
    """The module of a script of the project (``scripts/x.py``), registered as ``name``."""
    spec = importlib.util.spec_from_file_location(name, PROJECT / relative)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
