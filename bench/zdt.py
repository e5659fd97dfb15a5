"""Zero-downtime steps under load: deploy, rollback, secret rotation, certificate renewal.

The kit's load generator runs inside the container (``loaddriver.py``, ``kit_harness/loadgen.py``),
paced, through nginx over TLS; the controller marks when each step starts and ends, so the
report has a steady phase, the step and a settle phase: requests, failed requests and p99.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from kit_harness import loadgen

from bench.remote import Container, RemoteError

PROJECT = Path(__file__).resolve().parents[1]
SCENARIO = PROJECT / "molecule" / "default"
BENCH_SCENARIO = PROJECT / "molecule" / "bench"
VAULT_PASSWORD = SCENARIO / "vault-password.test-only"
VAULT_FILE = SCENARIO / "inventory" / "group_vars" / "all" / "vault.yml"
ROTATE_PLAYBOOK = "playbooks/rotate-secrets.yml"
# Paths in the container.
DRIVER_DIR = "/tmp/kit-bench"  # noqa: S108
ROOT_CA = "/run/kit-bench-root.pem"


@dataclass
class StepResult:
    step: str
    seconds: float = 0.0
    rc: int | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "rc": self.rc,
            "phases": self.phases,
            "skipped": self.skipped,
            "note": self.note,
        }


@dataclass(frozen=True)
class Pacing:
    workers: int = 4
    rate: float = 40.0
    steady: float = 6.0
    settle: float = 2.0


def _which(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RemoteError(f"{name} not found on PATH (run through make, which puts .venv first)")
    return found


def write_inventory(directory: Path, container: str) -> Path:
    """An inventory of the bench container as Molecule's bench scenario has it: molecule/default's
    group_vars (and vault), and the bench scenario's host_vars (the kit's defaults where the test
    scenario sets test values), so a playbook of a step keeps the converged settings."""
    host = {container: {"ansible_connection": "community.docker.docker"}}
    hosts = {"all": {"children": {"app": {"hosts": host}, "proxy": {"hosts": host}}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    for name, source in (("group_vars", SCENARIO), ("host_vars", BENCH_SCENARIO)):
        link = directory / name
        if not link.exists() and (source / "inventory" / name).is_dir():
            link.symlink_to(source / "inventory" / name)
    return directory


def run_playbook(
    inventory: Path, playbook: str, *args: str, timeout: float = 600
) -> tuple[int, str]:
    """A playbook of the kit against the bench container, at nice 19 (the controller shares the
    cores with the host under test; in production it is another machine)."""
    command = [
        _which("nice"),
        "-n",
        "19",
        _which("ansible-playbook"),
        "--inventory",
        str(inventory),
        "--vault-id",
        f"test@{VAULT_PASSWORD}",
        str(PROJECT / playbook),
        *args,
    ]
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(PROJECT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "MOLECULE_PROJECT_DIRECTORY": str(PROJECT),
    }
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return 124, f"{playbook} timed out after {timeout:.0f}s"
    return result.returncode, result.stdout + result.stderr


def copy_source_with_change(directory: Path) -> Path:
    """A copy of the reference app's project with one new module, so its wheel differs."""
    source = directory / f"source-{uuid.uuid4().hex[:8]}"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "app" / "release_note.py").write_text(f'NOTE = "bench {uuid.uuid4().hex}"\n')
    return source


