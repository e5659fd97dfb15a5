"""roles/app/files/build_wheelhouse.py as a module, for the tests.

Ansible runs that file on the controller by its path (the app role's files/, from a task), so it
is a script of the role, not a module of an installed package. The tests load it from that path,
once, here, under its own name (``build_wheelhouse``): nothing is added to the import path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PATH = Path(__file__).resolve().parents[2] / "roles" / "app" / "files" / "build_wheelhouse.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_wheelhouse", PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: its dataclasses look their module up by name.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_wheelhouse = _load()
