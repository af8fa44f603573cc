"""NUL characters are refused at the door with 400: PostgreSQL cannot store them in text (the
query would fail with a 500), and no field has a use for them. Checked: query strings and form
fields of every request, and JSON bodies under /api/. Uploaded files are not text and are not
checked (a PDF holds NUL bytes).

JSON bodies under /api/ are also refused at the door when they nest deeper than MAX_JSON_DEPTH
(json_too_deep) or hold NaN / Infinity (json_number): both would otherwise end in a 500."""

from __future__ import annotations

import math
from typing import Any

from flask import Flask, request

from portal.errors import PortalError

NUL = "\x00"
# Deeper JSON is refused before anything reads it: a parser or a walk through a few thousand
# levels runs out of stack (RecursionError: a 500). No field of the API needs more than a few.
MAX_JSON_DEPTH = 32


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
    body = json_body_of_request() if request.path.startswith("/api/") else None
    if contains_nul(fields) or contains_nul(body):
        raise PortalError("text must not contain NUL (\\u0000) characters", code="nul_character")


def json_depth(value: Any) -> int:
    """How deep a parsed JSON value nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def json_body_of_request() -> Any:
    """The request's JSON (None when it is not JSON); 400 json_too_deep beyond MAX_JSON_DEPTH and
    400 json_number for NaN or ±Infinity (not JSON, but Python's parser takes them)."""
    too_deep = PortalError(
        f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", code="json_too_deep"
    )
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise too_deep from None
    if json_depth(body) > MAX_JSON_DEPTH:
        raise too_deep
    if _has_non_finite(body):
        raise PortalError("numbers in JSON must be finite (no NaN or Infinity)", code="json_number")
    return body


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)