def rotated_secrets_file(directory: Path) -> Path:
    """Extra vars with vault_app_secrets as the vault has them, API_TOKEN changed: what an operator
    does before ``playbooks/rotate-secrets.yml`` (edit the vault)."""
    view = subprocess.run(
        [
            _which("ansible-vault"),
            "view",
            "--vault-id",
            f"test@{VAULT_PASSWORD}",
            str(VAULT_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secrets = dict(yaml.safe_load(view.stdout)["vault_app_secrets"])
    secrets["API_TOKEN"] = f"bench-{uuid.uuid4().hex}"
    path = directory / "rotated-secrets.yml"
    path.write_text(yaml.safe_dump({"vault_app_secrets": secrets}), encoding="utf-8")
    path.chmod(0o600)
    return path


def install_driver(container: Container) -> None:
    """The load driver and generator, bench/connect.lua (wrk), and the ACME CA's root."""
    sources = {
        # The module loaddriver.py imports, at the same name (python3 puts the driver's own
        # directory first on its path).
        "kit_harness/loadgen.py": Path(loadgen.__file__),
        "loaddriver.py": PROJECT / "bench" / "loaddriver.py",
        "connect.lua": PROJECT / "bench" / "connect.lua",
    }
    for name, source in sources.items():
        container.write(f"{DRIVER_DIR}/{name}", source.read_text(encoding="utf-8"))
    container.sh(
        "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
        f" >{ROOT_CA}"
    )


@contextmanager
def _driver(
    container: Container, server_name: str, pacing: Pacing, address: str
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            _which("docker"),
            "exec",
            "-i",
            container.name,
            "python3",
            f"{DRIVER_DIR}/loaddriver.py",
            "--address",
            address,
            "--server-name",
            server_name,
            "--cafile",
            ROOT_CA,
            "--workers",
            str(pacing.workers),
            "--rate",
            str(pacing.rate),
            "--max-seconds",
            "600",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _send(stream: IO[str] | None, line: str) -> None:
    assert stream is not None
    stream.write(line + "\n")
    stream.flush()


def under_load(
    container: Container,
    server_name: str,
    pacing: Pacing,
    step: str,
    action: Callable[[], tuple[int, str]],
    address: str = "127.0.0.1",
) -> tuple[StepResult, str]:
    """Steady load, the action, settle; the load generator's phases and the action's output.
    The load connects to nginx on ``address`` (one its rate limits exempt)."""
    result = StepResult(step)
    with _driver(container, server_name, pacing, address) as driver:
        assert driver.stdout is not None
        if driver.stdout.readline().strip() != "started":
            raise RemoteError("the load driver did not start in the container")
        time.sleep(pacing.steady)
        _send(driver.stdin, "mark step")
        started = time.monotonic()
        result.rc, output = action()
        result.seconds = time.monotonic() - started
        _send(driver.stdin, "mark settle")
        time.sleep(pacing.settle)
        _send(driver.stdin, "stop")
        report, _ = driver.communicate(timeout=60)
    lines = [line for line in report.splitlines() if line.startswith("{")]
    if not lines:
        raise RemoteError(f"the load driver printed no report: {report[-500:]}")
    result.phases = json.loads(lines[-1])["phases"]
    return result, output


def served_serial(container: Container, server_name: str) -> str:
    return container.sh(
        f"openssl s_client -connect 127.0.0.1:443 -servername {server_name} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial",
        timeout=30,
    ).strip()


def renew(container: Container, ca_bundle: str) -> tuple[int, str]:
    """certbot renew, forced, as certbot.service runs it (same CA bundle, the kit's deploy hook
    tests nginx's configuration and reloads it)."""
    result = container.run(
        "env",
        f"REQUESTS_CA_BUNDLE={ca_bundle}",
        "certbot",
        "renew",
        "--force-renewal",
        "--no-random-sleep-on-renew",
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def run_steps(
    container: Container,
    server_name: str,
    pacing: Pacing,
    log_dir: Path,
    ca_bundle: str = "/etc/pebble/https-ca.pem",
    address: str = "127.0.0.1",
) -> list[StepResult]:
    """deploy, rollback, rotation (when its playbook exists), renewal; each under load through
    nginx on ``address``."""
    install_driver(container)
    results: list[StepResult] = []
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as scratch:
        work = Path(scratch)
        # Apart: ansible reads every file of an inventory directory (a pyproject.toml too).
        (work / "inventory").mkdir()
        inventory = write_inventory(work / "inventory", container.name)
        source = copy_source_with_change(work)
        deploy = ("playbooks/deploy.yml", "-e", f"app_source={source}")
        steps: list[tuple[str, Callable[[], tuple[int, str]] | None]] = [
            ("deploy", lambda: run_playbook(inventory, *deploy)),
            ("rollback", lambda: run_playbook(inventory, "playbooks/rollback.yml")),
        ]
        rotation: Callable[[], tuple[int, str]] | None = None
        if (PROJECT / ROTATE_PLAYBOOK).exists():
            secrets = rotated_secrets_file(work)
            rotation = lambda: run_playbook(inventory, ROTATE_PLAYBOOK, "-e", f"@{secrets}")  # noqa: E731
        steps.append(("rotation", rotation))
        steps.append(("renewal", lambda: renew(container, ca_bundle)))
        for name, action in steps:
            if action is None:
                reason = f"{ROTATE_PLAYBOOK} does not exist on this branch"
                results.append(StepResult(name, skipped=reason))
                print(f"bench: {name} skipped: {reason}")
                continue
            before = served_serial(container, server_name) if name == "renewal" else ""
            result, output = under_load(container, server_name, pacing, name, action, address)
            (log_dir / f"zdt-{name}.log").write_text(output, encoding="utf-8")
            if name == "renewal":
                after = served_serial(container, server_name)
                result.note = (
                    f"served certificate {before} -> {after}"
                    if before != after
                    else f"served certificate unchanged ({after})"
                )
            results.append(result)
            print(f"bench: {name}: rc {result.rc} in {result.seconds:.1f}s {result.note}".rstrip())
    return results
