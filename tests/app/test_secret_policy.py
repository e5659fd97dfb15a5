"""A secret set that fails the app's checks keeps the app alive but not ready, naming the secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.application import create_app
from app.secret_policy import TOKEN_MIN_LENGTH, rejected_secrets
from app.settings import Settings

GOOD = "a-good-token-of-sufficient-length"
OTHER = "another-good-token-of-enough-length"


def _settings(tmp_path: Path, **secrets: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", app_release="r-test", **secrets)  # type: ignore[arg-type]


def test_a_sound_set_is_accepted(tmp_path: Path) -> None:
    assert rejected_secrets(_settings(tmp_path, api_token=GOOD, api_token_previous=OTHER)) == {}


@pytest.mark.parametrize(
    ("secrets", "name"),
    [
        pytest.param({"api_token": "x" * (TOKEN_MIN_LENGTH - 1)}, "API_TOKEN", id="short"),
        pytest.param({"api_token": GOOD + "\n"}, "API_TOKEN", id="trailing-newline"),
        pytest.param({"api_token": "has a space in it, long enough"}, "API_TOKEN", id="space"),
        pytest.param(
            {"api_token": GOOD, "api_token_previous": GOOD}, "API_TOKEN_PREVIOUS", id="same"
        ),
        pytest.param(
            {"api_token": GOOD, "api_token_previous": "short"}, "API_TOKEN_PREVIOUS", id="prev"
        ),
    ],
)
def test_an_unusable_secret_is_named(tmp_path: Path, secrets: dict[str, str], name: str) -> None:
    assert list(rejected_secrets(_settings(tmp_path, **secrets))) == [name]


def test_rejected_set_is_alive_not_ready_and_never_shows_the_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "bad-value-" + "q" * 3
    settings = _settings(tmp_path, api_token=GOOD, api_token_previous=bad)
    with caplog.at_level(logging.ERROR, logger="app"), TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        assert client.get("/health/live").status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "rejected_secrets": ["API_TOKEN_PREVIOUS"]}
    assert "secret API_TOKEN_PREVIOUS rejected" in caplog.text
    assert bad not in caplog.text
    assert bad not in ready.text


def test_an_empty_previous_token_ends_the_overlap_and_is_not_rejected(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_token=GOOD, api_token_previous="")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/ready").json() == {"status": "ready"}
