"""Every route of the app, as an outsider: nothing of another team or customer, ever.

The routes come from `app.url_map` at test time, so a route added later is attacked without
editing this file. Every URL variable is filled with team A's object (the victim), and the
request is made by:

- nobody (no cookie, no token);
- team B's rep and team B's supervisor, signed in (staff pages) or with their API token (API);
- team B's customer, holding their own portal/doc/pixel/ingest tokens.

None of them may get a 2xx carrying team A's data (MARKER), change any row of team A's, or
learn that an object exists: for another team's object the answer is the one for an object that
does not exist. The API answers 401 without a valid token (a session cookie is not one: the API
takes no CSRF token, so it must never accept cookies) and staff pages send strangers to the login.

A new route that is neither staff-only nor in PUBLIC below fails `test_nobody_...` until it is
either protected or consciously added to PUBLIC; a route with a URL variable not in VICTIM_VALUES
fails until this file knows what to put there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from portal.delivery.document_links import sign_target
from tests.security.attack_support import (
    MARKER,
    Arena,
    RowWatch,
    arena_fixture,  # noqa: F401  (the `arena` fixture)
    attack_fixture,  # noqa: F401  (the `attack` fixture)
    changes,
    is_login_redirect,
    leaked,
    sign_in,
    victim_rows,
)

# Routes anyone may call without signing in, and why. Everything else must be staff-only.
PUBLIC = {
    "static": "CSS, JS and icons",
    "main.healthz": "load balancer health check; says nothing about data",
    "auth.login": "the sign-in form",
    "auth.set_language": "the language switch, shown on the sign-in page too (session only)",
    "api.openapi": "the API's description, no data",
    "tracking.collect": "the viewer's read-time reports; the ingest token in the body decides",
    "tracking.confirm": "the viewer's open confirmation; the ingest token in the body decides",
    "tracking.confirm_visit": "the portal page's visit confirmation; the signed visit token "
    "in the body decides",
    "customer.privacy_statement": "the company's privacy statement customer pages link to; no data",
    "metrics.scrape": "Prometheus; its own bearer token (PORTAL_METRICS_TOKEN) decides, 404 unset",
    "tracking.gate_drain": "nginx's download gate (an internal location); the gate's secret in "
    "X-Portal-Gate decides, 404 without it; it only queues the ingest drain",
    "customer.brand_image": "the company logo and reps' WeChat QR images customer pages show, "
    "named by their content hash; only the current ones are served",
    "customer.thumbnail": "a share card's page-1 thumbnail, rendered with sample data (nothing "
    "about a customer); its own signed thumb token decides (tests/security/test_tokens.py)",
}
# Public routes whose credential is a view session's ingest token in the JSON body.
INGEST_ROUTES = {"tracking.collect", "tracking.confirm", "tracking.confirm_visit"}
# Public routes keyed by a token in their URL: which token of team B's customer they take.
TOKEN_PREFIXES = {
    "/p/": "portal_token",
    "/d/": "doc_token",
    "/e/": "pixel_token",
    "/b/": "bundle_token",
}
# Token routes that answer the same thing to any token (reveal nothing): may be 2xx for nobody.
SAME_ANSWER_FOR_ANY_TOKEN = {"mail.open_pixel": "a 1x1 GIF for any token"}

MISSING_ID = 987_654


# URL variable -> the victim's value; a route with a variable not listed here fails.
VICTIM_VALUES: dict[str, Callable[[Arena], Any]] = {
    "customer_id": lambda arena: arena.a.customer.id,
    "delivery_id": lambda arena: arena.a.sent.delivery.id,
    "bundle_id": lambda arena: arena.a.bundle_id,
    "template_id": lambda arena: arena.a.template.id,
    "number": lambda arena: 1,  # a version of the victim's template
    "task_id": lambda arena: arena.a.task_id,
    "notification_id": lambda arena: arena.a.notification_id,
    "page": lambda arena: 1,
    "width": lambda arena: 1280,  # a page image's width (portal.library.rendering)
    "rule_id": lambda arena: arena.extra["rule_id"],
    "webhook_id": lambda arena: arena.extra["webhook_id"],
    "channel_id": lambda arena: arena.extra["channel_id"],  # team A's rep's chat robot
    "pack_id": lambda arena: arena.extra["pack_id"],
    "key": lambda arena: "doc_opened",  # a scoring rule
    "filename": lambda arena: "css/portal.css",  # static
    "deal_id": lambda arena: arena.extra["deal_id"],
    "batch_id": lambda arena: arena.extra["batch_id"],  # team A's rep's bulk send
    "evidence_id": lambda arena: arena.extra["evidence_id"],
    "role": lambda arena: "finance",  # an approval of the victim's deal
    "user_id": lambda arena: arena.a.rep.id,  # the victim rep's account (admins only)
    "account_id": lambda arena: arena.a.customer.account_id,  # the victim's company account
    "visitor_id": lambda arena: arena.extra["visitor_id"],  # a forwarded reader of team A's
    "name": lambda arena: "0" * 64,  # a brand image's content hash (public images)
}
# Variables that are not an object of anyone (a page number, a version number).
NOT_AN_OBJECT = {"number", "page", "width", "filename", "role", "name"}


@dataclass
class Route:
    rule: Rule
    method: str

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    @property
    def is_api(self) -> bool:
        return self.rule.rule.startswith("/api/")

    @property
    def token_kind(self) -> str | None:
        for prefix, kind in TOKEN_PREFIXES.items():
            if self.rule.rule.startswith(prefix):
                return kind
        return None

    @property
    def is_public(self) -> bool:
        return self.endpoint in PUBLIC or self.token_kind is not None

    @property
    def object_variables(self) -> set[str]:
        return set(self.rule.arguments) - NOT_AN_OBJECT - {"token"}

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule} ({self.endpoint})"


def all_routes(app: Flask) -> list[Route]:
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append(Route(rule, method))
    return sorted(routes, key=str)


def url_for_route(route: Route, arena: Arena, *, token: str | None, missing: bool = False) -> str:
    values: dict[str, Any] = {}
    for name in route.rule.arguments:
        if name == "token":
            values[name] = token
            continue
        if name not in VICTIM_VALUES:
            pytest.fail(f"{route}: add a value for the URL variable {name!r} to VICTIM_VALUES")
        values[name] = VICTIM_VALUES[name](arena)
        if missing and name not in NOT_AN_OBJECT:
            values[name] = "no_such_thing" if isinstance(values[name], str) else MISSING_ID
    path = route.rule.build(values, append_unknown=False)[1]
    # a /go target as team B's own document page signs it (the only token used with it)
    target = sign_target("https://example.com/pricing", arena.b.sent.delivery.id)
    query = f"u={target}&p=1&version=1&status=open"
    return f"{path}?{query}"


def form_body(arena: Arena) -> dict[str, Any]:
    """A plausible body for any staff form, pointing at team A's objects."""
    a = arena.a
    delivery = a.sent.delivery.id
    return {
        "customer_id": a.customer.id,
        "delivery_id": delivery,
        "template_id": a.template.id,
        "text": "攻击",
        f"reply-{delivery}-text": "攻击",
        "name": "攻击者",
        "kind": "quote",
        "changelog": "攻击",
        "allow_download": "y",
        "version_policy": "latest",
        "content_tags": "1:pricing",
        "v1-content_tags": "1:pricing",
        "keyword": "攻击",
        "target": "kind:quote",
        "industry": "制造业",
        "url": "https://hooks.example.com/x",
        "events": "delivery.opened",
        "points": "99",
        "cap": "99",
        "days": "1",
        "lang": "en",
        "next": "/",
        "email": a.rep.email,
        "password": "password123",
    }


