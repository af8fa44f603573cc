"""Recommend templates for a customer's chat message.

The words of the message (portal.recommendations.keywords) point at template kinds and content
tags; the candidates are the templates the rep may send (the library list scoped to them, with a
published version) whose industry is the customer's or empty (industry-agnostic), newest first.
Each result carries the matched words as its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.accounts.models import User
from portal.customers.models import Customer
from portal.library import permissions
from portal.library.models import Template
from portal.library.services import LibraryFilter, list_templates
from portal.recommendations.keywords import find_matches, load_map

MAX_TEXT = 5000
MAX_ITEMS = 20


@dataclass
class Recommendation:
    template: Template
    words: list[str]
    # True: made for another industry than the customer's, offered because no material of the
    # customer's industry (or none) matches the words.
    other_industry: bool = False

    @property
    def reason(self) -> str:
        return ", ".join(self.words)


def _targets_of(template: Template) -> set[str]:
    targets = {f"kind:{template.kind}"}
    version = template.latest_version
    if version is not None:
        for tags in (version.content_tags or {}).values():
            targets.update(f"tag:{tag}" for tag in tags)
    return targets


def matched_words(text: str) -> list[str]:
    """The keywords of the map found in text (what the recommendation understood)."""
    return [m.keyword for m in find_matches(text[:MAX_TEXT], load_map())]


def recommend(user: User, customer: Customer, text: str) -> list[Recommendation]:
    """Templates for customer (already scoped to user) matching text, newest first.

    Materials of the customer's industry (or of none) come first. When none of them matches,
    the matching materials of other industries are offered, marked as such: a rep who types
    "报价" for a customer in an industry without its own quote gets the quotes there are
    rather than "no match" for a word the map knows."""
    matches = find_matches(text[:MAX_TEXT], load_map())
    if not matches:
        return []
    fitting: list[Recommendation] = []
    others: list[Recommendation] = []
    for template in list_templates(user, LibraryFilter()):
        if template.latest_version is None or not permissions.can_send(user, template):
            continue
        targets = _targets_of(template)
        words = [m.keyword for m in matches if targets.intersection(m.targets)]
        if not words:
            continue
        if customer.industry and template.industry not in ("", customer.industry):
            others.append(Recommendation(template, words, other_industry=True))
        else:
            fitting.append(Recommendation(template, words))
    return (fitting or others)[:MAX_ITEMS]
