from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from app.application import create_app
from app.settings import Settings


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_live(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_when_database_answers(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_when_database_file_is_gone(client: TestClient, settings: Settings) -> None:
    settings.database_file.unlink()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready"}
    # Liveness does not depend on the database: the process itself is fine.
    assert client.get("/health/live").status_code == 200


def test_not_ready_when_database_is_not_sqlite(client: TestClient, settings: Settings) -> None:
    settings.database_file.write_bytes(b"this is not an sqlite database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{settings.database_file}{suffix}").unlink(missing_ok=True)
    assert client.get("/health/ready").status_code == 503


def test_ready_again_after_database_comes_back(client: TestClient, settings: Settings) -> None:
    backup = settings.database_file.read_bytes()
    settings.database_file.unlink()
    assert client.get("/health/ready").status_code == 503
    settings.database_file.write_bytes(backup)
    assert client.get("/health/ready").status_code == 200


def test_health_routes_are_not_in_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/version" in paths
    assert not [path for path in paths if path.startswith("/health")]


def test_version_reports_the_configured_release(client: TestClient) -> None:
    body = client.get("/version").json()
    assert body["version"] == "r-test"
    started = datetime.fromisoformat(body["started_at"])
    assert started.tzinfo is not None


def test_version_differs_per_release(tmp_path: Path) -> None:
    releases = []
    for label in ("2026.11.25-1", "2026.11.25-2"):
        settings = Settings(api_token="t", data_dir=tmp_path, app_release=label)
        with TestClient(create_app(settings)) as client:
            releases.append(client.get("/version").json()["version"])
    assert releases == ["2026.11.25-1", "2026.11.25-2"]


def test_starts_not_ready_when_database_cannot_be_opened(tmp_path: Path) -> None:
    """A database that cannot be opened at start-up leaves the app alive but not ready."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    settings = Settings(
        api_token="test-token-current", data_dir=blocker / "data", app_release="r-test"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 503
        assert client.get("/v1/items").status_code == 503
        # The open is retried by the readiness check: once the path works, the app is ready.
        blocker.unlink()
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v1/items").status_code == 200
