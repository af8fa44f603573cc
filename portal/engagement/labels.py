"""Scoring rules' names as people read them (one table for every page that shows rules)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# DESIGN.md's rule keys.
RULE_LABELS = {
    "pricing_viewed": _l("Viewed the pricing"),
    "brochure_downloaded": _l("Downloaded the brochure"),
    "no_reply_3d": _l("No reply in 3 days"),
    "doc_opened": _l("Opened a material"),
    "long_read": _l("Read for a long time"),
    "deep_read": _l("Read in depth"),
    "case_study_viewed": _l("Viewed the case study"),
    "return_visit": _l("Came back"),
    "comment_created": _l("Commented on a material"),
    "frequent_interaction": _l("Interacts often"),
    "senior_title": _l("Senior job title"),
    "target_industry": _l("In a target industry"),
}


def rule_label(key: str) -> str:
    label = RULE_LABELS.get(key)
    return str(label) if label is not None else key
