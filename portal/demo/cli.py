"""`flask --app wsgi demo`"""

from __future__ import annotations

import click

from portal import jobs
from portal.accounts.services import get_user_by_email
from portal.demo import dataset, loader


@click.command("demo")
@click.option(
    "--if-empty",
    is_flag=True,
    help="Load only into an empty database (no users yet); otherwise do nothing.",
)
def demo_command(if_empty: bool) -> None:
    """Load demo data: users of every role, templates, customers."""
    if not loader.is_empty():
        if if_empty:
            click.echo("demo: the database already has users; nothing loaded")
            if _demo_accounts_exist():  # scripts/run's later starts: say how to sign in again
                _echo_logins()
            return
        raise click.ClickException(
            "the database already has users; load the demo into an empty database "
            "(or pass --if-empty to skip quietly)"
        )
    counts = loader.load()
    jobs.commit()
    click.echo("demo loaded: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    _echo_logins()


def _demo_accounts_exist() -> bool:
    return all(get_user_by_email(email) is not None for email, *_ in dataset.USERS)


def _echo_logins() -> None:
    click.echo(f"sign in with any of these (password {dataset.DEMO_PASSWORD}):")
    for email, name, role, *_ in dataset.USERS:
        click.echo(f"  {role:<10} {email:<32} {name}")
