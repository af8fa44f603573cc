"""`flask --app wsgi deals snapshot`: record today's forecast for later forecast-vs-actual."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.db_types import utcnow
from portal.deals.forecast import snapshot_today

deals_cli = AppGroup("deals", help="Deal pipeline commands.")


@deals_cli.command("snapshot")
def snapshot_command() -> None:
    """Record today's forecast per rep, region and close month."""
    count = snapshot_today(utcnow())
    jobs.commit()
    click.echo(f"forecast snapshot: {count} rows")