def json_body(arena: Arena) -> dict[str, Any]:
    a = arena.a
    return {
        "customer_id": a.customer.id,
        "customer_email": a.customer.email,
        "customer_ids": [a.customer.id],
        "template_id": a.template.id,
        "delivery_id": a.sent.delivery.id,
        "type": "reply.received",
        "occurred_at": "2026-01-01T00:00:00Z",
        "idempotency_key": "attack-1",
        "text": "报价",
        "name": "攻击者",
        "owner_email": a.rep.email,
        "properties": {},
    }


def ingest_body(token: str) -> dict[str, Any]:
    return {
        "s": token,
        "reports": [{"k": "attack-report", "type": "page.viewed", "page": 1, "ms": 1000}],
    }


def call(
    client: FlaskClient,
    route: Route,
    url: str,
    arena: Arena,
    headers: dict[str, str] | None = None,
    ingest_token: str = "not-a-token",
):
    """One request as a browser or an API client would make it; JSON and multipart for the
    API (so a scope check hidden behind a body check is reached either way)."""
    headers = headers or {}
    if route.method == "GET":
        return [client.get(url, headers=headers)]
    send = getattr(client, route.method.lower())
    if route.endpoint in INGEST_ROUTES:
        return [send(url, json=ingest_body(ingest_token), headers=headers)]
    if route.is_api:
        data = {k: str(v) for k, v in json_body(arena).items() if k != "properties"}
        html = (b"<p>x</p>", "x.html")
        return [
            send(url, json=json_body(arena), headers=headers),
            send(url, data={**data, "file": html}, headers=headers),
        ]
    return [send(url, data=form_body(arena), headers=headers)]


