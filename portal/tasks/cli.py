"""`flask --app wsgi tick` (the clock's rules) and `flask --app wsgi tasks …` (settings).

Scheduling: `flask --app wsgi tick` runs once and exits, for cron or a systemd timer (e.g. every
5 minutes). `flask --app wsgi tick --every 300` stays up and fires every 300 s: with
PORTAL_REDIS_URL set, each run is enqueued on the RQ queue and the `worker` runs it; without
Redis it runs in-process. (rq-scheduler is not installed and the worker does not run RQ's own
scheduler, so the interval loop is the scheduler.) Running tick twice is harmless: idempotent.
"""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from portal import jobs
from portal.errors import PortalError
from portal.extensions import db
from portal.tasks import packs
from portal.tasks.tick import run_tick


def tick_job() -> dict[str, int]:
    """The job the schedule runs (inline or on RQ; the caller commits)."""
    result = run_tick()
    return {"penalized": result.penalized, "woken": result.woken, "escalated": result.escalated}


@click.command("tick")
@click.option("--every", type=int, default=0, help="Keep running: fire every N seconds.")
@with_appcontext
def tick_command(every: int) -> None:
    """Apply the time rules once (no_reply_3d, snoozes, overdue escalation)."""
    if every <= 0:
        result = run_tick()
        jobs.commit()
        click.echo(
            f"tick: {result.penalized} no-reply penalties, {result.woken} tasks woken, "
            f"{result.escalated} overdue tasks escalated"
        )
        return
    queued = bool(current_app.config.get("REDIS_URL")) and not current_app.config.get("JOBS_INLINE")
    click.echo(f"tick every {every} s ({'on the RQ queue' if queued else 'in-process'})")
    while True:
        jobs.dispatch(tick_job)
        time.sleep(every)


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
