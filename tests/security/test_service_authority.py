"""Issue 17, finding 6: who may do what is decided by the services, not by their forms.

Marketing, finance and legal created customers through `POST /api/v1/customers` with an
`owner_email`, which the web form refuses them. Each state-changing service whose role check
only its page or route made now checks its caller itself; these tests call the services
directly (as the API, the CLI, an import or a job would) with every role, and the API where
there is one. An admin (or the owner, where the rule is about the deal) is the control: the
same call goes through, so a refusal is the rule's and not a broken fixture's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.accounts import services as accounts
from portal.accounts.models import ApiToken, User
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.deals import services as deals
from portal.deals.evidence import EvidenceInput, add_evidence
from portal.deals.models import DealEvidence
from portal.engagement import rules
from portal.errors import NotFound, PermissionDenied
from portal.exchange import staging
from portal.extensions import db
from portal.recommendations import keywords
from portal.recommendations.models import KeywordRule
from portal.tasks import packs
from portal.tasks.models import SolutionPack
from portal.webhooks import service as webhooks
from portal.webhooks.models import Webhook
from tests.delivery.helpers import make_customer, make_template

NOT_ADMIN = ("rep", "supervisor", "marketing", "finance", "legal")
NO_CUSTOMERS = ("marketing", "finance", "legal")


@pytest.fixture
def people(make_user) -> dict[str, User]:
    boss = make_user("supervisor", email="boss@example.com", team="华东")
    return {
        "admin": make_user("admin", email="admin@example.com"),
        "supervisor": boss,
        "rep": make_user("rep", email="rep@example.com", supervisor="boss@example.com"),
        "marketing": make_user("marketing", email="mkt@example.com"),
        "finance": make_user("finance", email="fin@example.com"),
        "legal": make_user("legal", email="legal@example.com"),
    }


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


# --- customers: the finding itself ---------------------------------------------------------------


@pytest.mark.parametrize("role", NO_CUSTOMERS)
def test_roles_without_customers_cannot_create_one_through_the_service(people, role):
    before = _count(Customer)
    with pytest.raises(PermissionDenied) as refused:
        create_customer(people[role], CustomerFields(name="偷建客户"), "rep@example.com")
    assert refused.value.code == "no_customers"
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        create_customer(people[role], CustomerFields(name="偷建客户"))
    db.session.rollback()
    assert _count(Customer) == before


@pytest.mark.parametrize("role", NO_CUSTOMERS)
def test_roles_without_customers_cannot_create_one_through_the_api(
    people, role, client, api_headers
):
    before = _count(Customer)
    response = client.post(
        "/api/v1/customers",
        json={"name": "偷建客户", "owner_email": "rep@example.com"},
        headers=api_headers(people[role]),
    )
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "no_customers"
    assert _count(Customer) == before


@pytest.mark.parametrize("role", ["rep", "supervisor", "admin"])
def test_those_who_keep_customers_still_create_them_through_the_api(
    people, role, client, api_headers
):
    body = {"name": f"新客户 {role}"} | (
        {} if role == "rep" else {"owner_email": "rep@example.com"}
    )
    response = client.post("/api/v1/customers", json=body, headers=api_headers(people[role]))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert db.session.get(Customer, response.json["id"]).owner_id == people["rep"].id


def test_an_inactive_rep_is_given_no_customer(people, client, api_headers):
    """The form offers only active reps; the service now says the same to the API."""
    accounts.change_user(people["rep"], by=None, active=False)
    jobs.commit()
    response = client.post(
        "/api/v1/customers",
        json={"name": "给停用账号", "owner_email": "rep@example.com"},
        headers=api_headers(people["admin"]),
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert _count(Customer) == 0


# --- the admin area: every service that changes shared settings ----------------------------------


def _admin_actions(people) -> dict[str, tuple[Callable[[User], object], type]]:
    """Each admin-only service call, and the table a refused call must leave unchanged."""
    template = make_template(people["marketing"], kind="solution", name="行业方案")
    keywords.add_rule("试用", "kind:quote")
    webhook = webhooks.create_webhook("https://hooks.example.com/portal", "customer.grade_changed")
    pack = packs.set_pack("汽车", template.id)
    jobs.commit()
    return {
        "keyword added": (
            lambda by: keywords.add_rule("样品", "kind:brochure", by=by),
            KeywordRule,
        ),
        "keyword removed": (lambda by: keywords.remove_rule("试用", by=by), KeywordRule),
        "webhook created": (
            lambda by: webhooks.create_webhook(
                "https://evil.example.com/x", "customer.grade_changed", by=by
            ),
            Webhook,
        ),
        "webhook removed": (lambda by: webhooks.remove_webhook(webhook.id, by=by), Webhook),
        "pack set": (lambda by: packs.set_pack("医疗", template.id, by=by), SolutionPack),
        "pack removed": (lambda by: packs.remove_pack(pack.id, by=by), SolutionPack),
        "user created": (
            lambda by: accounts.create_user(
                "new@example.com", name="新人", role="admin", password="long-enough-1", by=by
            ),
            User,
        ),
        "scoring defaults": (lambda by: rules.install_defaults(by=by), None),
    }


@pytest.mark.parametrize("role", NOT_ADMIN)
def test_admin_services_refuse_everyone_but_admins(people, role):
    for name, (action, table) in _admin_actions(people).items():
        before = _count(table) if table is not None else None
        with pytest.raises(PermissionDenied):
            action(people[role])
            pytest.fail(f"{name}: {role} was not refused")
        db.session.rollback()
        if table is not None:
            assert _count(table) == before, name


def test_admin_services_let_an_admin_through(people):
    for action, _table in _admin_actions(people).values():
        action(people["admin"])
        jobs.commit()
    db.session.expire_all()
    assert {r.keyword for r in db.session.scalars(select(KeywordRule))} >= {"样品"}
    assert db.session.scalar(select(KeywordRule).where(KeywordRule.keyword == "试用")) is None
    assert [w.url for w in db.session.scalars(select(Webhook))] == ["https://evil.example.com/x"]
    assert [p.industry for p in db.session.scalars(select(SolutionPack))] == ["医疗"]
    assert db.session.scalar(select(User).where(User.email == "new@example.com")) is not None


@pytest.mark.parametrize("role", NOT_ADMIN)
def test_nobody_but_an_admin_changes_an_account(people, role):
    target = people["rep"] if role != "rep" else people["legal"]
    with pytest.raises(PermissionDenied):
        accounts.change_user(target, by=people[role], role="admin")
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # not even their own role
        accounts.change_user(people[role], by=people[role], role="admin")
    db.session.rollback()
    db.session.expire_all()
    assert people[role].role == role and target.role != "admin"
    with pytest.raises(PermissionDenied):
        rules.update_rule("doc_opened", by=people[role], points=500)
    db.session.rollback()


@pytest.mark.parametrize("role", NOT_ADMIN)
def test_an_api_token_is_made_for_oneself_or_by_an_admin(people, role):
    other = people["admin"]
    with pytest.raises(PermissionDenied):
        accounts.issue_api_token(other, name="stolen", by=people[role])
    db.session.rollback()
    assert _count(ApiToken) == 0
    assert accounts.issue_api_token(people[role], name="mine", by=people[role])
    assert accounts.issue_api_token(people[role], name="from admin", by=people["admin"])
    jobs.commit()
    assert _count(ApiToken) == 2


# --- deals and imports ---------------------------------------------------------------------------


def test_evidence_is_added_only_by_who_may_work_the_deal(people, make_user):
    """The routes checked `require_work` before calling add_evidence; now the service does."""
    customer = make_customer(people["rep"])
    deal = deals.create_deal(
        people["rep"],
        deals.DealFields(
            customer_id=customer.id, title="MES", amount="100000", expected_close=date(2027, 1, 1)
        ),
        EvidenceInput(stage="initial_contact", note="纪要"),
    )
    jobs.commit()
    stranger = make_user("rep", email="stranger@example.com")
    before = _count(DealEvidence)
    for role in ("finance", "legal", "marketing"):
        with pytest.raises(PermissionDenied):
            add_evidence(deal, people[role], EvidenceInput(stage="needs_confirmed", note="假"))
        db.session.rollback()
    with pytest.raises(PermissionDenied):
        add_evidence(deal, stranger, EvidenceInput(stage="needs_confirmed", note="假"))
    db.session.rollback()
    assert _count(DealEvidence) == before
    for user in (people["rep"], people["supervisor"], people["admin"]):
        add_evidence(deal, user, EvidenceInput(stage="needs_confirmed", note="真"))
    jobs.commit()
    assert _count(DealEvidence) == before + 3


@pytest.mark.parametrize("role", NO_CUSTOMERS)
def test_an_import_cannot_be_staged_by_roles_without_customers(people, role, app):
    with app.test_request_context("/"), pytest.raises(PermissionDenied):
        staging.stage(people[role], "customers", b"name\nx\n")


@pytest.mark.parametrize("role", NO_CUSTOMERS)
def test_deals_are_not_created_for_customers_outside_the_callers_scope(people, role):
    """create_deal's scope check (the customer must be the caller's) already lived in the
    service: finance, legal and marketing see no customer, so the deal is not found."""
    customer = make_customer(people["rep"])
    with pytest.raises(NotFound):
        deals.create_deal(
            people[role],
            deals.DealFields(
                customer_id=customer.id, title="x", amount="1", expected_close=date(2027, 1, 1)
            ),
            EvidenceInput(stage="initial_contact", note="纪要"),
        )
