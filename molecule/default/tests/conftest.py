"""Shared helpers of the scenario's testinfra tests."""

from __future__ import annotations

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
