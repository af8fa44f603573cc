"""The keyword map: defaults (DESIGN.md), editing, and matching words in a message.

Matching is case-insensitive. Latin keywords match whole words only ("case" is not in
"showcase"); Chinese keywords match as substrings. Longer keywords win where they overlap, so
"客户案例" and "案例" in "客户案例" count once (as 客户案例), and full-width punctuation is just
a separator.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.audit import service as audit
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.library.models import TemplateKind
from portal.recommendations.models import KeywordRule

# keyword -> target; DESIGN.md "Keyword recommendation defaults" (migration 0005 seeds the same).
DEFAULT_KEYWORDS: dict[str, list[str]] = {
    "kind:quote": ["报价", "价格", "多少钱", "quote", "price", "pricing"],
    "tag:pricing": ["报价", "价格", "多少钱", "quote", "price", "pricing"],
    "kind:solution": ["方案", "解决方案", "proposal", "solution"],
    "kind:case_study": ["案例", "客户案例", "case", "reference"],
    "kind:brochure": ["手册", "资料", "介绍", "brochure"],
}

_TAG_RE = re.compile(r"^[a-z0-9_\-]{1,40}$")


@dataclass(frozen=True)
class Match:
    keyword: str
    targets: tuple[str, ...]


def normalize_keyword(keyword: str) -> str:
    return unicodedata.normalize("NFKC", keyword or "").strip().lower()


def validate_target(target: str) -> str:
    target = (target or "").strip().lower()
    axis, _, value = target.partition(":")
    if axis == "kind" and value in {k.value for k in TemplateKind}:
        return target
    if axis == "tag" and _TAG_RE.match(value):
        return target
    kinds = ", ".join(k.value for k in TemplateKind)
    raise ValidationFailed(
        f"target must be kind:<{kinds}> or tag:<content tag>, not {target!r}",
        code="bad_target",
        field="target",
    )


def default_rows() -> list[tuple[str, str]]:
    """(keyword, target) pairs; a keyword may point at several targets (报价: quote + pricing)."""
    return [(word, target) for target, words in DEFAULT_KEYWORDS.items() for word in words]


def load_map(rules: Iterable[KeywordRule] | None = None) -> dict[str, tuple[str, ...]]:
    """keyword -> its targets, from the enabled rules."""
    if rules is None:
        rules = db.session.scalars(select(KeywordRule).where(KeywordRule.enabled.is_(True)))
    mapping: dict[str, list[str]] = {}
    for rule in rules:
        mapping.setdefault(rule.keyword, []).append(rule.target)
    return {keyword: tuple(targets) for keyword, targets in mapping.items()}


def _is_latin(keyword: str) -> bool:
    return all(ord(ch) < 0x3000 for ch in keyword)


def _pattern(keyword: str) -> str:
    escaped = re.escape(keyword)
    if _is_latin(keyword):
        # a whole word: not inside a longer Latin word or number (CJK around it is fine)
        return rf"(?<![a-z0-9]){escaped}(?![a-z0-9])"
    return escaped


def find_matches(text: str, mapping: dict[str, tuple[str, ...]]) -> list[Match]:
    """The keywords found in text, longest first where they overlap, in order of appearance."""
    if not mapping or not text:
        return []
    haystack = unicodedata.normalize("NFKC", text).lower()
    ordered = sorted(mapping, key=lambda k: (-len(k), k))
    regex = re.compile("|".join(f"({_pattern(k)})" for k in ordered))
    found: list[Match] = []
    seen: set[str] = set()
    for hit in regex.finditer(haystack):
        keyword = ordered[hit.lastindex - 1]
        if keyword not in seen:
            seen.add(keyword)
            found.append(Match(keyword, mapping[keyword]))
    return found


# --- editing (the CLI today; an admin page can call the same functions) ---


def list_rules() -> list[KeywordRule]:
    return list(
        db.session.scalars(select(KeywordRule).order_by(KeywordRule.target, KeywordRule.keyword))
    )


def add_rule(keyword: str, target: str, by: User | None = None) -> KeywordRule:
    """Add keyword -> target (or re-enable it when it exists); `by` None: the CLI."""
    require_admin(by, "change the keyword map")
    word = normalize_keyword(keyword)
    if not word or len(word) > 60:
        raise ValidationFailed(
            "keyword must be 1 to 60 characters", code="bad_keyword", field="keyword"
        )
    target = validate_target(target)
    rule = db.session.scalar(
        select(KeywordRule).where(KeywordRule.keyword == word, KeywordRule.target == target)
    )
    if rule is None:
        rule = KeywordRule(keyword=word, target=target, enabled=True)
        db.session.add(rule)
    rule.enabled = True
    db.session.flush()
    audit.record("keyword_rule.added", rule, by=by, summary=f"{rule.keyword} → {rule.target}")
    return rule


def remove_rule(keyword: str, target: str | None = None, by: User | None = None) -> int:
    """Delete keyword's rules (only the one for target, when given); how many were deleted."""
    require_admin(by, "change the keyword map")
    query = select(KeywordRule).where(KeywordRule.keyword == normalize_keyword(keyword))
    if target:
        query = query.where(KeywordRule.target == target.strip().lower())
    rules = list(db.session.scalars(query))
    for rule in rules:
        audit.record("keyword_rule.removed", rule, by=by, summary=f"{rule.keyword} → {rule.target}")
        db.session.delete(rule)
    db.session.flush()
    return len(rules)


def install_defaults() -> list[tuple[str, str]]:
    """Add the default (keyword, target) rules that are missing; the pairs added."""
    existing = set(db.session.execute(select(KeywordRule.keyword, KeywordRule.target)).all())
    added = [pair for pair in default_rows() if pair not in existing]
    db.session.add_all(KeywordRule(keyword=w, target=t, enabled=True) for w, t in added)
    db.session.flush()
    return added
