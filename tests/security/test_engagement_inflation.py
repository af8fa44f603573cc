"""Issue 17, finding 5: a customer (anyone holding a link) cannot inflate their own engagement.

Found: three opens plus one report batch per session claiming 0 ms on every page took a score
from 0 to 35 in under a second ("deep read" paid three times); ten parallel sessions open for
13 s were credited 130 s of read time; opens had no rate limit. Now:
- deep_read counts a page only once it was credited min_page_seconds of read time;
- read time of a delivery is bounded by the wall clock across all its sessions (parallel tabs
  share one clock: Delivery.read_clock_at);
- viewer fetches and open confirmations are rate limited per link and per address (429 with
  Retry-After, nothing stored).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import ClassVar

import pytest
import sqlalchemy as sa

from portal import jobs
from portal.customers.models import Customer
from portal.engagement import rules
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tracking import ingest
from portal.tracking.ingest import CARRY_MAX_MS
from portal.tracking.models import Event, EventType, ViewSession
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.viewer_support import confirm, ingest_token_of

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0"}


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.fixture
def brochure_sent(make_user):
    """A two-page brochure sent to a customer with no profile points, default rules on."""
    rules.install_defaults()
    marketing, rep = make_user("marketing"), make_user("rep")
    template = make_template(marketing, kind="brochure", content_tags="")
    customer = make_customer(rep, title="", industry="")
    sent = make_delivery(rep, customer, template)
    jobs.commit()
    return sent


def _open(client, url: str, address: str = "203.0.113.7") -> str:
    """What a browser does: fetch the viewer, confirm the open. The ingest token."""
    page = client.get(_path(url), headers=BROWSER, environ_base={"REMOTE_ADDR": address})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert confirm(client, html).status_code == 200
    token = ingest_token_of(html)
    assert token
    return token


def _report(page: int, ms: int) -> dict:
    return {"k": uuid.uuid4().hex, "type": "page.viewed", "page": page, "ms": ms}


def _points(customer_id: int) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(ScoreEntry.rule_key, sa.func.sum(ScoreEntry.points))
        .where(ScoreEntry.customer_id == customer_id)
        .group_by(ScoreEntry.rule_key)
    )
    return {key: int(points) for key, points in rows}


def test_reports_claiming_no_time_do_not_pay_deep_read(client, brochure_sent):
    customer_id = brochure_sent.delivery.customer_id
    for _ in range(3):
        token = _open(client, brochure_sent.url)
        batch = {"s": token, "reports": [_report(1, 0), _report(2, 0)]}
        assert client.post("/t/r", json=batch).status_code == 202
    points = _points(customer_id)
    assert "deep_read" not in points  # was paid three times: 0 -> 35
    assert points == {"doc_opened": 5}
    db.session.expire_all()
    assert db.session.get(Customer, customer_id).score == 5


def test_deep_read_is_paid_for_pages_really_read(client, brochure_sent, monkeypatch):
    """The rule still pays an honest reader: both pages credited 5 s or more."""
    token = _open(client, brochure_sent.url)
    session = db.session.scalar(sa.select(ViewSession).order_by(ViewSession.id.desc()))
    monkeypatch.setattr(ingest, "clock", lambda: session.started_at + timedelta(seconds=12))
    batch = {"s": token, "reports": [_report(1, 6_000), _report(2, 6_000)]}
    assert client.post("/t/r", json=batch).json["credited_ms"] == 12_000
    assert _points(brochure_sent.delivery.customer_id)["deep_read"] == 10


def test_parallel_sessions_share_one_wall_clock(client, brochure_sent, monkeypatch):
    tokens = [_open(client, brochure_sent.url) for _ in range(10)]
    started = db.session.scalars(
        sa.select(ViewSession.started_at).where(
            ViewSession.delivery_id == brochure_sent.delivery.id
        )
    ).all()
    now = max(started) + timedelta(seconds=13)
    monkeypatch.setattr(ingest, "clock", lambda: now)
    credited = 0
    for token in tokens:
        answer = client.post("/t/r", json={"s": token, "reports": [_report(1, 13_000)]})
        assert answer.status_code == 202
        credited += answer.json["credited_ms"]
    wall_clock = (now - min(started)) / timedelta(milliseconds=1)
    assert credited <= wall_clock + CARRY_MAX_MS  # was 130 s for 13 s of wall clock
    assert credited >= 13_000  # the first tab got its time: honest reading is not lost
    db.session.expire_all()
    total = db.session.scalar(
        sa.select(sa.func.sum(ViewSession.credited_ms)).where(
            ViewSession.delivery_id == brochure_sent.delivery.id
        )
    )
    assert total == credited


class TestOpenRateLimits:
    LIMITS: ClassVar[dict] = {
        "RATELIMIT_ENABLED": True,
        "OPEN_RATE_LIMIT": "3/minute",
        "OPEN_ADDRESS_RATE_LIMIT": "5/minute",
        "TRACKING_RATE_LIMIT": "100/minute",
    }

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, **self.LIMITS}

    def _fetches(self) -> int:
        db.session.expire_all()
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ViewSession)
            .where(ViewSession.confirmed_at.is_(None))
        )

    def test_a_flood_of_one_link_from_many_addresses_gets_429(self, client, brochure_sent):
        statuses = [
            client.get(
                _path(brochure_sent.url),
                headers=BROWSER,
                environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
            )
            for n in range(1, 6)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert int(statuses[-1].headers["Retry-After"]) > 0
        assert self._fetches() == 3  # a refused fetch stores nothing

    def test_a_flood_of_one_portal_link_gets_429_and_stores_no_more(self, client, brochure_sent):
        """Each GET of /p/<token> stores a preview row: the same limits as the viewer's."""

        def previews() -> int:
            db.session.expire_all()
            return db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Event)
                .where(Event.type == EventType.LINK_FETCHED.value, Event.delivery_id.is_(None))
            )

        statuses = [
            client.get(
                _path(brochure_sent.portal_url),
                headers=BROWSER,
                environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
            )
            for n in range(1, 6)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert int(statuses[-1].headers["Retry-After"]) > 0
        assert previews() == 3

    def test_one_address_opening_many_links_gets_429(self, client, brochure_sent, make_user):
        rep = make_user("rep")
        template = make_template(make_user("marketing"), kind="brochure", content_tags="")
        sends = [
            make_delivery(rep, make_customer(rep, email=f"c{n}@example.com"), template)
            for n in range(6)
        ]
        jobs.commit()
        statuses = [client.get(_path(s.url), headers=BROWSER).status_code for s in sends]
        assert statuses == [200] * 5 + [429]

    def test_confirmations_are_limited_per_link(self, client, brochure_sent):
        pages = [
            client.get(
                _path(brochure_sent.url),
                headers=BROWSER,
                environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
            ).get_data(as_text=True)
            for n in range(1, 4)
        ]
        token = ingest_token_of(pages[0])
        answers = [
            client.post("/t/o", json={"s": token}, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
            for n in range(1, 5)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json["error"]["code"] == "too_many_requests"
        assert int(answers[-1].headers["Retry-After"]) > 0
        opened = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ViewSession)
            .where(ViewSession.confirmed_at.is_not(None))
        )
        assert opened == 1
