"""Issue 12, item 7: bulk sends on the staff pages (jobs inline): the customer list's choice,
the send form, an uploaded list, the progress page, its JSON and the retry."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.delivery.models import BulkSend, Delivery
from portal.extensions import db
from tests.delivery.helpers import make_customer, make_template

HTML = "<!doctype html><meta charset='utf-8'><h1>{{ customer.name }}</h1>"


@pytest.fixture
def small(world):
    return make_template(world.marketing, name="简介", kind="brochure", html=HTML, content_tags="")


def test_the_customer_list_offers_checkboxes_and_all_matching(client, login, world):
    make_customer(world.rep, name="李娜", email="li@example.com")
    login(world.rep)
    page = client.get("/customers/?q=李").get_data(as_text=True)
    assert 'id="bulk-form"' in page
    assert page.count('name="customer_id"') == 1
    assert 'data-bulk-all="1"' in page and 'name="q" value="李"' in page


def test_chosen_customers_are_sent_and_the_progress_page_and_json_follow(
    client, login, world, small
):
    other = make_customer(world.rep, name="李娜", email="li@example.com")
    login(world.rep)
    form = client.get(
        f"/customers/bulk/new?customer_id={world.customer.id}&customer_id={other.id}"
    ).get_data(as_text=True)
    assert 'data-chosen="2"' in form
    sent = client.post(
        "/customers/bulk/new",
        data={"customer_id": [world.customer.id, other.id], "template_id": small.id},
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "data-bulk-progress" in page and 'data-done="2"' in page
    batch_id = db.session.scalar(select(BulkSend.id))
    progress = client.get(f"/customers/bulk/{batch_id}/progress.json").get_json()
    assert progress == {
        "total": 2,
        "done": 2,
        "failed": 0,
        "finished": True,
        "retry": False,
        "failures": [],
    }


def test_all_matching_and_an_uploaded_list(client, login, world, small):
    make_customer(world.rep, name="李娜", email="li@example.com")
    make_customer(world.rep, name="李强", email="qiang@example.com")
    login(world.rep)
    sent = client.post("/customers/bulk/new", data={"all": "1", "q": "李", "template_id": small.id})
    assert sent.status_code == 302
    assert db.session.scalar(select(BulkSend.total)) == 2

    listed = io.BytesIO("序号,邮箱\n1,li@example.com\n2,QIANG@example.com\n".encode())
    confirm = client.post(
        "/customers/bulk/new",
        data={"template_id": small.id, "file": (listed, "list.csv"), "send_email": "y"},
        content_type="multipart/form-data",
    )
    # the list's customers are shown, named, before anything is made
    assert confirm.status_code == 200, confirm.get_data(as_text=True)
    page = confirm.get_data(as_text=True)
    assert 'data-matched="2"' in page and "李娜" in page and "李强" in page
    assert db.session.scalar(select(func.count()).select_from(BulkSend)) == 1
    chosen = re.findall(r'name="customer_id" value="(\d+)"', page)
    assert 'name="send_email" value="y"' in page and f'value="{small.id}"' in page
    sent = client.post(
        "/customers/bulk/new",
        data={"template_id": small.id, "customer_id": chosen, "send_email": "y"},
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(BulkSend)) == 2
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 4


def test_a_list_without_a_header_row_is_refused(client, login, world, small):
    login(world.rep)
    page = client.post(
        "/customers/bulk/new",
        # a bare number column: on main it was taken as customer #N, and sent to
        data={
            "template_id": small.id,
            "file": (io.BytesIO(f"{world.customer.id}\n".encode()), "list.csv"),
        },
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert "名单需要一行表头" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(BulkSend)) == 0


def test_items_whose_job_was_lost_offer_the_retry(client, login, world, small, monkeypatch):
    from portal.db_types import utcnow
    from portal.delivery import bulk
    from portal.delivery.models import BulkSendItem

    login(world.rep)
    monkeypatch.setattr(bulk, "_queue", lambda ids: None)  # the job is lost
    client.post(
        "/customers/bulk/new", data={"customer_id": [world.customer.id], "template_id": small.id}
    )
    batch_id = db.session.scalar(select(BulkSend.id))
    progress = client.get(f"/customers/bulk/{batch_id}/progress.json").get_json()
    assert (progress["finished"], progress["retry"]) == (False, False)
    item = db.session.scalars(select(BulkSendItem)).one()
    item.updated_at = utcnow() - bulk.STALE_AFTER - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"/customers/bulk/{batch_id}").get_data(as_text=True)
    assert "data-retry data-once>" in page  # shown, guarded against a double click
    monkeypatch.undo()
    assert client.post(f"/customers/bulk/{batch_id}/retry").status_code == 302
    assert client.get(f"/customers/bulk/{batch_id}/progress.json").get_json()["done"] == 1


def test_a_refused_batch_says_why_and_creates_nothing(client, login, world, small, make_user):
    theirs = make_customer(make_user("rep"), name="别人的客户", email="x@example.com")
    login(world.rep)
    page = client.post(
        "/customers/bulk/new",
        data={"customer_id": [world.customer.id, theirs.id], "template_id": small.id},
    )
    assert page.status_code == 422
    assert str(theirs.id) in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(BulkSend)) == 0


def test_failures_are_listed_and_retried_and_others_see_nothing(
    client, login, world, small, make_user
):
    no_mail = make_customer(world.rep, name="无邮箱", email=None)
    login(world.rep)
    client.post(
        "/customers/bulk/new",
        data={"customer_id": [no_mail.id], "template_id": small.id, "send_email": "y"},
    )
    batch_id = db.session.scalar(select(BulkSend.id))
    progress = client.get(f"/customers/bulk/{batch_id}/progress.json").get_json()
    assert progress["failed"] == 1 and progress["failures"][0]["customer"] == "无邮箱"
    assert progress["failures"][0]["reason"]  # the catalogue's sentence, not the code
    assert "customer_has_no_email" not in client.get(f"/customers/bulk/{batch_id}").get_data(
        as_text=True
    )
    no_mail.email = "found@example.com"
    db.session.commit()
    assert client.post(f"/customers/bulk/{batch_id}/retry").status_code == 302
    assert client.get(f"/customers/bulk/{batch_id}/progress.json").get_json()["done"] == 1

    client.post("/logout")
    login(make_user("rep"))
    assert client.get(f"/customers/bulk/{batch_id}").status_code == 404
    assert client.get(f"/customers/bulk/{batch_id}/progress.json").status_code == 404
