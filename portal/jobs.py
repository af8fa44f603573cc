"""Background work: queued only after the transaction that asked for it commits.

Inline by default (run right after the commit, in this process); on RQ when PORTAL_REDIS_URL is
set. Services call `defer(func, *args)`; whoever ends the unit of work calls `commit()`, which
commits and then hands the deferred jobs over. A rollback drops them, so a job never runs for
rows that were not written. Job functions take plain ids and load what they need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db

log = logging.getLogger(__name__)
_PENDING = "portal.pending_jobs"
QUEUE_NAME = "portal"
_URGENT = "_portal_urgent"
F = TypeVar("F", bound=Callable[..., Any])


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
    if not db.session.registry.has():
        # No session in this context: nothing was read or written, no job deferred. Asking
        # for one would make it only to close it at teardown (a customer's download answered
        # from the link cache, ~15 µs of its CPU).
        return
    session = db.session()
    if not session.in_transaction() and not (session.new or session.dirty or session.deleted):
        return  # nothing was read or written: no transaction to commit, no jobs deferred
    session.commit()
    jobs = session.info.pop(_PENDING, [])
    for func, args in jobs:
        dispatch(func, *args)


# A retried job runs again this long after a failure, or after its work-horse died (killed,
# out of memory): RQ's retry, which the worker applies to a job whose horse ended abnormally.
RETRY_INTERVALS = [2, 30, 120]
_RETRIED = "_portal_retried"


def retried(func: F) -> F:
    """Mark a job as safe to run again: on RQ it is retried (RETRY_INTERVALS) when it fails or
    its worker is killed mid-run, instead of being dropped into the failed registry."""
    setattr(func, _RETRIED, True)
    return func


def urgent(func: F) -> F:
    """Mark a job that somebody is waiting for and that is short (an alert to a rep: one HTTP
    call or one e-mail). On RQ it goes to the alerts queue, which workers take from before the
    default one: behind a backlog of drains and renders it would otherwise wait minutes (P9)."""
    setattr(func, _URGENT, True)
    return func


def alerts_queue_name() -> str:
    # derived, not a constant: tests give QUEUE_NAME a name of their own, and the alerts queue
    # follows it
    return f"{QUEUE_NAME}-alerts"


def queue_names(alerts_only: bool = False, no_alerts: bool = False) -> list[str]:
    """The queues a worker listens to, in the order it takes jobs from them: an alerts-only
    worker (`flask worker --alerts-only`) the alerts queue alone, a `--no-alerts` worker the
    default queue alone, any other both."""
    if alerts_only:
        return [alerts_queue_name()]
    if no_alerts:
        return [QUEUE_NAME]
    return [alerts_queue_name(), QUEUE_NAME]


def takes_alerts() -> bool:
    """Whether the worker running this job takes alerts too (not `--no-alerts`): only then has
    a long job reason to give way to one (a --no-alerts worker would hand its drain over for
    an alert it never takes, and cut its rounds small for nothing)."""
    return bool(current_app.config.get("WORKER_TAKES_ALERTS", True))


def alerts_waiting() -> bool:
    """Whether an alert job waits on RQ (a long job gives way to it: ingest_queue.drain_job)."""
    from rq import Queue

    return Queue(alerts_queue_name(), connection=redis_connection()).count > 0


def _queue_name_for(func: Callable[..., Any]) -> str:
    return alerts_queue_name() if getattr(func, _URGENT, False) else QUEUE_NAME


def queued() -> bool:
    """Whether jobs go to RQ workers (Redis configured, not forced inline) rather than running
    in the request."""
    return bool(current_app.config.get("REDIS_URL")) and not current_app.config.get("JOBS_INLINE")


def dispatch(func: Callable[..., Any], *args: Any) -> None:
    if queued():
        from rq import Retry

        retry = None
        if getattr(func, _RETRIED, False):
            retry = Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
        path = f"{func.__module__}:{func.__qualname__}"
        _queue(_queue_name_for(func)).enqueue(run_job, path, *args, retry=retry)
        return
    try:
        func(*args)
        commit()  # the job's own writes, and any follow-up jobs it deferred
    except Exception:
        db.session.rollback()
        log.exception("inline job %s%r failed", func.__qualname__, args)


def defer_retry(func: Callable[..., Any], delay: timedelta, *args: Any) -> None:
    """Once the current transaction has committed (the failed attempt is recorded), queue
    func(*args) on RQ to run `delay` from now. Without Redis, or with jobs inline, nothing is
    queued: the caller's due-sweep in `tick` (webhooks.retry_due, outbox.retry_due) runs it."""
    path = f"{func.__module__}:{func.__qualname__}"
    defer(_enqueue_in, _queue_name_for(func), path, int(delay.total_seconds()), *args)


