"""Vault files of an inventory: list them, check they open, rekey them all at once.

    python -m fastapi_vm_kit.vault files INVENTORY
    python -m fastapi_vm_kit.vault check INVENTORY --vault-id prod@OLD
    python -m fastapi_vm_kit.vault rekey INVENTORY --vault-id prod@OLD --new-vault-id prod@NEW

A vault file is any file under INVENTORY's group_vars/ or host_vars/ that starts with the vault
header (the files the ``vault_preflight`` vars plugin checks before a play). ``rekey`` changes the
password (and label) that encrypts them; it does not change a secret: rotate those with
playbooks/rotate-secrets.yml. It checks every file opens with the old vault id first, rekeys them
in one ``ansible-vault rekey`` call, then checks every file opens with the new id and no longer
with the old one. Vault ids are ``label@source`` as Ansible takes them (a password file, a
``*-client`` script such as ``fastapi-kit-vault-pass-client``, or ``prompt``); none given
means Ansible's configured ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HEADER = b"$ANSIBLE_VAULT;"


class VaultToolError(RuntimeError):
    """A vault file cannot be handled; the message names the file, never a secret."""

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def vault_files(inventory: Path) -> list[Path]:
    """Vault-encrypted files under the inventory's group_vars/ and host_vars/, sorted."""
    if not inventory.is_dir():
        raise VaultToolError(f"{inventory} is not an inventory directory")
    found = []
    for subdir in ("group_vars", "host_vars"):
        for path in sorted((inventory / subdir).rglob("*")):
            relative = path.relative_to(inventory)
            if any(part.startswith(".") for part in relative.parts) or path.name.endswith("~"):
                continue
            if path.is_file():
                with path.open("rb") as handle:
                    if handle.read(len(HEADER)) == HEADER:
                        found.append(path)
    return found


def vault_label(path: Path) -> str:
    """The vault id in the file's header (``default`` for the unlabelled 1.1 format)."""
    fields = path.read_bytes().split(b"\n", 1)[0].decode("ascii", "replace").strip().split(";")
    return fields[3] if len(fields) > 3 and fields[3] else "default"


def _id_args(option: str, vault_ids: Sequence[str]) -> list[str]:
    return [arg for vault_id in vault_ids for arg in (option, vault_id)]


def _env(vault_ids: Sequence[str]) -> dict[str, str]:
    """Given vault ids replace those of the environment (ANSIBLE_VAULT_IDENTITY_LIST, ...)."""
    if not vault_ids:
        return dict(os.environ)
    ignored = ("ANSIBLE_VAULT_IDENTITY_LIST", "ANSIBLE_VAULT_PASSWORD_FILE")
    return {key: value for key, value in os.environ.items() if key not in ignored}


def opens(path: Path, vault_ids: Sequence[str]) -> bool:
    """Whether ``path`` decrypts with ``vault_ids`` (the plaintext is read and dropped)."""
    result = subprocess.run(
        ["ansible-vault", "view", *_id_args("--vault-id", vault_ids), str(path)],
        capture_output=True,
        check=False,
        env=_env(vault_ids),
    )
    return result.returncode == 0


def check(inventory: Path, vault_ids: Sequence[str]) -> list[Path]:
    files = vault_files(inventory)
    if not files:
        raise VaultToolError(f"{inventory} holds no vault file under group_vars/ or host_vars/")
    for path in files:
        if not opens(path, vault_ids):
            raise VaultToolError(
                f"{path} (vault id '{vault_label(path)}') does not open with the vault ids given"
            )
    return files


def rekey(inventory: Path, vault_ids: Sequence[str], new_vault_id: str) -> list[Path]:
    files = check(inventory, vault_ids)
    subprocess.run(
        [
            "ansible-vault",
            "rekey",
            *_id_args("--vault-id", vault_ids),
            "--new-vault-id",
            new_vault_id,
            *map(str, files),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=_env(vault_ids),
    )
    new_label = new_vault_id.split("@", 1)[0] if "@" in new_vault_id else "default"
    for path in files:
        if not opens(path, [new_vault_id]):
            raise VaultToolError(
                f"{path} does not open with the new vault id after the rekey", changed=True
            )
        if vault_label(path) != new_label and new_label != "default":
            raise VaultToolError(
                f"{path} is labelled '{vault_label(path)}', not '{new_label}'", changed=True
            )
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastapi_vm_kit.vault", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=["files", "check", "rekey"])
    parser.add_argument("inventory", type=Path)
    parser.add_argument("--vault-id", action="append", default=[], help="label@source (repeat)")
    parser.add_argument("--new-vault-id", help="label@source of the new password (rekey)")
    args = parser.parse_args(argv)
    try:
        if args.command == "files":
            files = vault_files(args.inventory)
        elif args.command == "check":
            files = check(args.inventory, args.vault_id)
        else:
            if not args.new_vault_id:
                parser.error("rekey needs --new-vault-id label@source")
            files = rekey(args.inventory, args.vault_id, args.new_vault_id)
    except VaultToolError as error:
        outcome = "the files were rekeyed: check them" if error.changed else "nothing was changed"
        print(f"vault_tool: {error}; {outcome}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"vault_tool: ansible-vault exited {error.returncode}", file=sys.stderr)
        return 1
    for path in files:
        print(f"{path}\t{vault_label(path)}")
    if args.command == "rekey":
        print(
            f"vault_tool: rekeyed {len(files)} file(s): the password changed, the secrets did not "
            "(rotate them with playbooks/rotate-secrets.yml)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
