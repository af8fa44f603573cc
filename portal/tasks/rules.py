"""The task rules (DESIGN.md "Default task rules"): their defaults, settings, and texts.

Settings live in the `task_rules` table, seeded by migration 0004 with DEFAULTS; a key with no
row falls back to its default, so the rules work on an empty table too (the tests empty every
table). What each rule reacts to is in portal.tasks.handlers (events, grade changes) and
portal.tasks.tick (the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from flask_babel import gettext
from sqlalchemy import select

from portal.extensions import db
from portal.tasks.models import TaskRule

CALLBACK_24H: Final = "callback_24h"
CASE_STUDY_PUSH: Final = "case_study_push"
GRADE_A: Final = "grade_a"
COMMENT_FOLLOWUP: Final = "comment_followup"
OVERDUE_ESCALATION: Final = "overdue_escalation"

# The seed (migration 0004 inserts exactly these).
DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    CALLBACK_24H: {"min_seconds": 120, "due_hours": 24},
    CASE_STUDY_PUSH: {"tags": ["case"], "kinds": ["case_study"], "due_hours": 24},
    GRADE_A: {"due_hours": 4},
    COMMENT_FOLLOWUP: {"business_days": 1},
    OVERDUE_ESCALATION: {},
}


@dataclass(frozen=True)
class TaskRuleConfig:
    key: str
    enabled: bool
    params: dict[str, Any]


def load_task_rules() -> dict[str, TaskRuleConfig]:
    """Every task rule by key (one query); keys without a row get their defaults."""
    rows = {row.key: row for row in db.session.scalars(select(TaskRule))}
    rules = {}
    for key, params in DEFAULTS.items():
        row = rows.get(key)
        merged = {**params, **(dict(row.params or {}) if row else {})}
        rules[key] = TaskRuleConfig(key, row.enabled if row else True, merged)
    return rules


def enabled_rule(key: str) -> TaskRuleConfig | None:
    rule = load_task_rules()[key]
    return rule if rule.enabled else None


def install_defaults() -> None:
    """Insert the default rows that are missing (the migration's seed, for tests and demos)."""
    existing = set(db.session.scalars(select(TaskRule.key)))
    for key, params in DEFAULTS.items():
        if key not in existing:
            db.session.add(TaskRule(key=key, enabled=True, params=dict(params)))
    db.session.flush()


def title_for(rule_key: str) -> str:
    """The task's title in the reader's language."""
    titles = {
        CALLBACK_24H: gettext("Call back within 24 h"),
        CASE_STUDY_PUSH: gettext("Follow up on the solution pack"),
        GRADE_A: gettext("Exclusive service channel: grade A customer"),
        COMMENT_FOLLOWUP: gettext("Reply to the comment"),
    }
    return titles.get(rule_key, rule_key)


def reason_for(rule_key: str, reason: dict[str, Any]) -> str:
    """Why the task exists, in the reader's language."""
    if rule_key == CALLBACK_24H:
        return gettext(
            "Read “%(document)s” for %(seconds)d seconds in one session",
            document=reason.get("document", ""),
            seconds=int(reason.get("read_seconds", 0)),
        )
    if rule_key == CASE_STUDY_PUSH:
        if reason.get("pack"):
            return gettext(
                "Viewed a case study; the solution pack “%(pack)s” was delivered to the portal",
                pack=reason.get("pack", ""),
            )
        return gettext(
            "Viewed a case study; no solution pack is configured for the industry “%(industry)s”",
            industry=reason.get("industry") or "-",
        )
    if rule_key == GRADE_A:
        return gettext("Score reached %(score)d: grade A", score=int(reason.get("score", 0)))
    if rule_key == COMMENT_FOLLOWUP:
        return gettext("Commented: %(excerpt)s", excerpt=reason.get("excerpt", ""))
    return rule_key
