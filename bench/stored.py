"""Waiting for the workers to store what the app acknowledged (P1, P1n, P2)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_stored(
    count: Callable[[], int],
    expected: int,
    timeout: float,
    *,
    busy: Callable[[], bool] = lambda: False,
    give_up_after: float | None = None,
) -> tuple[int, float]:
    """Poll count() until it reaches `expected` and holds for a second with busy() false, or
    (give_up_after) has not moved for that long with busy() false, or `timeout` passes;
    (the count, seconds waited)."""
    start = time.monotonic()
    last, steady_since = -1, start
    while True:
        found = count()
        now = time.monotonic()
        if found != last:
            last, steady_since = found, now
        steady = now - steady_since
        reached = found >= expected and steady >= 1.0
        stalled = give_up_after is not None and steady >= give_up_after
        if (reached or stalled) and not busy():
            return found, now - start
        if now - start > timeout:
            return found, now - start
        time.sleep(0.25)
