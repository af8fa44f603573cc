"""Column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from portal.errors import ValidationFailed

# The largest INTEGER on PostgreSQL: a larger id cannot name a row, and sending it to the
# database is an error (SQLite: OverflowError), so it is refused before any query.
MAX_ID = 2**31 - 1


def is_row_id(value: Any) -> bool:
    """An int (not a bool) that could be a row id."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def check_text_lengths(row: Any) -> None:
    """Refuse (422 too_long, with the field) a text longer than its column: PostgreSQL would
    fail the INSERT with a 500, SQLite would store it whole."""
    for column in row.__table__.columns:
        length = getattr(column.type, "length", None)
        value = getattr(row, column.key, None)
        if length and isinstance(value, str) and len(value) > length:
            raise ValidationFailed(
                f"{column.key} is longer than {length} characters",
                code="too_long",
                field=column.key,
                limit=length,
            )


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON that is JSONB on PostgreSQL (indexable), plain JSON elsewhere.
JSONType: Any = JSON().with_variant(JSONB(), "postgresql")
