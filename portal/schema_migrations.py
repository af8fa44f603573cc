"""Flask-Migrate, loaded when migrations run, not with every process.

Flask-Migrate imports alembic (and, through it, mako and more) at its own import: ~60 ms of
CPU on a fast machine, twice that on a loaded one, for every gunicorn worker, RQ worker and
`flask` command that starts, though only `flask db …` uses it. So create_app registers
`MigrationCommands`, a `db` group that imports Flask-Migrate when it is run or asked for
help, and code that runs migrations itself (tests, tools) calls `enable_migrations(app)`
first, as `flask db` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

from portal.extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def enable_migrations(app: Flask) -> None:
    """Flask-Migrate on `app`: its settings in app.extensions["migrate"], which alembic's env.py
    and flask_migrate.upgrade() read, and its own `flask db` group in place of the lazy one."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    # batch mode: SQLite alters a table by copying it, and the migrations are the same on both
    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)


class MigrationCommands(click.Group):
    """`flask db`: Flask-Migrate's group, imported (and set up on the app) when it runs.

    click asks a group for a subcommand's context through make_context; handing back the real
    group's context makes every `flask db …` behave exactly as Flask-Migrate's own."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="db", help="Perform database migrations.")
        self._app = app

    def _real(self) -> click.Group:
        enable_migrations(self._app)
        from flask_migrate.cli import db as migrate_group

        return migrate_group

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._real().get_command(ctx, cmd_name)
