"""The OpenAPI 3.1 document of /api/v1."""

from __future__ import annotations

from typing import Any

from portal.db_types import MAX_ID
from portal.library.models import TemplateKind
from portal.routes.api import (
    accounts_spec,
    analytics_spec,
    channels_spec,
    deals_spec,
    privacy_spec,
)
from portal.routes.api.base import bp
from portal.routes.api.exchange import OPENAPI_PATHS as EXCHANGE_PATHS
from portal.routes.api.exchange import OPENAPI_SCHEMAS as EXCHANGE_SCHEMAS
from portal.routes.api.spec_parts import INT as _INT
from portal.routes.api.spec_parts import STR as _STR
from portal.routes.api.spec_parts import STR_OR_NULL as _STR_OR_NULL
from portal.routes.api.spec_parts import TIME as _TIME
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json
from portal.routes.api.spec_parts import json_body as _json_body
from portal.tracking.links import external_url

_ERRORS = {
    "400": _error(
        "Malformed request: a body that is not a JSON object, or text with NUL characters"
    ),
    "401": _error("No or bad API token"),
    "404": _error("Not found, or outside the caller's scope"),
}
_UNAVAILABLE = _error(
    "A service Portal needs (database, object storage or Redis) is down; retry after the "
    "seconds in Retry-After. Nothing half-done is left behind."
)
_UPLOAD_ERRORS = {
    "400": _error(
        "Bad upload (corrupt zip, unsafe entry, zip bomb, empty file), or, when jobs run inline, "
        "an Office file or image refused by the conversion: corrupt_office, encrypted_office, "
        "corrupt_image, conversion_failed (damaged or password-protected), conversion_timeout "
        "(killed after OFFICE_CONVERSION_TIMEOUT s). Nothing is stored."
    ),
    "403": _error("Only marketing and admins change the library"),
    "413": _error("File over the size limit (upload_too_large), or an image with too many pixels"),
    "415": _error(
        "Not an .html, .zip, .pdf, Office (.pptx .ppt .docx .doc .xlsx .odp .odt) or image "
        "(.png .jpg .jpeg .webp) file (judged by content)"
    ),
    "422": _error("Missing changelog, bad field, or a template that does not render"),
}


_CREATED_OR_QUEUED = {
    "201": _json("Created", "Created: the version is ready"),
    "202": _json(
        "Created",
        "Accepted: the Office file or image is being converted to PDF by a queued job; "
        "GET /templates/{template_id}/versions shows its `status` (converting, ready, failed)",
    ),
}


def _path_id(name: str) -> dict[str, Any]:
    """An id in the path; a larger one than any row can have answers 404 (no such route)."""
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return {"name": name, "in": "path", "required": True, "schema": schema}


