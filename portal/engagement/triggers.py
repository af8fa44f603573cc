"""What each scoring rule matches: one small function per rule.

An event trigger looks at one event and the facts before it (portal.engagement.facts) and
answers None or a Hit: the scope the points are for ("delivery:7" = once per delivery, ...) and
a short reason. The ledger decides whether that scope was already paid and how much the cap
leaves; a rule that is not repeatable is paid once per customer whatever the scope.

Profile triggers (senior_title, target_industry) look at the customer, not at the event; they
are tried on a customer's first event of each batch until they have paid once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from portal.engagement.facts import OPEN_TYPES, CustomerFacts, Facts, is_interaction
from portal.engagement.ledger import Tally
from portal.engagement.rules import RuleConfig, deep_read_page_ms
from portal.tracking.models import Event, EventType


@dataclass(frozen=True)
class Hit:
    scope: str
    reason: dict[str, Any]


EventTrigger = Callable[[RuleConfig, Event, Facts, CustomerFacts, Tally], Hit | None]
ProfileTrigger = Callable[[RuleConfig, CustomerFacts], dict[str, Any] | None]


def _delivery_scope(event: Event) -> str:
    return f"delivery:{event.delivery_id}" if event.delivery_id else f"event:{event.id}"


def _kind(event: Event, facts: Facts) -> str | None:
    return facts.delivery_kinds.get(event.delivery_id) if event.delivery_id else None


def _list(rule: RuleConfig, name: str) -> list[str]:
    return [str(v) for v in rule.params.get(name) or []]


def pricing_viewed(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """A page or section tagged `pricing` (in the version the session showed) viewed, or a
    `quote` document opened."""
    if event.type == EventType.LINK_OPENED:
        kind = _kind(event, facts)
        if kind in _list(rule, "kinds"):
            return Hit(_delivery_scope(event), {"kind": kind})
        return None
    if event.type == EventType.PAGE_VIEWED and event.session_id in facts.sessions:
        tags = facts.sessions[event.session_id].tags_of(event.page, event.section)
        matched = sorted(tags & set(_list(rule, "tags")))
        if matched:
            reason = {"tag": matched[0], "page": event.page, "session_id": event.session_id}
            if event.section:
                reason["section"] = event.section
            return Hit(_delivery_scope(event), reason)
    return None


def doc_opened(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """Any delivery opened in the viewer: once per delivery."""
    if event.type == EventType.LINK_OPENED and event.delivery_id:
        return Hit(_delivery_scope(event), {"delivery_id": event.delivery_id})
    return None


def long_read(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """One view session's credited read time reaches min_seconds: once per session, paid at
    the report that crossed the line."""
    if event.type != EventType.PAGE_VIEWED or event.session_id not in facts.sessions:
        return None
    read_ms = facts.sessions[event.session_id].read_ms + int(event.duration_ms or 0)
    if read_ms < float(rule.params.get("min_seconds", 120)) * 1000:
        return None
    return Hit(f"session:{event.session_id}", {"read_seconds": read_ms // 1000})


def deep_read(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """The pages read in one session reach ratio of the document's pages, a page counting once
    it has been credited min_page_seconds of read time (a report claiming 0 ms on every page
    is not a deep read: issue 17, finding 5)."""
    if event.type != EventType.PAGE_VIEWED or event.session_id not in facts.sessions:
        return None
    session = facts.sessions[event.session_id]
    if not session.page_count or event.page is None:
        return None
    min_ms = deep_read_page_ms(rule)
    read = dict(session.page_ms)
    read[event.page] = read.get(event.page, 0) + int(event.duration_ms or 0)
    pages = {p for p, ms in read.items() if 1 <= p <= session.page_count and ms >= min_ms}
    if len(pages) < float(rule.params.get("ratio", 0.8)) * session.page_count:
        return None
    return Hit(
        f"session:{event.session_id}", {"pages": len(pages), "page_count": session.page_count}
    )


def brochure_downloaded(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """A `brochure` document downloaded: once per delivery."""
    if event.type == EventType.DOC_DOWNLOADED:
        kind = _kind(event, facts)
        if kind in _list(rule, "kinds"):
            return Hit(_delivery_scope(event), {"kind": kind})
    return None


def case_study_viewed(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """A `case_study` document opened, or a link on a page tagged `case` clicked: once per
    delivery."""
    if event.type == EventType.LINK_OPENED:
        kind = _kind(event, facts)
        if kind in _list(rule, "kinds"):
            return Hit(_delivery_scope(event), {"kind": kind})
    if event.type == EventType.LINK_CLICKED:
        tag = (event.properties or {}).get("content_tag")
        if tag and tag in _list(rule, "tags"):
            return Hit(_delivery_scope(event), {"tag": tag})
    return None


def comment_created(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """Each comment the customer leaves (up to the cap)."""
    if event.type != EventType.COMMENT_CREATED:
        return None
    comment_id = (event.properties or {}).get("comment_id")
    scope = f"comment:{comment_id}" if comment_id is not None else f"event:{event.id}"
    return Hit(scope, {"delivery_id": event.delivery_id})


def return_visit(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """An open (link.opened, portal.visited) on a later calendar day, in the portal's time
    zone, than every earlier open of the customer: once per day, up to the cap."""
    if event.type not in OPEN_TYPES or customer.last_open_at is None:
        return None
    day = facts.local_day(event.occurred_at)
    previous = facts.local_day(customer.last_open_at)
    if day <= previous:
        return None
    return Hit(f"day:{day}", {"day": day, "previous_day": previous})


def frequent_interaction(
    rule: RuleConfig, event: Event, facts: Facts, customer: CustomerFacts, tally: Tally
) -> Hit | None:
    """`count` interactions within `days` days (this one included); then not again until
    `days` days have passed since it last paid."""
    if not is_interaction(event.type):
        return None
    days = timedelta(days=int(rule.params.get("days", 7)))
    at = event.occurred_at
    if any(abs(at - paid) < days for paid in tally.times):
        return None
    count = customer.interactions_between(at - days, at) + 1
    if count < int(rule.params.get("count", 5)):
        return None
    return Hit(f"event:{event.id}", {"interactions": count, "days": days.days})


EVENT_TRIGGERS: dict[str, EventTrigger] = {
    "pricing_viewed": pricing_viewed,
    "doc_opened": doc_opened,
    "long_read": long_read,
    "deep_read": deep_read,
    "brochure_downloaded": brochure_downloaded,
    "case_study_viewed": case_study_viewed,
    "comment_created": comment_created,
    "return_visit": return_visit,
    "frequent_interaction": frequent_interaction,
}


# -- profile rules --------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Latin words match whole words, ignoring case ("Head", not "Headquarters"); Chinese
    words match anywhere in the title ("总监" in "采购总监")."""
    parts = []
    for word in words:
        escaped = re.escape(word)
        parts.append(rf"(?<![A-Za-z]){escaped}(?![A-Za-z])" if word.isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def senior_title(rule: RuleConfig, customer: CustomerFacts) -> dict[str, Any] | None:
    """The title contains a decision-maker word."""
    pattern = _word_pattern(tuple(_list(rule, "words")))
    match = pattern.search(customer.title) if pattern and customer.title else None
    return {"title": customer.title, "matched": match.group(0)} if match else None


def target_industry(rule: RuleConfig, customer: CustomerFacts) -> dict[str, Any] | None:
    """The industry is one of the configured target industries (case and spaces ignored)."""
    industry = customer.industry.strip()
    targets = {value.strip().casefold() for value in _list(rule, "industries")}
    if industry and industry.casefold() in targets:
        return {"industry": industry}
    return None


PROFILE_TRIGGERS: dict[str, ProfileTrigger] = {
    "senior_title": senior_title,
    "target_industry": target_industry,
}
