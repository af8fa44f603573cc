"""The account routes' part of the OpenAPI document (merged by openapi.build_spec)."""

from __future__ import annotations

from typing import Any

from portal.db_types import MAX_ID
from portal.deals.stages import OPEN_STAGES
from portal.read_models.accounts import MAX_PAGE, MAX_PER_PAGE
from portal.routes.api.spec_parts import INT as _INT
from portal.routes.api.spec_parts import STR as _STR
from portal.routes.api.spec_parts import TIME as _TIME
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json
from portal.routes.api.spec_parts import ref as _ref

_ERRORS = {
    "400": _error("Malformed request: NUL characters in the query"),
    "401": _error("No or bad API token"),
    "404": _error("Not found, or outside the caller's scope"),
}
_SCOPE = (
    "An account is a company; its contacts are customers (`account_id`). The caller sees an "
    "account when they may see one of its contacts, and only those contacts and what comes "
    "from them (scores, reading, deals)."
)

PATHS: dict[str, Any] = {
    "/accounts": {
        "get": {
            "summary": "The company accounts the caller may see, most recently active first",
            "description": _SCOPE,
            "parameters": [
                {"name": "q", "in": "query", "schema": _STR, "description": "part of the name"},
                {
                    "name": "page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                },
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PER_PAGE,
                        "default": 50,
                    },
                },
            ],
            "responses": {
                "200": _json("AccountPage"),
                "422": _error("Bad page or per_page"),
                **_ERRORS,
            },
        }
    },
    "/accounts/{account_id}": {
        "get": {
            "summary": "An account's buying committee: contacts with scores and reading, "
            "engagement, open deals",
            "description": _SCOPE,
            "parameters": [
                {
                    "name": "account_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                }
            ],
            "responses": {"200": _json("Account"), **_ERRORS},
        }
    },
}

_ENGAGEMENT = {
    "contacts": {**_INT, "description": "contacts the caller may see"},
    "score_sum": {**_INT, "description": "sum of those contacts' scores"},
    "score_max": {**_INT, "description": "the highest of those scores"},
    "grade": {
        "type": "string",
        "enum": ["A", "B", "C"],
        "description": "the grade of score_max",
    },
    "last_activity_at": {**_TIME, "description": "the latest tracked action of a contact"},
}

SCHEMAS: dict[str, Any] = {
    "AccountSummary": {
        "type": "object",
        "required": ["id", "name", "engagement"],
        "properties": {
            "id": _INT,
            "name": _STR,
            "created_at": _TIME,
            "engagement": {"type": "object", "properties": _ENGAGEMENT},
        },
    },
    "AccountPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref("AccountSummary")},
            "page": _INT,
            "per_page": _INT,
            "total": _INT,
        },
    },
    "Account": {
        "type": "object",
        "required": ["id", "name", "engagement", "contacts", "deals"],
        "properties": {
            "id": _INT,
            "name": _STR,
            "created_at": _TIME,
            "engagement": {
                "type": "object",
                "properties": {
                    **_ENGAGEMENT,
                    "read_seconds": {**_INT, "description": "total read time of the contacts"},
                    "opens": _INT,
                },
            },
            "contacts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {**_INT, "description": "the customer's id"},
                        "name": _STR,
                        "title": _STR,
                        "email": {"type": ["string", "null"]},
                        "owner_email": _STR,
                        "score": _INT,
                        "grade": {"type": "string", "enum": ["A", "B", "C"]},
                        "opens": _INT,
                        "read_seconds": _INT,
                        "last_activity_at": _TIME,
                        "documents": {
                            "type": "array",
                            "description": "what was sent to the contact, the latest read first",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "delivery_id": _INT,
                                    "template_id": _INT,
                                    "name": _STR,
                                    "kind": _STR,
                                    "sent_at": _TIME,
                                    "opens": _INT,
                                    "read_seconds": _INT,
                                    "first_opened_at": _TIME,
                                    "last_seen_at": _TIME,
                                },
                            },
                        },
                    },
                },
            },
            "deals": {
                "type": "array",
                "description": "open deals of these contacts, closing soonest first",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": _INT,
                        "title": _STR,
                        "customer_id": _INT,
                        "owner_email": _STR,
                        "stage": {"type": "string", "enum": list(OPEN_STAGES)},
                        "stage_label": _STR,
                        "amount_minor": _INT,
                        "currency": _STR,
                        "expected_close": {"type": "string", "format": "date"},
                    },
                },
            },
        },
    },
}
