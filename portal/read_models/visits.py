"""The per-visit export (.xlsx and .csv): one row per view session of the sends the analytics
pages count, with the same filters (portal.read_models.analytics.parse_filters: the send's
date, the customer's industry and region, the sender's team; `template` and `version` as on a
template's page), scoped to the customers the user may see (a rep: their own; a supervisor:
their team's; an admin: all; marketing keeps the library, not customers).

Each row says what kind of visit it was, as the analytics page counts it: `open` (the
recipient's own confirmed session: what the page counts as an open), `forwarded` (another
device on the recipient's link: a forward), `preview` (a fetch never confirmed in a browser:
a link preview or a scanner, never an open). Staff looking at a link (internal views) are not
visits: they have no session and are not exported, as the page counts them apart.

Text that starts like a formula (= + - @, tab, carriage return) gets a leading ' in both
formats (portal.exchange.exporting.safe), so no spreadsheet runs it; the CSV is UTF-8 with a
BOM, so Excel opens Chinese as Chinese. Times are in the team's time zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Role, User
from portal.companies.models import Account
from portal.customers.models import Customer
from portal.customers.services import visible_to as customers_visible_to
from portal.delivery.models import Delivery
from portal.errors import PermissionDenied, ValidationFailed
from portal.exchange.columns import lang
from portal.exchange.exporting import XLSX_TYPE, safe
from portal.extensions import db
from portal.library import services as library
from portal.library.models import TemplateVersion
from portal.read_models.analytics import Filters, filtered_sends, parse_filters
from portal.tracking.devices import describe
from portal.tracking.models import Event, EventType, ViewSession, Visitor

CSV_TYPE = "text/csv; charset=utf-8"
FORMATS = {"xlsx": XLSX_TYPE, "csv": CSV_TYPE}
COLUMNS = (  # (field, zh header, en header)
    ("delivery", "发送编号", "Delivery"),
    ("customer", "客户", "Customer"),
    ("account", "公司", "Account"),
    ("visitor", "读者", "Visitor"),
    ("device", "设备", "Device"),
    ("started", "开始时间", "Started"),
    ("seconds", "阅读秒数", "Seconds"),
    ("pages", "阅读页数", "Pages"),
    ("kind", "类型", "Kind"),
)
KINDS = {  # kind -> (zh, en)
    "open": ("客户打开", "customer open"),
    "forwarded": ("转发读者", "forwarded reader"),
    "preview": ("预览/扫描（未确认）", "preview/scan (never confirmed)"),
}
RECIPIENT = ("收件人", "recipient")
DEVICE_KINDS = {
    "phone": ("手机", "phone"),
    "tablet": ("平板", "tablet"),
    "desktop": ("电脑", "desktop"),
}


def may_export_visits(user: User) -> bool:
    return user.role in (Role.REP, Role.SUPERVISOR, Role.ADMIN)


def _template_id(args: Mapping[str, str]) -> int | None:
    raw = (args.get("template") or "").strip()
    if not raw:
        return None
    if not (raw.isdigit() and 0 < int(raw) < 2**31):
        raise ValidationFailed(
            "template must be a template id", code="bad_template", field="template"
        )
    return int(raw)


def visits_query(user: User, args: Mapping[str, str]) -> Select:
    """The visits the user may export for the page's filters, oldest first."""
    if not may_export_visits(user):
        raise PermissionDenied(
            "the visit export is for reps, supervisors and admins", code="no_visits"
        )
    filters: Filters = parse_filters(args)
    template_id = _template_id(args)
    if filters.version is not None and template_id is None:
        raise ValidationFailed(
            "version needs a template", code="version_needs_template", field="version"
        )
    sender = aliased(User)
    pages = (
        select(func.count(func.distinct(Event.page)))
        .where(
            Event.session_id == ViewSession.id,
            Event.type == EventType.PAGE_VIEWED.value,
            Event.duration_ms > 0,
        )
        .scalar_subquery()
    )
    query = (
        select(
            Delivery.id,
            Customer.name,
            Account.name,
            Visitor.id,
            Visitor.name,
            Visitor.forwarded,
            ViewSession.customer_id,
            Delivery.customer_id,
            ViewSession.user_agent,
            ViewSession.started_at,
            ViewSession.credited_ms,
            pages,
            ViewSession.confirmed_at,
        )
        .select_from(ViewSession)
        .join(Delivery, Delivery.id == ViewSession.delivery_id)
        .join(Customer, Customer.id == Delivery.customer_id)
        .join(sender, sender.id == Delivery.sender_id)
        .outerjoin(Account, Account.id == Customer.account_id)
        .outerjoin(Visitor, Visitor.id == ViewSession.visitor_id)
        .where(customers_visible_to(user))
    )
    if template_id is not None:
        library.get_template(user, template_id)  # NotFound outside the user's library
        query = query.where(Delivery.template_id == template_id)
        if filters.version is not None:
            query = query.join(
                TemplateVersion,
                and_(
                    TemplateVersion.id == Delivery.version_id,
                    TemplateVersion.number == filters.version,
                ),
            )
    query = filtered_sends(query, filters, sender)
    return query.order_by(ViewSession.started_at, ViewSession.id)


def kind_of(
    confirmed_at: datetime | None, forwarded: bool | None, reader: Any, recipient: int
) -> str:
    """As the analytics page counts the session: an open only when the recipient's own and
    confirmed; another device on the link is a forward; an unconfirmed fetch a preview."""
    if confirmed_at is None:
        return "preview"
    if forwarded or reader != recipient:
        return "forwarded"
    return "open"


def rows(user: User, args: Mapping[str, str]) -> Iterator[list[Any]]:
    """The header (in the reader's language), then one list per visit. The filters and the
    user's right are checked now, before a file is begun."""
    return _rows(visits_query(user, args))


def _rows(query: Select) -> Iterator[list[Any]]:
    language = lang()
    pick = 1 if language == "en" else 0
    yield [column[1 + pick] for column in COLUMNS]
    for (
        delivery_id,
        customer,
        account,
        visitor_id,
        visitor_name,
        forwarded,
        reader,
        recipient,
        user_agent,
        started,
        credited_ms,
        pages,
        confirmed_at,
    ) in db.session.execute(query):
        kind = kind_of(confirmed_at, forwarded, reader, recipient)
        if kind == "forwarded":
            visitor = visitor_name or f"{KINDS['forwarded'][pick]} #{visitor_id or '?'}"
        else:
            visitor = visitor_name or RECIPIENT[pick]
        device = describe(user_agent)
        device_text = " · ".join(
            part for part in (DEVICE_KINDS[device.kind][pick], device.os, device.browser) if part
        )
        yield [
            delivery_id,
            customer,
            account or "",
            visitor,
            device_text,
            started,  # safe() writes it in the team's time zone
            round((credited_ms or 0) / 1000, 1),
            int(pages or 0),
            KINDS[kind][pick],
        ]


def export(user: User, args: Mapping[str, str], fmt: str) -> bytes:
    """The visits as .xlsx or .csv bytes (ValidationFailed for another format)."""
    if fmt not in FORMATS:
        raise ValidationFailed("format must be xlsx or csv", code="bad_format", field="format")
    cells = ([safe(value) for value in row] for row in rows(user, args))
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        for row in cells:
            writer.writerow(
                [v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v for v in row]
            )
        return ("\ufeff" + text.getvalue()).encode("utf-8")
    from openpyxl import Workbook  # imported when used: 140 ms a process start

    book = Workbook(write_only=True)
    sheet = book.create_sheet("visits")
    for row in cells:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
