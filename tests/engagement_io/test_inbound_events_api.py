"""POST /api/v1/events: events from other channels, idempotent, scoped to the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import current_app
from sqlalchemy import select

from portal.customers.models import Customer
from portal.extensions import db
from portal.tracking.models import Event
from tests.delivery.helpers import make_customer

URL = "/api/v1/events"


def _at(delta: timedelta = timedelta()) -> str:
    """now + delta in Shanghai time, ISO 8601 with the +08:00 offset."""
    return (datetime.now(UTC) + delta).astimezone(timezone(timedelta(hours=8))).isoformat()


@pytest.fixture
def rep_and_customer(make_user):
    rep = make_user("rep")
    return rep, make_customer(rep, email="Buyer@Example.com")


def _body(customer: Customer, **over) -> dict:
    body = {
        "customer_id": customer.id,
        "type": "reply.received",
        "occurred_at": _at(-timedelta(minutes=3)),
        "idempotency_key": "wecom-msg-1",
        "properties": {"channel": "wecom", "text": "好的，我看看"},
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def test_an_inbound_reply_is_stored_once_and_marks_last_inbound(
    client, api_headers, rep_and_customer
):
    rep, customer = rep_and_customer
    headers = api_headers(rep)
    body = _body(customer)
    first = client.post(URL, json=body, headers=headers)
    assert first.status_code == 202, first.json
    assert first.json["duplicate"] is False and isinstance(first.json["id"], int)
    event = db.session.get(Event, first.json["id"])
    assert event.type == "reply.received"
    assert event.customer_id == customer.id
    assert event.idempotency_key == f"api:{customer.id}:wecom-msg-1"  # scoped (issue 17)
    assert event.properties == {"channel": "wecom", "text": "好的，我看看"}
    assert event.occurred_at == datetime.fromisoformat(body["occurred_at"])
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).last_inbound_at == event.occurred_at

    again = client.post(URL, json=body, headers=headers)
    assert again.status_code == 202
    assert again.json == {"id": None, "duplicate": True, "customer_id": customer.id}
    assert db.session.scalar(select(db.func.count()).select_from(Event)) == 1


def test_api_keys_do_not_collide_with_viewer_keys(client, api_headers, rep_and_customer):
    from portal import jobs
    from portal.tracking.events import NewEvent, record

    rep, customer = rep_and_customer
    record(NewEvent(customer_id=customer.id, type="portal.visited", idempotency_key="k1"))
    jobs.commit()
    response = client.post(
        URL, json=_body(customer, idempotency_key="k1"), headers=api_headers(rep)
    )
    assert response.json["duplicate"] is False


def test_customer_by_email_and_external_types(client, api_headers, rep_and_customer):
    rep, customer = rep_and_customer
    response = client.post(
        URL,
        json=_body(
            customer,
            customer_id=None,
            customer_email="buyer@example.com",
            type="external.ads.clicked",
            idempotency_key="ad-1",
            occurred_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        ),
        headers=api_headers(rep),
    )
    assert response.status_code == 202, response.json
    assert response.json["customer_id"] == customer.id
    db.session.expire_all()
    # external.* is stored but is not the customer's own reply
    assert db.session.get(Customer, customer.id).last_inbound_at is None


def test_form_submitted_scores_through_the_one_event_path(
    client, api_headers, rep_and_customer, monkeypatch
):
    seen = []
    from portal.tracking import events as events_module

    spy = (*events_module.installed(), seen.extend)
    monkeypatch.setitem(current_app.extensions, events_module.EXTENSION, spy)
    rep, customer = rep_and_customer
    response = client.post(
        URL,
        json=_body(customer, type="form.submitted", idempotency_key="f1"),
        headers=api_headers(rep),
    )
    assert response.status_code == 202
    assert [r.event.id for r in seen] == [response.json["id"]]


def test_unknown_and_other_reps_customers_look_the_same(
    client, api_headers, rep_and_customer, make_user
):
    rep, customer = rep_and_customer
    other = api_headers(make_user("rep"))
    answers = [
        client.post(URL, json=_body(customer), headers=other),
        client.post(URL, json=_body(customer, customer_id=999_999), headers=other),
        client.post(
            URL,
            json=_body(customer, customer_id=None, customer_email="buyer@example.com"),
            headers=other,
        ),
        client.post(
            URL,
            json=_body(customer, customer_id=None, customer_email="nobody@example.com"),
            headers=api_headers(rep),
        ),
    ]
    for response in answers:
        assert response.status_code == 422
        assert response.json == {
            "error": {"code": "unknown_customer", "message": "unknown customer"}
        }
    assert db.session.scalar(select(db.func.count()).select_from(Event)) == 0


def test_a_supervisor_posts_for_their_reps_customer(client, api_headers, make_user):
    boss = make_user("supervisor", email="boss2@example.com")
    rep = make_user("rep", supervisor="boss2@example.com")
    customer = make_customer(rep)
    response = client.post(URL, json=_body(customer), headers=api_headers(boss))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"type": "email.opened"}, "type must be"),
        ({"type": "link.opened"}, "type must be"),
        ({"type": "external.Bad"}, "type must be"),
        ({"type": "external." + "x" * 40}, "type must be"),
        ({"type": "external"}, "type must be"),
        ({"type": None}, "type is required"),
        ({"occurred_at": "2026-03-01T10:00:00"}, "offset"),
        ({"occurred_at": "yesterday"}, "ISO 8601"),
        ({"occurred_at": None}, "occurred_at is required"),
        ({"occurred_at": timedelta(minutes=10)}, "future"),
        ({"occurred_at": -timedelta(days=400)}, "year"),
        ({"idempotency_key": None}, "idempotency_key is required"),
        ({"idempotency_key": "k" * 117}, "longer"),
        ({"properties": ["a"]}, "JSON object"),
        ({"properties": {"blob": "x" * 9000}}, "8192"),
        ({"customer_id": None}, "customer_id or customer_email"),
        ({"customer_id": "1"}, "integer"),
    ],
)
def test_bad_events_are_422_with_a_clear_message(
    client, api_headers, rep_and_customer, over, message
):
    rep, customer = rep_and_customer
    if isinstance(over.get("occurred_at"), timedelta):  # relative to the time of the test
        over = {"occurred_at": _at(over["occurred_at"])}
    response = client.post(URL, json=_body(customer, **over), headers=api_headers(rep))
    assert response.status_code == 422, response.json
    assert message in response.json["error"]["message"]


def test_a_small_clock_skew_is_accepted(client, api_headers, rep_and_customer):
    rep, customer = rep_and_customer
    body = _body(customer, occurred_at=_at(timedelta(minutes=4)))
    assert client.post(URL, json=body, headers=api_headers(rep)).status_code == 202


def test_not_json_is_400_and_no_token_is_401(client, api_headers, rep_and_customer):
    rep, customer = rep_and_customer
    assert client.post(URL, data="x", headers=api_headers(rep)).status_code == 400
    assert client.post(URL, json=_body(customer)).status_code == 401
