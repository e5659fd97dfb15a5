"""Vars plugin: every vault file of an inventory must open before any host is touched.

Ansible itself stops a play whose group_vars or host_vars hold a vault file it cannot decrypt,
but from ansible-core 2.19 its message ("Decryption failed (no vault secrets were found that
could decrypt)") does not say which file, nor which vault id the file wants. This plugin runs
first (``vars_plugins_enabled = vault_preflight, host_group_vars``), tries each vault-encrypted
file under the inventory's group_vars/ and host_vars/ with the vault ids given to the command,
and fails with the file's path and the id it was encrypted for. It returns no variables.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleError
from ansible.parsing.vault import AnsibleVaultError, is_encrypted, parse_vaulttext_envelope
from ansible.plugins.vars import BaseVarsPlugin
from ansible.utils.path import basedir

DOCUMENTATION = """
    name: vault_preflight
    short_description: Fail early, naming the file, when an inventory's vault file does not open
    description:
      - Checks every vault-encrypted file under the inventory's group_vars/ and host_vars/,
        once per run.
      - Returns no variables.
    options:
      stage:
        ini:
          - key: stage
            section: vars_vault_preflight
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
    extends_documentation_fragment:
      - vars_plugin_staging
"""

CHECKED: set[str] = set()


def vault_files(root: str) -> list[str]:
    """Vault-encrypted files under ``root``/group_vars and ``root``/host_vars, sorted."""
    found = []
    for subdir in ("group_vars", "host_vars"):
        for directory, dirnames, filenames in os.walk(os.path.join(root, subdir), followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name.endswith("~"):
                    continue
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    if is_encrypted(handle.read(64)):
                        found.append(path)
    return found


def vault_label(data: bytes) -> str:
    """The vault id a file was encrypted for (``default`` for the unlabelled 1.1 format)."""
    _, _, _, label = parse_vaulttext_envelope(data)
    return str(label or "default")


class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = True
    is_stateless = True

    def get_vars(self, loader: Any, path: str, entities: Any, cache: bool = True) -> dict[str, Any]:
        root = os.path.realpath(basedir(path))
        if root in CHECKED:
            return {}
        vault = loader._vault
        given = sorted({str(vault_id) for vault_id, _ in vault.secrets or []})
        for file in vault_files(root):
            with open(file, "rb") as handle:
                data = handle.read()
            try:
                vault.decrypt(data)
            except AnsibleVaultError as error:
                label = vault_label(data)
                hint = (
                    f"no vault id was given: pass --vault-id {label}@<password file or client>"
                    if not given
                    else f"the vault ids given ({', '.join(given)}) do not open it: check the "
                    f"password behind --vault-id {label}"
                )
                raise AnsibleError(
                    f"Vault file {file} (encrypted for vault id '{label}') cannot be decrypted; "
                    f"{hint}. Nothing was changed on any host."
                ) from error
        CHECKED.add(root)
        return {}
