"""Vault hygiene: the rekey tool, the password client, the preflight plugin and the repo's files.

Real ``ansible-vault`` and ``ansible-playbook`` runs on throw-away inventories; nothing here
opens the scenario's vault except to prove the committed files are encrypted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The operator's tools (kit/, installed by make setup): the vault tool runs as a module, the
# password client as the console script Ansible is given (its name ends in -client).
TOOL = ("-m", "fastapi_vm_kit.vault")
CLIENT = Path(sys.executable).parent / "fastapi-kit-vault-pass-client"
SECRET = "canary-value-that-must-survive-a-rekey"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with only the vault ids on its command line (none from the environment)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    return subprocess.run(
        list(args), capture_output=True, text=True, check=False, env={**base, **(env or {})}
    )


def _password(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / f"{name}.vault-pass"
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """An inventory with two vault files (group and host) and one plain vars file."""
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "host_vars").mkdir()
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n      ansible_connection: local\n")
    (inv / "group_vars" / "all" / "vars.yml").write_text('x: "{{ vault_x }}"\n')
    (inv / "group_vars" / "all" / "vault.yml").write_text(f"vault_x: {SECRET}\n")
    (inv / "host_vars" / "h1.yml").write_text("vault_y: other\n")
    old = _password(tmp_path, "old", "old-password")
    for path in (inv / "group_vars" / "all" / "vault.yml", inv / "host_vars" / "h1.yml"):
        result = _run("ansible-vault", "encrypt", "--vault-id", f"prod@{old}", str(path))
        assert result.returncode == 0, result.stderr
    return inv


def test_files_lists_only_encrypted_files(inventory: Path) -> None:
    result = _run(sys.executable, *TOOL, "files", str(inventory))
    assert result.returncode == 0, result.stderr
    listed = [line.split("\t") for line in result.stdout.splitlines()]
    assert listed == [
        [str(inventory / "group_vars" / "all" / "vault.yml"), "prod"],
        [str(inventory / "host_vars" / "h1.yml"), "prod"],
    ]


def test_rekey_changes_the_password_not_the_secret(inventory: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.vault-pass"
    new = _password(tmp_path, "new", "new-password")
    vault = inventory / "group_vars" / "all" / "vault.yml"
    result = _run(
        sys.executable, *TOOL, "rekey", str(inventory),
        "--vault-id", f"prod@{old}", "--new-vault-id", f"prod@{new}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rekeyed 2 file(s)" in result.stdout
    assert _run("ansible-vault", "view", "--vault-id", f"prod@{old}", str(vault)).returncode != 0
    opened = _run("ansible-vault", "view", "--vault-id", f"prod@{new}", str(vault))
    assert yaml.safe_load(opened.stdout) == {"vault_x": SECRET}


def test_rekey_with_a_wrong_password_changes_nothing(inventory: Path, tmp_path: Path) -> None:
    wrong = _password(tmp_path, "wrong", "not-the-password")
    new = _password(tmp_path, "new", "new-password")
    before = {p: p.read_bytes() for p in inventory.rglob("*.yml")}
    result = _run(
        sys.executable, *TOOL, "rekey", str(inventory),
        "--vault-id", f"prod@{wrong}", "--new-vault-id", f"prod@{new}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "group_vars/all/vault.yml (vault id 'prod') does not open" in result.stderr
    assert "nothing was changed" in result.stderr
    assert {p: p.read_bytes() for p in inventory.rglob("*.yml")} == before


PLAYBOOK = """
- name: Touch nothing
  hosts: all
  gather_facts: false
  tasks:
    - name: Report a variable
      ansible.builtin.debug:
        msg: "{{ x | length }}"
