"""Shared helpers of the scenario's testinfra tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def vault_secrets() -> dict[str, str]:
    """The scenario's secrets, decrypted from its real vault file on the controller."""
    result = subprocess.run(
        [
            "ansible-vault",
            "view",
            "--vault-password-file",
            str(SCENARIO / "vault-password.test-only"),
            str(SCENARIO / "inventory/group_vars/all/vault.yml"),
        ],
        capture_output=True,
        text=True,
        check=True,
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


def run_playbook(
    playbook: str, *args: str, limit: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's playbooks against the scenario's hosts, as an operator would.

    ``playbook`` is relative to the project root (``site.yml``, ``playbooks/deploy.yml``). The
    inventory is the one Molecule generated (its group_vars link to the scenario's), and the vault
    opens with the scenario's test-only password. Output is returned for assertions; with
    ``check`` a non-zero exit raises with the tail of the output.
    """
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    command = [
        "ansible-playbook",
        "--inventory",
        str(inventory),
        "--vault-password-file",
        str(SCENARIO / "vault-password.test-only"),
        str(PROJECT / playbook),
        *args,
    ]
    if limit:
        command += ["--limit", limit]
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(PROJECT / "roles"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return result


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
