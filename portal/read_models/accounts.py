"""What staff see of accounts: the list, one account's buying committee, and the customer list
grouped by account.

Scoped exactly like customers: an account is visible to whoever may see at least one of its
contacts (portal.customers.services.visible_to), and everything shown of it (contacts, reading,
engagement, deals) is computed from the contacts that person may see, never the others. Another
team's account is a NotFound, like one that does not exist.

One account's page costs a constant number of queries whatever its size: the contacts, their
deliveries with templates, the read-time statistics (portal.tracking.readtime), the last
activity per contact and the open deals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.companies.models import Account
from portal.companies.names import name_key
from portal.customers.models import Customer
from portal.customers.services import visible_to as customer_visible_to
from portal.deals import scope as deal_scope
from portal.deals.models import Deal
from portal.deals.stages import OPEN_STAGES
from portal.delivery.models import Delivery
from portal.engagement.facts import UNSCORED_TYPES
from portal.engagement.grades import grade_for
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.tracking.models import Event
from portal.tracking.readtime import DeliveryStats, delivery_stats

MAX_PER_PAGE = 200
MAX_PAGE = 10_000


def visible_to(user: User) -> ColumnElement[bool]:
    """Accounts with at least one contact user may see."""
    contacts = select(Customer.account_id).where(
        customer_visible_to(user), Customer.account_id.is_not(None)
    )
    return Account.id.in_(contacts)


def get_account(user: User, account_id: int) -> Account:
    account = db.session.scalar(select(Account).where(Account.id == account_id, visible_to(user)))
    if account is None:
        raise NotFound("account not found")
    return account


def _last_activity(customer_ids: Iterable[int]) -> dict[int, datetime]:
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(Event.customer_id, func.max(Event.occurred_at))
        .where(Event.customer_id.in_(ids), Event.type.not_in(UNSCORED_TYPES))
        .group_by(Event.customer_id)
    )
    return {row[0]: row[1] for row in rows}


# --- engagement ------------------------------------------------------------------------------


@dataclass
class Engagement:
    """An account's figures over the contacts the viewer may see."""

    contacts: int = 0
    score_sum: int = 0
    score_max: int = 0
    last_activity_at: datetime | None = None
    read_seconds: int = 0
    opens: int = 0

    @property
    def grade(self) -> str:
        """The grade of the account's most engaged contact."""
        return grade_for(self.score_max)


# --- the list --------------------------------------------------------------------------------


@dataclass
class AccountRow:
    account: Account
    engagement: Engagement


@dataclass
class AccountList:
    items: list[AccountRow]
    page: int
    per_page: int
    total: int


def _whole(name: str, value: object, default: int, top: int) -> int:
    if value in (None, ""):
        return default
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= top:
        raise ValidationFailed(
            f"{name} must be a whole number from 1 to {top}",
            code="number_out_of_range",
            field=name,
            low=1,
            high=top,
        )
    return int(text)


