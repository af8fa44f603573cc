"""The columns of each import kind: field, headers in zh_CN and en, accepted aliases.

The export writes the same headers (in the reader's language), so an exported sheet imports
back as is. A header is matched case-insensitively, ignoring spaces, '_', '-', '*' and brackets
(so 'Owner e-mail', 'owner_email' and '负责人邮箱*' are one column). Columns that are not
known are listed as ignored; a column named twice is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import get_locale


@dataclass(frozen=True)
class Column:
    field: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    def header(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


CUSTOMER_COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", "Name", ("full name", "客户姓名", "联系人"), required=True),
    Column("company", "公司", "Company", ("公司名称", "单位")),
    Column("title", "职位", "Job title", ("title", "职务")),
    Column("email", "邮箱", "E-mail", ("email address", "电子邮件", "邮件")),
    Column("phone", "电话", "Phone", ("mobile", "手机", "联系电话")),
    Column("industry", "行业", "Industry"),
    Column("region", "地区", "Region", ("区域",)),
    Column("owner_email", "负责人邮箱", "Owner e-mail", ("owner", "负责人")),
)

DEAL_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "外部编号", "External ID", ("id", "编号")),
    Column("customer_email", "客户邮箱", "Customer e-mail", required=True),
    Column("title", "商机名称", "Deal", ("title", "deal title", "名称"), required=True),
    Column("amount", "金额", "Amount", required=True),
    Column("currency", "币种", "Currency", ("货币",)),
    Column("expected_close", "预计成交", "Expected close", ("预计成交日期", "close date")),
    Column("owner_email", "负责人邮箱", "Owner e-mail", ("owner", "负责人")),
    Column("meeting_notes", "会议纪要", "Meeting notes", ("notes", "纪要")),
)

KINDS: dict[str, tuple[Column, ...]] = {"customers": CUSTOMER_COLUMNS, "deals": DEAL_COLUMNS}

_NOISE = re.compile(r"[\s_\-*()（）\[\]【】:：.]+")


def normalize(header: str) -> str:
    return _NOISE.sub("", header or "").lower()


def _index(columns: tuple[Column, ...]) -> dict[str, Column]:
    index: dict[str, Column] = {}
    for column in columns:
        for name in (column.field, column.zh, column.en, *column.aliases):
            index.setdefault(normalize(name), column)
    return index


@dataclass
class HeaderMap:
    positions: dict[str, int]  # field -> cell index
    headers: dict[str, str]  # field -> the header as written in the sheet
    ignored: list[str]
    problems: list[tuple[str, str]]  # (header, message): duplicates and missing columns


def map_headers(kind: str, headers: list[str]) -> HeaderMap:
    from flask_babel import gettext as _

    columns = KINDS[kind]
    index = _index(columns)
    result = HeaderMap({}, {}, [], [])
    for position, header in enumerate(headers):
        column = index.get(normalize(header))
        if column is None:
            if header:
                result.ignored.append(header)
            continue
        if column.field in result.positions:
            result.problems.append((header, _("The column %(name)s appears twice.", name=header)))
            continue
        result.positions[column.field] = position
        result.headers[column.field] = header
    for column in columns:
        if column.required and column.field not in result.positions:
            name = column.header(lang())
            result.problems.append((name, _("The column %(name)s is missing.", name=name)))
    return result


def lang() -> str:
    """'en' or 'zh' for headers: the reader's language (zh_CN is the default)."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def field_labels(kind: str) -> dict[str, str]:
    """field -> its header in the reader's language (for "what changed" in a preview)."""
    language = lang()
    labels = {column.field: column.header(language) for column in KINDS[kind]}
    labels["owner"] = labels["owner_email"]
    return labels
