"""Builds the root app: health routes, ``/version``, and the ``/v1`` and ``/v2`` sub-apps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from app import diagnostics, health
from app.database import Database, DatabaseUnavailable
from app.runtime import Runtime
from app.secret_policy import rejected_secrets
from app.settings import Settings, load_settings
from app.v1 import create_v1
from app.v2 import create_v2

log = logging.getLogger("app")


def _configure_logging(level: str) -> None:
    """Log to stderr (the journal under systemd) unless the host process configured ``app``."""
    log.setLevel(level.upper())
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s [%(name)s] %(message)s"))
        log.addHandler(handler)
        log.propagate = False


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app. Settings are read here, so a missing secret fails before serving anything."""
    settings = settings or load_settings()
    _configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Runtime]]:
        database = Database(settings.database_file)
        try:
            database.open()
        except DatabaseUnavailable as error:
            # Alive but not ready: /health/ready answers 503 (and retries the open) until the
            # database can be opened, so a deploy gate or a load balancer keeps traffic away.
            log.error("not ready, the database cannot be opened: %s", error)
        rejected = rejected_secrets(settings)
        for name, reason in sorted(rejected.items()):
            # Alive but not ready: a rotation to an unusable secret never takes traffic.
            log.error("not ready, secret %s rejected: %s", name, reason)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        log.info("release %s started, database %s", settings.app_release, database.path)
        runtime = Runtime(
            settings=settings,
            database=database,
            started_at=started_at,
            rejected_secrets=tuple(sorted(rejected)),
        )
        try:
            yield {"runtime": runtime}
        finally:
            database.close()
            log.info("release %s stopped cleanly", settings.app_release)

    root = FastAPI(
        title="Reference app",
        version=settings.app_release,
        lifespan=lifespan,
    )
    root.include_router(health.router)
    if settings.enable_diagnostics:
        root.include_router(diagnostics.router)
    root.mount("/v1", create_v1())
    root.mount("/v2", create_v2())
    return root
