"""What a template sees: plain dicts of strings built from the customer and the rep.

Templates never receive ORM objects (no lazy loads, no methods, nothing to walk from). Missing
values are empty strings so `{{ customer.phone }}` prints nothing rather than "None". The
variables are also the cache key of a rendered PDF, through variables_hash().
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

if TYPE_CHECKING:
    from portal.accounts.models import User
    from portal.customers.models import Customer

CUSTOMER_FIELDS = ("name", "company", "title", "email", "phone", "industry", "region")
REP_FIELDS = ("name", "email", "team", "region")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def date_cn(day: date) -> str:
    """2026年11月28日"""
    return f"{day.year}年{day.month}月{day.day}日"


def business_today() -> date:
    """Today where the sales team works (PORTAL_TIMEZONE, Asia/Shanghai by default)."""
    if not has_app_context():
        return date.today()
    return datetime.now(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def business_date(moment: datetime) -> date:
    """The date of a stored (UTC) moment where the sales team works: a quote sent at 05:56 in
    Beijing is dated that day, not the day before as the UTC timestamp's date would say."""
    if not has_app_context():
        return moment.date()
    return moment.astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def _today_variables(today: date | None) -> dict[str, str]:
    day = today or business_today()
    return {"today": day.isoformat(), "today_cn": date_cn(day)}


def customer_variables(customer: Customer, rep: User, today: date | None = None) -> dict[str, Any]:
    """The variables of one customer's copy of a document, sent by rep."""
    return {
        "customer": {field: _text(getattr(customer, field)) for field in CUSTOMER_FIELDS},
        "rep": {field: _text(getattr(rep, field)) for field in REP_FIELDS},
        **_today_variables(today),
    }


def sample_variables(today: date | None = None) -> dict[str, Any]:
    """Realistic sample data for previews and for validating a template at upload time."""
    return {
        "customer": {
            "name": "张伟",
            "company": "华东精密制造有限公司",
            "title": "采购总监",
            "email": "zhang.wei@example.com",
            "phone": "138-0013-8000",
            "industry": "制造业",
            "region": "华东",
        },
        "rep": {
            "name": "李娜",
            "email": "li.na@example.com",
            "team": "华东大客户部",
            "region": "华东",
        },
        **_today_variables(today),
    }


def variables_hash(variables: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the variables: equal variables, equal hash."""
    canonical = json.dumps(variables, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
