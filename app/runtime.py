"""What a running process holds: its settings, its database and when it started.

The root app's lifespan creates it and yields it as lifespan state; Starlette copies that state
into every request's scope, mounted sub-apps (``/v1``, ``/v2``) included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.database import Database
from app.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    started_at: str
    rejected_secrets: tuple[str, ...] = ()
    """Names of secrets that failed :func:`app.secret_policy.rejected_secrets` at start-up."""


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
