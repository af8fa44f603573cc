"""`flask --app wsgi worker`: the RQ worker that runs background jobs when Redis is configured.

Besides the queued jobs (rendering, e-mail, webhooks), every worker takes part in the tick's
schedule (portal.tasks.schedule): once every PORTAL_TICK_INTERVAL seconds (default 300, 0 turns
it off) one of the running workers enqueues `tick`, however many there are; and every worker
watches the read-report stream (portal.tracking.ingest_watchdog) so that no acknowledged report
waits for the next one to be applied.

`--alerts-only` makes a worker that takes alert jobs alone (portal.jobs.urgent: a chat message or
an e-mail to a rep) and none of the above: run at normal priority beside drain and render
workers that are niced, busy or far away, a rep's alert never waits for their CPU (P9), provided
they run with `--no-alerts`: an idle niced worker waiting on both queues would take an alert
as readily as the alerts worker, and then wait for the CPU to send it.

`--no-fork` runs each job in the worker's own process (portal.job_workers.WarmWorker) instead of a
work-horse forked per job, so renders find what earlier ones warmed; `--max-jobs` recycles it
(docs/deploy.md says what it gives up).

The worker survives Redis outages (portal.job_workers: it waits for Redis, pinging every
second, and goes on); the watchdog is a thread of the same process and goes on with it.
"""

from __future__ import annotations

import logging
import os
from functools import partial

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from portal import jobs
from portal.job_workers import REDIS_ERRORS, WarmWorker, Worker
from portal.library.rendering.pdf import warm_up
from portal.tasks.schedule import TickScheduler
from portal.tracking import ingest_path, ingest_queue
from portal.tracking.ingest_watchdog import DrainWatchdog

MAINTENANCE_SECONDS = 60

log = logging.getLogger(__name__)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--no-tick",
    is_flag=True,
    help="Do not take part in the tick's schedule (only run queued jobs).",
)
@click.option(
    "--alerts-only",
    is_flag=True,
    help=(
        "Take only alerts (chat and e-mail to reps), no drains, renders or tick. Run one at "
        "normal priority beside workers that are niced or busy, so that an alert never waits "
        "for the CPU or for a long job (docs/deploy.md)."
    ),
)
@click.option(
    "--no-alerts",
    is_flag=True,
    help=(
        "Leave alerts to the --alerts-only workers: a niced or busy worker that took one would "
        "make the rep wait for its CPU. Run only where an alerts-only worker runs too."
    ),
)
@click.option(
    "--no-fork",
    is_flag=True,
    help=(
        "Run each job in this process instead of a forked work-horse: renders reuse what "
        "earlier ones warmed (fonts, templates, encoders). Recycle it with --max-jobs "
        "(docs/deploy.md)."
    ),
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Exit after this many jobs (systemd's Restart=always starts a fresh one).",
)
@with_appcontext
def worker_command(
    burst: bool,
    no_tick: bool,
    alerts_only: bool,
    no_alerts: bool,
    no_fork: bool,
    max_jobs: int | None,
) -> None:
    """Run background jobs (rendering, e-mail, webhooks, the scheduled tick) from Redis."""
    if alerts_only and no_alerts:
        raise click.UsageError("--alerts-only and --no-alerts exclude each other")
    from redis import Redis

    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        raise click.ClickException(
            "PORTAL_REDIS_URL is not set: without Redis, jobs run inline and no worker is needed"
        )
    if not current_app.config.get("WORKER_NAME"):
        # before the first fork: each work horse's drains read as this worker
        current_app.config["WORKER_NAME"] = f"pid{os.getpid()}"
        log.info(
            "PORTAL_WORKER_NAME is not set: this worker is %s until it stops; name each worker "
            "(docs/deploy.md) so that a restarted one takes back what its predecessor had read",
            current_app.config["WORKER_NAME"],
        )
    # before the first fork, as the name: a job asks it (jobs.takes_alerts)
    current_app.config["WORKER_TAKES_ALERTS"] = not no_alerts
    jobs.use_app_for_jobs(current_app._get_current_object())
    # A burst runs a few jobs and stops: not worth the warm-up, the tick or the watchdog. An
    # alerts-only worker renders nothing, so it skips the warm-up too, and it stays out of the
    # tick's schedule and the drain watchdog: both queue work on the default queue, which it
    # does not take.
    long_running_full_worker = not burst and not alerts_only
    if long_running_full_worker:
        try:  # before the first fork: each job's work-horse starts from this process
            warm_up()
        except Exception:  # a render job will say what is wrong; the drains must not wait
            log.exception("rendering could not be warmed up; jobs will load it themselves")
    connection = Redis.from_url(redis_url)
    interval = int(current_app.config.get("TICK_INTERVAL") or 0)
    scheduler = None
    if interval > 0 and long_running_full_worker and not no_tick:
        scheduler = TickScheduler(redis_url, interval)
        scheduler.start()
    watchdog = None
    if long_running_full_worker and ingest_path.queued():
        watchdog = DrainWatchdog(current_app._get_current_object())
        watchdog.start()
    try:
        # with_scheduler: jobs queued with enqueue_in (webhook retries) run when they are due.
        # maintenance_interval: how soon the jobs of a killed worker are found abandoned and
        # retried, and a dead worker's scheduler lock taken over (RQ's default: 10 minutes).
        # The ingest drain depends on neither: the watchdog queues it (every WATCH_SECONDS).
        # portal.job_workers.Worker: a Redis outage is waited out, never a reason to exit.
        # queue_names(): alerts first, so that a rep's alert never waits behind drains
        # --no-fork: portal.job_workers.WarmWorker, the same riding-out without a horse
        worker = (WarmWorker if no_fork else Worker)(
            jobs.queue_names(alerts_only=alerts_only, no_alerts=no_alerts),
            connection=connection,
            maintenance_interval=MAINTENANCE_SECONDS,
        )
        if watchdog is not None:
            # Redis is back after an outage the worker waited out: no job of its own runs now,
            # so a drain flag under its name is a drain that died in the outage. Freed at once,
            # the next drain need not wait for the flag to expire (the watchdog, looking once a
            # second, can miss an outage shorter than that).
            app = current_app._get_current_object()
            worker.redis_back_hooks = (partial(_free_own_drain_flag, app),)
        worker.work(burst=burst, with_scheduler=True, max_jobs=max_jobs)
    finally:
        if scheduler is not None:
            scheduler.stop()
        if watchdog is not None:
            watchdog.stop()


def _free_own_drain_flag(app: Flask) -> None:
    """The redis_back_hook of a worker that drains (see worker_command)."""
    with app.app_context():
        try:
            if ingest_queue.release_own_flag():
                log.info("freed the drain flag of a drain of this worker that died in the outage")
        except REDIS_ERRORS:  # gone again: the watchdog frees it when it is back
            pass
