"""Abuse limits: read time cannot be inflated beyond the wall clock, and floods of reports,
inbound events, comments and pixel hits, and password guessing (per account and per address) are
answered 429 with Retry-After: JSON for machines, the friendly page for people.

Limits are set low here through the config keys (portal.routes.rate_limits); production defaults
are in portal.config.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.delivery.email import pixel_url
from portal.delivery.models import Comment
from portal.extensions import db
from portal.tracking.ingest import CARRY_MAX_MS
from portal.tracking.models import Event, EventType, ViewSession
from tests.delivery.helpers import make_delivery

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "LOGIN_RATE_LIMIT": "4/minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "3/hour",
    "TRACKING_RATE_LIMIT": "5/minute",
    "EVENTS_RATE_LIMIT": "3/minute",
    "COMMENT_RATE_LIMIT": "2/minute",
    "PIXEL_RATE_LIMIT": "3/minute",
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, **LIMITS}


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _retry_after(response) -> int:
    value = response.headers.get("Retry-After")
    assert value is not None, dict(response.headers)
    return int(value)


def _assert_json_429(response) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert "too many requests" in error["message"].lower()
    assert _retry_after(response) > 0


def _assert_page_429(response) -> None:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "尝试次数过多" in response.get_data(as_text=True)  # "Too many attempts"
    assert _retry_after(response) > 0


# --- read-time inflation, through the viewer as a customer's browser does it -------------------


def _open_viewer(client, world) -> str:
    """Open the document link; the ingest token the viewer script would report with."""
    sent = make_delivery(world.rep, world.customer, world.template)
    page = client.get(_path(sent.url))
    assert page.status_code == 200
    token = re.search(r'data-ingest-token="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post("/t/o", json={"s": token}).status_code == 200  # a page was seen: the open
    return token


def _report(token: str, ms: int, page: int = 1) -> dict:
    return {
        "s": token,
        "reports": [{"k": uuid.uuid4().hex, "type": "page.viewed", "page": page, "ms": ms}],
    }


def _post_reports(client, body: dict):
    return client.post("/t/r", data=json.dumps(body), content_type="application/json")


def test_read_time_claims_are_capped_at_the_wall_clock(client, world):
    started = time.monotonic()
    token = _open_viewer(client, world)
    response = _post_reports(client, _report(token, ms=3_600_000))  # "an hour", at once
    elapsed_ms = (time.monotonic() - started) * 1000
    assert response.status_code == 202, response.get_json()
    credited = response.get_json()["credited_ms"]
    assert credited <= elapsed_ms  # never more than the time that really passed
    [session] = db.session.scalars(sa.select(ViewSession)).all()
    db.session.refresh(session)
    assert session.credited_ms == credited
    [view] = db.session.scalars(sa.select(Event).where(Event.type == EventType.PAGE_VIEWED))
    assert view.properties["claimed_ms"] == 3_600_000  # what was claimed is kept, not credited


def test_many_small_batches_gain_no_time_and_a_flood_is_cut_off(client, world):
    started = time.monotonic()
    token = _open_viewer(client, world)
    answers = [_post_reports(client, _report(token, ms=600_000)) for _ in range(8)]
    elapsed_ms = (time.monotonic() - started) * 1000
    assert [a.status_code for a in answers] == [202] * 5 + [429] * 3  # TRACKING_RATE_LIMIT 5/min
    _assert_json_429(answers[-1])
    credited = sum(a.get_json()["credited_ms"] for a in answers[:5])
    assert credited <= elapsed_ms + CARRY_MAX_MS
    assert _count(Event, Event.type == EventType.PAGE_VIEWED) == 5  # refused batches: nothing
    # Another reader's session is counted apart.
    assert _post_reports(client, _report(_open_viewer(client, world), ms=1)).status_code == 202


# --- inbound events (API) -------------------------------------------------------------------------


def _inbound(client, headers, customer_id: int):
    body = {
        "customer_id": customer_id,
        "type": "form.submitted",
        "occurred_at": datetime.now(UTC).isoformat(),
        "idempotency_key": uuid.uuid4().hex,
    }
    return client.post("/api/v1/events", json=body, headers=headers)


def test_an_api_token_flooding_events_gets_429_json(client, world, api_headers, make_user):
    headers = api_headers(world.rep)
    statuses = [_inbound(client, headers, world.customer.id).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    _assert_json_429(_inbound(client, headers, world.customer.id))
    assert _count(Event, Event.type == "form.submitted") == 3
    # The limit is per token: another integration (same address) is not held up.
    assert _inbound(client, api_headers(world.rep), world.customer.id).status_code == 202


# --- customer comments and the e-mail pixel ------------------------------------------------------


def test_comment_floods_on_the_customer_portal_get_the_friendly_429(client, world):
    sent = make_delivery(world.rep, world.customer, world.template)
    portal = _path(sent.portal_url)
    posts = [
        client.post(f"{portal}/comments", data={"delivery_id": sent.delivery.id, "text": f"#{n}"})
        for n in range(3)
    ]
    assert [p.status_code for p in posts] == [302, 302, 429]
    _assert_page_429(posts[-1])
    assert _count(Comment) == 2


def test_a_pixel_hammered_from_one_address_stops_counting_opens(client, world):
    sent = make_delivery(world.rep, world.customer, world.template)
    pixel = _path(pixel_url(sent.delivery))
    statuses = [client.get(pixel).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert _retry_after(client.get(pixel)) > 0
    assert _count(Event, Event.type == EventType.EMAIL_OPENED) == 3
    # Another reader behind another address still counts.
    other = client.get(pixel, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert other.status_code == 200


# --- password guessing ---------------------------------------------------------------------------


def _sign_in(client, email: str, password: str, ip: str):
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def test_guessing_one_account_from_many_addresses_is_stopped(client, make_user):
    rep = make_user("rep")
    wrong = [_sign_in(client, rep.email, "guess", f"203.0.113.{n}").status_code for n in range(3)]
    assert wrong == [401, 401, 401]
    # The fourth try, from a fresh address and with the right password, waits.
    _assert_page_429(_sign_in(client, rep.email, "password123", "203.0.113.99"))
    # Another account from the same addresses is not locked.
    other = make_user("rep")
    assert _sign_in(client, other.email, "password123", "203.0.113.1").status_code == 302


def test_an_unknown_account_is_limited_the_same_way(client):
    answers = [_sign_in(client, "ghost@example.com", "x", f"203.0.113.{n}") for n in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]


def test_signing_in_correctly_does_not_use_up_the_account_limit(client, make_user):
    rep = make_user("rep")
    for n in range(5):  # more than LOGIN_ACCOUNT_RATE_LIMIT, each from its own address
        assert _sign_in(client, rep.email, "password123", f"198.51.100.{n}").status_code == 302
        client.post("/logout")


def test_guessing_many_accounts_from_one_address_is_stopped(client, make_user):
    users = [make_user("rep") for _ in range(5)]
    statuses = [_sign_in(client, u.email, "guess", "192.0.2.7").status_code for u in users]
    assert statuses == [401, 401, 401, 401, 429]  # LOGIN_RATE_LIMIT 4/minute
    _assert_page_429(_sign_in(client, users[0].email, "password123", "192.0.2.7"))
    assert _sign_in(client, users[4].email, "password123", "192.0.2.8").status_code == 302


# --- the counters are shared by every worker when Redis is configured ----------------------------


def test_counters_in_redis_outlive_the_process_that_counted(
    app_config, shared_redis_url, tmp_path, monkeypatch
):
    """A second app (another worker, or a restart) continues the count of the first: with
    in-memory counters it would start again from zero."""
    from portal import create_app

    config = {
        **app_config,
        "RATELIMIT_STORAGE_URI": shared_redis_url,
        "RATELIMIT_KEY_PREFIX": f"portal-test-{uuid.uuid4().hex}",
    }
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))

    def guess(worker: Flask, n: int) -> int:
        with worker.test_client() as client:
            return _sign_in(client, "ghost@example.com", "x", f"203.0.113.{n}").status_code

    try:
        first = create_app(config)
        assert [guess(first, n) for n in range(3)] == [401, 401, 401]
        second = create_app(config)  # binds the limiter to fresh storage: a new Redis connection
        assert guess(second, 3) == 429
        assert guess(second, 4) == 429
    finally:  # this test's counters only: other runs share database 0
        import redis

        connection = redis.Redis.from_url(shared_redis_url)
        for key in connection.scan_iter(f"*{config['RATELIMIT_KEY_PREFIX']}*"):
            connection.delete(key)
        connection.close()
