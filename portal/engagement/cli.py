"""`flask --app wsgi scores …`: rebuild scores, list and change scoring rules."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from portal import jobs
from portal.engagement import recompute as recompute_service
from portal.engagement import rules as rule_service
from portal.errors import PortalError
from portal.extensions import db

scores_cli = AppGroup("scores", help="Lead scores: rebuild them, see and change the rules.")


@scores_cli.command("recompute")
@click.option(
    "--customer",
    "customer_ids",
    type=int,
    multiple=True,
    help="Only this customer (repeatable); default: every customer.",
)
@click.option(
    "--ledger-only",
    is_flag=True,
    help="Only set score and grade from the existing ledger (the events are not read).",
)
def recompute_command(customer_ids: tuple[int, ...], ledger_only: bool) -> None:
    """Rebuild scores and grades from the events (set-based SQL), then sum the ledger."""
    result = recompute_service.recompute(list(customer_ids) or None, from_events=not ledger_only)
    if ledger_only:
        click.echo(f"scores recomputed from the ledger: {result.customers} customers")
    else:
        click.echo(
            f"scores recomputed: {result.customers} customers, {result.events} events, "
            f"{result.entries} ledger rows"
        )


@scores_cli.command("rules")
@click.option("--install-missing", is_flag=True, help="Add any default rule that is missing.")
def rules_command(install_missing: bool) -> None:
    """List the scoring rules (key, points, cap, repeatable, enabled, version, params)."""
    if install_missing:
        added = rule_service.install_defaults()
        jobs.commit()
        click.echo(f"added: {', '.join(added) if added else 'nothing (all present)'}")
    for rule in sorted(rule_service.load_rules().values(), key=lambda r: r.key):
        cap = "-" if rule.cap is None else str(rule.cap)
        click.echo(
            f"{rule.key:22} {rule.points:+5d}  cap {cap:>4}  "
            f"{'repeatable' if rule.repeatable else 'once      '}  "
            f"{'on ' if rule.enabled else 'off'}  v{rule.version}  "
            f"{json.dumps(rule.params, ensure_ascii=False)}"
        )


@scores_cli.command("set-rule")
@click.argument("key")
@click.option("--points", type=int)
@click.option("--cap", help="Points, or 'none' for no cap.")
@click.option("--repeatable/--once", default=None)
@click.option("--enable/--disable", "enabled", default=None)
@click.option(
    "--params", "params_json", help="JSON merged into the params, e.g. '{\"ratio\": 0.9}'"
)
def set_rule_command(
    key: str,
    points: int | None,
    cap: str | None,
    repeatable: bool | None,
    enabled: bool | None,
    params_json: str | None,
) -> None:
    """Change a rule; a real change makes a new version (kept in its history)."""
    changes: dict = {}
    if points is not None:
        changes["points"] = points
    if cap is not None:
        if cap.strip().lower() == "none":
            changes["cap"] = None
        else:
            try:
                changes["cap"] = int(cap)
            except ValueError:
                raise click.BadParameter("a whole number or 'none'", param_hint="--cap") from None
    if repeatable is not None:
        changes["repeatable"] = repeatable
    if enabled is not None:
        changes["enabled"] = enabled
    if params_json is not None:
        try:
            changes["params"] = json.loads(params_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
    try:
        rule = rule_service.update_rule(key, by=None, **changes)
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    jobs.commit()
    click.echo(f"{rule.key}: version {rule.version}")
