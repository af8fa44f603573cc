"""Background work: queued only after the transaction that asked for it commits.

Inline by default (run right after the commit, in this process); on RQ when PORTAL_REDIS_URL is
set. Services call `defer(func, *args)`; whoever ends the unit of work calls `commit()`, which
commits and then hands the deferred jobs over. A rollback drops them, so a job never runs for
rows that were not written. Job functions take plain ids and load what they need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db

log = logging.getLogger(__name__)
_PENDING = "portal.pending_jobs"
QUEUE_NAME = "portal"


def defer(func: Callable[..., Any], *args: Any) -> None:
    """Run func(*args) once the current transaction has committed."""
    session = db.session()
    session.connection()  # begin the transaction now, so that its rollback drops the job
    session.info.setdefault(_PENDING, []).append((func, args))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def commit() -> None:
    """Commit the session, then run or enqueue the jobs deferred during it."""
    session = db.session()
    session.commit()
    jobs = session.info.pop(_PENDING, [])
    for func, args in jobs:
        dispatch(func, *args)


def dispatch(func: Callable[..., Any], *args: Any) -> None:
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url and not current_app.config.get("JOBS_INLINE"):
        _queue(redis_url).enqueue(run_job, f"{func.__module__}:{func.__qualname__}", *args)
        return
    try:
        func(*args)
        commit()  # the job's own writes, and any follow-up jobs it deferred
    except Exception:
        db.session.rollback()
        log.exception("inline job %s%r failed", func.__qualname__, args)


def _queue(redis_url: str):
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))


_worker_app: Flask | None = None


def use_app_for_jobs(app: Flask) -> None:
    """The app whose configuration queued jobs run with (the worker command's own app)."""
    global _worker_app
    _worker_app = app


def run_job(func_path: str, *args: Any) -> Any:
    """RQ's entry point: import func and run it inside an app context."""
    import importlib

    global _worker_app
    if _worker_app is None:
        from portal import create_app

        _worker_app = create_app()
    module_name, _, qualname = func_path.partition(":")
    func = getattr(importlib.import_module(module_name), qualname)
    with _worker_app.app_context():
        result = func(*args)
        commit()
        return result
