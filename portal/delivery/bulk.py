"""Bulk sends: one material to many customers at once, each through the one-customer send.

A batch is checked whole before anything is written: the template (the sender may send it),
the options (as `services.check_options` checks them for one send), the size (at most
MAX_BATCH customers once duplicates are collapsed) and the customers, every one of which the
sender must be able to see (`customers.services.visible_to`). A customer outside the sender's
scope refuses the whole batch with the list of such customers: nothing is created, and the rep
removes them and sends again (a batch that skipped them would report success to someone who
believed they reached everyone).

Then one BulkSendItem per customer, and a job per CHUNK of them (`portal.jobs`: RQ with Redis,
inline without). For each of its customers the job calls `services.send`, so every rule of a
single send holds, renders the customer's copy and, when the batch asks for e-mail, mails it as
soon as it is rendered, then commits. An item that fails keeps its reason (the error's code)
and is sent again by `retry_failed`, which reuses the delivery when one was made.

Who may look at a batch, and retry it: its sender, the sender's supervisor, admins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from portal import jobs, outages
from portal.accounts.models import Role, User
from portal.customers.models import Customer
from portal.customers.services import visible_to
from portal.db_types import utcnow
from portal.delivery import services
from portal.delivery.email import send_delivery_email
from portal.delivery.models import (
    BulkItemStatus,
    BulkSend,
    BulkSendItem,
    Delivery,
    EmailStatus,
    RenderStatus,
)
from portal.errors import NotFound, PortalError, ValidationFailed
from portal.exchange.reading import SheetLimits, read_table
from portal.extensions import db
from portal.library import permissions
from portal.library import services as library

log = logging.getLogger(__name__)
MAX_BATCH = 1000
# Customers per job: a job's work-horse is forked, connects and warms up once for them all
# (~3 s a job on the loaded bench machine, more than a render), and 200 customers are still
# 50 jobs that any number of workers share, each customer committed as soon as it is done.
CHUNK = 4
SHOWN_REFUSED = 20  # the refused customers named in the error (their count is always given)


@dataclass
class BulkOptions:
    """What a single send takes, but the customer (and the passcode: shown once per send)."""

    version_policy: str | None = None
    allow_download: bool = True
    expires_in_days: int | None = None
    message: str = ""
    send_email: bool = False
    watermark: bool | None = None
    ask_visitor: str | None = None

    def request(self, customer_id: int, template_id: int) -> services.SendRequest:
        return services.SendRequest(
            customer_id=customer_id, template_id=template_id, **asdict(self)
        )


@dataclass
class Progress:
    total: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total


def unique(values: Iterable) -> list:
    """values in their first order, each once."""
    return list(dict.fromkeys(v for v in values if v is not None))


def create(
    sender: User,
    template_id: int,
    options: BulkOptions,
    *,
    customer_ids: Iterable[int] = (),
    account_ids: Iterable[int] = (),
    emails: Iterable[str] = (),
) -> BulkSend:
    """A batch of sends of one template, one item per customer, each item's job deferred.

    The customers: customer_ids, every customer of account_ids the sender may see, and the
    customers whose e-mail is one of emails (an uploaded list). Raises before writing
    anything when the template, an option, the size or a customer is refused."""
    template = library.get_template(sender, template_id)
    if not permissions.can_send(sender, template):
        raise NotFound("template not found")
    services.check_options(template, options.request(0, template.id))
    ids = _customers(sender, unique(customer_ids), unique(account_ids), unique(emails))
    if not ids:
        raise ValidationFailed(
            "choose at least one customer", code="bulk_empty", field="customer_ids"
        )
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(
            f"a bulk send reaches at most {MAX_BATCH} customers ({len(ids)} chosen)",
            code="bulk_too_large",
            field="customer_ids",
            limit=MAX_BATCH,
            count=len(ids),
        )
    batch = BulkSend(sender=sender, template=template, options=asdict(options), total=len(ids))
    db.session.add(batch)
    db.session.flush()
    items = [BulkSendItem(bulk_send_id=batch.id, customer_id=cid) for cid in ids]
    db.session.add_all(items)
    db.session.flush()
    _queue([item.id for item in items])
    return batch


def _queue(item_ids: list[int]) -> None:
    for start in range(0, len(item_ids), CHUNK):
        jobs.defer(send_items, item_ids[start : start + CHUNK])


def _customers(
    sender: User, customer_ids: list[int], account_ids: list[int], emails: list[str]
) -> list[int]:
    """The customers' ids, duplicates collapsed; refused (nothing written) when one asked for
    is not the sender's to see, or an account or an e-mail gives no customer they may see."""
    ids = list(customer_ids)
    if customer_ids:
        seen = set(
            db.session.scalars(
                select(Customer.id).where(Customer.id.in_(customer_ids), visible_to(sender))
            )
        )
        _refuse([str(cid) for cid in customer_ids if cid not in seen], "customer_ids")
    if account_ids:
        rows = db.session.execute(
            select(Customer.id, Customer.account_id)
            .where(Customer.account_id.in_(account_ids), visible_to(sender))
            .order_by(Customer.id)
        ).all()
        _refuse(
            [str(a) for a in account_ids if a not in {r.account_id for r in rows}], "account_ids"
        )
        ids += [r.id for r in rows]
    if emails:
        wanted = [e.strip().lower() for e in emails]
        rows = db.session.execute(
            select(Customer.id, func.lower(Customer.email).label("email"))
            .where(func.lower(Customer.email).in_(wanted), visible_to(sender))
            .order_by(Customer.id)
        ).all()
        _refuse([e for e in wanted if e not in {r.email for r in rows}], "file")
        ids += [r.id for r in rows]
    return unique(ids)


