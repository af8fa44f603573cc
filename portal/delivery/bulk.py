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
soon as it is rendered, then commits. An item that fails keeps its reason (the error's code
and its parameters, never an exception's text) and is sent again by `retry_failed`, which
reuses the delivery when one was made; an e-mail that failed fails its item (bulk_email_failed).

Each run claims its item first (queued -> sending, committed) and the delivery's e-mail before
SMTP (queued/failed -> sending): a job run twice (RQ re-queues an abandoned one, two retries at
once) sends and mails each customer once. An item whose job was lost (still queued or sending
STALE_AFTER later) is retried by the rep's retry and re-queued once by the tick. Without Redis
(jobs inline, in the request) a batch is at most INLINE_MAX customers.

An uploaded list names its column in a header row (email / 邮箱, customer_id / 客户编号), and
its customers are shown for confirmation before the batch is made (routes/bulk_sends.py).

Who may look at a batch, and retry it: its sender, the sender's supervisor, admins.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

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
# An item still queued or sending this long after its last change has lost its job (RQ's
# retries spent, Redis lost the queue, an inline run killed by gunicorn's timeout): a job's
# retries end within ~3 minutes (jobs.RETRY_INTERVALS) and a chunk's renders within a few more.
STALE_AFTER = timedelta(minutes=10)
# Without Redis the jobs run inline, in the request that creates the batch: a few renders
# fit in gunicorn's timeout, hundreds do not.
INLINE_MAX = 20
LOST = "bulk_job_lost"  # an item the tick queued again once (its job was lost)


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
    email_rows: dict[str, int] | None = None,
) -> BulkSend:
    """A batch of sends of one template, one item per customer, each item's job deferred.

    The customers: customer_ids, every customer of account_ids the sender may see, and the
    customers whose e-mail is one of emails (an uploaded list). Raises before writing
    anything when the template, an option, the size or a customer is refused."""
    template = library.get_template(sender, template_id)
    if not permissions.can_send(sender, template):
        raise NotFound("template not found")
    services.check_options(template, options.request(0, template.id))
    ids = resolve(sender, customer_ids, account_ids, emails, email_rows)
    batch = BulkSend(sender=sender, template=template, options=asdict(options), total=len(ids))
    db.session.add(batch)
    db.session.flush()
    items = [BulkSendItem(bulk_send_id=batch.id, customer_id=cid) for cid in ids]
    db.session.add_all(items)
    db.session.flush()
    _queue([item.id for item in items])
    return batch


def resolve(
    sender: User,
    customer_ids: Iterable[int] = (),
    account_ids: Iterable[int] = (),
    emails: Iterable[str] = (),
    email_rows: dict[str, int] | None = None,
) -> list[int]:
    """The batch's customers (ids, duplicates collapsed), refused as `create` refuses them;
    writes nothing (the confirmation page shows them before the batch is made)."""
    ids = _customers(
        sender, unique(customer_ids), unique(account_ids), unique(emails), email_rows or {}
    )
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
    if len(ids) > INLINE_MAX and not jobs.queued():
        raise ValidationFailed(
            f"without a job worker a bulk send reaches at most {INLINE_MAX} customers",
            code="bulk_needs_worker",
            field="customer_ids",
            limit=INLINE_MAX,
            count=len(ids),
        )
    return ids


def names_of(ids: list[int]) -> list[str]:
    names = dict(
        db.session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids))).all()
    )
    return [names.get(cid, "") for cid in ids]


def _queue(item_ids: list[int]) -> None:
    for start in range(0, len(item_ids), CHUNK):
        jobs.defer(send_items, item_ids[start : start + CHUNK])


