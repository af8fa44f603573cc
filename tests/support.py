"""Helpers shared by test modules (import as `from tests.support import …`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
T = TypeVar("T")


def skip_or_fail(reason: str) -> None:
    """A missing service skips locally and fails in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll check() until it returns something truthy (bounded); fail saying what never came."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
