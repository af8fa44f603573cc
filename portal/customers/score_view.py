"""Why a customer has their score: the ledger rows per rule, with the events behind them, and
the cumulative score over time as the points of a small step chart (drawn as inline SVG by
templates/customers/_score.html).

Everything comes from one query over the customer's ledger (portal.engagement.models.ScoreEntry)
joined to the events, their deliveries and the delivered templates, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.delivery.models import Delivery
from portal.engagement.grades import GRADE_A_MIN, GRADE_B_MIN
from portal.engagement.labels import rule_label
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.library.models import Template
from portal.tracking.models import Event

EVENT_LABELS = {
    "link.opened": _l("Opened"),
    "page.viewed": _l("Viewed a page"),
    "doc.read": _l("Read"),
    "doc.downloaded": _l("Downloaded"),
    "link.clicked": _l("Clicked a link"),
    "portal.visited": _l("Visited the portal"),
    "comment.created": _l("Commented"),
    "reply.received": _l("Replied"),
    "form.submitted": _l("Submitted a form"),
    "email.opened": _l("Opened the e-mail"),
    "link.fetched": _l("Preview/scan"),
    "internal.viewed": _l("Internal view"),
}

# The chart's drawing box (SVG user units; the SVG scales to its container's width).
WIDTH, HEIGHT = 320, 168
LEFT, RIGHT, TOP, BOTTOM = 30, 10, 10, 22


def event_label(event_type: str | None) -> str:
    label = EVENT_LABELS.get(event_type or "")
    return str(label) if label is not None else (event_type or "")


@dataclass
class ScoreEvent:
    """One ledger row: its points and, when an event paid them, what the customer did."""

    points: int
    at: datetime
    event_type: str | None
    document: str | None

    @property
    def label(self) -> str:
        return event_label(self.event_type) if self.event_type else ""


@dataclass
class RuleLine:
    key: str
    points: int = 0
    entries: list[ScoreEvent] = field(default_factory=list)

    @property
    def label(self) -> str:
        return rule_label(self.key)


@dataclass
class ChartPoint:
    x: float
    y: float
    score: int
    at: datetime


@dataclass
class Threshold:
    y: float
    score: int
    grade: str


@dataclass
class ScoreChart:
    path: str  # the step line
    points: list[ChartPoint]
    thresholds: list[Threshold]
    start: datetime
    end: datetime
    zero_y: float  # where the score is 0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    top: int = TOP


@dataclass
class ScoreView:
    total: int
    rules: list[RuleLine]  # the most points first
    chart: ScoreChart | None
    changes: int


def _rows(customer_id: int):
    return db.session.execute(
        select(
            ScoreEntry.rule_key,
            ScoreEntry.points,
            ScoreEntry.at,
            Event.type,
            Event.occurred_at,
            Template.name,
        )
        .outerjoin(Event, Event.id == ScoreEntry.event_id)
        .outerjoin(Delivery, Delivery.id == Event.delivery_id)
        .outerjoin(Template, Template.id == Delivery.template_id)
        .where(ScoreEntry.customer_id == customer_id)
        .order_by(ScoreEntry.at, ScoreEntry.id)
    ).all()


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def build_chart(changes: list[tuple[datetime, int]]) -> ScoreChart | None:
    """The cumulative score after each change (oldest first) as a step line in the box."""
    if not changes:
        return None
    scores, total = [], 0
    for _, points in changes:
        total += points
        scores.append(total)
    low = min(0, *scores)
    high = max(GRADE_A_MIN + 10, *scores)
    start, end = changes[0][0], changes[-1][0]
    span = (end - start).total_seconds()
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_of(index: int, at: datetime) -> float:
        if span <= 0:
            return LEFT + plot_w * (index + 1) / (len(changes) + 1)
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y_of(score: int) -> float:
        return TOP + plot_h * (high - score) / (high - low)

    points = [
        ChartPoint(round(x_of(i, at), 1), round(y_of(score), 1), score, at)
        for i, ((at, _), score) in enumerate(zip(changes, scores, strict=True))
    ]
    zero_y = round(y_of(0), 1)
    path = [f"M{_fmt(LEFT)} {_fmt(zero_y)}"]
    for point in points:
        path.append(f"H{_fmt(point.x)}V{_fmt(point.y)}")
    path.append(f"H{_fmt(WIDTH - RIGHT)}")
    return ScoreChart(
        path="".join(path),
        points=points,
        thresholds=[
            Threshold(round(y_of(GRADE_B_MIN), 1), GRADE_B_MIN, "B"),
            Threshold(round(y_of(GRADE_A_MIN), 1), GRADE_A_MIN, "A"),
        ],
        start=start,
        end=end,
        zero_y=zero_y,
    )


def score_view(customer_id: int) -> ScoreView:
    """The customer's points per rule (with the events behind them) and the chart; one query."""
    rules: dict[str, RuleLine] = {}
    changes: list[tuple[datetime, int]] = []
    for rule_key, points, at, event_type, occurred_at, document in _rows(customer_id):
        line = rules.setdefault(rule_key, RuleLine(rule_key))
        line.points += points
        line.entries.append(ScoreEvent(points, occurred_at or at, event_type, document))
        changes.append((at, points))
    for line in rules.values():
        line.entries.reverse()  # newest first
    ordered = sorted(rules.values(), key=lambda line: (-line.points, line.key))
    return ScoreView(
        total=sum(points for _, points in changes),
        rules=ordered,
        chart=build_chart(changes),
        changes=len(changes),
    )