def list_accounts(user: User, args: Mapping[str, str]) -> AccountList:
    """The accounts user may see, the most recently active first, one page of them
    (`page`, `per_page`, and `q` to search the name)."""
    page = _whole("page", args.get("page"), 1, MAX_PAGE)
    per_page = _whole("per_page", args.get("per_page"), 50, MAX_PER_PAGE)
    visible = customer_visible_to(user)
    last_event = (
        select(Event.customer_id, func.max(Event.occurred_at).label("at"))
        .where(
            Event.customer_id.in_(select(Customer.id).where(visible)),
            Event.type.not_in(UNSCORED_TYPES),
        )
        .group_by(Event.customer_id)
        .subquery()
    )
    last_at = func.max(last_event.c.at)
    query = (
        select(
            Account,
            func.count(Customer.id),
            func.coalesce(func.sum(Customer.score), 0),
            func.coalesce(func.max(Customer.score), 0),
            last_at,
        )
        .join(Customer, Customer.account_id == Account.id)
        .outerjoin(last_event, last_event.c.customer_id == Customer.id)
        .where(visible)
        .group_by(Account.id)
    )
    text = name_key(args.get("q"))
    if text:
        query = query.where(Account.name_key.contains(text, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.order_by(last_at.desc().nulls_last(), Account.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    items = [
        AccountRow(account, Engagement(int(n), int(total_score), int(top), at))
        for account, n, total_score, top, at in rows
    ]
    return AccountList(items, page, per_page, total)


# --- one account's page ----------------------------------------------------------------------


@dataclass
class DocumentRead:
    """One material sent to a contact, and how it was read."""

    delivery: Delivery
    stats: DeliveryStats

    @property
    def name(self) -> str:
        return self.delivery.template.name


@dataclass
class ContactView:
    customer: Customer
    documents: list[DocumentRead] = field(default_factory=list)
    last_activity_at: datetime | None = None

    @property
    def read_seconds(self) -> int:
        return sum(d.stats.read_seconds for d in self.documents)

    @property
    def opens(self) -> int:
        return sum(d.stats.opens for d in self.documents)

    @property
    def last_seen_at(self) -> datetime | None:
        seen = [d.stats.last_seen_at for d in self.documents if d.stats.last_seen_at]
        return max(seen) if seen else None


@dataclass
class AccountPage:
    account: Account
    contacts: list[ContactView]
    deals: list[Deal]
    engagement: Engagement


def _documents(customer_ids: list[int]) -> dict[int, list[DocumentRead]]:
    deliveries = list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.customer_id.in_(customer_ids))
            .options(selectinload(Delivery.template))
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        )
    )
    stats = delivery_stats(d.id for d in deliveries)
    found: dict[int, list[DocumentRead]] = defaultdict(list)
    for delivery in deliveries:
        found[delivery.customer_id].append(DocumentRead(delivery, stats[delivery.id]))
    for documents in found.values():  # the latest read first, then the unread, newest sent
        documents.sort(
            key=lambda d: (
                d.stats.last_seen_at is not None,
                d.stats.last_seen_at or d.delivery.created_at,
            ),
            reverse=True,
        )
    return found


def open_deals(user: User, customer_ids: list[int]) -> list[Deal]:
    """The open deals of these contacts that user may see, closing soonest first."""
    if not customer_ids:
        return []
    return list(
        db.session.scalars(
            select(Deal)
            .where(
                Deal.customer_id.in_(customer_ids),
                Deal.stage.in_(OPEN_STAGES),
                deal_scope.visible_to(user),
            )
            .options(selectinload(Deal.owner), selectinload(Deal.customer))
            .order_by(Deal.expected_close, Deal.id)
        )
    )


def account_page(user: User, account_id: int) -> AccountPage:
    """The buying committee of an account as user may see it; NotFound outside their scope."""
    account = get_account(user, account_id)
    customers = list(
        db.session.scalars(
            select(Customer)
            .where(Customer.account_id == account.id, customer_visible_to(user))
            .options(selectinload(Customer.owner))
            .order_by(Customer.score.desc(), Customer.name, Customer.id)
        )
    )
    ids = [c.id for c in customers]
    documents = _documents(ids)
    last = _last_activity(ids)
    contacts = [ContactView(c, documents.get(c.id, []), last.get(c.id)) for c in customers]
    activity = [c.last_activity_at for c in contacts if c.last_activity_at]
    engagement = Engagement(
        contacts=len(contacts),
        score_sum=sum(c.score for c in customers),
        score_max=max((c.score for c in customers), default=0),
        last_activity_at=max(activity) if activity else None,
        read_seconds=sum(c.read_seconds for c in contacts),
        opens=sum(c.opens for c in contacts),
    )
    return AccountPage(account, contacts, open_deals(user, ids), engagement)


# --- the customer list, grouped --------------------------------------------------------------


@dataclass
class AccountGroup:
    """Rows of the customer list that share an account (account None: no company)."""

    account: Account | None
    rows: list = field(default_factory=list)  # portal.read_models.overview.CustomerRow

    @property
    def score_sum(self) -> int:
        return sum(row.customer.score for row in self.rows)


def group_by_account(rows: list) -> list[AccountGroup]:
    """The list's rows by account, in the order of each account's most active contact (the
    rows come most active first); contacts without a company last."""
    groups: dict[int, AccountGroup] = {}
    loose = AccountGroup(None)
    for row in rows:
        account = row.customer.account
        if account is None:
            loose.rows.append(row)
        else:
            groups.setdefault(account.id, AccountGroup(account)).rows.append(row)
    return [*groups.values(), *([loose] if loose.rows else [])]
