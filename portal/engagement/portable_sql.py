"""SQL fragments that differ between PostgreSQL and SQLite, for the set-based score rebuild.

Only what portal.engagement.recompute needs: a timestamp's calendar day in the portal's time
zone, a timestamp shifted by whole days, JSON objects, merging and comparing them.

SQLite has no time zone database and stores timestamps as text ("2027-03-01 02:00:00.000000",
SQLAlchemy's format, always UTC here), so on SQLite the first two are small Python functions
registered on the connection; their results keep that text format, so comparisons stay exact
(to the microsecond) and can use the (customer_id, occurred_at) index.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class PortableSQL:
    def __init__(self, connection: Connection, timezone: ZoneInfo):
        self.dialect = connection.dialect.name
        self.timezone = timezone
        if self.dialect == "sqlite":
            self._register_sqlite_functions(connection)

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def local_day(self, expr: str) -> str:
        """'YYYY-MM-DD' of a UTC timestamp, in the portal's time zone."""
        if self.postgres:
            return f"to_char(({expr}) AT TIME ZONE :portal_tz, 'YYYY-MM-DD')"
        return f"portal_local_day({expr})"

    def shift_days(self, expr: str, days: int) -> str:
        """expr + days (negative: earlier), as a timestamp comparable with the columns."""
        days = int(days)
        if self.postgres:
            return f"(({expr}) + make_interval(days => {days}))"
        return f"portal_shift_days({expr}, {days})"

    def json_object(self, *pairs: tuple[str, str]) -> str:
        """A JSON object from (key, SQL expression) pairs; keys are trusted literals."""
        args = ", ".join(f"'{key}', {expr}" for key, expr in pairs)
        return f"jsonb_build_object({args})" if self.postgres else f"json_object({args})"

    def json_text(self, expr: str, key: str) -> str:
        """The value at key of a JSON object column, as SQL text/number (NULL when absent)."""
        if self.postgres:
            return f"(({expr}) ->> '{key}')"
        return f"json_extract({expr}, '$.{key}')"

    def json_merge(self, left: str, right: str) -> str:
        return f"(({left}) || ({right}))" if self.postgres else f"json_patch({left}, {right})"

    def same(self, left: str, right: str) -> str:
        """Equal, NULL equal to NULL."""
        operator = "IS NOT DISTINCT FROM" if self.postgres else "IS"
        return f"({left} {operator} {right})"

    def same_json(self, left: str, right: str) -> str:
        """The same JSON value. SQLite keeps JSON as text, spelled differently by Python
        (spaces, \\u escapes) and by SQLite's json_object: compared parsed, in Python."""
        return f"({left} = {right})" if self.postgres else f"portal_same_json({left}, {right})"

    def params(self) -> dict[str, str]:
        """Bind parameters the fragments above may use."""
        return {"portal_tz": self.timezone.key} if self.postgres else {}

    def _register_sqlite_functions(self, connection: Connection) -> None:
        raw = connection.connection.driver_connection
        zone = self.timezone

        def parse(value: str) -> datetime:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)

        def local_day(value: str | None) -> str | None:
            return None if value is None else parse(value).astimezone(zone).date().isoformat()

        def shift_days(value: str | None, days: int) -> str | None:
            if value is None:
                return None
            return (parse(value) + timedelta(days=days)).strftime(SQLITE_FORMAT)

        def same_json(left: str | None, right: str | None) -> bool:
            if left is None or right is None:
                return left is right
            return json.loads(left) == json.loads(right)

        raw.create_function("portal_local_day", 1, local_day, deterministic=True)
        raw.create_function("portal_same_json", 2, same_json, deterministic=True)
        raw.create_function("portal_shift_days", 2, shift_days, deterministic=True)
