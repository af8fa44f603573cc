"""The deal routes' part of the OpenAPI document (merged by openapi.build_spec)."""

from __future__ import annotations

from typing import Any

from portal.db_types import MAX_ID
from portal.deals.stages import OPEN_STAGES, SPECS
from portal.routes.api.spec_parts import INT as _INT
from portal.routes.api.spec_parts import STR as _STR
from portal.routes.api.spec_parts import STR_OR_NULL as _STR_OR_NULL
from portal.routes.api.spec_parts import TIME as _TIME
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json
from portal.routes.api.spec_parts import json_body as _body
from portal.routes.api.spec_parts import ref as _ref

_ERRORS = {
    "400": _error("Malformed request: a body that is not a JSON object, or NUL characters"),
    "401": _error("No or bad API token"),
    "403": _error("The caller may see the deal but not do this to it"),
    "404": _error("Not found, or outside the caller's scope"),
    "413": _error("Upload over the size limit"),
    "422": _error("Bad field, or a rule refuses it (the message says which)"),
}
_DEAL_ID = {
    "name": "deal_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_REASON = {"type": "object", "required": ["reason"], "properties": {"reason": _STR}}


def _post(summary: str, body: str | None, ok: str, status: str = "200") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_DEAL_ID],
        "responses": {status: _json(ok), **_ERRORS},
    }
    if body:
        operation["requestBody"] = _body(body)
    return {"post": operation}


PATHS: dict[str, Any] = {
    "/deals": {
        "get": {
            "summary": "The deals the caller may see (rep: own; supervisor: team; finance and "
            "legal: those routed to them; admin: all), with probability, risk and stall",
            "parameters": [
                {"name": "stage", "in": "query", "schema": {"type": "string", "enum": list(SPECS)}}
            ],
            "responses": {"200": _json("DealList"), **_ERRORS},
        },
        "post": {
            "summary": "Create a deal in initial_contact; meeting_notes (its evidence) required",
            "requestBody": _body("DealInput"),
            "responses": {"201": _json("IdOnly", "Created"), **_ERRORS},
        },
    },
    "/deals/{deal_id}": {
        "get": {
            "summary": "A deal with its evidence, notes, stage history and approvals",
            "parameters": [_DEAL_ID],
            "responses": {"200": _json("DealDetail"), **_ERRORS},
        },
        "patch": {
            "summary": "Correct an open deal's title, amount, currency or expected close (any of "
            "them); a new amount or currency puts finance's and legal's decisions back to "
            "pending; the change is in the audit log",
            "parameters": [_DEAL_ID],
            "requestBody": _body("DealEdit"),
            "responses": {"200": _json("DealDetail"), **_ERRORS},
        },
    },
    "/deals/{deal_id}/evidence": {
        "post": {
            "summary": "Add evidence for a stage: a note and/or a file (kept in object storage)",
            "parameters": [_DEAL_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["stage"],
                            "properties": {
                                "stage": {"type": "string", "enum": list(OPEN_STAGES)},
                                "note": _STR,
                                "file": {"type": "string", "format": "binary"},
                            },
                        }
                    }
                },
            },
            "responses": {"201": _json("DealEvidence", "Created"), **_ERRORS},
        }
    },
    "/deals/{deal_id}/advance": _post(
        "Move to the next stage; refused (422) when skipping or when its evidence is missing",
        None,
        "Deal",
    ),
    "/deals/{deal_id}/send-back": _post(
        "The owner's supervisor moves the deal back one stage, with a reason", "Reason", "Deal"
    ),
    "/deals/{deal_id}/won": _post(
        "Mark won (from negotiation; above the approval threshold only after finance and "
        "legal approve)",
        None,
        "Deal",
    ),
    "/deals/{deal_id}/lost": _post("Mark lost, with a reason", "Reason", "Deal"),
    "/deals/{deal_id}/notes": _post(
        "Add a conversation note or pasted chat text (scanned for hedge words)",
        "NoteInput",
        "DealNote",
        "201",
    ),
    "/deals/{deal_id}/next-meeting": _post(
        "Set (or clear, with null) the next meeting", "NextMeeting", "Deal"
    ),
    "/deals/{deal_id}/approvals/{role}": {
        "post": {
            "summary": "Finance or legal approves or rejects (their own role only)",
            "parameters": [
                _DEAL_ID,
                {"name": "role", "in": "path", "required": True, "schema": _STR},
            ],
            "requestBody": _body("ApprovalDecision"),
            "responses": {"200": _json("DealApproval"), **_ERRORS},
        }
    },
    "/approvals": {
        "get": {
            "summary": "The approvals routed to the caller's role (finance or legal)",
            "responses": {"200": _json("DealApprovalList"), **_ERRORS},
        }
    },
    "/forecast": {
        "get": {
            "summary": "Σ amount × probability of open deals, per rep, team, region or month; "
            "won amounts alongside",
            "parameters": [
                {
                    "name": "group",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["rep", "team", "region", "month"],
                        "default": "rep",
                    },
                }
            ],
            "responses": {"200": _json("Forecast"), **_ERRORS},
        }
    },
    "/stage-probabilities": {
        "post": {
            "summary": "A team's supervisor (or admin) tunes a stage's probability within its "
            "range",
            "requestBody": _body("StageProbabilityInput"),
            "responses": {"200": _json("StageProbability"), **_ERRORS},
        }
    },
}

