"""Counting the SQL statements a block sends: how the tests and the benchmark (P5) prove that a
page's queries do not grow with its rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The statements this thread sends on the app's engine while the block runs, in order.

    Only this thread's: background threads share the engine (a link cache's listener reads the
    change counter ahead of need, portal.delivery.link_cache), and their statements are not
    the block's."""
    from portal.extensions import db

    statements: list[str] = []
    owner = threading.get_ident()

    def count(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == owner:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