_EXTRA_SCHEMAS: dict[str, Any] = {
    "IdOnly": {"type": "object", "required": ["id"], "properties": {"id": _INT}},
    "RevokeInput": {
        "type": "object",
        "properties": {"reason": {"type": "string", "enum": ["withdrawn", "leaked"]}},
    },
    "PortalLink": {
        "type": "object",
        "required": ["portal_url", "expires_at"],
        "properties": {"portal_url": _STR, "expires_at": _TIME},
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "at", "actor", "action", "object_type", "object_id"],
        "properties": {
            "id": _INT,
            "at": {"type": "string", "format": "date-time"},
            "actor_id": {"type": ["integer", "null"], "description": "null: the CLI or system"},
            "actor": {"type": "string", "description": "the actor's e-mail, `cli` or `system`"},
            "action": {"type": "string", "example": "template.published"},
            "object_type": _STR,
            "object_id": _STR,
            "summary": _STR,
            "details": {"type": "object"},
        },
    },
    "AuditPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
            "page": _INT,
            "per_page": _INT,
            "total": _INT,
        },
    },
    "Task": {
        "type": "object",
        "properties": {
            "id": _INT,
            "customer_id": _INT,
            "customer_name": _STR,
            "owner_email": _STR,
            "rule": _STR,
            "title": _STR,
            "reason": {"type": "object"},
            "reason_text": _STR,
            "priority": {"type": "string", "enum": ["normal", "high"]},
            "status": {"type": "string", "enum": ["open", "snoozed", "done"]},
            "overdue": {"type": "boolean"},
            "due_at": _TIME,
            "snoozed_until": _TIME,
            "created_at": _TIME,
            "done_at": _TIME,
            "escalated_at": _TIME,
            "event_ids": {"type": "array", "items": _INT},
            "url": _STR,
        },
    },
    "TaskList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}},
    },
    "CustomerInput": {
        "type": "object",
        "required": ["name"],
        "properties": {
            **dict.fromkeys(
                ("name", "company", "title", "email", "phone", "industry", "region"), _STR
            ),
            "owner_email": {
                "type": "string",
                "description": "the owning rep; defaults to the caller",
            },
        },
    },
    "Customer": {
        "type": "object",
        "properties": {
            "id": _INT,
            **dict.fromkeys(
                ("name", "company", "title", "email", "phone", "industry", "region"), _STR_OR_NULL
            ),
            "owner_email": _STR,
            "account_id": {
                "type": ["integer", "null"],
                "description": "the company account (GET /accounts/{id}); null without a company",
            },
            "score": _INT,
            "grade": {"type": "string", "enum": ["A", "B", "C"]},
            "score_breakdown": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"rule": _STR, "points": _INT, "event_id": _INT, "at": _TIME},
                },
            },
            "last_inbound_at": _TIME,
            "created_at": _TIME,
        },
    },
    "Timeline": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "at"],
                    "properties": {
                        "type": _STR,
                        "at": _TIME,
                        "delivery_id": {"type": ["integer", "null"]},
                    },
                },
            }
        },
    },
    "InboundEvent": {
        "type": "object",
        "required": ["type", "occurred_at", "idempotency_key"],
        "properties": {
            "customer_id": {"type": "integer", "description": "or customer_email"},
            "customer_email": {"type": "string", "description": "or customer_id"},
            "type": {
                "type": "string",
                "description": "reply.received, form.submitted or external.<name> "
                "(lower-case dotted, at most 40 characters)",
            },
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with an offset; not over 5 min ahead, not over a year ago",
            },
            "idempotency_key": {"type": "string", "maxLength": 116},
            "properties": {"type": "object", "description": "at most 8 KB as JSON"},
        },
    },
    "InboundEventAccepted": {
        "type": "object",
        "required": ["id", "duplicate"],
        "properties": {
            "id": {"type": ["integer", "null"]},
            "duplicate": {"type": "boolean"},
            "customer_id": _INT,
        },
    },
    "RecommendationInput": {
        "type": "object",
        "required": ["customer_id", "text"],
        "properties": {
            "customer_id": _INT,
            "text": {"type": "string", "maxLength": 5000, "description": "the customer's message"},
        },
    },
    "Recommendations": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["template_id", "name", "reason"],
                    "properties": {
                        "template_id": _INT,
                        "name": _STR,
                        "reason": {"type": "string", "description": "the matched words"},
                        "matched": {"type": "array", "items": _STR},
                        "kind": _STR,
                        "industry": _STR,
                        "other_industry": {
                            "type": "boolean",
                            "description": "made for another industry than the customer's: "
                            "offered only when nothing of the customer's industry matches",
                        },
                    },
                },
            }
        },
    },
    "DeliveryInput": {
        "type": "object",
        "required": ["customer_id", "template_id"],
        "properties": {
            "customer_id": _INT,
            "template_id": _INT,
            "version_policy": {"type": "string", "enum": ["latest", "pinned"]},
            "allow_download": {"type": "boolean", "default": True},
            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 365},
            "message": _STR,
            "send_email": {"type": "boolean", "default": False},
            "watermark": {
                "type": "boolean",
                "description": "the reader's mark (customer name, company, send date; a "
                "forwarded reader's name) over the pages and on every page of the downloaded "
                "PDF; absent: on for quotes, off for other kinds",
            },
            "passcode": {
                "type": "string",
                "pattern": "^[0-9]{4,8}$",
                "description": "4 to 8 digits the reader must enter before the viewer, pages, "
                "download or portal listing show anything of the document; stored hashed",
            },
            "ask_visitor": {
                "type": "string",
                "enum": ["off", "optional", "required"],
                "default": "off",
                "description": "what a device other than the recipient's sees first: nothing "
                "(off), the skippable 您是？ card (optional), or the card before the document "
                "(required)",
            },
        },
    },
    "Visitor": {
        "type": "object",
        "required": ["id", "device", "identified_as", "first_seen", "read_seconds", "forwarded"],
        "properties": {
            "id": _INT,
            "device": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["phone", "tablet", "desktop"]},
                    "os": _STR,
                    "browser": _STR,
                    "wechat": {"type": "boolean"},
                },
            },
            "identified_as": {
                "type": ["object", "null"],
                "description": "the contact a forwarded reader was identified as (their 您是？ "
                "answer, or a rep's merge); null when unknown, and for the recipient's device",
                "properties": {
                    "name": _STR,
                    "title": _STR,
                    "contact": _STR,
                    "customer_id": _INT,
                },
            },
            "first_seen": _TIME,
            "read_seconds": _INT,
            "forwarded": {
                "type": "boolean",
                "description": "false: the recipient's own device (the first to confirm an "
                "open); true: another device, whose reading is not the customer's",
            },
        },
    },
    "DeliveryCreated": {
        "type": "object",
        "required": ["id", "url", "portal_url", "qr_svg_url"],
        "properties": {"id": _INT, "url": _STR, "portal_url": _STR, "qr_svg_url": _STR},
    },
    "Delivery": {
        "type": "object",
        "properties": {
            "id": _INT,
            "customer_id": _INT,
            "template_id": _INT,
            "template_name": _STR,
            "version_sent": _INT,
            "current_version": _INT,
            "version_policy": _STR,
            "sender_email": _STR,
            "message": _STR,
            "allow_download": {"type": "boolean"},
            "watermark": {"type": "boolean"},
            "passcode_protected": {
                "type": "boolean",
                "description": "the send asks for a passcode (never given back)",
            },
            "created_at": _TIME,
            "expires_at": _TIME,
            "revoked_at": _TIME,
            "render_status": {"type": "string", "enum": ["pending", "ready", "failed"]},
            "email_status": {
                "type": ["string", "null"],
                "enum": ["queued", "sent", "not_configured", "failed", None],
                "description": "the e-mail asked with send_email: sent only once the SMTP "
                "server accepted it; null when none was asked",
            },
            "email_sent_at": _TIME,
            "url": _STR,
            "portal_url": _STR,
            "qr_svg_url": _STR,
            "opens": {
                "type": "integer",
                "description": "opens confirmed by the viewer in the customer's browser (a "
                "page of the document was visible); fetches that never confirmed and staff "
                "views are not opens",
            },
            "previews": {
                "type": "integer",
                "description": "fetches of the link that were never confirmed as an open: "
                "link previews of chat apps, mail scanners, scripts (never scored)",
            },
            "internal_views": {
                "type": "integer",
                "description": "views by signed-in staff or with an API token (never scored, "
                "not in read time or per-page figures)",
            },
            "read_seconds": _INT,
            "pages": {"type": "object", "additionalProperties": {"type": "integer"}},
            "first_opened_at": _TIME,
            "last_seen_at": _TIME,
            "ask_visitor": {"type": "string", "enum": ["off", "optional", "required"]},
            "visitors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Visitor"},
                "description": "each device that confirmed an open, the recipient's first",
            },
        },
    },
}


