"""Erasing one person (issue 18): nothing that names them stays in any table, stored file or
node cache; their links answer 410; other customers' scores do not move; the audit log says who
erased which id, and when."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal import jobs
from portal.audit.models import AuditEntry
from portal.customers.models import Customer
from portal.delivery import served_files
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.library.storage import get_storage
from portal.privacy import erasure as erasure_service
from portal.privacy.models import Erasure
from portal.tracking.models import Event, ViewSession
from portal.webhooks.models import WebhookDelivery
from tests.delivery.helpers import make_customer
from tests.privacy.person import EMAIL, NAME, PHONE, path_of
from tests.s3_support import s3_app_config


def personal_rows() -> list[str]:
    """Every text or JSON value of every table (found by reflection) that holds the person's
    name, e-mail or phone, as "table.column"."""
    metadata = sa.MetaData()
    metadata.reflect(bind=db.engine)
    found = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(table.select()).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, int | float | bool):
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    decoded = text
                    if isinstance(value, str) and value[:1] in "[{":
                        # JSON stored as text (SQLite): compare its decoded form
                        with contextlib.suppress(ValueError):
                            decoded = json.dumps(json.loads(value), ensure_ascii=False)
                    elif not isinstance(value, str):
                        decoded = json.dumps(value, ensure_ascii=False, default=str)
                    if any(w in text or w in decoded for w in (NAME, EMAIL, PHONE)):
                        found.append(f"{table.name}.{column}")
    return found


def files_naming_person(root: Path) -> list[str]:
    hits = []
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if any(w.encode() in data for w in (NAME, EMAIL, PHONE)):
                    hits.append(str(path))
    return hits


def test_erasure_leaves_nothing_that_names_the_person(app, client, api_headers, people):
    check_erasure(app, client, api_headers, people)


class TestOnS3:
    """The same on S3 storage: the objects go from the bucket and from the node's cache."""

    @pytest.fixture
    def app_config(self, app_config, s3_env):
        with s3_app_config(app_config, s3_env) as config:
            yield config

    def test_erasure_leaves_nothing_that_names_the_person(self, app, client, api_headers, people):
        check_erasure(app, client, api_headers, people, node_cached=True)


def stored_objects_naming_person() -> list[str]:
    storage = get_storage()
    return [
        key
        for key in storage.list("")
        if any(w.encode() in storage.get(key) for w in (NAME, EMAIL, PHONE))
    ]


def anonymous_counts_of(customer_id: int) -> dict:
    """Opens, events per type and points per rule, counted straight from the tables."""
    events = db.session.execute(
        select(Event.type, sa.func.count())
        .where(Event.customer_id == customer_id)
        .group_by(Event.type)
    ).all()
    points = db.session.execute(
        select(ScoreEntry.rule_key, sa.func.sum(ScoreEntry.points))
        .where(ScoreEntry.customer_id == customer_id)
        .group_by(ScoreEntry.rule_key)
    ).all()
    opens = db.session.scalar(
        select(sa.func.count()).where(
            ViewSession.customer_id == customer_id, ViewSession.confirmed_at.is_not(None)
        )
    )
    return {
        "opens": opens,
        "events": {kind: int(n) for kind, n in events},
        "points": {rule: int(p) for rule, p in points},
    }


