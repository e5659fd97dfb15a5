"""Ansible Vault password client: prints the password of a vault id from a private file.

    ansible-playbook ... --vault-id prod@.venv/bin/fastapi-kit-vault-pass-client

``fastapi-kit-vault-pass-client`` is this module's console script (``pip install -e kit``, as
``make setup`` does). Ansible runs a ``*-client`` script with ``--vault-id prod`` and reads the
password from its standard output. The password of vault id ``ID`` is the first line of
``$FASTAPI_KIT_VAULT_DIR/ID.vault-pass`` (default directory ``~/.config/fastapi-kit/vault``):
outside any git checkout, owned by you, mode 0600 (no group or other access), as docs/secrets.md
sets up. A file anyone else can read, or one inside a git work tree, is refused:
a vault password must never be shared by a file mode or committed.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

VAULT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class ClientError(RuntimeError):
    """The password cannot be given; the message says why, never the password."""


def password_dir() -> Path:
    configured = os.environ.get("FASTAPI_KIT_VAULT_DIR")
    return Path(configured) if configured else Path.home() / ".config" / "fastapi-kit" / "vault"


def in_git_work_tree(path: Path) -> bool:
    result = subprocess.run(
        ["git", "-C", str(path.parent), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def read_password(vault_id: str) -> str:
    if not VAULT_ID.match(vault_id):
        raise ClientError(f"vault id {vault_id!r} is not a plain label (letters, digits, . _ -)")
    path = password_dir() / f"{vault_id}.vault-pass"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ClientError(
            f"no password for vault id '{vault_id}': create {path} (mode 0600) holding it"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ClientError(f"{path} is not a regular file")
    if info.st_uid != os.getuid():
        raise ClientError(f"{path} belongs to another user; it must be yours")
    if info.st_mode & 0o077:
        raise ClientError(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: others may read it; "
            f"run chmod 0600 {path}"
        )
    if in_git_work_tree(path):
        raise ClientError(f"{path} is inside a git work tree; keep vault passwords outside git")
    password = path.read_text(encoding="utf-8").splitlines()[0] if info.st_size else ""
    if not password:
        raise ClientError(f"{path} is empty")
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--vault-id", default="default", help="the vault id whose password to print"
    )
    args = parser.parse_args(argv)
    try:
        password = read_password(args.vault_id)
    except ClientError as error:
        print(f"vault-pass-client: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(password + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
