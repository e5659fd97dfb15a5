"""Development mode: ``make dev`` / ``make dev-tls`` / ``run.py`` on a temporary copy of the app.

The servers run for real (uvicorn with its file watcher) on 127.0.0.1 and a free port; files are
edited in the copy and the test polls, with a deadline, until the server answers differently.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import run
from app.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
CANARY = "canary-env-3b9e-never-print-me"
# What the copy needs to run `make dev`; .venv is linked to the one running the tests.
COPIED = ("app", "run.py", "Makefile", "pyproject.toml", "constraints.txt", ".env.example")
RELOADED = "WatchFiles detected changes in"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    """The caller's environment without app settings, uvicorn options or an outer make's flags."""
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CREDENTIALS_DIRECTORY"}
    names = {field.upper() for field in Settings.model_fields} | dropped
    return {k: v for k, v in os.environ.items() if k not in names and not k.startswith("UVICORN_")}


def _wait_until(check: Callable[[], bool], what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout}s; server log:\n{log.read_text()}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(VENV)
    return copy


class Server:
    """A development server started in ``project``: its process group, log and address."""

    def __init__(self, project: Path, command: list[str], url: str) -> None:
        self.project, self.url = project, url
        self.log = project / "server.log"
        self.proc = subprocess.Popen(
            command,
            cwd=project,
            env=_environment(),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, uvicorn's reloader and its server: one group to stop
        )

    def get(self, path: str, verify: ssl.SSLContext | bool = False) -> httpx.Response | None:
        """The answer, or None while nothing answers; fails when the server has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return httpx.get(f"{self.url}{path}", timeout=2, verify=verify)
        except httpx.TransportError:
            return None

    def answers(self, path: str, expected: object, verify: ssl.SSLContext | bool = False) -> bool:
        response = self.get(path, verify)
        return response is not None and response.status_code == 200 and response.json() == expected

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def start(project: Path) -> Iterator[Callable[[list[str], str], Server]]:
    servers: list[Server] = []

    def _start(command: list[str], url: str) -> Server:
        servers.append(Server(project, command, url))
        return servers[-1]

    yield _start
    for server in servers:
        server.stop()


def _make(target: str, **variables: str) -> list[str]:
    """``make <target>`` without refreshing .venv (it is the test runner's, linked)."""
    assigned = [f"{name}={value}" for name, value in variables.items()]
    return ["make", "--no-print-directory", "--assume-old=.venv/.installed", target, *assigned]


