"""The kit's checkout, whose playbooks, roles and app the harness runs and copies.

``PROJECT`` is ``$MOLECULE_PROJECT_DIRECTORY`` when it is set (Molecule sets it to the directory
it runs in: the kit's root), else the checkout this package is installed from in editable mode
(``pip install -e harness``, as ``make setup`` does): ``harness/src/kit_harness/`` is three levels
below the root. A copy installed elsewhere (not editable) must be given the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT = "MOLECULE_PROJECT_DIRECTORY"


def _find_project() -> Path:
    configured = os.environ.get(ENVIRONMENT)
    if configured:
        return Path(configured)
    root = Path(__file__).resolve().parents[3]
    if not (root / "site.yml").is_file():
        raise RuntimeError(
            f"kit_harness: {root} is not the kit's checkout (no site.yml): install the harness "
            f"with 'pip install -e harness' or set {ENVIRONMENT} to the checkout"
        )
    return root


PROJECT = _find_project()