def check_erasure(app, client, api_headers, people, node_cached: bool = False) -> None:
    admin, _rep, person, other, sent = people
    person_id, other_id = person.id, other.id
    copy = served_files.resolve(path_of(sent.url).split("/")[2])
    pdf_key, page_key = copy.pdf_key(), copy.page_key(1)
    storage = get_storage()
    assert storage.exists(pdf_key) and storage.exists(page_key)  # a personalised render exists
    cache = Path(app.instance_path) / "render-cache"
    if node_cached:  # S3: this node's disk holds copies of them too
        assert (cache / pdf_key).is_file() and (cache / page_key).is_file()
    assert personal_rows()  # the check sees the person before erasure
    # their download, stamped with their name (a quote is watermarked): kept under the delivery
    stamped = storage.list(f"watermarks/{sent.delivery.id}/")
    others_stamped = storage.list("watermarks/")
    assert stamped and set(stamped) < set(others_stamped)
    other_ledger = sorted(
        (e.rule_key, e.points, e.scope)
        for e in db.session.scalars(select(ScoreEntry).where(ScoreEntry.customer_id == other_id))
    )
    other_score = other.score
    assert other_ledger and other_score > 0

    before = anonymous_counts_of(person_id)
    assert before["opens"] >= 1 and before["points"]
    headers = api_headers(admin)
    response = client.post(f"/api/v1/customers/{person_id}/erase", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"erased": True}

    assert client.get(f"/api/v1/customers/{person_id}", headers=headers).status_code == 404
    assert personal_rows() == []
    assert db.session.scalar(select(sa.func.count()).select_from(WebhookDelivery)) == 0
    assert not storage.exists(pdf_key) and not storage.exists(page_key)
    assert storage.list(f"watermarks/{sent.delivery.id}/") == []
    assert storage.list("watermarks/") == sorted(set(others_stamped) - set(stamped))
    for key in stamped:
        assert not (cache / key).exists()
    assert files_naming_person(Path(app.config["STORAGE_LOCAL_PATH"])) == []
    assert stored_objects_naming_person() == []
    for key in (pdf_key, page_key):  # nor in this node's cache (S3)
        assert not (cache / key).exists()
    assert files_naming_person(Path(app.instance_path)) == []
    for url in (
        path_of(sent.url),
        path_of(sent.url) + "/pages/1.png",
        path_of(sent.url) + "/download",
        path_of(sent.portal_url),
    ):
        assert client.get(url).status_code == 410, url

    db.session.expire_all()
    after = db.session.get(Customer, other_id)
    assert after.score == other_score
    assert (
        sorted(
            (e.rule_key, e.points, e.scope)
            for e in db.session.scalars(
                select(ScoreEntry).where(ScoreEntry.customer_id == other_id)
            )
        )
        == other_ledger
    )
    totals = erasure_service.anonymous_totals()
    assert totals["deliveries"] == 1 and totals["opens"] == before["opens"]
    assert totals["events"] == before["events"] and totals["points"] == before["points"]
    erasure = db.session.scalar(select(Erasure).where(Erasure.customer_id == person_id))
    assert erasure.erased_by_id == admin.id
    assert erasure.counts["deliveries"] == 1 and erasure.counts["opens"] >= 1
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "customer.erased"))
    assert (entry.actor_id, entry.object_id) == (admin.id, str(person_id))


def test_only_an_admin_may_erase(client, api_headers, people):
    _admin, rep, person, _other, _sent = people
    response = client.post(f"/api/v1/customers/{person.id}/erase", headers=api_headers(rep))
    assert response.status_code == 403
    assert db.session.get(Customer, person.id) is not None


def test_cli_erases_by_email_only_with_yes(app, runner, people):
    _admin, _rep, person, _other, _sent = people
    person_id = person.id
    refused = runner.invoke(args=["privacy", "erase", EMAIL])
    assert refused.exit_code != 0
    db.session.expire_all()
    assert db.session.get(Customer, person_id) is not None
    result = runner.invoke(args=["privacy", "erase", EMAIL, "--yes"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Customer, person_id) is None
    assert personal_rows() == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "customer.erased"))
    assert entry.actor_id is None and entry.object_id == str(person_id)
    jobs.commit()


def test_the_page_asks_for_confirmation_before_erasing(client, login, people):
    admin, rep, person, _other, _sent = people
    person_id = person.id
    login(rep)
    page = client.get(f"/customers/{person_id}")
    assert f"/customers/{person_id}/erase" not in page.get_data(as_text=True)  # admins only
    assert client.post(f"/customers/{person_id}/erase", data={"confirm": "y"}).status_code == 403
    client.post("/logout")

    login(admin)
    page = client.get(f"/customers/{person_id}", headers={"Accept-Language": "en"})
    assert f"/customers/{person_id}/erase" in page.get_data(as_text=True)
    asked = client.get(f"/customers/{person_id}/erase", headers={"Accept-Language": "en"})
    assert asked.status_code == 200 and "cannot be undone" in asked.get_data(as_text=True)
    unconfirmed = client.post(f"/customers/{person_id}/erase", data={})
    assert unconfirmed.status_code == 422
    db.session.expire_all()
    assert db.session.get(Customer, person_id) is not None
    done = client.post(f"/customers/{person_id}/erase", data={"confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, person_id) is None
    assert client.get(f"/customers/{person_id}").status_code == 404


def test_cli_never_guesses_between_customers_sharing_an_email(runner, people):
    _admin, rep, person, _other, _sent = people
    twin = make_customer(rep, name="欧阳另一位", email=EMAIL.upper())
    result = runner.invoke(args=["privacy", "erase", EMAIL, "--yes"])
    assert result.exit_code != 0 and "2 customers" in result.output
    db.session.expire_all()
    assert db.session.get(Customer, person.id) is not None
    assert db.session.get(Customer, twin.id) is not None
