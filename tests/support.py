"""Helpers shared by test modules (import as `from tests.support import …`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """A missing service skips locally and fails in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """Collect the SQL statements the block sends (to prove a page's queries don't grow)."""
    from portal.extensions import db

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