def _customers(
    sender: User,
    customer_ids: list[int],
    account_ids: list[int],
    emails: list[str],
    email_rows: dict[str, int],
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
        shared = Counter(r.email for r in rows)
        for email in dict.fromkeys(wanted):
            if shared[email] > 1:
                raise ValidationFailed(
                    f"{email} (row {email_rows.get(email, 0)}) is the e-mail of "
                    f"{shared[email]} customers",
                    code="bulk_list_email_ambiguous",
                    field="file",
                    row=email_rows.get(email, 0),
                    email=email,
                )
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


# The header naming an uploaded list's column (compared lower-cased, spaces and "_" "-" dropped).
EMAIL_HEADERS = {"email", "mail", "邮箱", "电子邮箱", "邮件地址"}
ID_HEADERS = {"customerid", "客户编号", "客户id"}


@dataclass
class UploadedList:
    ids: list[int]
    emails: list[str]
    rows: dict[str, int]  # an e-mail (lower-cased) -> its row number as the sheet shows it


def _header_key(cell) -> str:
    text = str(cell or "").strip().lower()
    return "".join(ch for ch in text if ch not in " _-")


def read_list(data: bytes, limits: SheetLimits) -> UploadedList:
    """An uploaded list (.xlsx or .csv, read as portal.exchange reads an import) with a header
    row naming its column: email (邮箱) or customer_id (客户编号). A list without one is refused:
    a bare column of numbers may be a row count (序号), not the customers' numbers."""
    table = read_table(data, limits)
    keys = [_header_key(h) for h in table.headers]
    column = kind = None
    for index, key in enumerate(keys):
        if key in EMAIL_HEADERS or key in ID_HEADERS:
            column, kind = index, "email" if key in EMAIL_HEADERS else "id"
            break
    if column is None:
        raise ValidationFailed(
            "the list has no header row naming its column (email / customer_id)",
            code="bulk_list_no_header",
            field="file",
        )
    listed = UploadedList(ids=[], emails=[], rows={})
    for number, row in table.rows:
        cell = row[column] if column < len(row) else None
        text = str(cell).strip() if cell is not None else ""
        if text.endswith(".0") and text[:-2].isdigit():  # a number cell of Excel
            text = text[:-2]
        if kind == "email" and "@" in text:
            listed.emails.append(text)
            listed.rows.setdefault(text.lower(), number)
        elif kind == "id" and text.isdigit():
            listed.ids.append(int(text))
    if not listed.ids and not listed.emails:
        raise ValidationFailed(
            "the list's column holds no customer e-mail or id",
            code="bulk_list_empty",
            field="file",
        )
    return listed


@jobs.retried
def send_items(item_ids: list[int]) -> None:
    """A few customers of a batch, one after the other, each committed as soon as it is done
    (the progress moves per customer). Safe to run again: done items are skipped."""
    for item_id in item_ids:
        send_item(item_id)
        jobs.commit()


def send_item(item_id: int) -> None:
    """One customer of a batch: the send (services.send, every rule of a single send), its
    render, then its e-mail. Claimed first (queued -> sending, committed): a second run of the
    same item (a re-queued job, two retries at once) finds it claimed and does nothing. A
    retried item reuses its delivery; its e-mail is claimed the same way before SMTP."""
    if not _claim(item_id):
        return
    try:
        _send_claimed(item_id)
    except Exception:
        # Unforeseen: the claim is let go so that the job's retry (RQ) sends it again (and,
        # were the job not retried, the tick re-queues it once it is STALE_AFTER old).
        db.session.rollback()
        _release(item_id)
        jobs.commit()
        raise


def _send_claimed(item_id: int) -> None:
    item = db.session.get(BulkSendItem, item_id)
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
        _finish(item, BulkItemStatus.FAILED, exc.code, exc.params)
        return
    delivery_id = delivery.id
    # The delivery is stored before its render: no write is held open through the layout
    # (another worker's item waits on none), and a retried job finds and reuses it.
    jobs.commit()
    _render_and_mail(item_id, delivery_id, options)


def _render_and_mail(item_id: int, delivery_id: int, options: BulkOptions) -> None:
    item = db.session.get(BulkSendItem, item_id)
    delivery = db.session.get(Delivery, delivery_id)
    try:
        services.prepare_delivery(delivery.id)
    except Exception as exc:
        if not outages.is_outage(exc):
            raise
        log.warning("bulk item %s: storage unavailable: %r", item_id, exc)
        _finish(item, BulkItemStatus.FAILED, "bulk_render_unavailable")
        return
    if delivery.render_status == RenderStatus.FAILED:
        _finish(item, BulkItemStatus.FAILED, "bulk_render_failed")
        return
    if options.send_email and _claim_email(delivery_id):
        send_delivery_email(delivery_id)  # as soon as its copy is ready
        delivery = db.session.get(Delivery, delivery_id)
        item = db.session.get(BulkSendItem, item_id)
        if delivery is not None and delivery.email_status == EmailStatus.SENDING:
            # send_delivery_email sent nothing (the link was withdrawn meanwhile)
            delivery.email_status = EmailStatus.FAILED
        if delivery is not None and delivery.email_status == EmailStatus.FAILED:
            _finish(item, BulkItemStatus.FAILED, "bulk_email_failed")
            return
    _finish(item, BulkItemStatus.DONE, None)


def _claim(item_id: int) -> bool:
    """queued -> sending, committed at once; False when another run has it (or it is done)."""
    claimed = db.session.execute(
        update(BulkSendItem)
        .where(BulkSendItem.id == item_id, BulkSendItem.status == BulkItemStatus.QUEUED)
        .values(status=BulkItemStatus.SENDING, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    jobs.commit()
    return claimed == 1


def _release(item_id: int) -> None:
    db.session.execute(
        update(BulkSendItem)
        .where(BulkSendItem.id == item_id, BulkSendItem.status == BulkItemStatus.SENDING)
        .values(status=BulkItemStatus.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _claim_email(delivery_id: int) -> bool:
    """The delivery's e-mail, queued or failed -> sending, committed before SMTP is called: a
    run cut off after the server accepted it leaves it 'sending' and none mails it again."""
    claimed = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.email_status.in_([EmailStatus.QUEUED, EmailStatus.FAILED]),
        )
        .values(email_status=EmailStatus.SENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    jobs.commit()
    return claimed == 1


def _finish(item: BulkSendItem, status: str, code: str | None, params: dict | None = None) -> None:
    """The item's end: its status and, failed, its code and the code's parameters only (an
    exception's text is for the log, never for the rep or the API)."""
    item.status = status
    item.error_code = code
    item.error = json.dumps(params, default=str, ensure_ascii=False) if code and params else None
    item.updated_at = utcnow()
    if code:
        log.info("bulk send %s, customer %s: %s", item.bulk_send_id, item.customer_id, code)


def error_params(item: BulkSendItem) -> dict:
    try:
        value = json.loads(item.error) if item.error else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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
    # The total counts the items there are: an erased customer's item is gone with them.
    return Progress(
        total=sum(counts.values()),
        done=counts.get(BulkItemStatus.DONE, 0),
        failed=counts.get(BulkItemStatus.FAILED, 0),
    )


def items(batch: BulkSend, *, status: str | None = None) -> list[BulkSendItem]:
    query = (
        select(BulkSendItem)
        .where(BulkSendItem.bulk_send_id == batch.id)
        .options(selectinload(BulkSendItem.customer))  # the pages name each customer
    )
    if status:
        query = query.where(BulkSendItem.status == status)
    return list(db.session.scalars(query.order_by(BulkSendItem.id)))


def _retryable(now):
    return or_(
        BulkSendItem.status == BulkItemStatus.FAILED,
        (BulkSendItem.status.in_([BulkItemStatus.QUEUED, BulkItemStatus.SENDING]))
        & (BulkSendItem.updated_at < now - STALE_AFTER),
    )


def has_stale(batch: BulkSend) -> bool:
    """Whether some item has lost its job (queued or sending for STALE_AFTER)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(BulkSendItem)
            .where(
                BulkSendItem.bulk_send_id == batch.id,
                BulkSendItem.status.in_([BulkItemStatus.QUEUED, BulkItemStatus.SENDING]),
                BulkSendItem.updated_at < utcnow() - STALE_AFTER,
            )
        )
        > 0
    )


def _requeue(where, *, mark: str | None = None, now: datetime | None = None) -> list[int]:
    """Items matching `where` set back to queued by one conditional UPDATE each: a concurrent
    retry (a double click, two requests) that got there first leaves nothing to this one."""
    now = now or utcnow()
    candidates = list(db.session.scalars(select(BulkSendItem.id).where(where, _retryable(now))))
    queued = []
    for item_id in candidates:
        done = db.session.execute(
            update(BulkSendItem)
            .where(BulkSendItem.id == item_id, _retryable(now))
            .values(status=BulkItemStatus.QUEUED, error_code=mark, error=None, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done == 1:
            queued.append(item_id)
    _queue(queued)
    return queued


def retry_failed(user: User, batch_id: int) -> int:
    """Queue the batch's failed items again, and those whose job was lost (queued or sending
    for STALE_AFTER); how many. The sends are made by the batch's sender, whoever asks."""
    batch = get(user, batch_id)
    return len(_requeue(BulkSendItem.bulk_send_id == batch.id))


def requeue_stale(now: datetime) -> int:
    """The tick's part: items whose job was lost are queued again, once: the item is marked
    (error_code LOST, kept while it runs) and a marked item lost again waits for the rep's
    retry (a customer whose send kills its worker must not do so every ten minutes)."""
    return len(
        _requeue(
            BulkSendItem.status.in_([BulkItemStatus.QUEUED, BulkItemStatus.SENDING])
            & (BulkSendItem.updated_at < now - STALE_AFTER)
            & BulkSendItem.error_code.is_(None),
            mark=LOST,
            now=now,
        )
    )


def deliveries_of(items_: list[BulkSendItem]) -> dict[int, Delivery]:
    ids = [i.delivery_id for i in items_ if i.delivery_id]
    if not ids:
        return {}
    return {d.id: d for d in db.session.scalars(select(Delivery).where(Delivery.id.in_(ids)))}
