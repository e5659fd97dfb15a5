"""The FastAPI VM kit's operator tools (run on the Ansible controller).

Modules: ``vault`` (an inventory's vault files: list, check, rekey; ``python -m
fastapi_vm_kit.vault``), ``vault_pass_client`` (vault passwords from private files: the
``fastapi-kit-vault-pass-client`` command, for ``--vault-id``).
"""