def _refuse(refused: list[str], field: str) -> None:
    if refused:
        named = ", ".join(refused[:SHOWN_REFUSED]) + (" …" if len(refused) > SHOWN_REFUSED else "")
        raise ValidationFailed(
            f"{len(refused)} of the chosen customers are not yours to send to (or do not "
            f"exist): {named}; nothing was sent",
            code="bulk_customers_not_visible",
            field=field,
            count=len(refused),
            names=named,
        )


def read_list(data: bytes, limits: SheetLimits) -> tuple[list[int], list[str]]:
    """An uploaded list (.xlsx or .csv, read as portal.exchange reads an import): the first
    column holds customer e-mails or ids, with or without a header row."""
    table = read_table(data, limits)
    cells = [table.headers[0] if table.headers else None]
    cells += [row[0] if row else None for _, row in table.rows]
    ids: list[int] = []
    emails: list[str] = []
    for cell in cells:
        text = str(cell).strip() if cell is not None else ""
        if text.endswith(".0") and text[:-2].isdigit():  # a number cell of Excel
            text = text[:-2]
        if "@" in text:
            emails.append(text)
        elif text.isdigit():
            ids.append(int(text))
    if not ids and not emails:
        raise ValidationFailed(
            "the list's first column holds no customer e-mail or id",
            code="bulk_list_empty",
            field="file",
        )
    return ids, emails


@jobs.retried
def send_items(item_ids: list[int]) -> None:
    """A few customers of a batch, one after the other, each committed as soon as it is done
    (the progress moves per customer). Safe to run again: done items are skipped."""
    for item_id in item_ids:
        send_item(item_id)
        jobs.commit()


