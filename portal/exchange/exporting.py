"""Everything a staff member may see, to one .xlsx: customers, deals, tasks, engagement.

One query per sheet (scoped by the same visible_to the pages use), written row by row with
openpyxl's write-only mode, headers in the reader's language. The customer and deal sheets
carry the import's columns under the import's headers, so an exported file imports back as
"unchanged". Text from users that starts with = + - @ (or a tab / carriage return) is written
with a leading ' so that no spreadsheet runs it as a formula (cells.text removes that quote
again on import). Times are written in the team's time zone (Excel has no time zones).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import visible_to
from portal.deals import scope as deal_scope
from portal.deals.models import Deal
from portal.deals.stages import label as stage_label
from portal.engagement.facts import timezone
from portal.exchange.cells import FORMULA_STARTS
from portal.exchange.columns import CUSTOMER_COLUMNS, DEAL_COLUMNS, Column, lang
from portal.extensions import db
from portal.tasks.models import Task
from portal.tasks.rules import title_for
from portal.tracking.models import Event, ViewSession

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORTED_DEAL_FIELDS = ("customer_email", "title", "amount", "currency", "expected_close")


def safe(value: Any) -> Any:
    """A cell value that no spreadsheet evaluates: text starting like a formula gets a '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, datetime):
        return value.astimezone(timezone()).replace(tzinfo=None)
    return value


def _headers(columns: Iterable[Column], *extra: tuple[str, str]) -> list[str]:
    language = lang()
    names = [column.header(language) for column in columns]
    return names + [en if language == "en" else zh for zh, en in extra]


def _customers(user: User):
    query = (
        select(
            Customer.name,
            Customer.company,
            Customer.title,
            Customer.email,
            Customer.phone,
            Customer.industry,
            Customer.region,
            User.email,
        )
        .join(User, User.id == Customer.owner_id)
        .where(visible_to(user))
        .order_by(Customer.id)
    )
    yield _headers(CUSTOMER_COLUMNS)
    yield from db.session.execute(query)


def _deals(user: User):
    columns = [
        c for c in DEAL_COLUMNS if c.field in EXPORTED_DEAL_FIELDS or c.field == "owner_email"
    ]
    query = (
        select(
            Customer.email,
            Deal.title,
            Deal.amount_minor,
            Deal.currency,
            Deal.expected_close,
            User.email,
            Deal.stage,
            Customer.name,
        )
        .join(Customer, Customer.id == Deal.customer_id)
        .join(User, User.id == Deal.owner_id)
        .where(deal_scope.visible_to(user))
        .order_by(Deal.id)
    )
    yield _headers(columns, ("阶段", "Stage"), ("客户", "Customer"))
    for email, title, minor, currency, close, owner, stage, customer in db.session.execute(query):
        amount = Decimal(minor) / 100
        yield [email, title, amount, currency, close, owner, stage_label(stage), customer]


def _tasks(user: User):
    query = (
        select(
            Customer.name,
            Task.rule_key,
            Task.status,
            Task.priority,
            Task.due_at,
            Task.created_at,
            Task.done_at,
            User.email,
        )
        .join(Customer, Customer.id == Task.customer_id)
        .join(User, User.id == Task.owner_id)
        .where(visible_to(user))
        .order_by(Task.id)
    )
    yield _headers(
        (),
        ("客户", "Customer"),
        ("任务", "Task"),
        ("状态", "Status"),
        ("优先级", "Priority"),
        ("截止", "Due"),
        ("创建", "Created"),
        ("完成", "Done"),
        ("负责人邮箱", "Owner e-mail"),
    )
    for name, rule, status, priority, due, created, done, owner in db.session.execute(query):
        yield [name, title_for(rule), status, priority, due, created, done, owner]


def _engagement(user: User):
    sessions = (
        select(
            ViewSession.customer_id.label("customer_id"),
            func.count(ViewSession.confirmed_at).label("opens"),  # confirmed opens only
            func.coalesce(func.sum(ViewSession.credited_ms), 0).label("read_ms"),
        )
        .group_by(ViewSession.customer_id)
        .subquery()
    )
    events = (
        select(Event.customer_id.label("customer_id"), func.max(Event.occurred_at).label("last"))
        .group_by(Event.customer_id)
        .subquery()
    )
    query = (
        select(
            Customer.name,
            Customer.company,
            Customer.email,
            Customer.score,
            Customer.grade,
            sessions.c.opens,
            sessions.c.read_ms,
            events.c.last,
        )
        .outerjoin(sessions, sessions.c.customer_id == Customer.id)
        .outerjoin(events, events.c.customer_id == Customer.id)
        .where(visible_to(user))
        .order_by(Customer.score.desc(), Customer.id)
    )
    yield _headers(
        (),
        ("姓名", "Name"),
        ("公司", "Company"),
        ("邮箱", "E-mail"),
        ("分数", "Score"),
        ("等级", "Grade"),
        ("打开次数", "Opens"),
        ("阅读秒数", "Read seconds"),
        ("最近活动", "Last activity"),
    )
    for name, company, email, score, grade, opens, read_ms, last in db.session.execute(query):
        yield [name, company, email, score, grade, int(opens or 0), int(read_ms or 0) // 1000, last]


SHEETS = (("客户", "Customers"), ("商机", "Deals"), ("任务", "Tasks"), ("互动", "Engagement"))


def sheet_titles() -> list[str]:
    """The sheet names in the reader's language (like the headers: a fixed pair each)."""
    return _headers((), *SHEETS)


def export_workbook(user: User) -> bytes:
    """The .xlsx bytes of everything user may see (a sheet each, even when empty)."""
    from openpyxl import Workbook  # imported when used: 140 ms a process start

    book = Workbook(write_only=True)
    sources = (_customers, _deals, _tasks, _engagement)
    for title, source in zip(sheet_titles(), sources, strict=True):
        sheet = book.create_sheet(title[:31])
        for row in source(user):
            sheet.append([safe(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
