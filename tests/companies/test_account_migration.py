"""Migration 0008 groups the customers that existed before it into accounts.

Run on a database of its own, built by the migrations up to the revision before 0008, filled
with rows as that schema had them, then upgraded (the same as `flask db upgrade` on a live
database).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade

from portal import create_app
from portal.extensions import db
from portal.schema_migrations import enable_migrations
from tests.support import skip_or_fail

REVISION = "0008"
pytestmark = pytest.mark.both_databases  # on the pass's database, in a scratch schema


@pytest.fixture
def scratch_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    schema = f"portal_mig_{os.getpid()}"
    engine = None
    if url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except sa.exc.OperationalError as exc:
            skip_or_fail(f"database {url} unreachable: {exc.orig}")
        separator = "&" if "?" in url else "?"
        database = f"{url}{separator}options=-csearch_path%3D{schema}"
    else:
        database = f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database, "STORAGE_LOCAL_PATH": str(tmp_path / "storage")}
    )
    enable_migrations(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    if engine is not None:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _before(app: Flask) -> str:
    config = app.extensions["migrate"].migrate.get_config()
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


def _insert(conn, table_name: str, **values) -> int:
    """A row as the schema before 0008 has it (the table read from the database)."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    return conn.execute(table.insert().values(**values)).inserted_primary_key[0]


def test_existing_customers_are_grouped_by_company_within_their_team(scratch_app):
    upgrade(revision=_before(scratch_app))
    now = datetime.now(UTC)
    people: dict[str, int] = {}
    with db.engine.begin() as conn:

        def user(email: str, team: str | None, supervisor: int | None = None) -> int:
            return _insert(
                conn,
                "users",
                email=email,
                name=email,
                password_hash="x",
                role="rep",
                team=team,
                supervisor_id=supervisor,
                active=True,
                created_at=now,
            )

        east = user("east@x.com", "华东")
        east2 = user("east2@x.com", "华东")
        south = user("south@x.com", "华南")
        boss = user("boss@x.com", None)
        loner = user("loner@x.com", None, supervisor=boss)
        loner2 = user("loner2@x.com", None, supervisor=boss)
        rows = [
            ("a", east, "华东精密制造"),
            ("b", east2, "  华东精密制造\u3000"),  # spaces, an ideographic one
            ("c", east, "ＡＣＭＥ  Ltd"),  # full-width letters, a double space
            ("d", east, "acme ltd"),
            ("e", south, "华东精密制造"),  # another team: another account
            ("f", east, ""),  # no company: no account
            ("g", east, "   "),
            ("h", loner, "Acme Ltd"),  # no team: the supervisor's group
            ("i", loner2, "ACME LTD"),
        ]
        for name, owner, company in rows:
            people[name] = _insert(
                conn,
                "customers",
                name=name,
                company=company,
                title="",
                owner_id=owner,
                score=0,
                grade="C",
                created_at=now,
            )

    upgrade(revision=REVISION)

    with db.engine.connect() as conn:
        account_of = dict(conn.execute(sa.text("SELECT id, account_id FROM customers")).all())
        accounts = {
            row.id: row for row in conn.execute(sa.text("SELECT * FROM accounts")).mappings()
        }
    of = {name: account_of[customer_id] for name, customer_id in people.items()}
    assert of["a"] == of["b"] and of["c"] == of["d"] and of["h"] == of["i"]
    assert len({of["a"], of["c"], of["e"], of["h"]}) == 4
    assert of["f"] is None and of["g"] is None
    assert len(accounts) == 4
    assert accounts[of["a"]]["name"] == "华东精密制造"
    assert accounts[of["c"]]["name"] == "ACME Ltd"  # the oldest customer's spelling, tidied
    assert accounts[of["e"]]["scope"] == "team:华南"
    assert accounts[of["h"]]["scope"] == f"supervisor:{boss}"

    downgrade(revision=_before(scratch_app))  # and back: the column and the table go
    inspector = sa.inspect(db.engine)
    assert "accounts" not in inspector.get_table_names()
    assert "account_id" not in {c["name"] for c in inspector.get_columns("customers")}
