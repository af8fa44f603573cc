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


def run_worker_command(runner, *args: str):
    """`flask --app wsgi worker ARGS` in this process (the app fixture's CLI runner); its result.

    A forking worker's work-horses must not inherit (and, exiting, close) the test's database
    connections, so the pool is emptied first. RQ leaves its SIGINT/SIGTERM handlers behind,
    which would catch pytest's, and the worker command sets the app for jobs: both are put
    back, whatever happens."""
    import signal

    from portal import jobs
    from portal.extensions import db

    db.session.remove()
    db.engine.dispose()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return runner.invoke(args=["worker", *args])
    finally:
        jobs.use_app_for_jobs(None)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
