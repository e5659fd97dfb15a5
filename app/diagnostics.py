"""Diagnostic routes for tests and load tests, off unless ``ENABLE_DIAGNOSTICS=true``.

``GET /_diag/sleep?seconds=N`` answers after ``N`` seconds (0 to :data:`MAX_SLEEP_SECONDS`)
without holding a worker thread: a slow request to check that a shutdown drains in-flight
requests, or to load a server with slow clients. Not in the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Query

MAX_SLEEP_SECONDS = 60.0

log = logging.getLogger("app")

router = APIRouter(prefix="/_diag", include_in_schema=False)


@router.get("/sleep")
async def sleep(seconds: float = Query(ge=0, le=MAX_SLEEP_SECONDS)) -> dict[str, float]:
    """Answer after ``seconds``; reports how long the request actually waited."""
    log.info("diagnostics: sleeping %.3gs", seconds)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return {"requested": seconds, "slept": round(time.monotonic() - started, 3)}
