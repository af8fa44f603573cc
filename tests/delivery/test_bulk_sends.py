"""Issue 12, item 7: bulk sends, with jobs inline (the RQ run is tests/delivery/test_bulk_rq.py)."""

from __future__ import annotations

import io
import smtplib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal import jobs
from portal.delivery import bulk
from portal.delivery.models import BulkSend, BulkSendItem, Delivery
from portal.errors import ValidationFailed
from portal.extensions import db
from tests.delivery.helpers import make_customer

HTML = "<!doctype html><meta charset='utf-8'><h1>{{ customer.name }}</h1>"


@pytest.fixture
def small(world):
    from tests.delivery.helpers import make_template

    return make_template(world.marketing, name="简介", kind="brochure", html=HTML, content_tags="")


def customers(rep, n, start=0, **fields):
    return [
        make_customer(rep, name=f"客户{start + i}", email=f"c{start + i}@example.com", **fields)
        for i in range(n)
    ]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_bulk_send_makes_one_delivery_and_one_render_per_customer(
    client, world, small, api_headers
):
    chosen = customers(world.rep, 3)
    ids = [c.id for c in chosen]
    answer = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": ids + ids[:1]},  # a duplicate
        headers=api_headers(world.rep),
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    batch = answer.get_json()
    assert (batch["total"], batch["done"], batch["failed"]) == (3, 3, 0)
    assert sorted(d["customer_id"] for d in batch["deliveries"]) == sorted(ids)
    assert {d["render_status"] for d in batch["deliveries"]} == {"ready"}
    progress = client.get(f"/api/v1/sends/{batch['id']}", headers=api_headers(world.rep))
    assert progress.get_json()["done"] == 3
    assert count(Delivery) == 3


def test_e_mail_goes_out_per_customer_and_a_failure_is_retried_alone(
    client, world, small, api_headers
):
    good = customers(world.rep, 2)
    no_mail = make_customer(world.rep, name="无邮箱", email=None)
    answer = client.post(
        "/api/v1/sends",
        json={
            "template_id": small.id,
            "customer_ids": [good[0].id, no_mail.id, good[1].id],
            "send_email": True,
        },
        headers=api_headers(world.rep),
    )
    batch = answer.get_json()
    assert (batch["done"], batch["failed"]) == (2, 1)
    failed = [d for d in batch["deliveries"] if d["status"] == "failed"]
    assert failed[0]["customer_id"] == no_mail.id
    assert failed[0]["error"]["code"] == "customer_has_no_email"
    assert failed[0]["delivery_id"] is None  # the refused send left nothing behind
    assert {d["email_status"] for d in batch["deliveries"] if d["status"] == "done"} == {
        "not_configured"  # no SMTP in tests: the e-mail was made and logged
    }
    assert count(Delivery) == 2

    no_mail.email = "found@example.com"
    db.session.commit()
    retried = client.post(f"/api/v1/sends/{batch['id']}/retry", headers=api_headers(world.rep))
    assert retried.status_code == 202
    again = retried.get_json()
    assert (again["done"], again["failed"]) == (3, 0)
    assert count(Delivery) == 3  # only the failed one was sent again


def test_a_failed_render_is_listed_with_its_reason_and_retried_on_the_same_delivery(
    client, world, small, api_headers, monkeypatch
):
    from portal.delivery import services

    chosen = customers(world.rep, 2)

    def broken(*_args):
        raise RuntimeError("layout exploded")

    monkeypatch.setattr(services, "prepare_copy", broken)
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [c.id for c in chosen]},
        headers=api_headers(world.rep),
    ).get_json()
    assert (batch["done"], batch["failed"]) == (0, 2)
    assert {d["error"]["code"] for d in batch["deliveries"]} == {"bulk_render_failed"}
    first_ids = sorted(d["delivery_id"] for d in batch["deliveries"])

    monkeypatch.undo()
    again = client.post(
        f"/api/v1/sends/{batch['id']}/retry", headers=api_headers(world.rep)
    ).get_json()
    assert (again["done"], again["failed"]) == (2, 0)
    assert sorted(d["delivery_id"] for d in again["deliveries"]) == first_ids
    assert count(Delivery) == 2


