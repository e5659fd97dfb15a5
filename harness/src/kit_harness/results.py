"""Figures the tests measure (requests, errors, latencies, durations), one JSON object a line.

Each kind of figure goes to ``<RESULTS>/<kind>.jsonl``, tagged with this run's id (``RUN_ID``), so
a scenario's conftest can print the figures of its own run at the end, and the closing note and
``make bench`` can read them later. ``RESULTS`` is ``$KIT_RESULTS_DIR``, else
``.cache/results`` in the kit's checkout.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from kit_harness.project import PROJECT

RESULTS = Path(os.environ.get("KIT_RESULTS_DIR", PROJECT / ".cache" / "results"))


RUN_ID = uuid.uuid4().hex


def results_dir() -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS


def record_result(kind: str, entry: dict[str, Any]) -> None:
    """Append one measured figure set to <RESULTS>/<kind>.jsonl, tagged with this run's id."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{kind}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**entry, "run": RUN_ID}, sort_keys=True) + "\n")
