"""Scoring rules (editable, versioned) and the append-only ledger of points.

A customer's score is the sum of their ledger rows; every row names the rule and the rule
version that gave the points, and the event that triggered them, so any score can be explained
(customers.services.score_breakdown) and rebuilt (portal.engagement.recompute).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class ScoringRule(db.Model):
    """One scoring rule as it is now; every edit bumps `version` and appends a revision."""

    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    points: Mapped[int]
    # The most points (in absolute value) this rule may give one customer in total; None: no cap.
    cap: Mapped[int | None]
    # False: at most once per customer. True: once per the rule's own scope (a delivery, a
    # session, a day, a comment, ...), up to the cap.
    repeatable: Mapped[bool]
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    # Rule settings, e.g. {"min_seconds": 120}, {"ratio": 0.8}, {"words": [...]}
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ScoringRuleRevision(db.Model):
    """Append-only history: the full state of a rule after each edit (version 1 = the seed)."""

    __tablename__ = "scoring_rule_revisions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int]
    points: Mapped[int]
    cap: Mapped[int | None]
    repeatable: Mapped[bool]
    enabled: Mapped[bool]
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ScoreEntry(db.Model):
    """One change of a customer's points. Rows are only ever added (a recompute replaces the
    rows of the customers it rebuilds, from their events).

    `scope` is what "once per ..." means for the rule ("once", "delivery:7", "session:12",
    "day:2026-03-02", ...): unique per (customer, rule), so a rule can never pay twice for the
    same thing, whatever the concurrency."""

    __tablename__ = "score_entries"
    __table_args__ = (
        UniqueConstraint("customer_id", "rule_key", "scope"),
        Index("ix_score_entries_customer_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    rule_key: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[int]
    points: Mapped[int]
    scope: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"),
        ForeignKey("events.id", ondelete="SET NULL"),
        index=True,
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # when it happened (the event's time)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class GradeACrossing(db.Model):
    """A rollup of the ledger: each ledger row at which a customer's running score (the ledger
    in (at, id) order) reached grade A from below, and when. Kept by
    portal.engagement.crossings wherever scores are set from the ledger (the scoring handler,
    the tick, `scores recompute`), so analytics and the funnel read one small row per crossing
    instead of running sums over the ledger."""

    __tablename__ = "grade_a_crossings"
    __table_args__ = (Index("ix_grade_a_crossings_customer_at", "customer_id", "at"),)

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"),
        ForeignKey("score_entries.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # the crossing ledger row's time
