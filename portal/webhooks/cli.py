"""`flask --app wsgi webhooks …`: register outbound webhooks and resend due deliveries."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.accounts.services import get_user_by_email
from portal.errors import PortalError
from portal.extensions import db
from portal.webhooks import service

webhooks_cli = AppGroup("webhooks", help="Outbound webhooks (signed JSON POSTs).")


@webhooks_cli.command("add")
@click.argument("url")
@click.option(
    "--events",
    required=True,
    help=f"Comma separated, some of: {', '.join(service.EVENT_KINDS)}.",
)
@click.option("--by", "by_email", default=None, help="The admin registering it (e-mail).")
def add_command(url: str, events: str, by_email: str | None) -> None:
    """Register URL; prints the signing secret once."""
    by = get_user_by_email(by_email) if by_email else None
    if by_email and (by is None or by.role != "admin"):
        raise click.ClickException(f"{by_email} is not an admin")
    try:
        webhook = service.create_webhook(url, events, by=by)
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    jobs.commit()
    click.echo(f"webhook {webhook.id}: {webhook.url} ({', '.join(webhook.events)})")
    click.echo(f"secret (shown once): {webhook.secret}")


@webhooks_cli.command("list")
def list_command() -> None:
    """List the webhooks (id, active, events, URL)."""
    for webhook in service.list_webhooks():
        state = "active" if webhook.active else "off"
        click.echo(f"{webhook.id}\t{state}\t{','.join(webhook.events)}\t{webhook.url}")


@webhooks_cli.command("remove")
@click.argument("webhook_id", type=int)
def remove_command(webhook_id: int) -> None:
    """Remove a webhook and its delivery history."""
    if not service.remove_webhook(webhook_id):
        raise click.ClickException(f"no webhook {webhook_id}")
    jobs.commit()
    click.echo(f"removed webhook {webhook_id}")


@webhooks_cli.command("retry-due")
def retry_due_command() -> None:
    """Resend the failed deliveries whose next attempt is due."""
    count = service.retry_due()
    jobs.commit()
    click.echo(f"retried {count} deliveries")
