"""`flask --app wsgi demo`"""

from __future__ import annotations

import click

from portal import jobs
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
            return
        raise click.ClickException(
            "the database already has users; load the demo into an empty database "
            "(or pass --if-empty to skip quietly)"
        )
    counts = loader.load()
    jobs.commit()
    click.echo(
        "demo loaded: "
        + ", ".join(f"{n} {what}" for what, n in counts.items())
        + f"\nsign in with any of these (password {dataset.DEMO_PASSWORD}):"
    )
    for email, name, role, *_ in dataset.USERS:
        click.echo(f"  {role:<10} {email:<32} {name}")
