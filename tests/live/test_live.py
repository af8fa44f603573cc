"""Live "reading now" (issue 13 item 3): what is published from the one event path, the SSE
framing and scoping of GET /live, and the polling answer of GET /live/now without Redis."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest

from portal.live import publish
from portal.live.readers import Reader
from portal.live.stream import Slots, Stream, frame
from tests.delivery.helpers import make_customer, make_delivery
from tests.viewer_support import confirm, ingest_token_of


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """Every message the commits of the test would publish on Redis."""
    sent: list[dict] = []
    monkeypatch.setattr(publish, "_send", sent.extend)
    return sent


def viewer_page(app, url: str, client=None) -> tuple[object, str]:
    client = client or app.test_client()
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    return client, response.get_data(as_text=True)


def read_report(client, page: str, number: int, *, final: bool = False):
    item = {"k": uuid.uuid4().hex, "type": "page.viewed", "page": number, "ms": 0, "final": final}
    answer = client.post("/t/r", json={"s": ingest_token_of(page), "reports": [item]})
    assert answer.status_code in (200, 202), answer.get_data(as_text=True)


# -- published from the one event path ------------------------------------------------------------


def test_a_confirmed_open_and_its_reports_publish_reading_then_stopped(app, world, published):
    sent = make_delivery(world.rep, world.customer, world.template)
    client, page = viewer_page(app, sent.url)
    assert published == []  # served, not confirmed: a preview so far
    assert confirm(client, page).status_code == 200
    read_report(client, page, 2)
    read_report(client, page, 2, final=True)
    assert [(m["event"], m["customer_id"], m["delivery_id"], m["page"]) for m in published] == [
        ("reading", world.customer.id, sent.delivery.id, 1),
        ("reading", world.customer.id, sent.delivery.id, 2),
        ("stopped", world.customer.id, sent.delivery.id, 2),
    ]
    assert published[0]["since"] == published[1]["since"]  # the session's confirmation


def test_previews_staff_views_and_unidentified_forwarded_readers_publish_nothing(
    app, world, published, login, client
):
    sent = make_delivery(world.rep, world.customer, world.template)
    viewer_page(app, sent.url)  # a link preview: fetched, never confirmed
    login(world.rep)
    _, staff_page = viewer_page(app, sent.url, client)  # the rep looking: internal.viewed
    assert ingest_token_of(staff_page) is None
    assert published == []
    recipient, page = viewer_page(app, sent.url)
    assert confirm(recipient, page, device="recipient-device").status_code == 200
    assert len(published) == 1
    forwarded, other = viewer_page(app, sent.url)
    assert confirm(forwarded, other, device="colleague-device").status_code == 200
    read_report(forwarded, other, 2)
    assert len(published) == 1  # a forwarded reader nobody identified is nobody's reading


def test_a_rolled_back_batch_publishes_nothing(app, world, published):
    from sqlalchemy import select

    from portal import jobs
    from portal.extensions import db
    from portal.tracking.events import RecordedEvent
    from portal.tracking.models import Event

    sent = make_delivery(world.rep, world.customer, world.template)
    client, page = viewer_page(app, sent.url)
    assert confirm(client, page).status_code == 200
    opened = db.session.scalar(select(Event).where(Event.type == "link.opened"))
    published.clear()
    publish.publish_reading([RecordedEvent(opened)])
    db.session.rollback()
    jobs.commit()
    assert published == []
    publish.publish_reading([RecordedEvent(opened)])  # the same, committed: published
    db.session.execute(select(1))
    jobs.commit()
    assert [m["event"] for m in published] == ["reading"]


# -- the stream -----------------------------------------------------------------------------------


class FakePubSub:
    """Messages handed out one per get_message, then silence; records close()."""

    def __init__(self, clock: list[float], messages: list[dict]) -> None:
        self.clock = clock
        self.messages = list(messages)
        self.closed = False

    def get_message(self, ignore_subscribe_messages: bool, timeout: float):
        self.clock[0] += timeout
        if self.messages:
            return {"type": "message", "data": json.dumps(self.messages.pop(0))}
        return None

    def close(self) -> None:
        self.closed = True


def run_stream(messages, *, visible=frozenset({1}), snapshot=(), lifetime=25.0):
    clock = [0.0]
    slots = Slots(1)
    assert slots.take()
    pubsub = FakePubSub(clock, messages)
    stream = Stream(
        visible=visible,
        snapshot=snapshot,
        pubsub=pubsub,
        slots=slots,
        lifetime=lifetime,
        stopped_after=30.0,
        clock=lambda: clock[0],
    )
    body = b"".join(stream).decode()
    stream.close()
    assert pubsub.closed and slots.open == 0
    return body


def events_of(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_sse_framing():
    assert frame("reading", {"customer_id": 1, "page": 3}) == (
        'event: reading\ndata: {"customer_id":1,"page":3}\n\n'
    )
    body = run_stream([], lifetime=1)
    assert body.startswith("retry: ")
    assert body.endswith("\n\n")


def test_the_stream_starts_with_the_snapshot_then_forwards_and_stops_silent_readers():
    snapshot = [Reader(1, 7, 2, __import__("datetime").datetime(2026, 1, 1))]
    body = run_stream(
        [{"event": "reading", "customer_id": 1, "delivery_id": 8, "page": 3, "since": "x"}],
        snapshot=snapshot,
        lifetime=40,
    )
    events = events_of(body)
    assert events[0] == (
        "snapshot",
        {
            "readers": [
                {
                    "customer_id": 1,
                    "delivery_id": 7,
                    "page": 2,
                    "since": "2026-01-01T00:00:00",
                    "age_ms": 0,
                }
            ]
        },
    )
    assert events[1] == ("reading", {"customer_id": 1, "delivery_id": 8, "page": 3, "since": "x"})
    # nothing more from either within 30 s: both stopped, the snapshot's first
    assert events[2:] == [
        ("stopped", {"customer_id": 1, "delivery_id": 7}),
        ("stopped", {"customer_id": 1, "delivery_id": 8}),
    ]


def test_a_snapshot_reader_stops_30_s_after_it_was_last_heard_not_after_the_snapshot():
    """A stream reconnects every ~25 s with a new snapshot: a tab closed without its final
    beacon must still stop 30 s after its last report, not 30 s after each snapshot."""
    heard_25_s_ago = Reader(1, 7, 2, __import__("datetime").datetime(2026, 1, 1), 25_000)
    clock_at_stop = []

    class Clocked(FakePubSub):
        def get_message(self, ignore_subscribe_messages, timeout):
            clock_at_stop.append(self.clock[0])
            return super().get_message(ignore_subscribe_messages, timeout)

    clock = [0.0]
    slots = Slots(1)
    assert slots.take()
    stream = Stream(
        visible=frozenset({1}),
        snapshot=[heard_25_s_ago],
        pubsub=Clocked(clock, []),
        slots=slots,
        lifetime=25.0,
        stopped_after=30.0,
        clock=lambda: clock[0],
    )
    events, stopped_at = [], None
    for chunk in stream:
        events += events_of(chunk.decode())
        if events and events[-1][0] == "stopped" and stopped_at is None:
            stopped_at = clock[0]
    stream.close()
    assert events[0][1]["readers"][0]["age_ms"] == 25_000
    assert events[-1] == ("stopped", {"customer_id": 1, "delivery_id": 7})
    assert stopped_at is not None and stopped_at <= 6.0  # 30 s after it was heard, not 30 s on


def test_the_snapshot_says_how_long_ago_each_reader_was_heard(app, world, login, client):
    from datetime import timedelta

    import sqlalchemy as sa

    from portal.extensions import db

    sent = make_delivery(world.rep, world.customer, world.template)
    reader, page = viewer_page(app, sent.url)
    assert confirm(reader, page).status_code == 200
    read_report(reader, page, 2)
    login(world.rep)
    [fresh] = client.get("/live/now").get_json()["readers"]
    assert 0 <= fresh["age_ms"] < 10_000
    # as if the last report came 20 s ago: still reading, and the page is told how long ago
    db.session.execute(
        sa.text(
            "UPDATE view_sessions SET last_seen_at = :t, confirmed_at = :t "
            "WHERE delivery_id = :d"
        ),
        {"t": __import__("portal.db_types").db_types.utcnow() - timedelta(seconds=20),
         "d": sent.delivery.id},
    )  # fmt: skip
    db.session.commit()
    [older] = client.get("/live/now").get_json()["readers"]
    assert 20_000 <= older["age_ms"] < 30_000


def test_a_stream_never_carries_a_customer_the_user_may_not_see():
    body = run_stream(
        [
            {"event": "reading", "customer_id": 2, "delivery_id": 9, "page": 1, "since": "x"},
            {"event": "stopped", "customer_id": 2, "delivery_id": 9, "page": 1, "since": "x"},
            {"event": "reading", "customer_id": 1, "delivery_id": 8, "page": 1, "since": "x"},
        ],
        visible=frozenset({1}),
    )
    assert events_of(body)[0] == ("snapshot", {"readers": []})
    assert [(e, d["customer_id"]) for e, d in events_of(body)[1:]] == [("reading", 1)]


def test_the_slots_of_a_process_are_bounded():
    slots = Slots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    slots.give_back()
    assert slots.take()


# -- without Redis: the pages poll ----------------------------------------------------------------


def test_without_redis_the_stream_is_refused_and_polling_shows_only_visible_readers(
    app, world, make_user, login, client
):
    other_boss = make_user("supervisor", email="other-boss@example.com")
    other_rep = make_user("rep", email="other@example.com", supervisor=other_boss.email)
    theirs = make_customer(other_rep, name="王芳")
    mine = make_delivery(world.rep, world.customer, world.template)
    not_mine = make_delivery(other_rep, theirs, world.template)
    for sent in (mine, not_mine):
        reader, page = viewer_page(app, sent.url)
        assert confirm(reader, page).status_code == 200
        read_report(reader, page, 2)

    login(world.rep)
    refused = client.get("/live")
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    home = client.get("/").get_data(as_text=True)
    assert 'data-mode="poll"' in home
    assert f'data-live-customer="{world.customer.id}"' in home

    answer = client.get("/live/now").get_json()
    assert [(r["customer_id"], r["delivery_id"], r["page"]) for r in answer["readers"]] == [
        (world.customer.id, mine.delivery.id, 2)
    ]
    assert answer["poll_seconds"] > 0

    client.post("/logout")
    login(world.supervisor)  # the rep's supervisor sees the rep's customer, not the other team's
    seen = {r["customer_id"] for r in client.get("/live/now").get_json()["readers"]}
    assert seen == {world.customer.id}
    client.post("/logout")
    login(other_boss)
    seen = {r["customer_id"] for r in client.get("/live/now").get_json()["readers"]}
    assert seen == {theirs.id}


def test_a_final_report_ends_the_reading(app, world, login, client):
    sent = make_delivery(world.rep, world.customer, world.template)
    reader, page = viewer_page(app, sent.url)
    assert confirm(reader, page).status_code == 200
    login(world.rep)
    assert len(client.get("/live/now").get_json()["readers"]) == 1
    read_report(reader, page, 2, final=True)
    assert client.get("/live/now").get_json()["readers"] == []


def test_live_needs_a_staff_session(client):
    assert client.get("/live").status_code in (302, 401)
    assert client.get("/live/now").status_code in (302, 401)


def test_the_live_channel_is_named_by_the_deployment_s_redis_prefix(monkeypatch, tmp_path):
    """Pub/sub ignores Redis database numbers: two deployments on one server keep their live
    readers apart only through PORTAL_REDIS_PREFIX."""
    from portal import create_app
    from portal.config import load_config
    from portal.live.publish import channel

    monkeypatch.delenv("PORTAL_REDIS_PREFIX", raising=False)
    assert load_config()["INGEST_REDIS_PREFIX"] == "portal"
    monkeypatch.setenv("PORTAL_REDIS_PREFIX", "portal-staging")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "STORAGE_LOCAL_PATH": str(tmp_path)})
    with app.app_context():
        assert channel().startswith("portal-staging:")
