"""Read-time ingest (/t/r): capped at the wall clock, stored once, refused whole when absurd."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.library.services import TemplateFields, create_template
from portal.statement_count import counted_statements
from portal.tracking import events, ingest, sessions
from portal.tracking.ingest import CARRY_MAX_MS, ingest_batch
from portal.tracking.models import Event, EventType, ViewSession

PAGE_BREAK = '<p style="page-break-after: always">'
THREE_PAGES = (
    "<!doctype html><html><head><meta charset='utf-8'></head><body>"
    f"{PAGE_BREAK}Page one</p>{PAGE_BREAK}Page two</p><p>Page three</p></body></html>"
).encode()


# -- building a delivered document and an open view session ---------------------------------------


@dataclass
class World:
    rep: User
    version: TemplateVersion
    customer: Customer


@pytest.fixture(name="world")
def world_fixture(app, make_user) -> World:
    """A marketing user's three-page template, a rep and their customer."""
    marketing = make_user("marketing")
    rep = make_user("rep")
    version = create_template(
        marketing,
        TemplateFields(name="MES brochure", kind="brochure"),
        filename="brochure.html",
        data=THREE_PAGES,
        changelog="first version",
    )
    customer = create_customer(rep, CustomerFields(name="Li Lei", company="ACME"))
    jobs.commit()
    assert version.page_count == 3
    return World(rep, version, customer)


def deliver(world: World) -> Delivery:
    sent = delivery_services.send(
        world.rep,
        delivery_services.SendRequest(
            customer_id=world.customer.id, template_id=world.version.template_id
        ),
    )
    jobs.commit()  # renders inline
    return sent.delivery


@dataclass
class Opened:
    session_id: int
    token: str
    started_at: datetime

    def at(self, seconds: float) -> datetime:
        return self.started_at + timedelta(seconds=seconds)


def open_session(delivery: Delivery, started_at: datetime | None = None) -> Opened:
    session = sessions.start_session(delivery, 1, "Mozilla/5.0 test", "203.0.113.7")
    if started_at is not None:
        session.started_at = session.last_seen_at = started_at
    opened = Opened(session.id, sessions.ingest_token(session), session.started_at)
    jobs.commit()
    return opened


@pytest.fixture
def opened(world) -> Opened:
    return open_session(deliver(world))


def report(page: int | None = 1, ms: int = 10_000, **fields) -> dict:
    item = {"k": uuid.uuid4().hex, "type": "page.viewed", "ms": ms, "final": False}
    if page is not None:
        item["page"] = page
    item.update(fields)
    return item


def batch(opened: Opened, *reports: dict) -> dict:
    return {"s": opened.token, "reports": list(reports)}


def page_views(session_id: int) -> list[Event]:
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.session_id == session_id, Event.type == EventType.PAGE_VIEWED)
            .order_by(Event.id)
        )
    )


def summary(session_id: int) -> Event | None:
    return db.session.scalar(
        select(Event).where(Event.session_id == session_id, Event.type == EventType.DOC_READ)
    )


def session_row(session_id: int) -> ViewSession:
    db.session.expire_all()
    return db.session.get(ViewSession, session_id)


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Event))


@pytest.fixture
def frozen(monkeypatch):
    """frozen(moment): the route's clock stands at moment."""

    def freeze(moment: datetime) -> None:
        monkeypatch.setattr(ingest, "clock", lambda: moment)

    return freeze


