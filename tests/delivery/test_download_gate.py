"""The app's half of nginx's download gate (portal.delivery.download_gate, issue 16's P1n).

What the app promises nginx's portal_gate.lua: a decision only when nginx asked with the secret,
through Redis, for an accelerated answer; a TTL no longer than the app's own trust in what it
read, nor the link's expiry; and an entry that, filled in as the Lua fills it (the time, the
request id) and run through the same script, is stored as the app's own download is, once per
request id. The Lua itself runs in tests/deploy/test_download_gate_nginx.py.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import customer_side_support as support
import pytest
import sqlalchemy as sa
from customer_side_support import path_of
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import link_cache
from portal.delivery import services as delivery_services
from portal.delivery.download_gate import ASK_HEADER, DEVICE_TTL_MS, REFRESH_HEADER, TTL_MS
from portal.delivery.models import Delivery
from portal.delivery.sending import DECISION_HEADER
from portal.extensions import db
from portal.tracking import revocations
from portal.tracking.models import Event, EventType
from tests.tracking import test_ingest_queue as queue_support
from tests.tracking.test_ingest_queue import REDIS_URL, redis_fixture, run_worker  # noqa: F401

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop
# Redis on from there, the RQ queue the test's own (list `sent` before it: the copy renders
# inline first).
queued = queue_support.queued

SECRET = "gate-secret-of-the-tests"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"
FIRST = "0123456789abcdef0123456789abcdef"
SECOND = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "INGEST_REDIS_PREFIX": f"portal-test-{uuid.uuid4().hex[:12]}",
        "DOWNLOADS": "accel",
        "PROXY_FIX": 1,  # X-Request-Id is the proxy's
        "DOWNLOAD_GATE_SECRET": SECRET,
    }


@pytest.fixture
def sent(shop):
    return shop.send(shop.template("产品手册"))  # rendered, jobs inline, before Redis is on


def download(client, sent, request_id: str = FIRST, **headers):
    headers = {"User-Agent": BROWSER, "X-Request-Id": request_id, ASK_HEADER: SECRET, **headers}
    return client.get(f"{path_of(sent.url)}/download", headers=headers)


def still_cache():
    """This app's link cache with its listener thread stopped: a test that moves the cache's
    clock or the counter decides alone when the counter is read."""
    cache = link_cache.cache()
    cache.closed = True
    if cache.listener is not None:
        cache.listener.join(10)
        assert not cache.listener.is_alive()
    return cache


def fields(answer) -> list[str]:
    value = answer.headers.get(DECISION_HEADER)
    assert value is not None, dict(answer.headers)
    found = value.split(" ")
    assert len(found) == 12 and found[0] == "v2", found
    return found


def replay(redis, decision: list[str], request_id: str) -> int:
    """What portal_gate.lua does on a hit: fill in the time and the request id, run the
    script; its outcome (0 or 1: appended, 2: nothing to record, -1: the delivery is gone, -3:
    the generation is not confirmed)."""
    entry = ""
    if decision[11] != "-":
        entry = base64.b64decode(decision[11]).decode()
        entry = entry.replace('"@T@"', str(round(time.time() * 1000)), 1)
        entry = entry.replace("@R@", request_id, 1)
    answer = redis.evalsha(decision[2], 4, *decision[4:8], entry, decision[3])
    return int(answer[0])


def downloads() -> list[Event]:
    db.session.rollback()
    return list(
        db.session.scalars(select(Event).where(Event.type == EventType.DOC_DOWNLOADED.value))
    )


def test_no_decision_without_redis(client, sent):
    answer = download(client, sent)  # nothing could replay the write
    assert answer.status_code == 200 and DECISION_HEADER not in answer.headers


def test_no_decision_unless_nginx_asked_with_the_secret(app, client, sent, queued):
    assert DECISION_HEADER in download(client, sent).headers
    assert DECISION_HEADER not in download(client, sent, **{ASK_HEADER: "guess"}).headers
    assert DECISION_HEADER not in download(client, sent, **{ASK_HEADER: ""}).headers
    assert DECISION_HEADER not in download(client, sent, request_id="not-nginx-s").headers
    app.config["DOWNLOAD_GATE_SECRET"] = ""  # the default: never
    assert DECISION_HEADER not in download(client, sent, **{ASK_HEADER: ""}).headers
    assert DECISION_HEADER not in download(client, sent).headers


def test_a_replayed_entry_is_stored_as_the_app_s_own_download_once_per_request(
    client, sent, queued, redis
):
    answer = download(client, sent)
    assert answer.status_code == 200 and answer.headers["X-Accel-Redirect"]
    decision = fields(answer)
    assert 0 < int(decision[1]) <= TTL_MS
    delivery = db.session.get(Delivery, sent.delivery.id)
    # The delivery's own tombstone: a revoke stops replays at once (below).
    assert decision[4] == revocations.gone_key(delivery.id, delivery.created_at)
    entry = json.loads(base64.b64decode(decision[11]))
    assert entry["e"]["occurred_at"] == "@T@"
    assert entry["e"]["idempotency_key"] == f"dl:{delivery.id}:@R@"

    assert replay(redis, decision, SECOND) in (0, 1)
    assert replay(redis, decision, SECOND) == 0  # nginx sent that request twice
    run_worker(queued)
    stored = sorted(downloads(), key=lambda event: event.idempotency_key)
    assert [e.idempotency_key for e in stored] == [
        f"dl:{delivery.id}:{FIRST}",  # the app's
        f"dl:{delivery.id}:{SECOND}",  # the replay's, stored once
    ]
    app_s, replayed = stored
    for name in ("customer_id", "visitor_id", "delivery_id", "properties", "type"):
        assert getattr(replayed, name) == getattr(app_s, name), name
    assert abs((replayed.occurred_at - app_s.occurred_at).total_seconds()) < 60


def test_a_robot_s_download_is_replayed_recording_nothing(client, sent, queued, redis):
    answer = download(client, sent, **{"User-Agent": "Slackbot-LinkExpanding 1.0"})
    assert answer.status_code == 200
    decision = fields(answer)
    assert decision[11] == "-"
    assert replay(redis, decision, SECOND) == 2  # checked (the delivery, the generation)


def test_a_revoke_makes_the_script_refuse_every_replay_at_once(client, shop, sent, queued, redis):
    decision = fields(download(client, sent))
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()  # the tombstone is written right after the commit
    assert replay(redis, decision, SECOND) == -1
    assert download(client, sent).status_code == 410


def test_a_replay_runs_only_while_the_copy_s_generation_is_confirmed(client, sent, queued, redis):
    """The bound without a message to lose: each reading of the change counter confirms the
    generation it found in Redis until a second after the reading began, and a replay's script
    refuses once that key is gone. A change moves the counter: no reading confirms the old
    generation again."""
    decision = fields(download(client, sent))
    cache = still_cache()
    key = decision[7]
    assert key == revocations.generation_key(cache.generation)
    assert 0 < redis.pttl(key) <= 1000  # never longer than the reading's second
    assert replay(redis, decision, SECOND) in (0, 1)
    redis.delete(key)  # the second is up and no reading confirmed it again
    assert replay(redis, decision, "1" * 32) == -3
    # The next reading (the app answers when nginx falls back) confirms it again.
    real = cache.clock
    try:
        cache.clock = lambda: real() + 1.0
        assert download(client, sent).status_code == 200
        assert redis.exists(key) and replay(redis, decision, "2" * 32) in (0, 1)
        # A change commits (another node's, unheard here); the next reading finds the counter
        # moved and confirms the new generation only: the old decision dies with its key.
        link_cache._bump(db.session)
        db.session.commit()
        cache.clock = lambda: real() + 2.0
        assert download(client, sent).status_code == 200
        assert revocations.generation_key(cache.generation) != key
        assert redis.exists(revocations.generation_key(cache.generation))
        assert 0 < redis.pttl(key) <= 1000  # not renewed: gone within the second
    finally:
        cache.clock = real


def test_no_decision_for_a_copy_read_before_the_counter_moved(client, sent, queued, monkeypatch):
    """The counter moves (another node's commit) after the copy was read and is seen before
    the decision: what the download served may be stale, so nginx may not replay it."""
    from portal.delivery import served_files

    assert download(client, sent).status_code == 200  # the link is cached, the counter read
    cache = still_cache()
    resolve = served_files.resolve

    def read_then_moved(token):
        copy = resolve(token)
        with db.engine.begin() as other_node:
            other_node.execute(sa.text("UPDATE copy_generation SET value = value + 1"))
        cache._confirmed(now=True)  # a reading (the listener's, another request's) sees it
        return copy

    monkeypatch.setattr(served_files, "resolve", read_then_moved)
    answer = download(client, sent, SECOND)
    assert answer.status_code == 200 and DECISION_HEADER not in answer.headers


def test_no_decision_when_the_request_s_transaction_began_before_the_gate_s_reading(
    client, sent, queued, monkeypatch
):
    """On SQLite a transaction's snapshot dates from its first statement: a request whose
    transaction began before prepare()'s reading may resolve the copy as it was before a change
    that reading counted, so the decision may not name that reading's generation."""
    from portal.delivery import download_gate

    assert DECISION_HEADER in download(client, sent).headers
    prepare = download_gate.prepare

    def after_the_transaction_began():
        db.session.execute(sa.text("SELECT 1"))  # the request's transaction (its snapshot)
        return prepare()

    monkeypatch.setattr(download_gate, "prepare", after_the_transaction_began)
    answer = download(client, sent, SECOND)
    assert answer.status_code == 200 and DECISION_HEADER not in answer.headers


def test_a_change_committed_before_the_request_is_seen_before_the_copy_is_read(
    client, sent, queued
):
    """The gate reads the counter before resolving the copy: a change another node committed
    within the cache's second is seen first, so the copy is read afresh and the decision names
    the new generation (never the old one, whose replays would serve what the change undid)."""
    assert download(client, sent).status_code == 200
    cache = still_cache()
    before = cache.generation
    with db.engine.begin() as other_node:
        other_node.execute(sa.text("UPDATE copy_generation SET value = value + 1"))
    assert cache.trusted_for() > 0  # within its second: a plain download would not look
    decision = fields(download(client, sent, SECOND))
    assert decision[7] == revocations.generation_key(before + 1)


def test_a_bogus_token_costs_no_reading_of_the_counter(client, sent, queued):
    """The gate's reading of the change counter (download_gate.prepare) is for a token whose
    signature holds: nginx asking for a forged or random one is answered 404 without it."""
    assert download(client, sent).status_code == 200  # the listener has subscribed
    cache = still_cache()
    read = cache._generation
    readings = []

    def counted() -> int:
        readings.append(1)
        return read()

    cache._generation = counted
    # The clock stands still: the cache's own reading every second (get()) never falls due, so
    # every reading below is the gate's.
    frozen = cache.clock()
    cache.clock = lambda: frozen
    good = download(client, sent, SECOND)
    assert good.status_code == 200 and DECISION_HEADER in good.headers
    assert len(readings) == 1
    token = path_of(sent.url).split("/")[2]
    for bogus in (token[:-4] + "AAAA", "not-a-token"):
        answer = client.get(
            f"/d/{bogus}/download",
            headers={"User-Agent": BROWSER, "X-Request-Id": "1" * 32, ASK_HEADER: SECRET},
        )
        assert answer.status_code == 404
    assert len(readings) == 1


def test_a_link_about_to_expire_is_replayed_only_until_it_does(client, sent, queued):
    from datetime import timedelta

    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.expires_at = utcnow() + timedelta(milliseconds=600)
    jobs.commit()
    answer = download(client, sent)
    if answer.status_code == 410:  # a very slow machine took the 0.6 s: nothing to check
        pytest.skip("the link expired before the download")
    assert int(fields(answer)[1]) <= 600


def test_the_drain_endpoint_answers_only_the_gate(client, queued):
    assert client.post("/_gate/drain").status_code == 404
    assert client.post("/_gate/drain", headers={ASK_HEADER: "guess"}).status_code == 404
    assert client.post("/_gate/drain", headers={ASK_HEADER: SECRET}).status_code == 204
    assert len(queued) == 1  # the drain job


def test_a_refresh_decides_and_records_nothing_but_only_for_the_gate(client, sent, queued):
    refreshed = download(client, sent, **{REFRESH_HEADER: "1"})
    assert refreshed.status_code == 200
    assert fields(refreshed)[11] != "-"  # the decision carries the reader's entry
    # A client asking for the same without the gate's secret is downloading: recorded.
    assert download(client, sent, SECOND, **{REFRESH_HEADER: "1", ASK_HEADER: "guess"})
    run_worker(queued)
    assert [e.idempotency_key for e in downloads()] == [f"dl:{sent.delivery.id}:{SECOND}"]


def test_a_decision_for_a_device_lives_a_second(client, sent, queued):
    """Whose download it is (a forwarded reader's?) and a watermark's name come from the
    device's Visitor row, which changes without moving the counter: nginx replays such a
    decision no longer than the app would go without reading the row again."""
    from portal.delivery import visitors

    cookieless = int(fields(download(client, sent))[1])
    client.set_cookie(visitors.DEVICE_COOKIE, "d" * 22, domain="portal.test")
    with_device = int(fields(download(client, sent))[1])
    assert with_device <= DEVICE_TTL_MS < cookieless
