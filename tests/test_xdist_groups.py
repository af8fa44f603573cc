"""`--dist loadgroup` keeps each xdist_group on one worker (tests/conftest.py): the group is put
in the node id on pytest 9 too, and a worker's run in which it is not is refused (pytest 9 with
pytest-xdist 3.8 silently sent every grouped test anywhere)."""

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


def test_a_grouped_test_gets_its_group_in_its_node_id(monkeypatch):
    """What pytest-xdist does on pytest 8, done for pytest 9 (tests/conftest.py, _xdist_groups)."""
    nodeid = pytest.importorskip("_pytest.nodeid", reason="pytest 8: pytest-xdist does it")
    from tests.conftest import _xdist_groups

    class Node:
        def __init__(self, raw: str, group: str | None):
            self._id = nodeid.NodeId.parse(raw)
            self._group = group

        @property
        def nodeid(self) -> str:
            return str(self._id)

        def iter_markers(self, name: str):
            return [pytest.mark.xdist_group(self._group).mark] if self._group else []

        def get_closest_marker(self, name: str):
            return next(iter(self.iter_markers(name)), None)

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    items = [Node("t.py::a[x]", "nginx"), Node("t.py::b", None)]
    _xdist_groups(SimpleNamespace(getoption=lambda name, default=None: True), items)
    assert [item.nodeid for item in items] == ["t.py::a[x]@nginx", "t.py::b"]
    pytest_collection_finish(session(*items))  # the check agrees
