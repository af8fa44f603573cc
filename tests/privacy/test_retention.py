"""Raw reading records expire after PORTAL_EVENT_RETENTION_DAYS (issue 18): old events, view
sessions and address hashes go at the tick; scores and their ledger totals stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import jobs
from portal.audit.models import AuditEntry
from portal.customers.models import Customer
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.tasks.tick import run_tick
from portal.tracking.models import Event, ViewSession

DAY = timedelta(days=1)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ledger_total(customer_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(ScoreEntry.points), 0)).where(
            ScoreEntry.customer_id == customer_id
        )
    )


def age(customer_id: int, days: int) -> None:
    """Move the customer's raw records `days` into the past."""
    shift = days * DAY
    for event in db.session.scalars(select(Event).where(Event.customer_id == customer_id)):
        event.occurred_at -= shift
    sessions = select(ViewSession).where(ViewSession.customer_id == customer_id)
    for session in db.session.scalars(sessions):
        session.started_at -= shift
        session.last_seen_at -= shift
    for entry in db.session.scalars(select(AuditEntry)):
        entry.at -= shift
        entry.ip_hash = "abc123"
    jobs.commit()


def test_the_tick_expires_old_raw_records_and_keeps_scores(app, people):
    _admin, _rep, person, other, _sent = people
    pid, oid = person.id, other.id
    score = db.session.get(Customer, pid).score
    total = ledger_total(pid)
    assert score > 0 and total == score
    other_events = count(Event, Event.customer_id == oid)
    assert count(Event, Event.customer_id == pid) and count(
        ViewSession, ViewSession.customer_id == pid
    )

    age(pid, 700)  # inside the default 730 days: nothing goes
    run_tick()
    jobs.commit()
    assert count(Event, Event.customer_id == pid) > 0

    age(pid, 40)  # now 740 days old
    run_tick()
    jobs.commit()
    db.session.expire_all()
    assert count(Event, Event.customer_id == pid) == 0
    assert count(ViewSession, ViewSession.customer_id == pid) == 0
    assert count(AuditEntry, AuditEntry.ip_hash != "") == 0
    assert db.session.get(Customer, pid).score == score
    assert ledger_total(pid) == total
    assert count(Event, Event.customer_id == oid) == other_events  # recent ones stay


def test_privacy_expire_follows_the_configured_days(app, runner, people):
    _admin, _rep, person, other, _sent = people
    pid, oid = person.id, other.id
    age(pid, 10)
    app.config["EVENT_RETENTION_DAYS"] = 30
    result = runner.invoke(args=["privacy", "expire"])
    assert result.exit_code == 0, result.output
    assert count(Event, Event.customer_id == pid) > 0
    app.config["EVENT_RETENTION_DAYS"] = 5
    result = runner.invoke(args=["privacy", "expire"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert count(Event, Event.customer_id == pid) == 0
    assert count(Event, Event.customer_id == oid) > 0