def post(client, body, content_type: str = "application/json"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/t/r", data=data, content_type=content_type)


# -- the wall-clock cap ---------------------------------------------------------------------------


def test_an_hour_claimed_ten_seconds_after_the_open_is_credited_ten_seconds(client, opened, frozen):
    frozen(opened.at(10))
    response = post(client, batch(opened, report(page=1, ms=3_600_000)))

    assert response.status_code == 202, response.json
    assert response.json == {"accepted": 1, "duplicates": 0, "credited_ms": 10_000}
    [view] = page_views(opened.session_id)
    assert view.duration_ms == 10_000
    assert view.properties["claimed_ms"] == 3_600_000
    assert session_row(opened.session_id).credited_ms == 10_000


def test_reports_are_credited_in_order_until_the_budget_is_spent(opened):
    result = ingest_batch(
        opened.token,
        batch(opened, report(page=1, ms=6_000), report(page=2, ms=6_000), report(page=3, ms=1)),
        now=opened.at(10),
    )
    assert (result.accepted, result.credited_ms) == (3, 10_000)
    assert [e.duration_ms for e in page_views(opened.session_id)] == [6_000, 4_000, 0]


def test_a_single_report_credits_at_most_ten_minutes(opened):
    result = ingest_batch(opened.token, batch(opened, report(ms=3_600_000)), now=opened.at(3600))
    assert result.credited_ms == ingest.MAX_REPORT_MS


def test_two_batches_cannot_spend_the_same_wall_clock_time(opened):
    first = ingest_batch(opened.token, batch(opened, report(ms=10_000)), now=opened.at(10))
    second = ingest_batch(opened.token, batch(opened, report(ms=10_000)), now=opened.at(10.5))

    assert first.credited_ms == 10_000
    assert second.credited_ms == 500
    assert session_row(opened.session_id).credited_ms == 10_500


def test_many_quick_batches_gain_no_time(opened):
    """An idle hour, then a burst of batches claiming the maximum: only the burst's own
    wall-clock time counts (plus the one small carry), never the idle hour."""
    ingest_batch(opened.token, batch(opened, report(ms=0)), now=opened.at(3600))
    credited = 0
    for i in range(1, 41):
        result = ingest_batch(
            opened.token, batch(opened, report(ms=600_000)), now=opened.at(3600 + i * 0.05)
        )
        credited += result.credited_ms
    assert credited <= 40 * 50 + CARRY_MAX_MS
    assert session_row(opened.session_id).credited_ms == credited


def _client_ms(opened, seconds: float, off_by_ms: int = 3_600_000) -> int:
    """The viewer's Date.now() `seconds` into the session, on a client clock an hour off."""
    return int(opened.at(seconds).timestamp() * 1000) + off_by_ms


def test_a_report_held_back_by_an_outage_is_credited_in_full(opened):
    """Issue 19: a report made at 20 s arrives at 25 s (refused during an outage, retried); the
    next heartbeat comes on time. Both are credited in full: the client's own timestamps
    bound them (it read 10 s between them), not the server's arrival times (the carry cap
    used to credit the heartbeat 7 s)."""
    credited = [
        ingest_batch(
            opened.token,
            batch(opened, report(ms=ms, at=_client_ms(opened, made))),
            now=opened.at(arrived),
        ).credited_ms
        for ms, made, arrived in ((10_000, 10, 10.5), (10_001, 20.001, 25), (10_000, 30.001, 30.5))
    ]
    assert credited == [10_000, 10_001, 10_000]


def test_timed_reports_gain_nothing_from_an_idle_hour_or_a_burst(opened):
    """With client timestamps too: a burst of reports made 50 ms apart claims 50 ms each, and
    the session's total stays within its wall clock whatever the timestamps say."""
    ingest_batch(
        opened.token,
        batch(opened, report(ms=0, at=_client_ms(opened, 3600))),
        now=opened.at(3600),
    )
    credited = sum(
        ingest_batch(
            opened.token,
            batch(opened, report(ms=600_000, at=_client_ms(opened, 3600 + i * 0.05))),
            now=opened.at(3600 + i * 0.05),
        ).credited_ms
        for i in range(1, 41)
    )
    assert credited <= 40 * 50
    forged = ingest_batch(
        opened.token,
        batch(opened, report(ms=600_000, at=_client_ms(opened, 90_000))),
        now=opened.at(3603),
    )
    assert session_row(opened.session_id).credited_ms <= 3_603_000
    assert forged.credited_ms <= 600_000


def test_a_timestamp_from_the_future_claims_no_more_than_the_wall_clock(opened):
    """After an idle hour, a report whose client timestamp runs ahead of the server's clock
    (forged, or a clock jumped forward) is credited what the wall clock allows since the
    previous report: 3 s here, plus the jitter allowance, not the 10 minutes it claims."""
    from portal.tracking.ingest import CARRY_MAX_MS

    ingest_batch(
        opened.token,
        batch(opened, report(ms=0, at=_client_ms(opened, 3600))),
        now=opened.at(3600),
    )
    forged = ingest_batch(
        opened.token,
        batch(opened, report(ms=600_000, at=_client_ms(opened, 90_000))),
        now=opened.at(3603),
    )
    assert forged.credited_ms <= 3_000 + CARRY_MAX_MS
    later = ingest_batch(  # and the forged time moved the client's clock nowhere
        opened.token,
        batch(opened, report(ms=600_000, at=_client_ms(opened, 90_010))),
        now=opened.at(3613),
    )
    assert later.credited_ms <= 10_000 + CARRY_MAX_MS


def test_an_honest_reader_loses_nothing_to_network_jitter(opened):
    """Heartbeats of 10 s that arrive 0.4 s early or late are all credited in full."""
    arrivals = [10.4, 20.0, 30.4, 40.0, 50.3, 60.0]
    total = 0
    for arrival in arrivals:
        total += ingest_batch(
            opened.token, batch(opened, report(ms=10_000)), now=opened.at(arrival)
        ).credited_ms
    assert total == 60_000


def concurrently(app, *calls):
    """Run each call in its own thread and app context (its own database session), all
    released at once; their results or exceptions, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = calls[i]()
            except Exception as exc:  # checked by the test
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_batches_cannot_both_spend_the_budget(app, opened):
    """Two batches of one session at the same moment, each claiming the whole budget."""

    def claim_all():
        return ingest_batch(opened.token, batch(opened, report(ms=10_000)), now=opened.at(10))

    results = concurrently(app, claim_all, claim_all)

    assert all(isinstance(r, ingest.IngestResult) for r in results), results
    assert sorted(r.credited_ms for r in results) == [0, 10_000]
    assert session_row(opened.session_id).credited_ms == 10_000
    assert len(page_views(opened.session_id)) == 2


# -- duplicates -----------------------------------------------------------------------------------


def test_a_repeated_key_within_a_batch_is_stored_once(opened):
    item = report(ms=4_000)
    result = ingest_batch(opened.token, batch(opened, item, dict(item)), now=opened.at(10))
    assert (result.accepted, result.duplicates, result.credited_ms) == (1, 1, 4_000)
    assert len(page_views(opened.session_id)) == 1


def test_a_retried_batch_is_acknowledged_and_only_its_new_reports_count(client, opened, frozen):
    """The answer to the first send was lost; the viewer sends it again with a new report."""
    old = report(page=1, ms=10_000)
    frozen(opened.at(10))
    assert post(client, batch(opened, old)).json == {
        "accepted": 1,
        "duplicates": 0,
        "credited_ms": 10_000,
    }
    frozen(opened.at(20))
    retry = post(client, batch(opened, old, report(page=2, ms=10_000)))

    assert retry.status_code == 202
    assert retry.json == {"accepted": 1, "duplicates": 1, "credited_ms": 10_000}
    assert [(e.page, e.duration_ms) for e in page_views(opened.session_id)] == [
        (1, 10_000),
        (2, 10_000),
    ]
    frozen(opened.at(30))
    again = post(client, batch(opened, old))
    assert again.json == {"accepted": 0, "duplicates": 1, "credited_ms": 0}
    assert len(page_views(opened.session_id)) == 2


def test_the_same_client_key_in_two_sessions_is_two_reports(world):
    delivery = deliver(world)
    first, second = open_session(delivery), open_session(delivery)
    item = report(ms=1_000)
    for opened in (first, second):
        assert ingest_batch(opened.token, batch(opened, item), now=opened.at(5)).accepted == 1


def test_the_same_batch_sent_twice_at_once_is_stored_once(app, opened):
    """A beacon and a retried fetch carrying the same report, in flight together."""
    same = batch(opened, report(ms=8_000))

    def send():
        return ingest_batch(opened.token, same, now=opened.at(10))

    results = concurrently(app, send, send)

    assert all(isinstance(r, ingest.IngestResult) for r in results), results
    assert sorted((r.accepted, r.duplicates) for r in results) == [(0, 1), (1, 0)]
    assert [e.duration_ms for e in page_views(opened.session_id)] == [8_000]


def test_a_unique_violation_is_rolled_back_and_the_batch_retried(opened, monkeypatch):
    """Another request stored the same key between our check and our insert: the unique index
    refuses ours, the batch is rolled back and retried, and the report counts as a duplicate."""
    real_record_many = ingest.record_many
    calls: list[int] = []

    def racing_record_many(new_events):
        calls.append(len(new_events))
        if len(calls) > 1:
            return real_record_many(new_events)
        first = new_events[0]

        def other_request_commits(_session) -> None:
            with db.engine.begin() as conn:
                conn.execute(
                    Event.__table__.insert().values(
                        customer_id=first.customer_id,
                        delivery_id=first.delivery_id,
                        session_id=first.session_id,
                        type=first.type,
                        page=first.page,
                        duration_ms=first.duration_ms,
                        occurred_at=utcnow(),
                        received_at=utcnow(),
                        idempotency_key=first.idempotency_key,
                        properties={},
                    )
                )

        event.listen(db.session(), "after_rollback", other_request_commits, once=True)
        raise IntegrityError("INSERT INTO events ...", {}, Exception("unique violation"))

    monkeypatch.setattr(ingest, "record_many", racing_record_many)
    result = ingest_batch(
        opened.token, batch(opened, report(ms=5_000), report(page=2, ms=1_000)), now=opened.at(10)
    )

    assert calls == [3, 2]  # two reports and the summary, then the one report left
    assert (result.accepted, result.duplicates) == (1, 1)
    assert sorted(e.page for e in page_views(opened.session_id)) == [1, 2]


# -- the doc.read summary -------------------------------------------------------------------------


def test_one_doc_read_row_holds_the_session_total_and_pages(opened):
    ingest_batch(
        opened.token,
        batch(opened, report(page=1, ms=12_000), report(page=2, ms=3_000)),
        now=opened.at(15),
    )
    first = summary(opened.session_id)
    assert first.duration_ms == 15_000
    assert first.properties["pages"] == {"1": 12_000, "2": 3_000}
    assert first.occurred_at == opened.started_at

    ingest_batch(
        opened.token,
        batch(opened, report(page=2, ms=9_000), report(page=3, ms=4_000, final=True)),
        now=opened.at(28),
    )
    db.session.expire_all()
    rows = db.session.scalars(
        select(Event).where(Event.session_id == opened.session_id, Event.type == EventType.DOC_READ)
    ).all()
    assert len(rows) == 1
    assert rows[0].id == first.id
    assert rows[0].duration_ms == 28_000 == session_row(opened.session_id).credited_ms
    assert rows[0].properties["pages"] == {"1": 12_000, "2": 12_000, "3": 4_000}
    assert page_views(opened.session_id)[-1].properties["final"] is True


def test_a_section_may_stand_in_for_the_page(opened):
    ingest_batch(
        opened.token,
        batch(opened, report(page=None, section="#pricing", ms=7_000)),
        now=opened.at(9),
    )
    [view] = page_views(opened.session_id)
    assert (view.page, view.section, view.duration_ms) == (None, "#pricing", 7_000)
    assert summary(opened.session_id).properties["sections"] == {"#pricing": 7_000}


def test_occurred_at_follows_the_client_order_on_the_server_clock(opened):
    """The client's clock is an hour off; its reports still land inside the session."""
    client_now = int(opened.at(20).timestamp() * 1000) + 3_600_000
    ingest_batch(
        opened.token,
        batch(
            opened,
            report(page=1, ms=5_000, at=client_now - 5_000),
            report(page=2, ms=5_000, at=client_now),
        ),
        now=opened.at(20),
    )
    first, second = page_views(opened.session_id)
    assert first.occurred_at == opened.at(15)
    assert second.occurred_at == opened.at(20)
    assert second.properties["client_at"] == client_now


def test_pages_are_accepted_up_to_500_when_the_page_count_is_unknown(world):
    """The token carries the page count when the viewer opens; unknown then, 500 pages pass."""
    delivery = deliver(world)
    world.version.page_count = None
    jobs.commit()
    opened = open_session(delivery)
    assert ingest_batch(opened.token, batch(opened, report(page=500)), now=opened.at(5)).accepted
    with pytest.raises(ingest.InvalidReport, match="1 to 500"):
        ingest_batch(opened.token, batch(opened, report(page=501)), now=opened.at(6))


# -- refusals: clear messages, nothing stored -----------------------------------------------------


def _bad(field: str, value):
    def build(opened: Opened) -> dict:
        item = report(page=1, ms=1_000)
        item[field] = value
        return batch(opened, report(page=2, ms=1_000), item)  # a good report goes down with it

    return build


REFUSED = [
    ("negative ms", _bad("ms", -1), 422, "invalid_report", "reports[1].ms must be a whole number"),
    ("ms as text", _bad("ms", "10000"), 422, "invalid_report", 'got "10000"'),
    ("fractional ms", _bad("ms", 1.5), 422, "invalid_report", "reports[1].ms"),
    ("ms over a day", _bad("ms", 86_400_001), 422, "invalid_report", "0 to 86400000"),
    ("ms as true", _bad("ms", True), 422, "invalid_report", "reports[1].ms"),
    ("page 0", _bad("page", 0), 422, "invalid_report", "reports[1].page"),
    ("page 4 of 3", _bad("page", 4), 422, "invalid_report", "1 to 3 (got 4)"),
    ("no page", _bad("page", None), 422, "invalid_report", "page is required"),
    ("long section", _bad("section", "x" * 81), 422, "invalid_report", "1 to 80 characters"),
    ("server-side type", _bad("type", "doc.downloaded"), 422, "invalid_report", "page.viewed"),
    ("doc.read from the client", _bad("type", "doc.read"), 422, "invalid_report", "type"),
    ("no key", _bad("k", None), 422, "invalid_report", "reports[1].k"),
    ("long key", _bad("k", "a" * 65), 422, "invalid_report", "1 to 64 characters"),
    ("key with a colon", _bad("k", "a:b"), 422, "invalid_report", "reports[1].k"),
    ("at as text", _bad("at", "now"), 422, "invalid_report", "reports[1].at"),
    ("final as text", _bad("final", "yes"), 422, "invalid_report", "true or false"),
    (
        "101 reports",
        lambda o: batch(o, *[report(ms=1) for _ in range(101)]),
        413,
        "too_many_reports",
        "at most 100 reports",
    ),
    ("a report that is a list", lambda o: batch(o, [1]), 400, "malformed_batch", "reports[0]"),
    ("reports not a list", lambda o: {"s": o.token, "reports": {}}, 400, "malformed_batch", ""),
    ("no token", lambda o: {"reports": [report()]}, 400, "malformed_batch", "s (the session"),
    ("a list body", lambda o: [batch(o, report())], 400, "malformed_batch", "JSON object"),
]


@pytest.mark.parametrize(
    ("build", "status", "code", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_absurd_or_malformed_batches_are_refused_whole(
    client, opened, frozen, build, status, code, message
):
    frozen(opened.at(10))
    before = event_count()
    response = post(client, build(opened))

    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert message in response.json["error"]["message"]
    assert event_count() == before
    assert session_row(opened.session_id).credited_ms == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"s": "x", "reports": [', 400, "not valid JSON"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        ("[" * 20_000, 400, "not valid JSON"),
    ],
    ids=["truncated", "not utf-8", "nested too deep"],
)
def test_bodies_that_are_not_json_get_400(client, opened, body, status, message):
    response = post(client, body)
    assert response.status_code == status
    assert message in response.json["error"]["message"]


def test_nan_is_refused_as_an_absurd_value(client, opened, frozen):
    frozen(opened.at(10))
    body = json.dumps(batch(opened, report(ms=1))).replace('"ms": 1', '"ms": NaN')
    response = post(client, body)
    assert response.status_code == 422
    assert "got NaN" in response.json["error"]["message"]
    assert event_count() == 0


def test_a_body_over_64_kb_gets_413(client, opened):
    padding = "x" * (70 * 1024)
    response = post(client, {"s": opened.token, "reports": [], "pad": padding})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"
    assert event_count() == 0


@pytest.mark.parametrize("tamper", ["garbage", "flip", "doc-link"], ids=str)
def test_an_unknown_or_tampered_token_gets_404(client, world, opened, tamper):
    from portal.tracking import links

    tokens = {
        "garbage": "not-a-token",
        "flip": opened.token[:-2] + ("AA" if not opened.token.endswith("AA") else "BB"),
        "doc-link": links.sign(opened.session_id, "doc"),  # a real signature, other purpose
    }
    response = post(client, {"s": tokens[tamper], "reports": [report()]})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "session_not_found"
    assert event_count() == 0


def test_a_revoked_delivery_gets_410(client, world, frozen):
    delivery = deliver(world)
    opened = open_session(delivery)
    delivery_services.revoke(world.rep, delivery.id)
    jobs.commit()
    frozen(opened.at(10))

    response = post(client, batch(opened, report()))
    assert response.status_code == 410
    assert response.json["error"]["code"] == "gone"
    assert event_count() == 0


def test_an_expired_delivery_gets_410(world):
    delivery = deliver(world)
    opened = open_session(delivery)
    delivery.expires_at = opened.at(5)
    jobs.commit()
    assert ingest_batch(opened.token, batch(opened, report(ms=1)), now=opened.at(4)).accepted
    with pytest.raises(ingest.SessionGone):
        ingest_batch(opened.token, batch(opened, report(ms=1)), now=opened.at(6))


# -- the endpoint ---------------------------------------------------------------------------------


def test_a_beacon_body_sent_as_text_plain_is_accepted(client, opened, frozen):
    frozen(opened.at(12))
    response = post(
        client,
        batch(opened, report(page=2, ms=12_000, final=True)),
        content_type="text/plain;charset=UTF-8",
    )
    assert response.status_code == 202
    assert response.json["credited_ms"] == 12_000
    assert response.headers["Cache-Control"] == "no-store"


def test_the_endpoint_needs_no_csrf_token_or_login(app, opened, frozen):
    app.config["WTF_CSRF_ENABLED"] = True
    frozen(opened.at(3))
    response = post(app.test_client(), batch(opened, report(ms=3_000)))
    assert response.status_code == 202


def test_an_empty_batch_is_acknowledged_and_changes_nothing(opened):
    result = ingest_batch(opened.token, batch(opened), now=opened.at(10))
    assert result.as_json() == {"accepted": 0, "duplicates": 0, "credited_ms": 0}
    assert session_row(opened.session_id).last_seen_at == opened.started_at


def test_a_batch_runs_the_same_statements_for_1_or_100_reports(opened, monkeypatch):
    """The work per request does not grow with the reports in it: a few look-ups, one UPDATE
    and one multi-row INSERT. (SQLite, in process, gets one INSERT per row from the ORM: it
    cannot match RETURNING rows to parameters otherwise; no round trips are involved.)
    The event handlers (scores, notifications) are left out: their queries are their own."""
    monkeypatch.setitem(current_app.extensions, events.EXTENSION, ())

    def run(n: int, at: float) -> tuple[int, int]:
        with counted_statements() as statements:
            ingest_batch(opened.token, batch(opened, *[report(ms=10) for _ in range(n)]), now=at)
        inserts = sum(s.startswith("INSERT") for s in statements)
        return len(statements) - inserts, inserts

    first = run(1, opened.at(5))  # creates the doc.read summary
    one = run(1, opened.at(10))
    hundred = run(100, opened.at(20))
    # session (locked) + known keys, UPDATE session, UPDATE the delivery's read clock (parallel
    # sessions share one wall clock), record_many's key check; then the summary row is an
    # INSERT on the first batch and an UPDATE on later ones.
    assert first[0] == 5
    assert hundred[0] == one[0] == 6
    if db.engine.dialect.name == "postgresql":
        assert hundred[1] == one[1] == 1


class TestRateLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True, "TRACKING_RATE_LIMIT": "3/minute"}

    def test_a_session_posting_too_often_gets_429_json(self, client, world, frozen):
        delivery = deliver(world)
        busy, other = open_session(delivery), open_session(delivery)
        frozen(busy.at(60))
        statuses = [post(client, batch(busy, report(ms=1))).status_code for _ in range(4)]
        assert statuses == [202, 202, 202, 429]
        limited = post(client, batch(busy, report(ms=1)))
        assert limited.json["error"]["code"] == "too_many_requests"
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        answer = post(client, batch(other, report(ms=1)))
        assert answer.status_code == 202
        assert answer.headers["X-RateLimit-Remaining"] == "2"

    def test_with_limits_off_nothing_is_counted(self, app, client, world):
        app.config["RATELIMIT_ENABLED"] = False
        try:
            opened = open_session(deliver(world))
            answers = [post(client, batch(opened, report(ms=1))) for _ in range(5)]
        finally:
            app.config["RATELIMIT_ENABLED"] = True
        assert [a.status_code for a in answers] == [202] * 5
        assert "X-RateLimit-Limit" not in answers[0].headers


def test_a_token_already_verified_still_expires_with_its_age(client, world, monkeypatch):
    """Verified signatures are remembered per process; the age is checked on every use."""
    opened = open_session(deliver(world))
    assert post(client, batch(opened, report(ms=1))).status_code == 202  # verified, remembered
    later = sessions.time.time() + sessions.INGEST_MAX_AGE + 60
    monkeypatch.setattr(sessions, "time", type("Clock", (), {"time": staticmethod(lambda: later)}))

    response = post(client, batch(opened, report(ms=1)))

    assert response.status_code == 410
    assert response.json["error"]["code"] == "gone"
