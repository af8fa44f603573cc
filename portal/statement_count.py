"""Counting the SQL statements a block sends: how the tests and the benchmark (P5) prove that a
page's queries do not grow with its rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The statements sent on the app's engine while the block runs, in order."""
    from portal.extensions import db

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
