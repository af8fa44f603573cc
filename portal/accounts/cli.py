"""`flask --app wsgi users …`"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.accounts import services
from portal.accounts.models import Role
from portal.errors import PortalError
from portal.extensions import db

users_cli = AppGroup("users", help="Manage staff accounts and API tokens.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True)
@click.option("--supervisor", "supervisor_email", help="E-mail of this user's supervisor.")
@click.option("--team")
@click.option("--region")
@click.password_option(help="Prompted for when not given.")
def create_user(
    email: str,
    role: str,
    name: str,
    supervisor_email: str | None,
    team: str | None,
    region: str | None,
    password: str,
) -> None:
    """Create a staff account."""
    try:
        user = services.create_user(
            email,
            name=name,
            role=role,
            password=password,
            supervisor_email=supervisor_email,
            team=team,
            region=region,
        )
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    jobs.commit()
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@users_cli.command("set")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]))
@click.option("--team", help='"" clears it.')
@click.option("--region", help='"" clears it.')
@click.option("--active/--inactive", default=None, help="Re-enable or deactivate the account.")
def change_user(
    email: str, role: str | None, team: str | None, region: str | None, active: bool | None
) -> None:
    """Change a staff account's role, team, region or whether it may sign in."""
    user = services.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    try:
        changes = services.change_user(
            user, by=None, role=role, team=team, region=region, active=active
        )
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    jobs.commit()
    click.echo(
        ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in changes.items()) or "unchanged"
    )


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label to recognise the token by.")
def create_token(email: str, name: str) -> None:
    """Print a new API token for EMAIL. It is shown once and stored only as a hash."""
    user = services.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    token = services.issue_api_token(user, name=name)
    jobs.commit()
    click.echo(token)
