"""Health routes for systemd, nginx and deploy gates (not in the schema), and ``/version``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.runtime import RuntimeDep

router = APIRouter()


@router.get("/health", include_in_schema=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/live", include_in_schema=False)
def live() -> dict[str, str]:
    """The process answers; nothing else is checked."""
    return {"status": "alive"}


@router.get("/health/ready", response_model=None, include_in_schema=False)
def ready(runtime: RuntimeDep) -> JSONResponse:
    """Ready only when every secret passed its checks and the database answers a query.

    A rejected secret set answers 503 with ``rejected_secrets``: the names, never the values; the
    deploy gate reports them.
    """
    if runtime.rejected_secrets:
        body = {"status": "not ready", "rejected_secrets": list(runtime.rejected_secrets)}
        return JSONResponse(body, status_code=503)
    if runtime.database.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready"}, status_code=503)


@router.get("/version")
def version(runtime: RuntimeDep) -> dict[str, str]:
    """The release label this process was started with, and when it started."""
    return {"version": runtime.settings.app_release, "started_at": runtime.started_at}
