"""`flask --app wsgi privacy export EMAIL`, `privacy erase EMAIL --yes`, `privacy expire`."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from portal import jobs
from portal.errors import PortalError
from portal.privacy import erasure, export
from portal.tracking import retention

privacy_cli = AppGroup(
    "privacy", help="A person's data: export or erase it on request; expire old records."
)


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


@privacy_cli.command("export")
@click.argument("email")
@click.option(
    "--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="Write an .xlsx file here."
)
def export_command(email: str, xlsx_path: str | None) -> None:
    """Print everything Portal holds about the customer with this e-mail, as JSON."""
    try:
        data = export.export(None, erasure.find_by_email(email).id)
        jobs.commit()
    except PortalError as exc:
        raise click.ClickException(str(exc)) from exc
    if xlsx_path:
        with open(xlsx_path, "wb") as out:
            out.write(export.workbook(data))
        click.echo(f"written {xlsx_path}")
        return
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@privacy_cli.command("expire")
def expire_command() -> None:
    """Delete raw events, view sessions and address hashes past PORTAL_EVENT_RETENTION_DAYS."""
    result = retention.expire()
    jobs.commit()
    click.echo(
        f"expired: {result.events} events, {result.sessions} view sessions, "
        f"{result.address_hashes} address hashes (older than {retention.retention_days()} days)"
    )
