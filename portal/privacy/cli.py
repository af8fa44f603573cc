"""`flask --app wsgi privacy erase EMAIL --yes` (and, later, export and expire)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.errors import PortalError
from portal.privacy import erasure

privacy_cli = AppGroup("privacy", help="A person's data: erase it on request.")


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Confirm: erasure cannot be undone.")
def erase_command(email: str, yes: bool) -> None:
    """Erase the customer with this e-mail and everything that names them."""
    if not yes:
        raise click.UsageError("erasure cannot be undone: add --yes to confirm")
    try:
        customer = erasure.find_by_email(email)
        customer_id = customer.id
        erasure.erase(None, customer_id)
        jobs.commit()
    except PortalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"erased customer {customer_id}")
