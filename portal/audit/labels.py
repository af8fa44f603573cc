"""What each audit action is called on the admin page, in the reader's language."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "template.published": _l("Template version published"),
    "template.access_changed": _l("Who may send a template changed"),
    "delivery.revoked": _l("Link revoked"),
    "bundle.revoked": _l("Bundle link revoked, with its documents"),
    "portal_link.rotated": _l("Portal link revoked and replaced"),
    "scoring_rule.changed": _l("Scoring rule changed"),
    "keyword_rule.added": _l("Keyword added"),
    "keyword_rule.removed": _l("Keyword removed"),
    "webhook.created": _l("Webhook created"),
    "webhook.removed": _l("Webhook removed"),
    "channel.created": _l("Chat channel added"),
    "channel.removed": _l("Chat channel removed"),
    "user.created": _l("User created"),
    "user.changed": _l("User changed"),
    "api_token.created": _l("API token created"),
    "data.imported": _l("Spreadsheet imported"),
    "deal.changed": _l("Deal changed"),
    "customer.erased": _l("Customer's personal data erased"),
    "customer.exported": _l("Customer's personal data exported"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def detail_text(action: str, value: Any) -> str:
    """One value of an entry's details as a reader wants it: [old, new] of a `user.changed` as
    "old → new", lists joined, mappings as "key: value", nothing as "—"."""
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {detail_text(action, v)}" for k, v in value.items())
    if isinstance(value, list):
        if action in ("user.changed", "deal.changed") and len(value) == 2:
            return f"{detail_text(action, value[0])} → {detail_text(action, value[1])}"
        return ", ".join(detail_text(action, v) for v in value)
    return str(value)
