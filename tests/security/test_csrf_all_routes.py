"""Every state-changing route outside the API is refused (400) without its CSRF token.

The routes come from `app.url_map` at test time: a new POST/PUT/PATCH/DELETE route is covered
without editing this file. Only the routes in EXEMPT (with the reason) may take a request
without a token; a forged request changes no row of the database.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from tests.security.attack_support import (
    PASSWORD,
    arena_fixture,  # noqa: F401  (the `arena` fixture)
    attack_fixture,  # noqa: F401  (the `attack` fixture)
)
from tests.security.test_access import (
    all_routes,
    form_body,
    url_for_route,
)

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
EXEMPT = {
    "tracking.collect": "sendBeacon reports; the per-session ingest token in the body is the key",
    "tracking.gate_drain": "nginx's download gate; the gate's secret in X-Portal-Gate is the key",
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def everything() -> dict[str, list]:
    db.session.rollback()
    with db.engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
            for table in db.metadata.sorted_tables
        }


def _sign_in(client, user) -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_every_state_changing_route_needs_the_csrf_token(attack, client, app, who):
    arena = attack
    """Signed in (as the victim's own rep, or as an admin), a forged form changes nothing."""
    user = arena.a.rep if who == "owner" else arena.admin
    _sign_in(client, user)
    routes = [
        r
        for r in all_routes(app)
        if r.method in STATE_CHANGING and not r.is_api and r.endpoint not in EXEMPT
    ]
    assert len(routes) > 20
    before = everything()
    problems = []
    for route in routes:
        token = arena.a.portal_token if route.token_kind == "portal_token" else "x"
        url = url_for_route(route, arena, token=token)
        response = getattr(client, route.method.lower())(url, data=form_body(arena))
        if response.status_code != 400:
            problems.append(f"{route}: {response.status_code} without a CSRF token")
        # A token from another session is no better than none.
        forged = {**form_body(arena), "csrf_token": "IjQ2NjM0YmM4ZTc0ZDRm.aBcDeF.forged"}
        response = getattr(client, route.method.lower())(url, data=forged)
        if response.status_code != 400:
            problems.append(f"{route}: {response.status_code} with a forged CSRF token")
    assert not problems, "\n".join(problems)
    after = everything()
    changed = [name for name in after if after[name] != before[name]]
    assert changed == []


def test_the_same_request_with_the_token_gets_through(arena, client):
    """Control: the refusals above are the CSRF check, not something else."""
    _sign_in(client, arena.a.rep)
    token = csrf_token(client.get("/notifications/").get_data(as_text=True))
    assert client.post("/notifications/read").status_code == 400
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
