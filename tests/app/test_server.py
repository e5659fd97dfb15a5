"""The app under the production server: gunicorn with uvicorn_worker workers on a unix socket.

Starts real processes (no mocks), talks to them over their socket and stops them with SIGTERM,
as systemd does, checking that the lifespan shutdown runs and the master exits cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _wait_for_socket(sock: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        if sock.exists():
            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
                    if client.get("http://app/health/live", timeout=2).status_code == 200:
                        return
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no answer on {sock} within {timeout}s")


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"API_TOKEN", "CREDENTIALS_DIRECTORY"}}
    env.update(
        PYTHONPATH=str(ROOT), DATA_DIR=str(tmp_path / "data"), APP_RELEASE="r-server", **extra
    )
    return env


def _wait_for_log(log: Path, text: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not seen {count} times within {timeout}s:\n{log.read_text()}")


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    sock = tmp_path / "app.sock"
    log = tmp_path / "gunicorn.log"
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o700)
    (creds / "API_TOKEN").write_text("server-token-from-credentials")
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--workers",
            "2",
            "--bind",
            f"unix:{sock}",
            "--graceful-timeout",
            "10",
            "--no-control-socket",
            "app.main:app",
        ],
        cwd=tmp_path,
        env=_environment(tmp_path, CREDENTIALS_DIRECTORY=str(creds)),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_socket(sock, proc)
        _wait_for_log(log, "Application startup complete", count=2)
        yield proc, sock, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_gunicorn_uvicorn_worker_serves_and_stops_cleanly(
    gunicorn: tuple[subprocess.Popen[str], Path, Path],
) -> None:
    proc, sock, log = gunicorn
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://app"
    ) as client:
        assert client.get("/health/ready").json() == {"status": "ready"}
        assert client.get("/version").json()["version"] == "r-server"
        assert client.post("/v1/items", json={"name": "x"}).status_code == 201
        me = client.get("/v1/me", headers={"Authorization": "Bearer server-token-from-credentials"})
        assert me.status_code == 200, "the token must come from the credentials directory"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    output = log.read_text()
    assert proc.returncode == 0, output
    assert output.count("stopped cleanly") == 2, output


def test_missing_secret_stops_gunicorn_with_a_clear_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--workers",
            "1",
            "--bind",
            f"unix:{tmp_path / 'app.sock'}",
            "--no-control-socket",
            "app.main:app",
        ],
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "API_TOKEN is required" in proc.stdout + proc.stderr


def test_uvicorn_direct_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    sock = tmp_path / "uv.sock"
    proc = subprocess.Popen(
        [str(BIN / "uvicorn"), "--uds", str(sock), "app.main:app"],
        cwd=tmp_path,
        env=_environment(tmp_path, API_TOKEN="t"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_socket(sock, proc)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn re-raises the signal after its graceful shutdown, as a supervisor expects.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "stopped cleanly" in output
