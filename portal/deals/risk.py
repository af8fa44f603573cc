"""Hedge-word risk: stalling words in notes and pasted chat, and no next meeting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from portal.db_types import utcnow
from portal.deals.models import Deal, DealNote
from portal.deals.stages import is_open

# Edit here to change what counts as hedging. Chinese words match anywhere; Latin words
# match whole words, case-insensitively (straight or curly apostrophe).
HEDGE_WORDS: tuple[str, ...] = (
    "可能",
    "尽量",
    "争取",
    "再考虑",
    "再看看",
    "以后再说",
    "maybe",
    "try",
    "we'll see",
    "consider",
)
# How many of the latest notes are scanned: what the customer says now matters, not what
# they said at the first meeting.
RECENT_NOTES = 5


def _pattern(word: str) -> re.Pattern[str]:
    if word.isascii():
        body = re.escape(word).replace("'", "['’]")
        return re.compile(rf"(?<![A-Za-z]){body}(?![A-Za-z])", re.IGNORECASE)
    return re.compile(re.escape(word))


_PATTERNS = tuple((word, _pattern(word)) for word in HEDGE_WORDS)


def hedge_words_in(text: str) -> list[str]:
    return [word for word, pattern in _PATTERNS if pattern.search(text)]


@dataclass
class Risk:
    level: str  # "high" | "medium" | "low" | "none" (closed deals)
    words: list[str] = field(default_factory=list)
    no_next_meeting: bool = False


def assess(deal: Deal, notes: list[DealNote], now: datetime | None = None) -> Risk:
    """notes: the deal's notes, newest first. High: hedge words and no meeting, or three or
    more different hedge words; medium: either signal; low: neither."""
    if not is_open(deal.stage):
        return Risk("none")
    now = now or utcnow()
    words: list[str] = []
    for note in notes[:RECENT_NOTES]:
        for word in hedge_words_in(note.text):
            if word not in words:
                words.append(word)
    no_meeting = deal.next_meeting_at is None or deal.next_meeting_at < now
    if (words and no_meeting) or len(words) >= 3:
        level = "high"
    elif words or no_meeting:
        level = "medium"
    else:
        level = "low"
    return Risk(level, words, no_meeting)