_DEAL = {
    "type": "object",
    "required": ["id", "stage", "amount_minor", "probability", "risk"],
    "properties": {
        "id": _INT,
        "customer_id": _INT,
        "customer_name": _STR,
        "owner_id": _INT,
        "owner_email": _STR,
        "team": _STR_OR_NULL,
        "region": _STR_OR_NULL,
        "title": _STR,
        "amount": {"type": "string", "description": "major units, two decimals"},
        "amount_minor": _INT,
        "currency": _STR,
        "expected_close": {"type": "string", "format": "date"},
        "stage": {"type": "string", "enum": list(SPECS)},
        "stage_label": _STR,
        "probability": _INT,
        "weighted_minor": {"type": "string", "description": "amount_minor × probability / 100"},
        "stage_entered_at": _TIME,
        "next_meeting_at": _TIME,
        "created_at": _TIME,
        "updated_at": _TIME,
        "closed_at": _TIME,
        "lost_reason": _STR_OR_NULL,
        "risk": {
            "type": "object",
            "properties": {
                "level": {"type": "string", "enum": ["high", "medium", "low", "none"]},
                "words": {"type": "array", "items": _STR},
                "no_next_meeting": {"type": "boolean"},
            },
        },
        "stalled": {
            "type": ["object", "null"],
            "properties": {"days_in_stage": _INT, "typical_days": _INT},
        },
        "url": _STR,
    },
}

SCHEMAS: dict[str, Any] = {
    "Deal": _DEAL,
    "DealList": {"type": "object", "properties": {"items": {"type": "array", "items": _DEAL}}},
    "DealDetail": {
        "allOf": [
            _ref("Deal"),
            {
                "type": "object",
                "properties": {
                    "evidence": {"type": "array", "items": _ref("DealEvidence")},
                    "notes": {"type": "array", "items": _ref("DealNote")},
                    "history": {"type": "array", "items": {"type": "object"}},
                    "approvals": {"type": "array", "items": _ref("DealApproval")},
                },
            },
        ]
    },
    "DealEdit": {
        "type": "object",
        "properties": {
            "title": _STR,
            "amount": {
                "type": ["string", "number"],
                "description": 'major units of the currency, e.g. 720000 or "720000.50"',
            },
            "currency": _STR,
            "expected_close": {"type": "string", "format": "date"},
        },
    },
    "DealInput": {
        "type": "object",
        "required": ["customer_id", "title", "amount", "expected_close", "meeting_notes"],
        "properties": {
            "customer_id": _INT,
            "title": _STR,
            "amount": {
                "type": ["string", "number"],
                "description": 'major units of the currency, e.g. 680000 or "680000.50"',
            },
            "currency": {"type": "string", "default": "CNY"},
            "expected_close": {"type": "string", "format": "date"},
            "next_meeting_at": {"type": ["string", "null"], "format": "date-time"},
            "meeting_notes": {"type": "string", "description": "evidence for initial_contact"},
        },
    },
    "DealEvidence": {
        "type": "object",
        "properties": {
            "id": _INT,
            "stage": _STR,
            "kind": _STR,
            "note": _STR,
            "filename": _STR_OR_NULL,
            "content_type": _STR_OR_NULL,
            "size": {"type": ["integer", "null"]},
            "sha256": _STR_OR_NULL,
            "uploaded_by": _STR_OR_NULL,
            "at": _TIME,
        },
    },
    "DealNote": {
        "type": "object",
        "properties": {
            "id": _INT,
            "source": {"type": "string", "enum": ["note", "chat"]},
            "text": _STR,
            "author": _STR_OR_NULL,
            "at": _TIME,
        },
    },
    "NoteInput": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": _STR, "source": {"type": "string", "enum": ["note", "chat"]}},
    },
    "NextMeeting": {
        "type": "object",
        "properties": {"at": {"type": ["string", "null"], "format": "date-time"}},
    },
    "Reason": _REASON,
    "DealApproval": {
        "type": "object",
        "properties": {
            "id": _INT,
            "deal_id": _INT,
            "role": {"type": "string", "enum": ["finance", "legal"]},
            "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
            "decided_by": _STR_OR_NULL,
            "decided_at": _TIME,
            "note": _STR,
        },
    },
    "DealApprovalList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("DealApproval")}},
    },
    "ApprovalDecision": {
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"type": "string", "enum": ["approved", "rejected"]},
            "note": _STR,
        },
    },
    "Forecast": {
        "type": "object",
        "properties": {
            "group": _STR,
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": _STR,
                        "label": _STR,
                        "currency": _STR,
                        "deals": _INT,
                        "pipeline_minor": _INT,
                        "weighted_minor": _STR,
                        "won_minor": _INT,
                    },
                },
            },
        },
    },
    "StageProbabilityInput": {
        "type": "object",
        "required": ["team", "stage", "probability"],
        "properties": {
            "team": _STR,
            "stage": {"type": "string", "enum": list(OPEN_STAGES)},
            "probability": _INT,
        },
    },
    "StageProbability": {
        "type": "object",
        "properties": {"team": _STR, "stage": _STR, "probability": _INT},
    },
}
