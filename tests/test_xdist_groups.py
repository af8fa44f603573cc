"""tests/conftest.py refuses a worker's run in which pytest-xdist's `loadgroup` does not group
(pytest 9 with pytest-xdist 3.8 silently sent every grouped test anywhere)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import pytest_collection_finish


class Item:
    def __init__(self, nodeid: str, group: str | None):
        self.nodeid = nodeid
        self._group = group

    def get_closest_marker(self, name: str):
        return object() if name == "xdist_group" and self._group else None


def session(*items: Item, loadgroup: bool = True):
    config = SimpleNamespace(getoption=lambda name, default=None: loadgroup)
    return SimpleNamespace(config=config, items=list(items))


def test_a_grouped_test_without_its_group_in_the_node_id_fails_the_worker(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    with pytest.raises(pytest.UsageError, match="does not group 1 xdist_group tests"):
        pytest_collection_finish(session(Item("t.py::a", "nginx"), Item("t.py::b", None)))


def test_grouped_node_ids_and_runs_without_loadgroup_pass(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    pytest_collection_finish(session(Item("t.py::a@nginx", "nginx"), Item("t.py::b", None)))
    pytest_collection_finish(session(Item("t.py::a", "nginx"), loadgroup=False))
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    pytest_collection_finish(session(Item("t.py::a", "nginx")))
