"""`flask --app wsgi deals snapshot`: record today's forecast for later forecast-vs-actual."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from portal import jobs
from portal.db_types import utcnow
from portal.deals.forecast import take_snapshot
from portal.engagement.facts import timezone

deals_cli = AppGroup("deals", help="Deal pipeline commands.")


def snapshot_today(now: datetime) -> int:
    """Today's (the portal's time zone) forecast snapshot; running it again replaces it."""
    return take_snapshot(now.astimezone(timezone()).date())


@deals_cli.command("snapshot")
def snapshot_command() -> None:
    """Record today's forecast per rep, region and close month."""
    count = snapshot_today(utcnow())
    jobs.commit()
    click.echo(f"forecast snapshot: {count} rows")