@pytest.fixture
def rows(attack: Arena) -> Iterator[RowWatch]:
    """Team A's rows, read again only when something may have written (RowWatch)."""
    watch = RowWatch(attack)
    yield watch
    watch.close()


def _check(route: Route, responses, before, rows: RowWatch, problems: list[str], who: str) -> None:
    for response in responses:
        if leaked(response.get_data()):
            problems.append(f"{who} {route}: {response.status_code} shows team A's data")
    after = rows.rows()
    if after != before:
        problems.append(f"{who} {route}: changed team A's rows {changes(before, after)}")


def _still_signed_in(client: FlaskClient) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


# --- nobody -------------------------------------------------------------------------------------


def test_nobody_gets_anything_but_public_routes(attack, client, app, rows):
    problems: list[str] = []
    routes = all_routes(app)
    for route in routes:
        before = rows.rows()
        url = url_for_route(route, attack, token="not-a-token")
        responses = call(client, route, url, attack)
        _check(route, responses, before, rows, problems, "nobody")
        status = responses[0].status_code
        if route.is_api and route.endpoint not in PUBLIC:
            if any(r.status_code != 401 for r in responses):
                problems.append(f"nobody {route}: {status}, expected 401")
        elif route.token_kind and route.endpoint not in SAME_ANSWER_FOR_ANY_TOKEN:
            if status != 404:
                problems.append(f"nobody {route}: {status} for a bad token, expected 404")
        elif not route.is_public and not is_login_redirect(responses[0]):
            problems.append(
                f"nobody {route}: {status}, expected a redirect to the login "
                "(or add the route to PUBLIC, with the reason)"
            )
    assert not problems, "\n".join(problems)
    assert len(routes) > 50  # the whole map was walked


