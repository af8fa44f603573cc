"""The API's JSON schemas are made when the OpenAPI document first reads them
(portal.routes.api.declare): every one of them, also for a second reader that comes while the
first is making them (spectree caches the first document it generates)."""

from __future__ import annotations

import threading

from pydantic import BaseModel
from spectree import SpecTree

from portal.routes.api.declare import _SchemasWhenAsked


class First(BaseModel):
    name: str


class Second(BaseModel):
    count: int


def test_a_reader_that_comes_while_the_schemas_are_made_waits_for_all_of_them(monkeypatch):
    spec = _SchemasWhenAsked("flask", mode="strict", naming_strategy=lambda m: m.__name__)
    assert spec._add_model(First) == "First" and spec._add_model(Second) == "Second"
    assert spec._schemas == {}  # noted, not made

    making, go_on = threading.Event(), threading.Event()
    make = SpecTree._add_model

    def held(self, model, mode="validation"):  # spectree's own, held at its first schema
        making.set()
        assert go_on.wait(30)
        return make(self, model=model, mode=mode)

    monkeypatch.setattr(SpecTree, "_add_model", held)
    seen: dict[str, list[str]] = {}
    first = threading.Thread(target=lambda: seen.update(first=sorted(spec.models)))
    first.start()
    assert making.wait(30)
    second = threading.Thread(target=lambda: seen.update(second=sorted(spec.models)))
    second.start()
    second.join(0.2)
    assert "second" not in seen  # waiting for the first reader, not reading half of them
    go_on.set()
    first.join(30)
    second.join(30)
    assert seen == {"first": ["First", "Second"], "second": ["First", "Second"]}
    assert spec._noted == []
