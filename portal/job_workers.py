"""RQ's worker classes, made to stop within a second, and the two `flask worker` runs (the
forking Worker, and WarmWorker for --no-fork) to outlive Redis outages.

An RQ worker listens for commands (shutdown, kill the running job) on a Redis pub/sub thread
that polls with a 60 s timeout. redis-py 8 made `PubSubWorkerThread.stop()` wait for that thread,
and RQ's teardown unsubscribes first, so the thread sits out its whole poll: every worker took
60 s to stop, a burst worker (`flask --app wsgi worker --burst`, the tests' in-process workers)
60 s to return after its last job. Here the poll is 1 s: commands still arrive at once (a
message ends the poll), and a worker stops within a second of being told to.

Redis outages (issue 19):

RQ's own loop (rq.worker.BaseWorker.work) quits on any exception that reaches it: a Redis
connection error raised while a job runs (the parent heartbeats and watches its work horse
through Redis), while it checks for suspension or runs its maintenance. Only the idle wait for a
job retries, with a backoff doubling up to 60 s. Worker changes neither loop; it wraps
the steps that talk to Redis outside that wait, so that a connection error there waits for Redis
(pinging every RETRY_SECONDS at most) and the loop goes on; and it caps RQ's own idle backoff at
RETRY_SECONDS. A worker therefore never exits because Redis went away, and starts taking jobs
again within RETRY_SECONDS of Redis answering. systemd's Restart=always (docs/deploy.md) stays the
second line of defence, for what is not a Redis outage.

A job whose parent lost Redis while its horse ran: the horse is waited for (its own timeout
bounds it), and the job is left as RQ finds it (its abandoned-job cleanup). The ingest drain does
not depend on that: the drain watchdog (portal.tracking.ingest_watchdog) queues a new one.
WarmWorker runs the job in its own process: a Redis error that ends the job is waited out the
same way. Once Redis answers, either calls its redis_back_hooks (the worker command frees a
drain flag its dead drain held).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker as _RQSimpleWorker
from rq import Worker as _RQWorker

COMMAND_POLL_SECONDS = 1
RETRY_SECONDS = 1.0
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
log = logging.getLogger(__name__)


class _PromptStop:
    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class _RidesOutRedis:
    """The steps outside RQ's idle wait that talk to Redis: a connection error there waits for
    Redis (pinging every RETRY_SECONDS) instead of ending the worker."""

    max_connection_wait_time = RETRY_SECONDS  # RQ's idle backoff: 1 s, never 60
    # Called once Redis answers again after an outage the worker waited out (the worker command
    # hands in one that frees the drain flag of a drain of this worker that died in it).
    redis_back_hooks: tuple[Callable[[], None], ...] = ()

    def check_for_suspension(self, burst: bool) -> None:
        self._riding_out(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._riding_out(super().run_maintenance_tasks)

    def heartbeat(self, *args, **kwargs):
        if self.is_horse:
            return super().heartbeat(*args, **kwargs)
        return self._riding_out(super().heartbeat, *args, **kwargs)

    def _riding_out(self, step, *args, **kwargs):
        try:
            return step(*args, **kwargs)
        except REDIS_ERRORS as exc:
            self._wait_for_redis(exc)
            return None

    def _wait_for_redis(self, exc: Exception) -> None:
        """Ping Redis every RETRY_SECONDS until it answers (or a stop is requested): one line
        when it goes, one when it is back."""
        log.warning("worker %s: Redis unavailable (%s); retrying every %.0f s",
                    self.name, exc, RETRY_SECONDS)  # fmt: skip
        started = time.monotonic()
        while not self._stop_requested:
            time.sleep(RETRY_SECONDS)
            try:
                self.connection.ping()
            except REDIS_ERRORS:
                continue
            log.warning("worker %s: Redis available again after %.1f s",
                        self.name, time.monotonic() - started)  # fmt: skip
            for hook in self.redis_back_hooks:
                hook()
            return


class Worker(_RidesOutRedis, _PromptStop, _RQWorker):
    """The forking worker of `flask --app wsgi worker`: prompt to stop, and it rides out Redis
    outages (see the module docstring)."""

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            self._outlive_horse()
            self._wait_for_redis(exc)

    def _outlive_horse(self) -> None:
        """The parent lost Redis while its horse ran: wait for the horse (it needs no parent)."""
        if self.horse_pid:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self.horse_pid, 0)
            self._horse_pid = 0


class WarmWorker(_RidesOutRedis, _PromptStop, _RQSimpleWorker):
    """`flask --app wsgi worker --no-fork`: each job runs in the worker's own process, so a
    render finds the fonts, the compiled templates and the image encoders its predecessors
    warmed; a forked work-horse starts from the parent's state each time and throws away what
    its job warmed (P8's 200 renders, local storage, 2026-12-06: 1.46 × the in-process baseline
    forked, 1.14 not). The price is the isolation: a job that leaks stays in the worker, so
    recycle it (--max-jobs, with systemd's Restart=always), and a timeout interrupts Python code
    only (SIGALRM)."""

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            self._wait_for_redis(exc)


class SimpleWorker(_PromptStop, _RQSimpleWorker):
    """Runs jobs in its own process (the tests' in-process workers)."""
