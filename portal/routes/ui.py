"""What every staff page template can use: labels, the current language, small filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, has_request_context, request
from flask_babel import format_datetime, get_locale, refresh
from flask_login import current_user

from portal.accounts.forms import LANGUAGE_LABELS, ROLE_LABELS
from portal.library import permissions
from portal.library.forms import CONTENT_TAG_LABELS, KIND_LABELS, POLICY_LABELS
from portal.recommendations.labels import target_label
from portal.tracking.labels import device_label, event_label
from portal.webhooks.labels import status_label as webhook_status_label


def _label(labels: dict[str, Any], value: str | None) -> str:
    return str(labels.get(value or "", value or ""))


def current_language() -> str:
    return "en" if str(get_locale()).startswith("en") else "zh_CN"


def _here() -> str:
    """Where the language switch sends the reader back to (path and query only)."""
    if not has_request_context():  # e-mails rendered by background jobs
        return "/"
    return request.full_path if request.query_string else request.path


def field_attrs(field: Any) -> dict[str, str]:
    """ARIA attributes tying a form field to its hint and its errors."""
    described = []
    if field.description:
        described.append(f"{field.id}-hint")
    if field.errors:
        described.append(f"{field.id}-error")
    attrs = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def _context() -> dict[str, Any]:
    lang = current_language()
    other = "en" if lang == "zh_CN" else "zh_CN"
    signed_in = bool(current_user and current_user.is_authenticated)
    return {
        "current_lang": lang,
        "html_lang": "zh-CN" if lang == "zh_CN" else "en",
        "other_lang": other,
        "other_lang_label": LANGUAGE_LABELS[other],
        "here": _here(),
        "can_manage_library": signed_in and permissions.can_manage_library(current_user),
    }


def _datetime(value: datetime | None) -> str:
    return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""


def _date(value: datetime | None) -> str:
    return format_datetime(value, "yyyy-MM-dd") if value else ""


def _filesize(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def _choose_language_per_request() -> None:
    # Flask-Babel caches the locale on `g`, which outlives a request whenever an app context
    # was already pushed (tests, scripts): choose it again for every request.
    refresh()


def register(app: Flask) -> None:
    app.before_request(_choose_language_per_request)
    app.context_processor(_context)
    app.add_template_global(field_attrs)
    app.add_template_global(lambda v: _label(KIND_LABELS, v), "kind_label")
    app.add_template_global(lambda v: _label(ROLE_LABELS, v), "role_label")
    app.add_template_global(lambda v: _label(POLICY_LABELS, v), "policy_label")
    app.add_template_global(lambda v: _label(CONTENT_TAG_LABELS, v), "tag_label")
    app.add_template_filter(lambda v: _label(CONTENT_TAG_LABELS, v), "tag_label")
    app.add_template_global(event_label, "event_label")
    app.add_template_global(device_label, "device_label")
    app.add_template_global(target_label, "target_label")
    app.add_template_global(webhook_status_label, "webhook_status_label")
    app.add_template_filter(_datetime, "datetime")
    app.add_template_filter(_date, "date")
    app.add_template_filter(_filesize, "filesize")