def test_a_customer_the_sender_may_not_see_refuses_the_whole_batch(
    client, world, small, api_headers, make_user
):
    other_rep = make_user("rep")
    mine = customers(world.rep, 2)
    theirs = make_customer(other_rep, name="别人的客户", email="x@example.com")
    answer = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [mine[0].id, theirs.id, mine[1].id]},
        headers=api_headers(world.rep),
    )
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "bulk_customers_not_visible"
    assert str(theirs.id) in error["message"]
    assert count(BulkSend) == count(BulkSendItem) == count(Delivery) == 0
    # marketing sees no customers (customers.services.visible_to): refused the same way
    refused = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [mine[0].id]},
        headers=api_headers(world.marketing),
    )
    assert refused.get_json()["error"]["code"] == "bulk_customers_not_visible"


def test_the_batch_size_is_limited_and_an_empty_batch_refused(
    client, world, small, api_headers, monkeypatch
):
    monkeypatch.setattr(bulk, "MAX_BATCH", 2)
    chosen = customers(world.rep, 3)
    answer = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [c.id for c in chosen]},
        headers=api_headers(world.rep),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "bulk_too_large"
    empty = client.post(
        "/api/v1/sends", json={"template_id": small.id}, headers=api_headers(world.rep)
    )
    assert empty.get_json()["error"]["code"] == "bulk_empty"
    assert count(BulkSend) == count(Delivery) == 0


def test_account_ids_reach_the_accounts_customers_the_sender_may_see(
    client, world, small, api_headers
):
    chosen = customers(world.rep, 2, company="华南电子")
    account_id = chosen[0].account_id
    assert account_id is not None and chosen[1].account_id == account_id
    answer = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "account_ids": [account_id], "customer_ids": [chosen[0].id]},
        headers=api_headers(world.rep),
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert answer.get_json()["total"] == 2


def test_only_the_sender_their_supervisor_and_admins_see_a_batch(
    client, world, small, api_headers, make_user
):
    chosen = customers(world.rep, 1)
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [chosen[0].id]},
        headers=api_headers(world.rep),
    ).get_json()
    url = f"/api/v1/sends/{batch['id']}"
    assert client.get(url, headers=api_headers(world.supervisor)).status_code == 200
    assert client.get(url, headers=api_headers(make_user("admin"))).status_code == 200
    assert client.get(url, headers=api_headers(make_user("rep"))).status_code == 404
    assert client.get(url, headers=api_headers(make_user("supervisor"))).status_code == 404
    retry = client.post(f"{url}/retry", headers=api_headers(make_user("rep")))
    assert retry.status_code == 404


def _sheet(rows) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def test_an_uploaded_list_is_read_from_the_column_its_header_names(world):
    from portal.exchange.reading import SheetLimits

    chosen = customers(world.rep, 2)
    # a row count (序号) beside the e-mails: its numbers are not customers
    listed = bulk.read_list(
        _sheet([["序号", "邮箱"], [1, chosen[0].email.upper()], [2, chosen[1].email]]),
        SheetLimits(),
    )
    assert listed.ids == []
    assert listed.emails == [chosen[0].email.upper(), chosen[1].email]
    assert listed.rows[chosen[1].email] == 3
    by_id = bulk.read_list(f"客户编号\n{chosen[1].id}\n".encode(), SheetLimits())
    assert (by_id.ids, by_id.emails) == ([chosen[1].id], [])
    for headless in (b"1\n2\n3\n", f"{chosen[0].email}\n".encode()):
        with pytest.raises(ValidationFailed) as refused:
            bulk.read_list(headless, SheetLimits())
        assert refused.value.code == "bulk_list_no_header"


