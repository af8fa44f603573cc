"""A deal's row changes only inside portal.deals.services.

Finance's and legal's approvals hold for the terms they saw, and the audit log must show every
correction; portal.deals.services reopens the approvals and writes `deal.changed`. An import
that set `amount_minor` itself (issue 17) left both approvals standing and the log silent. So a
flush that carries a change to a deal's terms, stage, owner, close or meeting made outside
`writing(deal)` is refused before any SQL is sent: a new writer that forgets the service fails
in its first test, not in production.

Not guarded: `created_at`, `updated_at` and `stage_entered_at`, the clock of the deal's history,
which the demo (through services.backdate) and tests move back; no entry point sets them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from portal.deals.models import Deal
from portal.extensions import db

GUARDED = (
    "customer_id",
    "owner_id",
    "title",
    "amount_minor",
    "currency",
    "expected_close",
    "stage",
    "closed_at",
    "lost_reason",
    "next_meeting_at",
)
_WRITING = "portal.deals.writing"


class DealWrittenOutsideService(RuntimeError):
    """A programming error: code changed a deal without portal.deals.services."""


@contextmanager
def writing(deal: Deal) -> Iterator[None]:
    """Inside, changes to `deal` are the service's own; they are flushed before leaving."""
    allowed: set[int] = db.session.info.setdefault(_WRITING, set())
    key = id(deal)
    outer = key not in allowed
    allowed.add(key)
    try:
        yield
        db.session.flush()
    finally:
        if outer:
            allowed.discard(key)


def changed_fields(deal: Deal) -> list[str]:
    state = inspect(deal)
    return [name for name in GUARDED if state.attrs[name].history.has_changes()]


@event.listens_for(Session, "before_flush")
def _refuse_writes_outside_the_service(session: Session, _context: Any, _instances: Any) -> None:
    allowed = session.info.get(_WRITING, ())
    for obj in session.dirty:
        if isinstance(obj, Deal) and id(obj) not in allowed:
            changed = changed_fields(obj)
            if changed:
                raise DealWrittenOutsideService(
                    f"deal {obj.id}: {', '.join(changed)} changed outside portal.deals.services "
                    "(the approvals and the audit log would not know)"
                )
