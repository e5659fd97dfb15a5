"""site.yml refuses bad settings before any host changes.

Runs the real ansible-playbook against an inventory whose host does not exist: validation needs no
connection, and if it ever let bad input through, the first play that touches the host would fail
as unreachable instead of changing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

GOOD: dict[str, Any] = {
    "app_name": "app",
    "app_domains": ["app.example.org", "www.example.org"],
    "tls_mode": "acme",
    "acme_email": "ops@example.org",
    "acme_directory_url": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "app_secrets": {"API_TOKEN": "validation-test-token"},
    "app_required_secrets": ["API_TOKEN"],
}


def _run(
    tmp_path: Path,
    settings: dict[str, Any],
    playbook: str,
    host_vars: dict[str, Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "vm1": {
                            "ansible_connection": "community.docker.docker",
                            "ansible_host": "fastapi-kit-no-such-container",
                            **(host_vars or {}),
                        }
                    },
                    "children": {
                        "app": {"hosts": {"vm1": None}},
                        "proxy": {"hosts": {"vm1": None}},
                    },
                }
            }
        )
    )
    (inventory / "group_vars" / "all" / "vars.yml").write_text(yaml.safe_dump(settings))
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / playbook)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_good_settings_pass_validation(tmp_path: Path) -> None:
    result = _run(tmp_path, GOOD, "playbooks/validate.yml")
    assert result.returncode == 0, result.stdout[-3000:]


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(_without("app_domains"), "app_domains", id="missing-app_domains"),
        pytest.param({**GOOD, "app_domains": []}, "app_domains", id="empty-app_domains"),
        pytest.param(
            {**GOOD, "acme_email": "ops-at-example"}, "acme_email", id="malformed-acme_email"
        ),
        pytest.param(
            {**GOOD, "app_secrets": {}}, "app_secrets lacks API_TOKEN", id="missing-secret"
        ),
        pytest.param({**GOOD, "tls_mode": "letsencrypt"}, "tls_mode", id="unknown-tls_mode"),
    ],
)
def test_bad_settings_stop_site_before_any_change(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    result = _run(tmp_path, settings, "site.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    # The first play that changes hosts never started.
    assert "PLAY [Baseline" not in output
    assert "UNREACHABLE" not in output


# A host Ansible reaches over SSH (nothing connects: validation runs on the controller).
OVER_SSH = {"ansible_connection": "ssh", "ansible_host": "192.0.2.1"}


def test_firewall_keeping_the_ssh_port_passes_validation(tmp_path: Path) -> None:
    settings = {
        **GOOD,
        "firewall_inbound_tcp_ports": [80, 443],
        "firewall_inbound_rules": [
            {"port": 22, "sources": ["198.51.100.0/24", "2001:db8::/32"], "comment": "bastion"},
            {"port": 8000, "sources": ["10.0.0.7"], "proto": "tcp"},
        ],
    }
    result = _run(tmp_path, settings, "playbooks/validate.yml", host_vars=OVER_SSH)
    assert result.returncode == 0, result.stdout[-3000:]


# The port Ansible dials may be a forward (Vagrant's 2222 to the host's 22): only the host knows
# which ports sshd listens on, and the firewall role keeps those open (plugins/filter/firewall.py,
# tests/kit/test_firewall_ssh.py). Validation no longer refuses a port list without ansible_port.
@pytest.mark.parametrize(
    ("settings", "host_vars"),
    [
        pytest.param({**GOOD, "firewall_inbound_tcp_ports": [80, 443]}, OVER_SSH, id="no-ssh-port"),
        pytest.param(GOOD, {**OVER_SSH, "ansible_port": 2222}, id="forwarded-ssh-port"),
    ],
)
def test_the_ssh_port_is_left_to_the_host(
    tmp_path: Path, settings: dict[str, Any], host_vars: dict[str, Any]
) -> None:
    result = _run(tmp_path, settings, "playbooks/validate.yml", host_vars=host_vars)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("settings", "host_vars", "message"),
    [
        pytest.param(
            {**GOOD, "firewall_inbound_rules": [{"port": 8000, "sources": ["10.0.0.300"]}]},
            None,
            "firewall_inbound_rules[0] must be",
            id="bad-source",
        ),
        pytest.param(
            {**GOOD, "firewall_inbound_tcp_ports": [22, "https"]},
            None,
            # The validate entry point's argument spec (elements: int) refuses it first.
            "option 'firewall_inbound_tcp_ports' is of type str and we were unable to convert",
            id="port-name",
        ),
    ],
)
def test_bad_firewall_settings_stop_site_before_any_change(
    tmp_path: Path, settings: dict[str, Any], host_vars: dict[str, Any] | None, message: str
) -> None:
    result = _run(tmp_path, settings, "site.yml", host_vars=host_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert " ".join(message.split()) in " ".join(output.split()), output[-3000:]
    assert "PLAY [Baseline" not in output
    assert "UNREACHABLE" not in output


def test_secret_values_stay_out_of_validation_output(tmp_path: Path) -> None:
    canary = "canary-validation-7d2e"
    settings = {**GOOD, "app_secrets": {"API_TOKEN": "", "lowercase_name": canary}}
    result = _run(tmp_path, settings, "site.yml")
    assert result.returncode != 0
    assert canary not in result.stdout + result.stderr