# --- team B's staff -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["rep", "supervisor"])
def test_another_teams_staff_get_nothing_of_team_a(attack, client, app, api_headers, role, rows):
    attacker = attack.b.rep if role == "rep" else attack.b.supervisor
    token_headers = api_headers(attacker)
    sign_in(client, attacker)
    problems: list[str] = []
    for route in all_routes(app):
        if route.is_public:
            continue
        if not _still_signed_in(client):  # e.g. after POST /logout
            sign_in(client, attacker)
        before = rows.rows()
        headers = token_headers if route.is_api else {}
        url = url_for_route(route, attack, token=None)
        responses = call(client, route, url, attack, headers)
        _check(route, responses, before, rows, problems, role)
        if route.is_api:
            # The session cookie alone (the client is signed in) never opens the API.
            cookie_only = call(client, route, url, attack)
            if any(r.status_code != 401 for r in cookie_only):
                problems.append(f"{role} {route}: a session cookie opened the API")
        if not route.object_variables:
            continue
        for response in responses:
            if 200 <= response.status_code < 300:
                problems.append(f"{role} {route}: {response.status_code} for team A's object")
        missing = call(
            client, route, url_for_route(route, attack, token=None, missing=True), attack, headers
        )
        seen = [r.status_code for r in responses]
        unseen = [r.status_code for r in missing]
        if seen != unseen:
            problems.append(
                f"{role} {route}: {seen} for team A's object but {unseen} for a missing one "
                "(reveals that it exists)"
            )
    assert not problems, "\n".join(problems)


# --- team B's customer --------------------------------------------------------------------------


def test_another_customers_tokens_reach_nothing_of_team_a(attack, client, app, rows):
    b = attack.b
    problems: list[str] = []
    tokens = [b.portal_token, b.doc_token, b.pixel_token, b.ingest_token]
    for route in all_routes(app):
        before = rows.rows()
        if route.token_kind:
            url = url_for_route(route, attack, token=getattr(b, route.token_kind))
            responses = call(client, route, url, attack)
        elif route.endpoint in INGEST_ROUTES:
            responses = call(client, route, route.rule.rule, attack, ingest_token=b.ingest_token)
        else:  # their tokens as credentials anywhere else: worth nothing
            url = url_for_route(route, attack, token=None)
            responses = []
            for token in tokens:
                headers = {"Authorization": f"Bearer {token}"}
                responses += call(client, route, f"{url}&token={token}", attack, headers)
            if route.is_public:
                pass
            elif route.is_api and any(r.status_code != 401 for r in responses):
                problems.append(f"customer {route}: a customer token opened the API")
            elif not route.is_api and not all(is_login_redirect(r) for r in responses):
                problems.append(f"customer {route}: a customer token opened a staff page")
        _check(route, responses, before, rows, problems, "customer")
    assert not problems, "\n".join(problems)


# --- the detector detects -----------------------------------------------------------------------


def test_team_a_itself_sees_its_data_so_a_leak_would_show(attack, client, api_headers, rows):
    """The checks above look for MARKER: here the owner does see it, everywhere it is."""
    a = attack.a
    sign_in(client, a.rep)
    for url in [
        f"/customers/{a.customer.id}",
        "/customers/",
        "/customers/?group=account",
        f"/accounts/{a.customer.account_id}",
        "/tasks",
        "/notifications/",
    ]:
        response = client.get(url)
        assert response.status_code == 200 and MARKER in response.get_data(as_text=True), url
    headers = api_headers(a.rep)
    for url in [
        f"/api/v1/customers/{a.customer.id}",
        f"/api/v1/deliveries/{a.sent.delivery.id}",
        f"/api/v1/templates/{a.template.id}",
        f"/api/v1/accounts/{a.customer.account_id}",
        "/api/v1/accounts",
    ]:
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and MARKER in response.get_data(as_text=True), url
    for url in [f"/d/{a.doc_token}", f"/p/{a.portal_token}"]:
        response = client.get(url)
        assert response.status_code == 200 and MARKER in response.get_data(as_text=True), url
    before = rows.rows()
    readings = rows.readings
    client.get("/customers/")
    assert rows.rows() == before and rows.readings == readings  # reads only: not read again
    client.post(f"/customers/{a.customer.id}/deliveries/{a.sent.delivery.id}/revoke")
    after = rows.rows()
    assert rows.readings == readings + 1  # the revoke wrote: read again
    assert changes(before, after)  # and a change to team A's rows is seen
    assert after == victim_rows(attack)
