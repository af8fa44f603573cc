"""`flask --app wsgi tick` (the clock's rules) and `flask --app wsgi tasks …` (settings).

Scheduling: with PORTAL_REDIS_URL set, the workers schedule the tick themselves: once every
PORTAL_TICK_INTERVAL seconds (default 300) one of them enqueues it (portal.tasks.schedule), so
nothing else is needed. Without Redis, `flask --app wsgi tick` runs once and exits, for cron or
a systemd timer, or `flask --app wsgi tick --every 300` stays up and runs it every 300 s in its
own process (with Redis, `--every N` claims slots as the workers do: with N equal to
PORTAL_TICK_INTERVAL it never adds a second tick to an interval).
`flask --app wsgi tick --history` lists the latest scheduled runs. Running tick twice is harmless:
it is idempotent.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from portal import jobs
from portal.errors import PortalError
from portal.extensions import db
from portal.tasks import packs, schedule
from portal.tasks.tick import run_tick


def tick_job() -> dict[str, int]:
    """The job the schedule runs (inline or on RQ; the caller commits)."""
    result = run_tick()
    return {
        "penalized": result.penalized,
        "woken": result.woken,
        "escalated": result.escalated,
        "digests": result.digests_sent,
    }


@click.command("tick")
@click.option("--every", type=int, default=0, help="Keep running: fire every N seconds.")
@click.option("--history", is_flag=True, help="List the latest scheduled runs (Redis) and exit.")
@with_appcontext
def tick_command(every: int, history: bool) -> None:
    """Apply the time rules once (no_reply_3d, snoozes, overdue escalation)."""
    redis_url = current_app.config.get("REDIS_URL")
    if history:
        _print_history(redis_url)
        return
    if every <= 0:
        result = run_tick()
        jobs.commit()
        click.echo(
            f"tick: {result.penalized} no-reply penalties, {result.woken} tasks woken, "
            f"{result.escalated} overdue tasks escalated, {result.digests_sent} digests sent"
        )
        return
    queued = bool(redis_url) and not current_app.config.get("JOBS_INLINE")
    click.echo(f"tick every {every} s ({'on the RQ queue' if queued else 'in-process'})")
    while True:
        if queued:
            schedule.claim_and_enqueue(
                redis_url, every, schedule.slot_of(time.time(), every), "tick --every"
            )
        else:
            jobs.dispatch(tick_job)
        time.sleep(every - time.time() % every if queued else every)


def _print_history(redis_url: str | None) -> None:
    if not redis_url:
        raise click.ClickException("PORTAL_REDIS_URL is not set: ticks are not scheduled")
    runs = schedule.recent_runs(redis_url, limit=20)
    if not runs:
        click.echo("no scheduled tick has run yet")
    for run in runs:
        started = datetime.fromtimestamp(run["started_at"], UTC).isoformat(timespec="seconds")
        seconds = max(0.0, run["finished_at"] - run["started_at"])
        detail = run.get("error") or json.dumps(run.get("result") or {})
        click.echo(f"{started}\tslot {run['slot']}\t{run['outcome']}\t{seconds:.1f} s\t{detail}")


tasks_cli = AppGroup("tasks", help="Task rules settings: the solution packs.")


@tasks_cli.command("set-pack")
@click.argument("industry")
@click.argument("template_id", type=int)
def set_pack(industry: str, template_id: int) -> None:
    """Deliver template TEMPLATE_ID when a customer of INDUSTRY views a case study."""
    try:
        packs.set_pack(industry, template_id)
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    jobs.commit()
    click.echo(f"solution pack for {industry.strip()}: template {template_id}")


@tasks_cli.command("packs")
def list_packs() -> None:
    """List the solution packs."""
    for pack in packs.list_packs():
        click.echo(f"{pack.industry}\t{pack.template_id}")