def send_item(item_id: int) -> None:
    """One customer of a batch: the send (services.send, every rule of a single send), its
    render, then its e-mail. Safe to run again: a finished item is left alone, and a retried
    one reuses its delivery."""
    item = db.session.get(BulkSendItem, item_id)
    if item is None or item.status != BulkItemStatus.QUEUED:
        return
    batch = db.session.get(BulkSend, item.bulk_send_id)
    options = BulkOptions(**batch.options)
    try:
        with db.session.begin_nested():  # a refused send leaves nothing behind
            delivery = item.delivery
            if delivery is None:
                sent = services.send(
                    batch.sender,
                    options.request(item.customer_id, batch.template_id),
                    after_commit=False,
                )
                delivery = sent.delivery
                item.delivery_id = delivery.id
    except PortalError as exc:
        _finish(item, BulkItemStatus.FAILED, exc.code, exc.message)
        return
    delivery_id = delivery.id
    # The delivery is stored before its render: no write is held open through the layout
    # (another worker's item waits on none), and a retried job finds and reuses it.
    jobs.commit()
    item = db.session.get(BulkSendItem, item_id)
    delivery = db.session.get(Delivery, delivery_id)
    try:
        services.prepare_delivery(delivery.id)
    except Exception as exc:
        if not outages.is_outage(exc):
            raise
        _finish(item, BulkItemStatus.FAILED, "bulk_render_unavailable", str(exc)[:500])
        return
    if delivery.render_status == RenderStatus.FAILED:
        _finish(item, BulkItemStatus.FAILED, "bulk_render_failed", delivery.render_error)
        return
    if options.send_email and delivery.email_status in (EmailStatus.QUEUED, EmailStatus.FAILED):
        send_delivery_email(delivery.id)  # as soon as its copy is ready
    _finish(item, BulkItemStatus.DONE, None, None)


def _finish(item: BulkSendItem, status: str, code: str | None, error: str | None) -> None:
    item.status = status
    item.error_code = code
    item.error = error
    item.updated_at = utcnow()
    if code:
        log.info("bulk send %s, customer %s: %s", item.bulk_send_id, item.customer_id, code)


def get(user: User, batch_id: int) -> BulkSend:
    """A batch user may look at (its sender, the sender's supervisor, an admin); NotFound
    otherwise, as for one that does not exist."""
    batch = db.session.get(BulkSend, batch_id)
    if batch is None or not _may_see(user, batch):
        raise NotFound("bulk send not found")
    return batch


def _may_see(user: User, batch: BulkSend) -> bool:
    if user.role == Role.ADMIN or batch.sender_id == user.id:
        return True
    return user.role == Role.SUPERVISOR and batch.sender.supervisor_id == user.id


def progress(batch: BulkSend) -> Progress:
    counts = dict(
        db.session.execute(
            select(BulkSendItem.status, func.count())
            .where(BulkSendItem.bulk_send_id == batch.id)
            .group_by(BulkSendItem.status)
        ).all()
    )
    return Progress(
        total=batch.total,
        done=counts.get(BulkItemStatus.DONE, 0),
        failed=counts.get(BulkItemStatus.FAILED, 0),
    )


def items(batch: BulkSend, *, status: str | None = None) -> list[BulkSendItem]:
    query = select(BulkSendItem).where(BulkSendItem.bulk_send_id == batch.id)
    if status:
        query = query.where(BulkSendItem.status == status)
    return list(db.session.scalars(query.order_by(BulkSendItem.id)))


def retry_failed(user: User, batch_id: int) -> int:
    """Queue the batch's failed items again (only those); how many. The sends are made by the
    batch's sender, whoever asks for the retry."""
    batch = get(user, batch_id)
    failed = items(batch, status=BulkItemStatus.FAILED)
    for item in failed:
        _finish(item, BulkItemStatus.QUEUED, None, None)
    db.session.flush()
    _queue([item.id for item in failed])
    return len(failed)


def deliveries_of(items_: list[BulkSendItem]) -> dict[int, Delivery]:
    ids = [i.delivery_id for i in items_ if i.delivery_id]
    if not ids:
        return {}
    return {d.id: d for d in db.session.scalars(select(Delivery).where(Delivery.id.in_(ids)))}
