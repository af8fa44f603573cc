"""Creating customers and finding the ones a staff member may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from portal.accounts.models import Role, User
from portal.accounts.services import get_user_by_email, normalize_email
from portal.companies.matching import assign_account
from portal.companies.models import Account
from portal.customers.models import Customer
from portal.customers.ownership import may_have_customers
from portal.db_types import check_text_lengths
from portal.engagement import ledger
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db


@dataclass
class CustomerFields:
    name: str
    company: str = ""
    title: str = ""
    email: str | None = None
    phone: str | None = None
    industry: str | None = None
    region: str | None = None


def visible_to(user: User) -> ColumnElement[bool]:
    """A rep sees their own customers, a supervisor their reps' too, an admin all."""
    if user.role == Role.ADMIN:
        return Customer.id.is_not(None)
    if user.role == Role.SUPERVISOR:
        team = select(User.id).where(User.supervisor_id == user.id)
        return Customer.owner_id.in_(team) | (Customer.owner_id == user.id)
    if user.role == Role.REP:
        return Customer.owner_id == user.id
    return Customer.id.is_(None)  # marketing keeps the library, not customers


def create_customer(
    creator: User,
    fields: CustomerFields,
    owner_email: str | None = None,
    *,
    account: Account | None = None,
) -> Customer:
    """A new customer owned by a rep: the creator (a rep), one of the creator's reps (a
    supervisor) or any active rep (an admin); the same rules for the form, the API and an
    import (portal.customers.ownership.assignable_owners lists the same reps).

    Its account is the one its company name gives in the owner's team
    (portal.companies.matching); `account` puts it in that account instead (a contact added to
    a known account: portal.companies.contacts.add_contact)."""
    if not may_have_customers(creator):
        raise PermissionDenied(
            "only reps, supervisors and admins create customers", code="no_customers"
        )
    name = fields.name.strip()
    if not name:
        raise ValidationFailed("name is required", code="name_required", field="name")
    owner = creator
    if owner_email:
        owner = get_user_by_email(owner_email)
        if owner is None or owner.role != Role.REP or not owner.active:
            raise ValidationFailed(
                f"owner_email {owner_email!r} is not a rep",
                code="owner_not_a_rep",
                field="owner_email",
            )
        if creator.role == Role.REP and owner.id != creator.id:
            raise ValidationFailed(
                "a rep can only create customers they own",
                code="owner_not_self",
                field="owner_email",
            )
        if creator.role == Role.SUPERVISOR and owner.supervisor_id != creator.id:
            raise ValidationFailed(
                "a supervisor can only assign customers to their own reps",
                code="owner_not_your_rep",
                field="owner_email",
            )
    elif creator.role not in (Role.REP,):
        raise ValidationFailed(
            "owner_email is required: customers are owned by a rep",
            code="owner_email_required",
            field="owner_email",
        )
    customer = Customer(
        name=name,
        company=fields.company.strip(),
        title=fields.title.strip(),
        email=normalize_email(fields.email) if fields.email else None,
        phone=(fields.phone or "").strip() or None,
        industry=(fields.industry or "").strip() or None,
        region=(fields.region or "").strip() or None,
        owner=owner,
    )
    check_text_lengths(customer)  # every entry point (API, form, import) comes through here
    db.session.add(customer)
    if account is not None:
        customer.account = account
        db.session.flush()
    else:
        assign_account(customer)  # flushes
    return customer


def customer_changed(customer: Customer, changed: set[str]) -> None:
    """Call after changing a customer's fields: a new company name or owner (team) may mean
    another account."""
    if {"company", "owner", "owner_id"} & changed:
        assign_account(customer)


def get_customer(user: User, customer_id: int) -> Customer:
    customer = db.session.scalar(
        select(Customer).where(Customer.id == customer_id, visible_to(user))
    )
    if customer is None:
        raise NotFound("customer not found")
    return customer


def score_breakdown(customer: Customer) -> list[dict]:
    """The ledger rows behind customer.score, newest first:
    [{"rule", "points", "event_id", "at", "rule_version"}] (portal.engagement.ledger)."""
    return ledger.breakdown(customer.id)
