"""Webhooks are never sent into Portal's own network unless an operator allows it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import jobs
from portal.outbound.addresses import PrivateAddress, is_public
from portal.webhooks import service
from portal.webhooks.models import WebhookDelivery
from tests.delivery.helpers import make_customer

INSIDE = [
    "http://127.0.0.1:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
]


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE": False}


@pytest.mark.parametrize("url", INSIDE)
def test_a_webhook_to_an_inside_address_is_refused_when_saved(app, url):
    with pytest.raises(PrivateAddress) as refused:
        service.create_webhook(url, ["customer.grade_changed"])
    assert "not a public address" in refused.value.message
    assert "PORTAL_WEBHOOK_ALLOW_PRIVATE" in refused.value.message


def test_public_hosts_and_names_are_accepted_when_saved(app):
    hook = service.create_webhook("https://crm.example.com/hook", ["customer.grade_changed"])
    assert hook.url == "https://crm.example.com/hook"
    assert is_public("93.184.216.34") and not is_public("100.64.0.1")


def test_a_name_that_resolves_inside_is_refused_at_send_time(app, make_user, receiver_factory):
    receiver = receiver_factory()
    # "localhost" passes the save-time check (a name) but resolves to loopback when sent
    url = receiver.url.replace("127.0.0.1", "localhost")
    service.create_webhook(url, ["customer.grade_changed"])
    jobs.commit()
    customer = make_customer(make_user("rep"))
    service.emit("customer.grade_changed", {"customer_id": customer.id})
    jobs.commit()

    row = db_row()
    assert row.status == "pending" and "resolves to" in row.last_error
    assert receiver.received == []


def db_row() -> WebhookDelivery:
    from portal.extensions import db

    db.session.expire_all()
    return db.session.scalars(select(WebhookDelivery)).one()
