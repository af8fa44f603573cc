"""Deal rows: matched by customer (its e-mail) + deal title, created through
portal.deals.services.create_deal (so a new deal starts in Initial contact and needs its
meeting notes: a row without them is an error), updated in amount, currency and expected close
through portal.deals.services.update_deal (like the page and PATCH: new terms reopen the
approvals, the change is in the audit log).

The owner of a deal is its customer's owner (create_deal's rule): an owner e-mail in the row
must be that rep, else the row is refused. Closed deals (won, lost) are not changed.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import visible_to
from portal.deals import scope as deal_scope
from portal.deals import services as deal_services
from portal.deals.evidence import EvidenceInput
from portal.deals.models import Deal
from portal.deals.stages import is_open
from portal.errors import ValidationFailed
from portal.exchange import cells
from portal.exchange.customer_rows import email_cell
from portal.exchange.plans import CREATE, UPDATE, RowCells, RowPlan, failed
from portal.extensions import db

_CHUNK = 500
MAX_NOTES = 20_000


def _amount(value: Any) -> int:
    try:
        return deal_services.parse_amount(cells.amount(value))
    except ValidationFailed as exc:
        raise cells.CellError(_("Not an amount: %(value)s", value=str(value)[:40])) from exc


class DealRows:
    kind = "deals"

    def __init__(self, user: User):
        self.user = user
        self.customers: dict[str, Customer] = {}
        self.deals: dict[tuple[int, str], list[Deal]] = defaultdict(list)
        self.seen: dict[tuple, int] = {}

    def prepare(self, rows: list[RowCells]) -> None:
        emails = sorted(
            {str(r.raw("customer_email")).strip().lower() for r in rows if r.raw("customer_email")}
        )
        for start in range(0, len(emails), _CHUNK):
            query = (
                select(Customer)
                .where(visible_to(self.user), Customer.email.in_(emails[start : start + _CHUNK]))
                .options(selectinload(Customer.owner))
                .order_by(Customer.id)
            )
            for customer in db.session.scalars(query):
                self.customers.setdefault(customer.email, customer)
        ids = sorted({c.id for c in self.customers.values()})
        for start in range(0, len(ids), _CHUNK):
            query = select(Deal).where(
                deal_scope.visible_to(self.user), Deal.customer_id.in_(ids[start : start + _CHUNK])
            )
            for deal in db.session.scalars(query.order_by(Deal.id)):
                self.deals[(deal.customer_id, deal.title.strip().lower())].append(deal)

    def plan(self, row: RowCells) -> RowPlan:
        email = row.read("customer_email", email_cell, "")
        title = row.read("title", lambda v: cells.text(v, 200), "")
        amount = row.read("amount", _amount)
        currency = row.read("currency", cells.currency)
        close = row.read("expected_close", cells.day)
        owner_email = row.read("owner_email", lambda v: cells.text(v, 254).lower(), "")
        notes = row.read("meeting_notes", lambda v: cells.text(v, MAX_NOTES), "")
        plan = RowPlan(row.row, label=title)
        customer = self.customers.get(email) if email else None
        if not email and not row.errors:
            row.error("customer_email", _("Enter the customer's e-mail."))
        elif email and customer is None:
            row.error(
                "customer_email", _("No customer of yours has this e-mail: %(email)s", email=email)
            )
        if not title:
            row.error("title", _("Enter the deal's name."))
        if customer is not None and owner_email and owner_email != customer.owner.email:
            row.error(
                "owner_email",
                _("A deal belongs to its customer's owner, %(email)s.", email=customer.owner.email),
            )
        if row.errors:
            return failed(plan, row)
        plan.label = f"{title} · {customer.name}"
        key = (customer.id, title.lower())
        if key in self.seen:
            row.error(None, _("The same deal as row %(row)d.", row=self.seen[key]))
            return failed(plan, row)
        self.seen[key] = row.row
        matches = self.deals.get(key, [])
        if len(matches) > 1:
            row.error(
                "title", _("%(num)d deals of this customer have this name.", num=len(matches))
            )
            return failed(plan, row)
        if not matches:
            return self._plan_create(plan, row, customer, title, amount, currency, close, notes)
        return self._plan_update(plan, row, matches[0], amount, currency, close)

    def _plan_create(self, plan, row, customer, title, amount, currency, close, notes) -> RowPlan:
        if amount is None and not row.has_error("amount"):
            row.error("amount", _("Enter the amount."))
        if close is None and not row.has_error("expected_close"):
            row.error("expected_close", _("Enter the expected close date."))
        if not notes:
            row.error(
                "meeting_notes",
                _("A new deal starts in Initial contact, which needs meeting notes."),
            )
        if row.errors:
            return failed(plan, row)
        fields = deal_services.DealFields(
            customer_id=customer.id,
            title=title,
            amount=str(Decimal(amount) / 100),
            expected_close=close,
            currency=currency or "CNY",
        )
        plan.action = CREATE
        plan.apply = lambda: deal_services.create_deal(
            self.user, fields, EvidenceInput(stage="", note=notes)
        )
        return plan

    def _plan_update(self, plan, row, deal: Deal, amount, currency, close) -> RowPlan:
        wanted = {"amount_minor": amount, "currency": currency, "expected_close": close}
        changes = {f: v for f, v in wanted.items() if v is not None and getattr(deal, f) != v}
        if not changes:
            return plan
        if not is_open(deal.stage):
            row.error(None, _("This deal is closed; it is not changed by an import."))
            return failed(plan, row)

        # Through the one service that corrects a deal: it checks who may, reopens finance's
        # and legal's decisions on new terms and writes deal.changed with old and new values.
        edit = deal_services.DealEdit(
            amount=None if amount is None else str(Decimal(amount) / 100),
            currency=currency,
            expected_close=close,
        )

        def apply() -> None:
            deal_services.update_deal(self.user, deal, edit)

        plan.action = UPDATE
        plan.changes = sorted("amount" if f == "amount_minor" else f for f in changes)
        plan.apply = apply
        return plan
