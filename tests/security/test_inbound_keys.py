"""Inbound event idempotency keys are scoped to the customer: another team's rep who uses a key
first neither drops this team's event as a duplicate nor learns that the key was used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.tracking.models import Event
from tests.delivery.helpers import make_customer

URL = "/api/v1/events"


def _reply(customer_id: int, key: str) -> dict:
    return {
        "customer_id": customer_id,
        "type": "reply.received",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "idempotency_key": key,
        "properties": {"channel": "wecom"},
    }


def _events_of(customer_id: int) -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(select(Event).where(Event.customer_id == customer_id)))


def test_two_teams_using_the_same_key_both_keep_their_event(client, make_user, api_headers):
    east = make_user("rep", team="华东")
    south = make_user("rep", team="华南")
    east_customer = make_customer(east, email="buyer@east.example")
    south_customer = make_customer(south, email="buyer@south.example")

    # The other team's rep uses the key first (by chance, or to learn whether it was used).
    probe = client.post(URL, json=_reply(south_customer.id, "msg-1"), headers=api_headers(south))
    assert probe.status_code == 202
    assert probe.json["duplicate"] is False

    real = client.post(URL, json=_reply(east_customer.id, "msg-1"), headers=api_headers(east))
    assert real.status_code == 202
    assert real.json["duplicate"] is False and isinstance(real.json["id"], int)
    assert [e.id for e in _events_of(east_customer.id)] == [real.json["id"]]
    assert [e.id for e in _events_of(south_customer.id)] == [probe.json["id"]]
    db.session.refresh(east_customer)
    assert east_customer.last_inbound_at is not None  # the reply counts (no "no reply" penalty)

    # And a later probe with the key learns nothing about the other team's use of it.
    again = client.post(URL, json=_reply(south_customer.id, "msg-2"), headers=api_headers(south))
    assert again.json["duplicate"] is False


def test_a_repeat_for_the_same_customer_is_still_dropped(client, make_user, api_headers):
    boss = make_user("supervisor", email="boss@example.com")
    rep = make_user("rep", supervisor="boss@example.com")
    customer = make_customer(rep)

    first = client.post(URL, json=_reply(customer.id, "form-7"), headers=api_headers(rep))
    # The same event through another integration (the supervisor's token): one customer, one key.
    repeat = client.post(URL, json=_reply(customer.id, "form-7"), headers=api_headers(boss))
    assert first.json["duplicate"] is False
    assert repeat.status_code == 202
    assert repeat.json == {"id": None, "duplicate": True, "customer_id": customer.id}
    assert len(_events_of(customer.id)) == 1


def test_the_longest_documented_key_still_fits_with_the_largest_customer_id(app):
    from portal.inbound.service import MAX_KEY, stored_key

    class Largest:
        id = 2**31 - 1  # MAX_ID: the largest row id a URL or body may name

    longest = stored_key(Largest(), "k" * MAX_KEY)
    assert MAX_KEY == 116  # the API's documented maxLength (openapi.json)
    assert len(longest) <= Event.__table__.c.idempotency_key.type.length
