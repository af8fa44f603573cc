"""The remembered URL builders (tests/route_builders.py) build the URLs werkzeug's own do."""

from __future__ import annotations

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


def test_every_route_builds_the_same_url_as_without_the_memo(app_config, monkeypatch):
    with remembered_builders() as builders:  # a fresh memo, filled by this app
        first = create_app(app_config)
        assert builders
        count = len(builders)
        second = create_app(app_config)  # every builder recalled
        assert len(builders) == count
        remembered = _urls(second)
    werkzeugs_own = Rule._compile_builder
    while hasattr(werkzeugs_own, "__wrapped__"):  # below the session's memo too
        werkzeugs_own = werkzeugs_own.__wrapped__
    monkeypatch.setattr(Rule, "_compile_builder", werkzeugs_own)
    generated = _urls(create_app(app_config))
    assert remembered == generated
    assert _urls(first) == generated
