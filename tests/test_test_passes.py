"""Which pass of scripts/test runs a test (tests/conftest.py): `only_in_pass` picks one."""

from __future__ import annotations

import pytest

from tests.conftest import _in_the_postgresql_pass, _in_the_sqlite_pass


class Item:
    def __init__(self, *marks: tuple[str, tuple], fixtures: tuple[str, ...] = ("app",)):
        self._marks = {name: getattr(pytest.mark, name)(*args).mark for name, args in marks}
        self.fixturenames = fixtures
        self.nodeid = "tests/x.py::t"
        self.path = __file__

    def get_closest_marker(self, name: str):
        return self._marks.get(name)


def test_only_in_pass_names_the_one_pass():
    sqlite_only = Item(("only_in_pass", ("sqlite",)), fixtures=("database_url",))
    postgresql_only = Item(("only_in_pass", ("postgresql",)))
    assert _in_the_sqlite_pass(sqlite_only) and not _in_the_postgresql_pass(sqlite_only)
    assert _in_the_postgresql_pass(postgresql_only) and not _in_the_sqlite_pass(postgresql_only)


def test_without_it_a_database_test_runs_in_both():
    both = Item(fixtures=("database_url",))
    assert _in_the_sqlite_pass(both) and _in_the_postgresql_pass(both)


def test_a_pass_that_does_not_exist_is_a_usage_error():
    with pytest.raises(pytest.UsageError, match="sqlite or postgresql"):
        _in_the_sqlite_pass(Item(("only_in_pass", ("mysql",))))