def _enqueue_in(queue_name: str, func_path: str, delay_seconds: int, *args: Any) -> None:
    if not queued():
        return
    queue = _queue(queue_name)
    queue.enqueue_in(timedelta(seconds=delay_seconds), run_job, func_path, *args)


def _queue(name: str):
    """An RQ queue on the app's shared Redis client (a client made per call opened a new
    connection for every job queued)."""
    from rq import Queue

    return Queue(name, connection=redis_connection())


_REDIS = "portal.redis"


def redis_connection():
    """The app's shared Redis client (one connection pool per app), None without Redis.

    For paths that talk to Redis on every request: a client per request would open a new
    connection each time."""
    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        return None
    cached = current_app.extensions.get(_REDIS)
    if cached is None or cached[0] != redis_url:
        from redis import Redis

        cached = (redis_url, Redis.from_url(redis_url))
        current_app.extensions[_REDIS] = cached
    return cached[1]


def queue_state() -> dict[str, int]:
    """How many jobs wait, run, are scheduled (retries, delayed drains) or failed on the queues
    (alerts and default together), and how many workers listen to the default queue (their
    registrations expire when they stop beating)."""
    from rq import Queue, Worker

    connection = redis_connection()
    queues = [Queue(name, connection=connection) for name in queue_names()]
    return {
        "queued": sum(queue.count for queue in queues),
        "started": sum(queue.started_job_registry.count for queue in queues),
        "scheduled": sum(queue.scheduled_job_registry.count for queue in queues),
        "failed": sum(queue.failed_job_registry.count for queue in queues),
        "workers": Worker.count(queue=queues[-1]),
    }


def enqueue_now(func: Callable[..., Any], *args: Any, retries: int = 0, delay: int = 0) -> None:
    """Queue func(*args) on RQ right away (not tied to a transaction), `delay` seconds from
    now. With retries, RQ runs it again if it fails, or if its worker dies (an abandoned job)."""
    from rq import Queue, Retry

    queue = Queue(_queue_name_for(func), connection=redis_connection())
    path = f"{func.__module__}:{func.__qualname__}"
    retry = Retry(max=retries, interval=max(1, delay)) if retries else None
    if delay:
        queue.enqueue_in(timedelta(seconds=delay), run_job, path, *args, retry=retry)
    else:
        queue.enqueue(run_job, path, *args, retry=retry)


_worker_app: Flask | None = None


def use_app_for_jobs(app: Flask) -> None:
    """The app whose configuration queued jobs run with (the worker command's own app)."""
    global _worker_app
    _worker_app = app


def run_job(func_path: str, *args: Any) -> Any:
    """RQ's entry point: import func and run it inside an app context."""
    import importlib

    if _worker_app is None:
        # Building an app here would make this module import the app factory, which imports
        # every module (an import circle); the worker command sets its app before it works.
        raise RuntimeError("no app for jobs: run workers with `flask --app wsgi worker`")
    module_name, _, qualname = func_path.partition(":")
    func = getattr(importlib.import_module(module_name), qualname)
    with _worker_app.app_context():
        result = func(*args)
        commit()
        return result
