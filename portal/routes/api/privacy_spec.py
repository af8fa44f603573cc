"""The privacy routes' part of the OpenAPI document (merged by openapi.build_spec)."""

from __future__ import annotations

from typing import Any

from portal.db_types import MAX_ID
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json

_ID = {
    "name": "customer_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_ERRORS = {
    "401": _error("No or bad API token"),
    "403": _error("The caller may see the customer but not do this"),
    "404": _error("Not found, or outside the caller's scope"),
}
_ROWS = {"type": "array", "items": {"type": "object"}}

PATHS: dict[str, Any] = {
    "/customers/{customer_id}/export": {
        "get": {
            "summary": "Everything Portal holds about one customer (an admin, or the owning "
            "rep): fields, sends, events, view sessions, comments, score entries with their "
            "reasons, tasks",
            "parameters": [_ID],
            "responses": {"200": _json("PersonalDataExport"), **_ERRORS},
        }
    },
    "/customers/{customer_id}/erase": {
        "post": {
            "summary": "Erase one customer and everything that names them (admins only; cannot "
            "be undone). Afterwards the customer is 404 and their links answer 410",
            "parameters": [_ID],
            "responses": {"200": _json("Erased"), **_ERRORS},
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "PersonalDataExport": {
        "type": "object",
        "required": [
            "customer",
            "deliveries",
            "events",
            "sessions",
            "comments",
            "score_entries",
            "tasks",
        ],
        "properties": {
            "customer": {"type": "object"},
            "deliveries": _ROWS,
            "events": _ROWS,
            "sessions": _ROWS,
            "comments": _ROWS,
            "score_entries": _ROWS,
            "tasks": _ROWS,
        },
    },
    "Erased": {
        "type": "object",
        "required": ["erased"],
        "properties": {"erased": {"type": "boolean", "const": True}},
    },
}