def test_an_e_mail_of_several_customers_is_refused_naming_its_row(world, small):
    from portal.exchange.reading import SheetLimits

    make_customer(world.rep, name="甲", email="same@example.com")
    make_customer(world.rep, name="乙", email="Same@example.com")
    listed = bulk.read_list(b"email\nsame@example.com\n", SheetLimits())
    with pytest.raises(ValidationFailed) as refused:
        bulk.resolve(world.rep, emails=["same@example.com"], email_rows=listed.rows)
    assert refused.value.code == "bulk_list_email_ambiguous"
    assert refused.value.params["row"] == 2


def test_without_a_worker_a_batch_is_capped(client, world, small, api_headers, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_MAX", 2)
    chosen = customers(world.rep, 3)
    answer = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [c.id for c in chosen]},
        headers=api_headers(world.rep),
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "bulk_needs_worker"
    assert count(BulkSend) == 0


class Mailbox:
    def __init__(self):
        self.sent: list[str] = []
        self.refuse = False

    def __call__(self, to, subject, text, html=None):
        if self.refuse:
            raise smtplib.SMTPException("relay 10.0.0.9 said no")
        self.sent.append(to)
        return "accepted"


@pytest.fixture
def mailbox(monkeypatch):
    from portal.delivery import email

    box = Mailbox()
    monkeypatch.setattr(email, "send_mail", box)
    return box


def _one_item() -> BulkSendItem:
    return db.session.scalars(select(BulkSendItem)).one()


def test_a_run_cut_off_after_smtp_accepted_does_not_mail_twice(
    client, world, small, api_headers, mailbox, monkeypatch
):
    from portal.delivery import email

    real = email.send_delivery_email
    state = {"cut": True}

    def cut_off(delivery_id):
        real(delivery_id)  # the server accepted it ...
        if state["cut"]:
            raise RuntimeError("work-horse killed")  # ... and the job died before its commit

    monkeypatch.setattr(bulk, "send_delivery_email", cut_off)
    (one,) = customers(world.rep, 1)
    client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [one.id], "send_email": True},
        headers=api_headers(world.rep),
    )
    assert mailbox.sent == [one.email]
    item_id = _one_item().id
    state["cut"] = False
    bulk.send_items([item_id])  # RQ runs the job again
    db.session.expire_all()
    assert mailbox.sent == [one.email]  # no second e-mail
    assert _one_item().status == "done"
    assert count(Delivery) == 1


def test_an_item_claimed_by_another_run_is_left_to_it(client, world, small, api_headers):
    (one,) = customers(world.rep, 1)
    client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [one.id]},
        headers=api_headers(world.rep),
    )
    item = _one_item()
    item.status, item.delivery_id = "queued", None
    db.session.commit()
    assert bulk._claim(item.id) is True  # the first run
    bulk.send_item(item.id)  # a second run of the same item, at the same time
    db.session.expire_all()
    assert _one_item().status == "sending"
    assert count(Delivery) == 1  # the first run's delivery only


def test_an_e_mail_that_failed_fails_the_item_and_its_retry_mails_it(
    client, world, small, api_headers, mailbox
):
    (one,) = customers(world.rep, 1)
    mailbox.refuse = True
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [one.id], "send_email": True},
        headers=api_headers(world.rep),
    ).get_json()
    assert (batch["done"], batch["failed"]) == (0, 1)
    error = batch["deliveries"][0]["error"]
    assert error["code"] == "bulk_email_failed"
    assert "10.0.0.9" not in error["message"] and error["message"] != error["code"]
    mailbox.refuse = False
    again = client.post(
        f"/api/v1/sends/{batch['id']}/retry", headers=api_headers(world.rep)
    ).get_json()
    assert (again["done"], again["failed"]) == (1, 0)
    assert again["deliveries"][0]["email_status"] == "sent"
    assert mailbox.sent == [one.email]


