"""What a keyword recommends (`kind:quote`, `tag:pricing`), as people read it."""

from __future__ import annotations

from flask_babel import gettext

from portal.library.forms import CONTENT_TAG_LABELS, KIND_LABELS


def target_label(target: str) -> str:
    """'kind:quote' -> "Kind: Quote"; 'tag:pricing' -> "Content tag: Pricing"."""
    axis, _, value = (target or "").partition(":")
    if axis == "kind":
        return gettext("Kind: %(kind)s", kind=str(KIND_LABELS.get(value, value)))
    if axis == "tag":
        return gettext("Content tag: %(tag)s", tag=str(CONTENT_TAG_LABELS.get(value, value)))
    return target