LAUNCHERS = {
    "make-dev": lambda port: _make("dev", DEV_PORT=str(port)),
    "run.py": lambda port: [sys.executable, "run.py", "--port", str(port)],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_dev_reloads_app_changes_only(
    project: Path, start: Callable[[list[str], str], Server], launcher: str
) -> None:
    port = _free_port()
    server = start(LAUNCHERS[launcher](port), f"http://127.0.0.1:{port}")
    _wait_until(
        lambda: server.answers("/health/live", {"status": "alive"}), "first answer", server.log
    )
    assert (project / ".env").is_file(), "the first run makes .env from .env.example"
    assert "Will watch for changes in these directories: ['" + str(project / "app") + "']" in (
        server.output()
    )

    health = project / "app" / "health.py"
    health.write_text(health.read_text().replace('"alive"}', '"edited"}'))
    _wait_until(
        lambda: server.answers("/health/live", {"status": "edited"}), "the edited route", server.log
    )
    assert server.output().count(RELOADED) == 1

    # Files outside app/ (code, test output, logs, data) and byte code inside it: no reload.
    (project / "notes.py").write_text("CHANGED = True\n")
    for directory in ("tests", "data", "app/__pycache__"):
        (project / directory).mkdir(exist_ok=True)
    (project / "tests" / "test_new.py").write_text("def test_x() -> None: ...\n")
    (project / "data" / "server.log").write_text("a log line\n")
    (project / "app" / "__pycache__" / "health.cpython-311.pyc").write_bytes(b"\0not byte code")
    # Then one change that does reload: every change seen before or with it is in the log by the
    # time the new answer arrives, so "no reload for the others" needs no sleep.
    health.write_text(health.read_text().replace('"edited"}', '"edited twice"}'))
    _wait_until(
        lambda: server.answers("/health/live", {"status": "edited twice"}),
        "the second edit",
        server.log,
    )
    reloads = [line for line in server.output().splitlines() if RELOADED in line]
    assert reloads == [f"WARNING:  {RELOADED} 'app/health.py'. Reloading..."] * 2, reloads


def _refused_dev(project: Path, env_file: str) -> str:
    """make dev with ``env_file`` as .env, which must fail: its output."""
    (project / ".env").write_text(env_file)
    result = subprocess.run(
        _make("dev", DEV_PORT=str(_free_port())),
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_dev_refuses_a_malformed_env_file(project: Path) -> None:
    output = _refused_dev(project, f'API_TOKEN=t\nLOG_LEVEL="{CANARY}\nAPP_RELEASE=r1\n')
    assert ".env: line 2 (LOG_LEVEL) is not NAME=value" in output
    assert CANARY not in output
    assert "uvicorn app.main:app" not in output, "the server must not start"


def test_dev_refuses_an_invalid_setting_from_env_file(project: Path) -> None:
    output = _refused_dev(project, f"API_TOKEN=t\nLOG_LEVEL={CANARY}\n")
    assert "LOG_LEVEL is invalid" in output
    assert CANARY not in output


def test_dev_tls_serves_https_with_its_own_certificate(
    project: Path, start: Callable[[list[str], str], Server]
) -> None:
    port = _free_port()
    server = start(_make("dev-tls", DEV_TLS_PORT=str(port)), f"https://127.0.0.1:{port}")
    cert = project / ".cache" / "dev-tls" / "cert.pem"
    _wait_until(cert.is_file, "the certificate", server.log)
    trust = ssl.create_default_context(cafile=str(cert))
    _wait_until(
        lambda: server.answers("/health/live", {"status": "alive"}, verify=trust),
        "an https answer verified with the generated certificate",
        server.log,
    )
    key = project / ".cache" / "dev-tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)


# --- run.py's parts, in this process ---


@pytest.fixture
def restore_environment() -> Iterator[None]:
    """run.check() loads .env into os.environ, as uvicorn does; put it back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(f"API_TOKEN='{CANARY}\n", "line 1 (API_TOKEN)", id="unterminated-quote"),
        pytest.param(f"\n\n# c\nLOG LEVEL={CANARY}\n", "line 4 is not", id="space-in-name"),
        pytest.param("API_TOKEN=t\nAPI_TOKEN_PREVIOUS\n", "line 2 (API_TOKEN_PREVIOUS)", id="no-="),
        pytest.param(f"export ={CANARY}\n", "line 1 is not", id="no-name"),
    ],
)
def test_env_file_syntax_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    with pytest.raises(run.DevError) as caught:
        run.read_env_file(env_file)
    assert message in str(caught.value)
    assert CANARY not in str(caught.value)


def test_env_file_values(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        '# comment\n\nexport API_TOKEN="a b"\nLOG_LEVEL=debug  # trailing\nDATA_DIR=${HOME}/d\n'
    )
    values = run.read_env_file(env_file)
    assert values == {"API_TOKEN": "a b", "LOG_LEVEL": "debug", "DATA_DIR": f"{Path.home()}/d"}


@pytest.mark.usefixtures("restore_environment")
def test_check_uses_the_production_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=debug\n")
    with pytest.raises(run.DevError, match=r"API_TOKEN is required.*read from .*\.env"):
        run.check(env_file)


@pytest.mark.usefixtures("restore_environment")
def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("API_TOKEN=from-file\nAPP_RELEASE=from-file\n")
    os.environ["APP_RELEASE"] = "from-environment"
    run.check(env_file)
    settings = load_settings()
    assert settings.app_release == "from-environment"
    assert settings.api_token.get_secret_value() == "from-file"


@pytest.mark.usefixtures("restore_environment")
def test_unknown_names_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("API_TOKEN=t\nLOG_LEVL=debug\nUVICORN_WORKERS=1\n")
    run.check(env_file)
    assert capsys.readouterr().err.count("is not a setting") == 1
    assert run.unknown_names(["LOG_LEVL", "log_level", "PYTHONPATH"]) == ["LOG_LEVL"]


def test_certificate_is_made_once_and_renewed_when_expiring(tmp_path: Path) -> None:
    cert, key = run.ensure_certificate(tmp_path / "tls")
    first = cert.read_bytes()
    loaded = x509.load_pem_x509_certificate(first)
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert run.ensure_certificate(tmp_path / "tls") == (cert, key)
    assert cert.read_bytes() == first, "a valid certificate is kept"

    # Replace it with one that expires within the day: the next start makes a new one.
    expiring = (
        x509.CertificateBuilder()
        .subject_name(loaded.subject)
        .issuer_name(loaded.issuer)
        .public_key(loaded.public_key())
        .serial_number(1)
        .not_valid_before(loaded.not_valid_before_utc)
        .not_valid_after(datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1))
    )
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    cert.write_bytes(
        expiring.sign(private, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    run.ensure_certificate(tmp_path / "tls")
    renewed = x509.load_pem_x509_certificate(cert.read_bytes())
    assert renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(
        days=run.CERTIFICATE_DAYS - 1
    )
