"""Event types (`link.opened`, `page.viewed`, …) as people read them: one table for every page
that shows what a customer did (score explanations, task cards)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

EVENT_LABELS = {
    "link.opened": _l("Opened"),
    "page.viewed": _l("Viewed a page"),
    "doc.read": _l("Read"),
    "doc.downloaded": _l("Downloaded"),
    "link.clicked": _l("Clicked a link"),
    "portal.visited": _l("Visited the portal"),
    "portal.other_device": _l("Another device visited the portal (not scored)"),
    "comment.created": _l("Commented"),
    "reply.received": _l("Replied"),
    "form.submitted": _l("Submitted a form"),
    "email.opened": _l("Opened the e-mail"),
    "link.fetched": _l("Preview/scan"),
    "internal.viewed": _l("Internal view"),
}


def event_label(event_type: str | None) -> str:
    """The label of an event type; an inbound channel's own `external.*` type reads as
    "Activity from another channel" (its name is the sender's, not ours to translate)."""
    label = EVENT_LABELS.get(event_type or "")
    if label is not None:
        return str(label)
    if (event_type or "").startswith("external."):
        return str(_l("Activity from another channel"))
    return event_type or ""


DEVICE_KINDS = {"phone": _l("phone"), "tablet": _l("tablet"), "desktop": _l("computer")}


def device_label(device: dict) -> str:
    """A device (portal.tracking.devices.Device.as_json) as people read it: "phone · iOS ·
    WeChat", "computer · Windows · Chrome"."""
    parts = [str(DEVICE_KINDS.get(device.get("kind", ""), _l("unknown device")))]
    if device.get("os"):
        parts.append(device["os"])
    if device.get("wechat"):
        parts.append(str(_l("in WeChat")))
    elif device.get("browser"):
        parts.append(device["browser"])
    return " · ".join(parts)
