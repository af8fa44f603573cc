"""`flask --app wsgi analytics rebuild`: the reading rollups content analytics reads, rebuilt
from the stored sessions and events (portal.tracking.rollups)."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.tracking import rollups
from portal.tracking.models import DeliveryPageReads

analytics_cli = AppGroup("analytics", help="Content analytics: rebuild the reading rollups.")


@analytics_cli.command("rebuild")
@click.option(
    "--delivery",
    "delivery_ids",
    type=int,
    multiple=True,
    help="Only this send (repeatable); default: every send.",
)
def rebuild_command(delivery_ids: tuple[int, ...]) -> None:
    """Recompute the rollups (one row per send, one per send and page read) from the raw rows,
    in one transaction: the events path keeps them afterwards."""
    start = time.perf_counter()
    sends = rollups.rebuild(list(delivery_ids) or None)
    pages = db.session.scalar(select(func.count()).select_from(DeliveryPageReads))
    jobs.commit()
    click.echo(
        f"rollups rebuilt: {sends} sends, {pages} page rows in {time.perf_counter() - start:.1f} s"
    )
