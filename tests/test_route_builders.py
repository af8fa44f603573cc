"""The remembered rules and URL builders (tests/route_builders.py) build and match the URLs
werkzeug's own do."""

from __future__ import annotations

from typing import Any

from flask import url_for
from werkzeug.routing.rules import Rule

from portal import create_app
from tests.route_builders import remembered_builders


def _urls(app) -> list[str]:
    with app.test_request_context():
        urls = []
        for rule in app.url_map.iter_rules():
            values = dict.fromkeys(rule.arguments, 7)
            if "token" in values:
                values["token"] = "a.b-c"
            if "name" in values:
                values["name"] = "logo"
            try:
                urls.append(url_for(rule.endpoint, **values, _external=False, extra="x y"))
            except Exception as exc:  # a converter refusing 7: the same refusal both ways
                urls.append(type(exc).__name__)
        return urls


def _matches(app, urls: list[str]) -> list[Any]:
    """What each URL (without its query) matches: the endpoint and values, or the refusal."""
    adapter = app.url_map.bind("portal.test")
    found = []
    for url in urls:
        for method in ("GET", "POST"):
            try:
                found.append(adapter.match(url.split("?")[0], method=method))
            except Exception as exc:  # no such route, another method, a redirect
                found.append(type(exc).__name__)
    return found


def _werkzeugs_own(function: Any) -> Any:
    while hasattr(function, "__wrapped__"):  # below the session's memo too
        function = function.__wrapped__
    return function


def test_every_route_builds_and_matches_as_without_the_memo(app_config, monkeypatch):
    with remembered_builders() as builders:  # a fresh memo, filled by this app
        first = create_app(app_config)
        assert builders
        count = len(builders)
        second = create_app(app_config)  # every rule and builder recalled
        assert len(builders) == count
        remembered = _urls(second)
        assert second.url_map._rules[0]._converters is not first.url_map._rules[0]._converters
    monkeypatch.setattr(Rule, "_compile_builder", _werkzeugs_own(Rule._compile_builder))
    monkeypatch.setattr(Rule, "compile", _werkzeugs_own(Rule.compile))
    own = create_app(app_config)
    generated = _urls(own)
    assert remembered == generated
    assert _urls(first) == generated
    assert _matches(second, generated) == _matches(own, generated)
    assert any(isinstance(found, tuple) and found[1] for found in _matches(own, generated))
