"""One import, start to end: read the sheet, map its headers, plan every row, and (when
applying) write the good rows. A bad row never stops the others: it is reported with its row
number and column, and the rest are planned (and applied) as usual. A preview (apply=False)
writes nothing; the caller commits an applied import.

Re-importing the same sheet is idempotent: every row is matched to what exists by its natural
key (customer_rows.py, deal_rows.py), so the second run plans only "unchanged" rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from portal.accounts.models import User
from portal.audit import service as audit
from portal.customers.ownership import may_have_customers
from portal.errors import PermissionDenied, PortalError, ValidationFailed
from portal.exchange.columns import KINDS, map_headers
from portal.exchange.plans import (
    CREATE,
    ERROR,
    UNCHANGED,
    UPDATE,
    RowCells,
    RowError,
    RowPlan,
    failed,
)
from portal.exchange.reading import SheetLimits, read_table
from portal.extensions import db


@dataclass
class ImportReport:
    kind: str
    format: str
    applied: bool
    rows: list[RowPlan] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for plan in self.rows if plan.action == action)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "rows": len(self.rows),
            CREATE: self.count(CREATE),
            UPDATE: self.count(UPDATE),
            UNCHANGED: self.count(UNCHANGED),
            ERROR: self.count(ERROR),
        }

    @property
    def has_changes(self) -> bool:
        return any(plan.action in (CREATE, UPDATE) for plan in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "dry_run": not self.applied,
            "summary": self.summary,
            "rows": [plan.to_json() for plan in self.rows],
            "errors": [error.to_json() for error in self.errors],
            "ignored_columns": self.ignored_columns,
        }


def _handler(kind: str, user: User):
    if kind == "customers":
        from portal.exchange.customer_rows import CustomerRows

        return CustomerRows(user)
    from portal.exchange.deal_rows import DealRows

    return DealRows(user)


def check_kind(kind: str | None) -> str:
    if kind not in KINDS:
        raise ValidationFailed(
            _("kind must be customers or deals"), code="bad_import_kind", field="kind"
        )
    return kind


def run_import(user: User, kind: str, data: bytes, *, apply: bool, limits: SheetLimits):
    """Plan (and with apply=True, write) every row of the sheet; an ImportReport."""
    kind = check_kind(kind)
    if not may_have_customers(user):
        raise PermissionDenied(_("Only reps, supervisors and admins import customers and deals."))
    table = read_table(data, limits)
    headers = map_headers(kind, table.headers)
    report = ImportReport(kind, table.format, apply, ignored_columns=headers.ignored)
    if headers.problems:
        report.errors = [RowError(table.header_row, h, None, m) for h, m in headers.problems]
        return report
    handler = _handler(kind, user)
    rows = [RowCells(n, cells, headers.positions, headers.headers) for n, cells in table.rows]
    handler.prepare(rows)
    for row in rows:
        plan = handler.plan(row)
        if apply and plan.apply is not None:
            _apply(plan, row)
        report.rows.append(plan)
        report.errors.extend(plan.errors)
    if apply and report.has_changes:
        audit.record(
            "data.imported",
            None,
            by=user,
            details={"kind": kind, "format": table.format, **report.summary},
            summary=f"{kind}: {report.count(CREATE)} created, {report.count(UPDATE)} updated",
        )
    return report


def _apply(plan: RowPlan, row: RowCells) -> None:
    """Write one row in a savepoint: a refusal from a service undoes that row only."""
    try:
        with db.session.begin_nested():
            plan.apply()
    except PortalError as exc:
        row.error(None, exc.message)
        failed(plan, row)
