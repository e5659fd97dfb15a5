"""Error responses shared by the root app and the versioned sub-apps."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from app.database import DatabaseUnavailable

log = logging.getLogger("app")


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "database unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE
    )


def install_error_handlers(api: FastAPI) -> FastAPI:
    """A lost database answers 503 (retryable), not a 500 with a traceback."""
    api.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    return api
