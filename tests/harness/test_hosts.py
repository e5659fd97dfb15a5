from __future__ import annotations

import time
from itertools import count

from kit_harness.hosts import answered_by, wait_for


def test_wait_for_returns_once_the_predicate_holds() -> None:
    calls = count(1)
    assert wait_for(lambda: next(calls) == 3, timeout=5, interval=0.01)
    assert next(calls) == 4  # asked three times, no more


def test_wait_for_gives_up_after_its_timeout() -> None:
    started = time.monotonic()
    assert not wait_for(lambda: False, timeout=0.2, interval=0.05)
    assert 0.2 <= time.monotonic() - started < 2


APP1 = "10.0.0.11:8000"
APP2 = "10.0.0.12:8000"


def _entry(status: int, upstreams: str) -> str:
    return (
        f'10.0.0.1 - - [07/Dec/2026:21:18:05 +0000] "GET /v1/items?limit=5 HTTP/1.1" {status} 241 '
        f'"-" "-" rt=0.051 urt=0.051 ua={upstreams}'
    )


def test_answered_by_needs_a_2xx_answer_from_that_upstream() -> None:
    log = "\n".join([_entry(200, APP1), _entry(201, APP2)])
    assert answered_by(log, APP2)
    assert answered_by(log, APP1)
    assert not answered_by(log, "10.0.0.13:8000")


def test_answered_by_ignores_errors_and_attempts_sent_elsewhere() -> None:
    tried_then_moved = _entry(200, f"{APP2}, {APP1}")  # nginx tried app2, app1 answered
    failed = _entry(502, APP2)
    assert not answered_by("\n".join([tried_then_moved, failed, ""]), APP2)
    assert answered_by(tried_then_moved, APP1)
    assert answered_by(_entry(200, f"{APP1}, {APP2}"), APP2)


def test_answered_by_reads_no_upstream_from_other_lines() -> None:
    assert not answered_by("", APP2)
    assert not answered_by(f"upstream ua={APP2} without a request line", APP2)
