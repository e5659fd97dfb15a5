from __future__ import annotations

import time
from itertools import count

from kit_harness.hosts import wait_for


def test_wait_for_returns_once_the_predicate_holds() -> None:
    calls = count(1)
    assert wait_for(lambda: next(calls) == 3, timeout=5, interval=0.01)
    assert next(calls) == 4  # asked three times, no more


def test_wait_for_gives_up_after_its_timeout() -> None:
    started = time.monotonic()
    assert not wait_for(lambda: False, timeout=0.2, interval=0.05)
    assert 0.2 <= time.monotonic() - started < 2
