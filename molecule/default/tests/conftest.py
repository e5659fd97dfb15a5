"""Shared helpers of the scenario's testinfra tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
# The scenario's vault files are labelled "test" and open with its test-only password.
TEST_VAULT_ID = f"test@{SCENARIO / 'vault-password.test-only'}"


@pytest.fixture(scope="session")
def vault_secrets() -> dict[str, str]:
    """The scenario's secrets, decrypted from its real vault file on the controller."""
    result = subprocess.run(
        [
            "ansible-vault",
            "view",
            "--vault-id",
            TEST_VAULT_ID,
            str(SCENARIO / "inventory/group_vars/all/vault.yml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_IDENTITY_LIST"},
    )
    secrets: dict[str, str] = yaml.safe_load(result.stdout)["vault_app_secrets"]
    return secrets


@pytest.fixture(scope="session")
def site_vars() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (SCENARIO / "inventory/group_vars/all/vars.yml").read_text()
    )
    return loaded


PROJECT = SCENARIO.parents[1]


def write_file(host: Any, path: str, content: str, mode: str | None = None) -> None:
    """Write ``content`` to ``path`` on the host (quoted by testinfra), then chmod to ``mode``."""
    host.run_test("printf %s %s > %s", "%s", content, path)
    if mode:
        host.run_test("chmod %s %s", mode, path)


def host_tls_profile(host: Any) -> str:
    """The host's Mozilla profile, as group_vars set tls_profile (Debian 13: modern)."""
    return "modern" if host.backend.get_hostname().endswith("debian13") else "intermediate"


# Figures the side effects measure (requests, errors, latencies, durations), one JSON object a
# line; printed at the end of the run and kept for the closing note and `make bench`.
RESULTS = Path(os.environ.get("KIT_RESULTS_DIR", PROJECT / ".cache" / "results"))


RUN_ID = uuid.uuid4().hex
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS


def record_result(kind: str, entry: dict[str, Any]) -> None:
    """Append one measured figure set to <RESULTS>/<kind>.jsonl, tagged with this run's id."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{kind}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**entry, "run": RUN_ID}, sort_keys=True) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures measured in this run, even when every test passed."""
    if not RESULTS.is_dir():
        return
    terminalreporter.section("measured")
    for path in sorted(RESULTS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("run") != RUN_ID:
                continue
            phases = " | ".join(
                f"{p['name']}: {p['requests']} req, failed GET {p['failed_gets']} POST "
                f"{p['failed_posts']}, p99 {p['p99_ms']:.1f} ms"
                for p in entry.get("phases", [])
            )
            shown = {"step", "host", "seconds", "rc", "phases", "run"}
            others = ", ".join(f"{k} {json.dumps(v)}" for k, v in entry.items() if k not in shown)
            terminalreporter.write_line(
                f"{path.stem} {entry.get('step')} {entry.get('host')}: {entry.get('seconds')} s, "
                f"rc {entry.get('rc')} | {phases or others}"
            )


def run_playbook(
    playbook: str,
    *args: str,
    limit: str | None = None,
    check: bool = True,
    inventory: Path | None = None,
    vault_ids: list[str] | None = None,
    nice: bool = True,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's playbooks against the scenario's hosts, as an operator would.

    ``playbook`` is relative to the project root (``site.yml``, ``playbooks/deploy.yml``). The
    inventory is the one Molecule generated (its group_vars link to the scenario's), and the vault
    opens with the scenario's test-only password. Output is returned for assertions; with
    ``check`` a non-zero exit raises with the tail of the output. ``inventory`` and ``vault_ids``
    replace the scenario's inventory and vault id (a rekeyed copy, a wrong password).
    ``on_line`` sees each line of standard output as it comes (a step under load starts its
    full-speed phase at a given play).
    """
    inventory = inventory or Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    vault_ids = [TEST_VAULT_ID] if vault_ids is None else vault_ids
    # The controller shares this machine's cores with the hosts under test; in production it is
    # another machine. At nice 19 its own CPU use does not show up as the hosts' latency. Under
    # full-speed load (``nice=False``) the hosts take every cycle anyway, and a niced controller
    # would only be starved.
    command = [
        *(["nice", "-n", "19"] if nice else []),
        "ansible-playbook",
        "--inventory",
        str(inventory),
        *[arg for vault_id in vault_ids for arg in ("--vault-id", vault_id)],
        str(PROJECT / playbook),
        *args,
    ]
    if limit:
        command += ["--limit", limit]
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(PROJECT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        # Molecule exports ANSIBLE_FORCE_COLOR, which wins over NOCOLOR: output is parsed here.
        "ANSIBLE_FORCE_COLOR": "0",
        # Per-task durations at the end of the output: where a step spends its time.
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "ANSIBLE_VAULT_ID_MATCH": "true",
        "ANSIBLE_VARS_PLUGINS": str(PROJECT / "plugins" / "vars"),
        "ANSIBLE_FILTER_PLUGINS": str(PROJECT / "plugins" / "filter"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_VARS_ENABLED": "vault_preflight,host_group_vars",
    }
    # Only the vault ids given here: none from the environment Molecule exported.
    env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    if on_line is None:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    else:
        result = _streamed(command, env, on_line)
    result.stdout = ANSI_ESCAPE.sub("", result.stdout)
    result.stderr = ANSI_ESCAPE.sub("", result.stderr)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return result


def _streamed(
    command: list[str], env: dict[str, str], on_line: Callable[[str], None]
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, passing each line of its output to ``on_line`` as it comes."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        stdout, stderr = process.stdout, process.stderr
        assert stdout is not None
        assert stderr is not None
        errors: list[str] = []
        reader = threading.Thread(target=lambda: errors.append(stderr.read()))
        reader.start()
        lines: list[str] = []
        for line in stdout:
            lines.append(line)
            on_line(ANSI_ESCAPE.sub("", line))
        reader.join()
        returncode = process.wait()
    return subprocess.CompletedProcess(command, returncode, "".join(lines), "".join(errors))


def published_port(container: str, port: int) -> int:
    """The 127.0.0.1 port docker published for a container's port."""
    out = subprocess.run(
        ["docker", "port", container, f"{port}/tcp"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        address, _, host_port = line.rpartition(":")
        if address == "127.0.0.1":
            return int(host_port)
    raise AssertionError(f"{container}: port {port} is not published on 127.0.0.1 ({out!r})")
