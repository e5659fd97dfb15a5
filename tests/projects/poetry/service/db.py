"""Where the service keeps its table (DATA_DIR, set by the kit)."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE = Path(os.environ.get("DATA_DIR", ".")) / "poetry-project.sqlite3"
