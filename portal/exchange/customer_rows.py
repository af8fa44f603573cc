"""Customer rows: the natural key, what a row would change, and writing it.

Key: the e-mail when the row has one (falling back to name + company among customers without
an e-mail, so adding an e-mail to a known customer updates it); else name + company
(case-insensitive). Only customers the importer may see are matched. An empty cell leaves the
field as it is (a sheet with fewer columns wipes nothing). New customers go through
portal.customers.services.create_customer, which holds the ownership rules; owners are
checked up front against portal.customers.ownership.assignable_owners (a rep: themself; a
supervisor: their reps; an admin: any active rep). Accounts are filled by the same service:
a new customer's company, or an updated company or owner, puts the contact in its account
(portal.companies.matching, by normalised company name within the owner's team).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.accounts.services import normalize_email
from portal.customers.models import Customer
from portal.customers.ownership import assignable_owners
from portal.customers.services import (
    CustomerFields,
    create_customer,
    customer_changed,
    visible_to,
)
from portal.errors import ValidationFailed
from portal.exchange import cells
from portal.exchange.plans import CREATE, UPDATE, RowCells, RowPlan, failed
from portal.extensions import db

TEXT_FIELDS = {
    "name": 120,
    "company": 200,
    "title": 120,
    "phone": 40,
    "industry": 80,
    "region": 80,
}
_CHUNK = 500


def email_cell(value: Any) -> str:
    raw = cells.text(value, 254)
    try:
        return normalize_email(raw)
    except ValidationFailed:
        raise cells.CellError(_("Not a valid e-mail address: %(value)s", value=raw[:60])) from None


def _key(name: str, company: str) -> tuple[str, str]:
    return (name.strip().lower(), company.strip().lower())


class CustomerRows:
    kind = "customers"

    def __init__(self, user: User):
        self.user = user
        self.owners = {owner.email: owner for owner in assignable_owners(user)}
        self.by_email: dict[str, Customer] = {}
        self.by_name: dict[tuple[str, str], list[Customer]] = defaultdict(list)
        self.seen: dict[tuple, int] = {}

    def prepare(self, rows: list[RowCells]) -> None:
        """Load, in a few queries, the visible customers any row could match."""
        emails, names = set(), set()
        for row in rows:
            email = row.raw("email")
            if isinstance(email, str):
                emails.add(email.strip().lower())
            name = row.raw("name")
            if name is not None:
                names.add(str(name).strip().lower())
        found: dict[int, Customer] = {}
        for values, column in ((emails, Customer.email), (names, func.lower(Customer.name))):
            ordered = sorted(values)
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                query = select(Customer).where(visible_to(self.user), column.in_(chunk))
                for customer in db.session.scalars(query.order_by(Customer.id)):
                    found[customer.id] = customer
        for customer in found.values():
            if customer.email:
                self.by_email.setdefault(customer.email, customer)
            self.by_name[_key(customer.name, customer.company or "")].append(customer)

    # --- one row -----------------------------------------------------------------------------

    def plan(self, row: RowCells) -> RowPlan:
        values = {
            f: row.read(f, lambda v, n=n: cells.text(v, n), "") for f, n in TEXT_FIELDS.items()
        }
        email = row.read("email", email_cell, "")
        owner = self._owner(row)
        plan = RowPlan(
            row.row, label=" · ".join(v for v in (values["name"], values["company"]) if v)
        )
        customer = self._match(row, values, email)
        if row.errors:
            return failed(plan, row)
        key = (
            ("id", customer.id)
            if customer
            else (("email", email) if email else _key(values["name"], values["company"]))
        )
        if key in self.seen:
            row.error(None, _("The same customer as row %(row)d.", row=self.seen[key]))
            return failed(plan, row)
        self.seen[key] = row.row
        if customer is None:
            return self._plan_create(plan, row, values, email, owner)
        return self._plan_update(plan, customer, values, email, owner)

    def _owner(self, row: RowCells) -> User | None:
        email = row.read("owner_email", lambda v: cells.text(v, 254).lower(), "")
        if not email:
            return None
        owner = self.owners.get(email)
        if owner is None:
            row.error(
                "owner_email",
                _("%(email)s is not a rep you may give customers to.", email=email[:60]),
            )
        return owner

    def _match(self, row: RowCells, values: dict[str, str], email: str) -> Customer | None:
        if email and email in self.by_email:
            return self.by_email[email]
        candidates = self.by_name.get(_key(values["name"], values["company"]), [])
        if email:
            candidates = [c for c in candidates if not c.email]
        if not values["name"] or not candidates:
            return None
        if len(candidates) > 1:
            row.error(
                "name",
                _(
                    "%(num)d customers have this name and company; add their e-mail to tell "
                    "them apart.",
                    num=len(candidates),
                ),
            )
            return None
        return candidates[0]

    def _plan_create(self, plan, row, values, email, owner) -> RowPlan:
        if not values["name"]:
            row.error("name", _("Enter the customer's name."))
        if owner is None and not row.errors and self.user.role != Role.REP:
            row.error("owner_email", _("Enter the owner's e-mail: customers are owned by a rep."))
        if row.errors:
            return failed(plan, row)
        fields = CustomerFields(email=email or None, **values)
        owner_email = owner.email if owner else None
        plan.action = CREATE
        plan.apply = lambda: create_customer(self.user, fields, owner_email)
        return plan

    def _plan_update(self, plan, customer: Customer, values, email, owner) -> RowPlan:
        wanted: dict[str, Any] = {f: v for f, v in values.items() if v}
        if email:
            wanted["email"] = email
        changes = {f: v for f, v in wanted.items() if (getattr(customer, f) or "") != v}
        if owner is not None and owner.id != customer.owner_id:
            changes["owner"] = owner
        plan.label = plan.label or customer.name
        if not changes:
            return plan

        def apply() -> None:
            for name, value in changes.items():
                setattr(customer, name, value)
            customer_changed(customer, set(changes))  # a new company or team: its account

        plan.action = UPDATE
        plan.changes = sorted(changes)
        plan.apply = apply
        return plan
