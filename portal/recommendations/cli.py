"""`flask --app wsgi keywords …`: the recommendation keyword map (an admin page can come later)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import jobs
from portal.errors import PortalError
from portal.extensions import db
from portal.recommendations import keywords

keywords_cli = AppGroup("keywords", help="Recommendation keywords: word -> template kind or tag.")


@keywords_cli.command("list")
def list_command() -> None:
    """List the keyword rules (keyword, target, on/off)."""
    for rule in keywords.list_rules():
        click.echo(f"{rule.keyword}\t{rule.target}\t{'on' if rule.enabled else 'off'}")


@keywords_cli.command("add")
@click.argument("keyword")
@click.argument("target")
def add_command(keyword: str, target: str) -> None:
    """Add KEYWORD -> TARGET (kind:<kind> or tag:<content tag>)."""
    try:
        rule = keywords.add_rule(keyword, target)
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    jobs.commit()
    click.echo(f"added: {rule.keyword} -> {rule.target}")


@keywords_cli.command("remove")
@click.argument("keyword")
@click.option("--target", default=None, help="Only this target (default: all of the keyword's).")
def remove_command(keyword: str, target: str | None) -> None:
    """Remove KEYWORD's rules."""
    removed = keywords.remove_rule(keyword, target)
    jobs.commit()
    if not removed:
        raise click.ClickException(f"no keyword rule {keyword!r}")
    click.echo(f"removed {removed} rule(s) for {keywords.normalize_keyword(keyword)}")


@keywords_cli.command("install-defaults")
def install_defaults_command() -> None:
    """Add the default keywords of DESIGN.md that are missing."""
    added = keywords.install_defaults()
    jobs.commit()
    click.echo(f"added {len(added)} rule(s)")
