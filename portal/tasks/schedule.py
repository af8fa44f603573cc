"""The tick on a schedule: with Redis, once every PORTAL_TICK_INTERVAL seconds, on one worker.

Every `flask --app wsgi worker` runs a small scheduler thread (TickScheduler). Time is cut into
slots of `interval` seconds (slot n starts at n × interval seconds of Unix time, the same on
every node). When a slot starts, each worker's scheduler tries

    SET portal:tick:slot:<n> <worker> NX EX <2 × interval>

and only the one that wins enqueues the tick job (RQ job id `portal-tick-<n>`). So N workers on
M machines give one tick per slot; a worker that dies takes its thread with it and the others
claim the next slots; nodes whose clocks differ by less than the interval still agree on slot n.

A tick that fails is not retried: the next slot's tick does the work, because run_tick is
idempotent and catches up on everything that came due meanwhile. The job's RQ `ttl` drops a
tick that waited in the queue for a whole interval (the next one is already there), and while a
tick runs it holds `portal:tick:running`: SET NX with a short TTL (RUNNING_TTL) that the running
job keeps extending and deletes at the end. A tick slower than the interval makes the next one
skip instead of overlapping it; a tick whose worker is killed (no `finally`) stops extending the
key, which expires within RUNNING_TTL, so the next interval's tick runs.

Each tick records its run in `portal:tick:runs` (the latest RUN_HISTORY runs, newest first: slot,
outcome, times, what it changed): what an operator reads to see that the schedule is alive.

Why not rq.cron: a CronScheduler enqueues its jobs itself, so one in every worker would enqueue
the tick once per worker, and a single `rq cron` process is one more thing to deploy and a
single point of failure. The slot claim gives both: no duplicates and no single scheduler.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from flask import current_app

from portal import jobs
from portal.tasks.tick import run_tick

log = logging.getLogger(__name__)

KEY_PREFIX = "portal:tick:"
SLOT_KEY = KEY_PREFIX + "slot:{slot}"
RUNNING_KEY = KEY_PREFIX + "running"
RUNS_KEY = KEY_PREFIX + "runs"
RUN_HISTORY = 100
MIN_JOB_TIMEOUT = 600  # seconds a tick may run before RQ stops it (at least the interval)
JOB_FUNC = "portal.tasks.schedule:scheduled_tick"
RUNNING_TTL = 30  # seconds the running key outlives a tick that stopped extending it

# Extends or releases the running key only if it is still ours.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _redis(url: str):
    from redis import Redis

    return Redis.from_url(url)


def slot_of(timestamp: float, interval: int) -> int:
    return int(timestamp // interval)


def job_timeout(interval: int) -> int:
    return max(interval, MIN_JOB_TIMEOUT)


def claim_and_enqueue(redis_url: str, interval: int, slot: int, owner: str) -> bool:
    """Enqueue slot's tick if nobody has: True when this caller won the slot."""
    from rq import Queue

    connection = _redis(redis_url)
    try:
        claimed = connection.set(SLOT_KEY.format(slot=slot), owner, nx=True, ex=2 * interval)
        if not claimed:
            return False
        Queue(jobs.QUEUE_NAME, connection=connection).enqueue(
            jobs.run_job,
            JOB_FUNC,
            slot,
            job_id=f"portal-tick-{slot}",
            job_timeout=job_timeout(interval),
            ttl=interval,  # still queued when the next slot starts: dropped, the next one runs
            result_ttl=2 * interval,
            failure_ttl=24 * 3600,
            description=f"tick (slot {slot})",
        )
        return True
    finally:
        connection.close()


@dataclass
class TickRun:
    slot: int
    outcome: str  # "done", "failed", or "skipped" (another tick was still running)
    started_at: float
    finished_at: float
    worker: str
    result: dict[str, int] | None = None
    error: str | None = None


def scheduled_tick(slot: int) -> dict[str, Any]:
    """The RQ job of one slot: run the tick unless another one is still running; record it."""
    connection = _redis(current_app.config["REDIS_URL"])
    me = f"{socket.gethostname()}:{os.getpid()}:{slot}"
    run = TickRun(slot, "skipped", time.time(), 0.0, me)
    try:
        if connection.set(RUNNING_KEY, me, nx=True, ex=RUNNING_TTL):
            keeper = _Keeper(connection, me)
            keeper.start()
            try:
                result = run_tick()
                jobs.commit()
                run.outcome = "done"
                run.result = {
                    "penalized": result.penalized,
                    "woken": result.woken,
                    "escalated": result.escalated,
                    "webhooks_retried": result.webhooks_retried,
                }
            except Exception as exc:
                run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
                raise
            finally:
                keeper.stop()
                connection.eval(_RELEASE, 1, RUNNING_KEY, me)
    finally:
        run.finished_at = time.time()
        with connection.pipeline() as pipe:
            pipe.lpush(RUNS_KEY, json.dumps(asdict(run)))
            pipe.ltrim(RUNS_KEY, 0, RUN_HISTORY - 1)
            pipe.execute()
        connection.close()
    return asdict(run)


class _Keeper(threading.Thread):
    """Extends the running key every RUNNING_TTL / 3 seconds while the tick runs."""

    def __init__(self, connection: Any, owner: str):
        super().__init__(name="portal-tick-keeper", daemon=True)
        self.connection, self.owner = connection, owner
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(RUNNING_TTL / 3):
            try:
                self.connection.eval(_EXTEND, 1, RUNNING_KEY, self.owner, RUNNING_TTL)
            except Exception:  # Redis away for a moment: the key may expire, the tick goes on
                log.warning("could not extend %s", RUNNING_KEY, exc_info=True)

    def stop(self) -> None:
        self.done.set()
        self.join(5)


def recent_runs(redis_url: str, limit: int = RUN_HISTORY) -> list[dict[str, Any]]:
    """The latest recorded tick runs, newest first."""
    connection = _redis(redis_url)
    try:
        return [json.loads(raw) for raw in connection.lrange(RUNS_KEY, 0, limit - 1)]
    finally:
        connection.close()


class TickScheduler:
    """The thread a worker runs: at each slot start, claim the slot and enqueue its tick.

    It talks to Redis only (never to the database), with a connection of its own, so RQ's
    fork of a work horse never shares anything with it."""

    def __init__(self, redis_url: str, interval: int, name: str | None = None):
        if interval <= 0:
            raise ValueError("the tick interval must be a positive number of seconds")
        self.redis_url = redis_url
        self.interval = interval
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="portal-tick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        log.info("tick scheduled every %d s (worker %s)", self.interval, self.name)
        while not self._stop.is_set():
            now = time.time()
            slot = slot_of(now, self.interval)
            try:
                if claim_and_enqueue(self.redis_url, self.interval, slot, self.name):
                    log.info("tick of slot %d enqueued", slot)
            except Exception:  # Redis away for a moment: try again at the next slot
                log.exception("could not enqueue the tick of slot %d", slot)
            next_start = (slot + 1) * self.interval
            self._stop.wait(max(0.0, next_start - time.time()) + 0.05)
