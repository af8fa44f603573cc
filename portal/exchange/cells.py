"""One spreadsheet cell to a value: text, an amount, a date, a currency.

Each parser raises CellError with a message for a person; the caller adds the row number and
the column. Excel hands over numbers as floats (a phone number 13800138000.0), dates as
datetime (or, in a CSV or a text cell, as '2026-03-01', '2026/3/1', '2026年3月1日' or an Excel
serial such as 46082).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what the export escapes with a leading '
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug included)
SERIAL_RANGE = (20_000, 80_000)  # 1954 … 2119: a number outside is not a plausible date
MAX_AMOUNT = Decimal("1e13")
_CURRENCY_WORDS = {
    "¥": "CNY",
    "￥": "CNY",
    "RMB": "CNY",
    "人民币": "CNY",
    "元": "CNY",
    "$": "USD",
    "US$": "USD",
    "美元": "USD",
    "€": "EUR",
    "欧元": "EUR",
    "HK$": "HKD",
    "港币": "HKD",
}
_AMOUNT_NOISE = re.compile(r"[\s,，_']|CNY|RMB|USD|EUR|HKD|US\$|HK\$|[¥￥$€]|万?元$|万$", re.I)
_DATE_FORMS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
)


class CellError(ValueError):
    """A cell that cannot be read; str(exc) says why, in the reader's language."""


def text(value: Any, max_length: int) -> str:
    """A cell as text ('' when empty); integral floats lose their '.0' (phone numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, date):
        value = value.isoformat()
    result = str(value).strip()
    if result[:1] == "'" and result[1:2] in FORMULA_STARTS:
        result = result[1:]  # the export's formula escape, undone
    if len(result) > max_length:
        raise CellError(_("At most %(max)d characters.", max=max_length))
    return result


def amount(value: Any) -> Decimal:
    """12,000.50 / ¥12000 / 1.2万 → a non-negative Decimal with two places."""
    if isinstance(value, bool):
        raise CellError(_("Not an amount: %(value)s", value=value))
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    else:
        raw = str(value).strip()
        factor = Decimal(10_000) if re.search(r"万元?$", raw) else Decimal(1)
        cleaned = _AMOUNT_NOISE.sub("", raw)
        try:
            number = Decimal(cleaned) * factor
        except InvalidOperation:
            raise CellError(_("Not an amount: %(value)s", value=raw[:40])) from None
    if not number.is_finite() or number < 0 or number >= MAX_AMOUNT:
        raise CellError(_("Not an amount: %(value)s", value=str(value)[:40]))
    return number.quantize(Decimal("0.01"))


def day(value: Any) -> date:
    """A date from a date cell, an Excel serial number, or text in ISO / 2026/3/1 / 年月日."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(value, str(value))
    raw = str(value).strip()
    if re.fullmatch(r"\d{5}(?:\.\d+)?", raw):
        return _serial(float(raw), raw)
    for form in _DATE_FORMS:
        match = form.match(raw)
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                break
    raise CellError(
        _("Not a date: %(value)s (use 2026-03-01 or 2026/3/1)", value=raw[:40]),
    )


def _serial(number: float, raw: str) -> date:
    if not SERIAL_RANGE[0] <= number < SERIAL_RANGE[1]:
        raise CellError(_("Not a date: %(value)s (use 2026-03-01 or 2026/3/1)", value=raw[:40]))
    return EXCEL_EPOCH + timedelta(days=int(number))


def currency(value: Any, default: str = "CNY") -> str:
    """A three-letter code; ¥, RMB, 人民币 → CNY, $, 美元 → USD; empty → default."""
    raw = text(value, 20)
    if not raw:
        return default
    code = _CURRENCY_WORDS.get(raw, _CURRENCY_WORDS.get(raw.upper(), raw.upper()))
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise CellError(_("Not a currency code: %(value)s (e.g. CNY, USD)", value=raw))
    return code
