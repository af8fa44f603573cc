"""Issue 12, item 7: bulk sends, with jobs inline (the RQ run is tests/delivery/test_bulk_rq.py)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from portal.delivery import bulk
from portal.delivery.models import BulkSend, BulkSendItem, Delivery
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

    monkeypatch.setattr(services, "render_version_pdf", broken)
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


def test_an_uploaded_list_of_e_mails_and_ids_is_read_from_its_first_column(world):
    import openpyxl

    chosen = customers(world.rep, 2)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["邮箱"])
    sheet.append([chosen[0].email.upper()])
    sheet.append([chosen[1].id])
    data = io.BytesIO()
    book.save(data)
    from portal.exchange.reading import SheetLimits

    ids, emails = bulk.read_list(data.getvalue(), SheetLimits())
    assert ids == [chosen[1].id]
    assert emails == [chosen[0].email.upper()]
    csv_ids, csv_emails = bulk.read_list(f"{chosen[0].email}\n".encode(), SheetLimits())
    assert (csv_ids, csv_emails) == ([], [chosen[0].email])
