"""The OpenAPI 3.1 document of /api/v1."""

from __future__ import annotations

from typing import Any

from flask import url_for

from portal.db_types import MAX_ID
from portal.library.models import TemplateKind
from portal.routes.api import bp, deals_spec
from portal.routes.api.exchange import OPENAPI_PATHS as EXCHANGE_PATHS
from portal.routes.api.exchange import OPENAPI_SCHEMAS as EXCHANGE_SCHEMAS


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


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
    "400": _error("Bad upload (corrupt zip, unsafe entry, zip bomb, empty file)"),
    "403": _error("Only marketing and admins change the library"),
    "413": _error("File over the size limit"),
    "415": _error("Not an .html, .zip or .pdf file (judged by content)"),
    "422": _error("Missing changelog, bad field, or a template that does not render"),
}


def _json(schema_ref: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _json_body(schema_ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _path_id(name: str) -> dict[str, Any]:
    """An id in the path; a larger one than any row can have answers 404 (no such route)."""
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return {"name": name, "in": "path", "required": True, "schema": schema}


_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_TIME = {"type": ["string", "null"], "format": "date-time"}

_EXTRA_SCHEMAS: dict[str, Any] = {
    "IdOnly": {"type": "object", "required": ["id"], "properties": {"id": _INT}},
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
            "watermark": {"type": "boolean", "default": False},
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
            "created_at": _TIME,
            "expires_at": _TIME,
            "revoked_at": _TIME,
            "render_status": {"type": "string", "enum": ["pending", "ready", "failed"]},
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
        "file": {"type": "string", "format": "binary", "description": ".html, .zip or .pdf"},
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
                    "responses": {"201": _json("Created", "Created"), **_ERRORS, **_UPLOAD_ERRORS},
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
                                        "content_tags": template_fields["content_tags"],
                                        "publish": {"type": "boolean", "default": True},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"201": _json("Created", "Created"), **_ERRORS, **_UPLOAD_ERRORS},
                }
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
                    "summary": "Revoke a delivery: its link answers 410 from the next request",
                    "parameters": [_path_id("delivery_id")],
                    "responses": {"200": _json("Delivery"), **_ERRORS},
                }
            },
            **deals_spec.PATHS,
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
                        "source_type": {"type": "string", "enum": ["html", "zip", "pdf"]},
                        "filename": {"type": "string"},
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"},
                        "changelog": {"type": "string"},
                        "content_tags": {"type": "object"},
                        "page_count": {"type": ["integer", "null"]},
                        "author": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "published": {"type": "boolean"},
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
    return build_spec(url_for("api.openapi", _external=True).rsplit("/openapi.json", 1)[0])
