"""What an import decides for one row, and the errors it reports (row number + column)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
ERROR = "error"


@dataclass
class RowError:
    row: int  # as Excel shows it (the header is row 1 in a sheet that starts at the top)
    column: str  # the header as written in the sheet ('' for the whole row)
    field: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


@dataclass
class RowPlan:
    row: int
    action: str = UNCHANGED
    label: str = ""
    changes: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    apply: Callable[[], Any] | None = None  # writes the row (create or update)

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "action": self.action,
            "label": self.label,
            "changes": self.changes,
        }


class RowCells:
    """The cells of one row by field, and the errors found while reading them."""

    def __init__(self, row: int, cells: list[Any], positions: dict[str, int], headers: dict):
        self.row = row
        self._cells = cells
        self._positions = positions
        self._headers = headers
        self.errors: list[RowError] = []

    def has(self, name: str) -> bool:
        return name in self._positions

    def raw(self, name: str) -> Any:
        position = self._positions.get(name)
        if position is None or position >= len(self._cells):
            return None
        return self._cells[position]

    def read(self, name: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        """parse(cell) for a non-empty cell, default for an empty one; a CellError becomes a
        RowError on this column (and the default is returned)."""
        from portal.exchange.cells import CellError

        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return parse(value)
        except CellError as exc:
            self.error(name, str(exc))
            return default

    def has_error(self, name: str) -> bool:
        return any(error.field == name for error in self.errors)

    def error(self, name: str | None, message: str) -> None:
        column = self._headers.get(name, name or "") if name else ""
        self.errors.append(RowError(self.row, column, name, message))


def failed(plan: RowPlan, row: RowCells) -> RowPlan:
    """The row is refused: its plan carries the row's errors and writes nothing."""
    plan.action = ERROR
    plan.errors = row.errors
    plan.apply = None
    plan.changes = []
    return plan
