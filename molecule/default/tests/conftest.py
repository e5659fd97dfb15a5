"""The scenario's fixtures and the closing summary of its measured figures.

The helpers every scenario's tests share (playbook runs, results, host helpers, the steps under
load) are in the harness package, kit_harness (harness/ in the kit's checkout); this file is
also molecule/cluster's conftest (a link to it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]
import yaml
from kit_harness.hosts import published_port
from kit_harness.playbooks import TEST_VAULT_ID
from kit_harness.results import RESULTS, RUN_ID
from kit_harness.steps import PEBBLE_ROOT, Node

SCENARIO = Path(__file__).resolve().parents[1]


def inventory_hosts(group: str = "app") -> list[str]:
    """The scenario's hosts of ``group``, from the inventory Molecule wrote."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    loaded = yaml.safe_load(inventory.read_text())
    return sorted(loaded[group]["hosts"])


def pebble_node(name: str, tmp_path_factory: pytest.TempPathFactory) -> Node:
    """A host that serves HTTPS with its published port, and the root CA of its Pebble (the
    trust anchor of the certificate it serves), also left in PEBBLE_ROOT on the host."""
    host = testinfra.get_host(f"docker://{name}")
    root = host.check_output(
        "curl -sS --fail --cacert /etc/pebble/https-ca.pem https://localhost:15000/roots/0"
        f" | tee {PEBBLE_ROOT}"
    )
    cafile = tmp_path_factory.mktemp(name) / "pebble-root.pem"
    cafile.write_text(root + "\n")
    return Node(name, host, published_port(name, 443), str(cafile))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> list[Node]:
    """Each app host with its published HTTPS port and the root CA of its Pebble (the trust
    anchor), for the steps under load of the single-host scenarios.

    Tests run once for all hosts (no ``host`` fixture): each step drives every host at once.
    """
    return [pebble_node(name, tmp_path_factory) for name in inventory_hosts()]


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
