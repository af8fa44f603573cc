"""The scoring rules: their defaults (DESIGN.md), reading them, and editing them with a history.

Rules live in the `scoring_rules` table (seeded by migration 0003 with DEFAULT_RULES). An admin
may change a rule's points, cap, repeatable flag, enabled flag and params; each change bumps the
rule's version and appends a `scoring_rule_revisions` row, and ledger rows record the version
that paid them. What each rule matches is in portal.engagement.triggers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.engagement.models import ScoringRule, ScoringRuleRevision
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.library.models import TemplateKind

# Decision-maker words (DESIGN.md); Latin ones match whole words, ignoring case.
SENIOR_WORDS: Final = (
    "总经理",
    "总监",
    "副总",
    "VP",
    "CEO",
    "CTO",
    "采购负责人",
    "Director",
    "Head",
)
MAX_POINTS = 1000
# deep_read: the credited read time a page needs to count as read, when the rule's params do
# not say (params.min_page_seconds). Not in the seed: rules seeded before it get it too.
DEEP_READ_PAGE_SECONDS: Final = 5


@dataclass(frozen=True)
class RuleDefault:
    key: str
    points: int
    cap: int | None
    repeatable: bool
    params: dict[str, Any] = field(default_factory=dict)


# The seed (migration 0003 inserts exactly these; tests/engagement check that they agree).
DEFAULT_RULES: Final[tuple[RuleDefault, ...]] = (
    RuleDefault("pricing_viewed", 20, 20, False, {"tags": ["pricing"], "kinds": ["quote"]}),
    RuleDefault("brochure_downloaded", 15, 30, True, {"kinds": ["brochure"]}),
    RuleDefault("no_reply_3d", -10, 30, True, {"days": 3}),
    RuleDefault("doc_opened", 5, 50, True),
    RuleDefault("long_read", 10, 30, True, {"min_seconds": 120}),
    RuleDefault("deep_read", 10, 30, True, {"ratio": 0.8}),
    RuleDefault("case_study_viewed", 10, 30, True, {"tags": ["case"], "kinds": ["case_study"]}),
    RuleDefault("return_visit", 5, 15, True),
    RuleDefault("comment_created", 15, 45, True),
    RuleDefault("frequent_interaction", 10, 30, True, {"count": 5, "days": 7}),
    RuleDefault("senior_title", 15, 15, False, {"words": list(SENIOR_WORDS)}),
    RuleDefault("target_industry", 10, 10, False, {"industries": ["制造业"]}),
)

# Rules the clock applies (`flask tick`), not the event handler.
CLOCK_RULES: Final = frozenset({"no_reply_3d"})
# Rules about who the customer is, applied once per customer on their first scored event.
PROFILE_RULES: Final = frozenset({"senior_title", "target_industry"})


@dataclass(frozen=True)
class RuleConfig:
    """A rule as it stands, detached from the session (safe to keep for a whole batch)."""

    key: str
    points: int
    cap: int | None
    repeatable: bool
    enabled: bool
    version: int
    params: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.enabled and self.points != 0

    @classmethod
    def of(cls, rule: ScoringRule) -> RuleConfig:
        return cls(
            key=rule.key,
            points=rule.points,
            cap=rule.cap,
            repeatable=rule.repeatable,
            enabled=rule.enabled,
            version=rule.version,
            params=dict(rule.params or {}),
        )


def load_rules() -> dict[str, RuleConfig]:
    """Every rule by key (one query)."""
    rows = db.session.execute(
        select(
            ScoringRule.key,
            ScoringRule.points,
            ScoringRule.cap,
            ScoringRule.repeatable,
            ScoringRule.enabled,
            ScoringRule.version,
            ScoringRule.params,
        )
    )
    return {row.key: RuleConfig(**row._asdict()) for row in rows}


def active_rules() -> dict[str, RuleConfig]:
    return {key: rule for key, rule in load_rules().items() if rule.active}


def get_rule(key: str) -> ScoringRule:
    rule = db.session.scalar(select(ScoringRule).where(ScoringRule.key == key))
    if rule is None:
        raise NotFound(f"no scoring rule {key!r}")
    return rule


def install_defaults(by: User | None = None) -> list[str]:
    """Insert the default rules that are missing (version 1); the keys inserted."""
    require_admin(by, "change scoring rules")
    existing = set(db.session.scalars(select(ScoringRule.key)))
    now = utcnow()
    added = []
    for default in DEFAULT_RULES:
        if default.key in existing:
            continue
        rule = ScoringRule(
            key=default.key,
            points=default.points,
            cap=default.cap,
            repeatable=default.repeatable,
            enabled=True,
            version=1,
            params=dict(default.params),
            updated_at=now,
            updated_by_id=by.id if by else None,
        )
        db.session.add(rule)
        db.session.add(_revision(rule, now, by))
        added.append(default.key)
    db.session.flush()
    return added


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def update_rule(
    key: str,
    *,
    by: User | None,
    points: int = UNSET,
    cap: int | None = UNSET,
    repeatable: bool = UNSET,
    enabled: bool = UNSET,
    params: dict[str, Any] = UNSET,
) -> ScoringRule:
    """Change a rule (only what is given); a real change makes a new version and revision.

    `by` must be an admin (None: the system, e.g. the CLI). `params` are merged over the
    current ones and checked against what the rule understands."""
    require_admin(by, "change scoring rules")
    rule = get_rule(key)
    changes: dict[str, Any] = {}
    if points is not UNSET:
        if not _integer(points) or not -MAX_POINTS <= points <= MAX_POINTS:
            raise ValidationFailed(
                f"points must be a whole number from -{MAX_POINTS} to {MAX_POINTS}",
                code="bad_points",
                field="points",
                limit=MAX_POINTS,
            )
        changes["points"] = points
    if cap is not UNSET:
        if cap is not None and (not _integer(cap) or cap < 0):
            raise ValidationFailed(
                "cap must be a whole number of points from 0, or none", code="bad_cap", field="cap"
            )
        changes["cap"] = cap
    if repeatable is not UNSET:
        changes["repeatable"] = _flag("repeatable", repeatable)
    if enabled is not UNSET:
        changes["enabled"] = _flag("enabled", enabled)
    if params is not UNSET:
        changes["params"] = check_params(key, {**(rule.params or {}), **_mapping(params)})
    changes = {name: value for name, value in changes.items() if getattr(rule, name) != value}
    if not changes:
        return rule
    now = utcnow()
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.version += 1
    rule.updated_at = now
    rule.updated_by_id = by.id if by else None
    db.session.add(_revision(rule, now, by))
    db.session.flush()
    audit.record(
        "scoring_rule.changed",
        rule,
        by=by,
        summary=f"{rule.key} v{rule.version}",
        details={"version": rule.version, "changes": changes},
    )
    return rule


def revisions(key: str) -> list[ScoringRuleRevision]:
    return list(
        db.session.scalars(
            select(ScoringRuleRevision)
            .where(ScoringRuleRevision.key == key)
            .order_by(ScoringRuleRevision.version)
        )
    )


def _revision(rule: ScoringRule, now, by: User | None) -> ScoringRuleRevision:
    return ScoringRuleRevision(
        key=rule.key,
        version=rule.version,
        points=rule.points,
        cap=rule.cap,
        repeatable=rule.repeatable,
        enabled=rule.enabled,
        params=dict(rule.params or {}),
        at=now,
        by_id=by.id if by else None,
    )


# -- params ---------------------------------------------------------------------------------------


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", code="not_a_boolean", field=name)
    return value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed("params must be an object", code="not_an_object", field="params")
    return value


def _positive_number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValidationFailed(
            f"{name} must be a number greater than 0", code="not_a_positive_number", field=name
        )
    return value


def _positive_int(name: str, value: Any) -> int:
    if not _integer(value) or value < 1:
        raise ValidationFailed(
            f"{name} must be a whole number from 1", code="not_a_positive_whole_number", field=name
        )
    return value


def _ratio(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValidationFailed(
            f"{name} must be a fraction greater than 0 and at most 1",
            code="not_a_fraction",
            field=name,
        )
    return float(value)


def _words(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(
            f"{name} must be a list of words", code="not_a_word_list", field=name
        )
    return [v.strip() for v in value if v.strip()]


def _kinds(name: str, value: Any) -> list[str]:
    kinds = _words(name, value)
    unknown = sorted(set(kinds) - {k.value for k in TemplateKind})
    if unknown:
        raise ValidationFailed(
            f"{name}: unknown template kinds {', '.join(unknown)}",
            code="unknown_template_kinds",
            field=name,
            kinds=", ".join(unknown),
        )
    return kinds


PARAMS: Final[dict[str, dict[str, Any]]] = {
    "pricing_viewed": {"tags": _words, "kinds": _kinds},
    "brochure_downloaded": {"kinds": _kinds},
    "no_reply_3d": {"days": _positive_int},
    "long_read": {"min_seconds": _positive_number},
    "deep_read": {"ratio": _ratio, "min_page_seconds": _positive_number},
    "case_study_viewed": {"tags": _words, "kinds": _kinds},
    "frequent_interaction": {"count": _positive_int, "days": _positive_int},
    "senior_title": {"words": _words},
    "target_industry": {"industries": _words},
}


def deep_read_page_ms(rule: RuleConfig) -> float:
    """The credited milliseconds a page needs for deep_read (both scoring paths use this)."""
    return float(rule.params.get("min_page_seconds", DEEP_READ_PAGE_SECONDS)) * 1000


def check_params(key: str, params: dict[str, Any]) -> dict[str, Any]:
    """params cleaned, or ValidationFailed naming what the rule does not understand."""
    known = PARAMS.get(key, {})
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValidationFailed(
            f"{key}: unknown params {', '.join(unknown)} (allowed: {allowed})",
            code="unknown_params",
            field="params",
            names=", ".join(unknown),
        )
    return {name: known[name](name, value) for name, value in params.items()}