def test_an_outage_is_stored_as_its_code_and_told_by_the_catalogue(
    client, world, small, api_headers, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    from portal.delivery import services

    def down(*_args):
        raise EndpointConnectionError(endpoint_url="http://s3.internal.example:9000/secret")

    monkeypatch.setattr(services, "prepare_delivery", down)
    (one,) = customers(world.rep, 1)
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [one.id]},
        headers=api_headers(world.rep),
    ).get_json()
    error = batch["deliveries"][0]["error"]
    assert error["code"] == "bulk_render_unavailable"
    assert "s3.internal" not in error["message"] and error["message"] != error["code"]
    assert "s3.internal" not in (_one_item().error or "")


def test_items_whose_job_was_lost_are_retried_and_requeued_by_the_tick_once(
    client, world, small, api_headers, monkeypatch
):
    from portal.db_types import utcnow

    chosen = customers(world.rep, 2)
    monkeypatch.setattr(bulk, "_queue", lambda ids: None)  # the jobs are lost
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [c.id for c in chosen]},
        headers=api_headers(world.rep),
    ).get_json()
    assert batch["queued"] == 2
    monkeypatch.undo()
    items = list(db.session.scalars(select(BulkSendItem).order_by(BulkSendItem.id)))
    long_ago = utcnow() - bulk.STALE_AFTER - timedelta(minutes=1)
    items[0].status = "sending"  # its work-horse died mid-send
    for item in items:
        item.updated_at = long_ago
    db.session.commit()
    later = utcnow()
    assert bulk.requeue_stale(later) == 2
    jobs.commit()
    db.session.expire_all()
    assert {i.status for i in db.session.scalars(select(BulkSendItem))} == {"done"}

    # lost again after the tick's re-queue: the tick leaves it, the rep's retry takes it
    item = db.session.scalars(select(BulkSendItem).order_by(BulkSendItem.id)).first()
    item.status, item.error_code, item.updated_at = "queued", bulk.LOST, long_ago
    db.session.commit()
    assert bulk.requeue_stale(utcnow()) == 0
    assert bulk.retry_failed(world.rep, batch["id"]) == 1
    jobs.commit()
    assert (
        client.get(f"/api/v1/sends/{batch['id']}", headers=api_headers(world.rep)).get_json()[
            "done"
        ]
        == 2
    )


def test_a_retry_queues_each_failed_item_once(client, world, small, api_headers, monkeypatch):
    no_mail = make_customer(world.rep, name="无邮箱", email=None)
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [no_mail.id], "send_email": True},
        headers=api_headers(world.rep),
    ).get_json()
    queued = []
    monkeypatch.setattr(bulk, "_queue", queued.extend)
    real = db.session.scalars

    def racing(statement, *args, **kwargs):
        found = list(real(statement, *args, **kwargs))
        # another retry (a double click) queued the item between this one's read and write
        db.session.execute(update(BulkSendItem).values(status="queued"))
        return iter(found)

    monkeypatch.setattr(db.session, "scalars", racing)
    assert bulk.retry_failed(world.rep, batch["id"]) == 0
    assert queued == []  # the other retry's job sends it; this one queues nothing


def test_an_erased_customer_leaves_the_batch_countable(
    client, world, small, api_headers, make_user
):
    from portal.privacy import erasure

    chosen = customers(world.rep, 2)
    batch = client.post(
        "/api/v1/sends",
        json={"template_id": small.id, "customer_ids": [c.id for c in chosen]},
        headers=api_headers(world.rep),
    ).get_json()
    erasure.erase(make_user("admin"), chosen[0].id)
    jobs.commit()
    after = client.get(f"/api/v1/sends/{batch['id']}", headers=api_headers(world.rep)).get_json()
    assert (after["total"], after["done"], after["queued"]) == (1, 1, 0)
    assert bulk.progress(db.session.get(BulkSend, batch["id"])).finished
