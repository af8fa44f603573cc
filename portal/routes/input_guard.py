"""NUL characters are refused at the door with 400: PostgreSQL cannot store them in text (the
query would fail with a 500), and no field has a use for them. Checked: query strings and form
fields of every request, and JSON bodies under /api/. Uploaded files are not text and are not
checked (a PDF holds NUL bytes)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from portal.errors import PortalError

NUL = "\x00"


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


_FORMS = {"application/x-www-form-urlencoded", "multipart/form-data"}


def refuse_nul() -> None:
    # Bodies are read only when they are forms (or JSON under /api/): other routes set their own
    # body size limit before reading (/t/r), which reading here first would bypass.
    form = request.form.items(multi=True) if request.mimetype in _FORMS else []
    fields = [*request.args.items(multi=True), *form]
    body = request.get_json(silent=True) if request.path.startswith("/api/") else None
    if contains_nul(fields) or contains_nul(body):
        raise PortalError("text must not contain NUL (\\u0000) characters", code="nul_character")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)