def build_spec(server_url: str) -> dict[str, Any]:
    spec = _spec(server_url)
    # Any endpoint may find a service it needs down (portal.outages): 503 with Retry-After.
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("503", _UNAVAILABLE)
    return spec


def _spec(server_url: str) -> dict[str, Any]:
    template_fields = {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": [k.value for k in TemplateKind]},
        "industry": {"type": "string"},
        "scenario": {"type": "string"},
        "product_line": {"type": "string"},
        "tags": {"type": "string", "description": "comma separated"},
        "description": {"type": "string"},
        "version_policy": {"type": "string", "enum": ["latest", "pinned"]},
        "allowed_roles": {"type": "string", "description": "comma separated; empty = anyone"},
        "allowed_teams": {"type": "string", "description": "comma separated; empty = anyone"},
        "allowed_regions": {"type": "string", "description": "comma separated; empty = anyone"},
        "changelog": {"type": "string", "minLength": 1},
        "content_tags": {"type": "string", "example": "2:pricing; 3:case"},
        "file": {
            "type": "string",
            "format": "binary",
            "description": ".html, .zip or .pdf; or an Office file (.pptx .ppt .docx .doc .xlsx "
            ".odp .odt) or image (.png .jpg .jpeg .webp), converted to PDF (202 while queued)",
        },
    }
    template_id = _path_id("template_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portal API",
            "version": "1",
            "description": "Tracked document delivery for B2B sales teams.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/templates": {
                "get": {
                    "summary": "Templates the caller may see",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("kind", "industry", "scenario", "product_line", "q")
                    ],
                    "responses": {"200": _json("TemplateList"), **_ERRORS},
                },
                "post": {
                    "summary": "Create a template with its first version",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file", "name", "kind", "changelog"],
                                    "properties": template_fields,
                                }
                            }
                        },
                    },
                    "responses": {**_CREATED_OR_QUEUED, **_ERRORS, **_UPLOAD_ERRORS},
                },
            },
            "/templates/{template_id}": {
                "get": {
                    "summary": "One template with its published versions",
                    "parameters": [template_id],
                    "responses": {"200": _json("TemplateDetail"), **_ERRORS},
                }
            },
            "/templates/{template_id}/versions": {
                "get": {
                    "summary": "A template's versions, newest first, each with its content_tags "
                    "and conversion `status` (drafts and conversions: marketing, admins)",
                    "parameters": [template_id],
                    "responses": {"200": _json("VersionList"), **_ERRORS},
                },
                "post": {
                    "summary": "Upload a new version",
                    "parameters": [template_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file", "changelog"],
                                    "properties": {
                                        "file": template_fields["file"],
                                        "changelog": template_fields["changelog"],
                                        "content_tags": template_fields["content_tags"]
                                        | {
                                            "description": "omitted: the previous version's "
                                            'tags carry over; "" (empty): none'
                                        },
                                        "publish": {"type": "boolean", "default": True},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {**_CREATED_OR_QUEUED, **_ERRORS, **_UPLOAD_ERRORS},
                },
            },
            "/templates/{template_id}/versions/{number}/file": {
                "get": {
                    "summary": "A published version's file, byte for byte as uploaded",
                    "parameters": [
                        template_id,
                        _path_id("number"),
                    ],
                    "responses": {"200": {"description": "The file"}, **_ERRORS},
                }
            },
            "/templates/{template_id}/preview.pdf": {
                "get": {
                    "summary": "A version rendered with sample customer data",
                    "parameters": [
                        template_id,
                        {"name": "version", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "PDF",
                            "content": {
                                "application/pdf": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        **_ERRORS,
                    },
                }
            },
            "/customers": {
                "post": {
                    "summary": "Create a customer (owned by the caller, or by owner_email)",
                    "requestBody": _json_body("CustomerInput"),
                    "responses": {
                        "201": _json("IdOnly", "Created"),
                        "403": _error("The caller keeps no customers (marketing, finance, legal)"),
                        "422": _error("Bad field"),
                        **_ERRORS,
                    },
                }
            },
            "/customers/{customer_id}": {
                "get": {
                    "summary": "A customer with score, grade and the score breakdown",
                    "parameters": [_path_id("customer_id")],
                    "responses": {"200": _json("Customer"), **_ERRORS},
                }
            },
            "/customers/{customer_id}/timeline": {
                "get": {
                    "summary": "Sends, events and comments, newest first",
                    "parameters": [
                        _path_id("customer_id"),
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "maximum": 1000},
                        },
                    ],
                    "responses": {"200": _json("Timeline"), **_ERRORS},
                }
            },
            "/deliveries": {
                "post": {
                    "summary": "Send a template to a customer in one click",
                    "requestBody": _json_body("DeliveryInput"),
                    "responses": {
                        "201": _json("DeliveryCreated", "Created"),
                        "422": _error("Bad field"),
                        **_ERRORS,
                    },
                }
            },
            "/deliveries/{delivery_id}": {
                "get": {
                    "summary": "A delivery with opens, previews, internal views, read time and "
                    "seconds per page",
                    "parameters": [_path_id("delivery_id")],
                    "responses": {"200": _json("Delivery"), **_ERRORS},
                }
            },
            "/events": {
                "post": {
                    "summary": "Record an event from another channel (forms, WeChat Work, ads)",
                    "description": "Idempotent by idempotency_key: a repeat answers 202 with "
                    '"duplicate": true and "id": null. The customer must be one of the '
                    "caller's; any other is 422 unknown_customer.",
                    "requestBody": _json_body("InboundEvent"),
                    "responses": {
                        "202": _json("InboundEventAccepted", "Accepted"),
                        "422": _error("Unknown customer, bad type, time, key or properties"),
                        **_ERRORS,
                    },
                }
            },
            "/recommendations": {
                "post": {
                    "summary": "Templates to send for a customer's chat message, with reasons",
                    "requestBody": _json_body("RecommendationInput"),
                    "responses": {
                        "200": _json("Recommendations"),
                        "422": _error("Bad field"),
                        **_ERRORS,
                    },
                }
            },
            "/tasks": {
                "get": {
                    "summary": "The caller's tasks (a supervisor: their team's and their own)",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["open", "due", "overdue", "snoozed", "done"],
                                "default": "open",
                            },
                        }
                    ],
                    "responses": {
                        "200": _json("TaskList"),
                        "422": _error("Unknown status"),
                        **_ERRORS,
                    },
                }
            },
            "/audit": {
                "get": {
                    "summary": "The audit log of staff actions, newest first (admins only)",
                    "parameters": [
                        {"name": "action", "in": "query", "schema": _STR},
                        {
                            "name": "actor",
                            "in": "query",
                            "description": "part of the actor's e-mail, or cli / system",
                            "schema": _STR,
                        },
                        *(
                            {
                                "name": n,
                                "in": "query",
                                "schema": {"type": "string", "format": "date"},
                            }
                            for n in ("since", "until")
                        ),
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100_000},
                        },
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],
                    "responses": {
                        "200": _json("AuditPage"),
                        "403": _error("The caller is not an admin"),
                        "422": _error("Bad date, page or per_page"),
                        **_ERRORS,
                    },
                }
            },
            **EXCHANGE_PATHS,
            "/deliveries/{delivery_id}/revoke": {
                "post": {
                    "summary": "Revoke a delivery: its link, and every link its pages gave "
                    "out, answer 410 within one second. With reason `leaked` (the link was "
                    "forwarded or leaked) the customer's portal link is rotated too",
                    "parameters": [_path_id("delivery_id")],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/RevokeInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("Delivery"),
                        "422": _error("Unknown reason"),
                        **_ERRORS,
                    },
                }
            },
            "/customers/{customer_id}/portal-link/rotate": {
                "post": {
                    "summary": "Revoke the customer's portal link and issue a new one: the old "
                    "link and the document links opened from it answer 410",
                    "parameters": [_path_id("customer_id")],
                    "responses": {"200": _json("PortalLink"), **_ERRORS},
                }
            },
            **deals_spec.PATHS,
            **accounts_spec.PATHS,
            **channels_spec.PATHS,
            **privacy_spec.PATHS,
            **analytics_spec.PATHS,
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {
                                    "type": "string",
                                    "description": "the request member the error concerns",
                                },
                            },
                        }
                    },
                },
                "Created": {
                    "type": "object",
                    "required": ["id", "version"],
                    "properties": {"id": {"type": "integer"}, "version": {"type": "integer"}},
                },
                "Template": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "kind": template_fields["kind"],
                        "format": {"type": "string", "enum": ["html", "pdf"]},
                        "industry": {"type": "string"},
                        "scenario": {"type": "string"},
                        "product_line": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "version_policy": template_fields["version_policy"],
                        "latest_version": {"type": ["integer", "null"]},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "allowed": {"type": "object"},
                        "archived": {"type": "boolean"},
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "version": {"type": "integer"},
                        "source_type": {
                            "type": "string",
                            "enum": ["html", "zip", "pdf", "office", "image"],
                        },
                        "filename": {"type": "string"},
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"},
                        "changelog": {"type": "string"},
                        "content_tags": {
                            "type": "object",
                            "description": 'page number → tags, e.g. {"2": ["pricing"]}',
                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        },
                        "page_count": {"type": ["integer", "null"]},
                        "author": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "published": {"type": "boolean"},
                        "status": {
                            "type": "string",
                            "enum": ["converting", "ready", "failed"],
                            "description": "An Office file or image is `converting` until its "
                            "PDF is made; only a `ready` version can be previewed or published",
                        },
                        "error": {
                            "type": ["object", "null"],
                            "description": "Why a `failed` conversion failed (null otherwise): "
                            "`code` and a sentence in the caller's language",
                            "properties": {"code": _STR, "message": _STR},
                        },
                    },
                },
                "VersionList": {
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Version"},
                        }
                    },
                },
                "TemplateList": {
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Template"},
                        }
                    },
                },
                **_EXTRA_SCHEMAS,
                **EXCHANGE_SCHEMAS,
                **deals_spec.SCHEMAS,
                **accounts_spec.SCHEMAS,
                **channels_spec.SCHEMAS,
                **privacy_spec.SCHEMAS,
                **analytics_spec.SCHEMAS,
                "TemplateDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Template"},
                        {
                            "type": "object",
                            "properties": {
                                "versions": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Version"},
                                }
                            },
                        },
                    ]
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    # The server is PORTAL_BASE_URL's, never the request's Host header (which anyone can set).
    return build_spec(external_url("api.openapi").rsplit("/openapi.json", 1)[0])
