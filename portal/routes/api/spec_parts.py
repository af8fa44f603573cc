"""The pieces every part of the hand-written OpenAPI document is built from (openapi.py and
each `*_spec.py`): a schema reference, an error answer, a JSON answer, a JSON body, a query
parameter and the common scalar schemas."""

from __future__ import annotations

from typing import Any

STR: dict[str, Any] = {"type": "string"}
STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
INT: dict[str, Any] = {"type": "integer"}
TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def error(description: str) -> dict[str, Any]:
    """An error answer: the shared Error schema, with what the status means here."""
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def json_answer(name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(name)}}}


def json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema or STR}
