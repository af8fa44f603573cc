"""A webhook delivery's status as people read it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "pending": _l("Waiting to be sent"),
    "delivered": _l("Delivered"),
    "failed": _l("Failed"),
}


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(status or "", status or ""))