"""


def _play(inventory: Path, *vault_args: str) -> subprocess.CompletedProcess[str]:
    playbook = inventory.parent / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    return _run("ansible-playbook", "-i", str(inventory), str(playbook), *vault_args, env=env)


def test_preflight_names_a_file_that_does_not_decrypt(inventory: Path, tmp_path: Path) -> None:
    wrong = _password(tmp_path, "wrong", "not-the-password")
    result = _play(inventory, "--vault-id", f"prod@{wrong}")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert f"Vault file {inventory / 'group_vars' / 'all' / 'vault.yml'}" in out
    assert "encrypted for vault id 'prod'" in out
    assert "TASK [Report a variable]" not in out


def test_preflight_names_a_vault_id_with_no_password(inventory: Path) -> None:
    result = _play(inventory)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no vault id was given: pass --vault-id prod@" in out
    assert "TASK [Report a variable]" not in out


def test_vault_ids_match_their_labels(inventory: Path, tmp_path: Path) -> None:
    """ansible.cfg sets vault_id_match: the prod file opens only with a prod id."""
    old = tmp_path / "old.vault-pass"
    assert _play(inventory, "--vault-id", f"dev@{old}").returncode != 0
    good = _play(inventory, "--vault-id", f"prod@{old}")
    assert good.returncode == 0, good.stdout + good.stderr
    assert SECRET not in good.stdout


def _client(vault_dir: Path, vault_id: str) -> subprocess.CompletedProcess[str]:
    return _run(
        sys.executable,
        str(CLIENT),
        "--vault-id",
        vault_id,
        env={"FASTAPI_KIT_VAULT_DIR": str(vault_dir)},
    )


def test_client_prints_a_private_password(tmp_path: Path) -> None:
    _password(tmp_path, "prod", "the-prod-password")
    result = _client(tmp_path, "prod")
    assert (result.returncode, result.stdout) == (0, "the-prod-password\n")


def test_client_refuses_a_readable_or_missing_file(tmp_path: Path) -> None:
    _password(tmp_path, "prod", "the-prod-password").chmod(0o644)
    result = _client(tmp_path, "prod")
    assert result.returncode == 2
    assert "mode 0644" in result.stderr
    assert "the-prod-password" not in result.stdout + result.stderr
    missing = _client(tmp_path, "staging")
    assert missing.returncode == 2
    assert "no password for vault id 'staging'" in missing.stderr


def test_client_refuses_a_file_inside_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _password(tmp_path, "prod", "the-prod-password")
    result = _client(tmp_path, "prod")
    assert result.returncode == 2
    assert "inside a git work tree" in result.stderr


def test_client_works_as_an_ansible_vault_id(tmp_path: Path) -> None:
    vault_dir = tmp_path / "vault"
    vault_dir.mkdir()
    _password(vault_dir, "prod", "client-password")
    plain = tmp_path / "secret.yml"
    plain.write_text(f"vault_x: {SECRET}\n")
    env = {"FASTAPI_KIT_VAULT_DIR": str(vault_dir)}
    assert (
        _run(
            "ansible-vault", "encrypt", "--vault-id", f"prod@{CLIENT}", str(plain), env=env
        ).returncode
        == 0
    )
    assert plain.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod")
    opened = _run("ansible-vault", "view", "--vault-id", f"prod@{CLIENT}", str(plain), env=env)
    assert SECRET in opened.stdout


def _committed_inventories() -> list[Path]:
    return [ROOT / "inventory" / "example", ROOT / "molecule" / "default" / "inventory"]


@pytest.mark.parametrize("inv", _committed_inventories(), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_vault_files_are_encrypted_and_referenced(inv: Path) -> None:
    vaults = sorted(inv.rglob("vault.yml"))
    assert vaults, f"{inv} has no vault.yml"
    for vault in vaults:
        assert vault.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;"), (
            f"{vault} is not labelled"
        )
    plain = yaml.safe_load((inv / "group_vars" / "all" / "vars.yml").read_text())
    assert plain["app_secrets"] == "{{ vault_app_secrets }}"
    assert not [key for key in plain if key.startswith("vault_")]


@pytest.mark.parametrize(
    "path", ["prod.vault-pass", "inventory/prod/.vault-pass", "vault-password.txt", ".env"]
)
def test_gitignore_guards_password_files(path: str) -> None:
    result = _run("git", "-C", str(ROOT), "check-ignore", "--no-index", "--quiet", path)
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"
