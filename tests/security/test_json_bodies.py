"""Every JSON body of the API answers a wrong type or a hostile shape with a clean 4xx and an
error code, never a 500: each member of every documented request body is replaced, one at a
time, by values of the wrong type (in an otherwise valid body, so the check under test is the
one reached), and bodies nested deeper than the limit are refused before anyone reads them.

The operations and their members come from the OpenAPI document, so a new endpoint or field is
covered without editing this file.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portal.extensions import db
from portal.routes.api.openapi import build_spec
from portal.routes.input_guard import MAX_JSON_DEPTH

WRONG_TYPES: list[Any] = [
    ["latest"],
    {"a": 1},
    [],
    {},
    1.5,
    -1,
    2**70,
    True,
    "x",
    "x" * 5_000,
]


def _good_values(world, deal_id: int | None) -> dict[str, Any]:
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {
        "customer_id": world.customer.id,
        "template_id": world.template.id,
        "type": "reply.received",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "idempotency_key": uuid.uuid4().hex,
        "properties": {"channel": "wecom"},
        "text": "请发一下报价",
        "name": "王芳",
        "company": "华东精密",
        "title": "新项目",
        "email": "wang@example.com",
        "amount": "680000",
        "expected_close": "2027-03-01",
        "currency": "CNY",
        "decision": "approved",
        "reason": "budget cut",
        "at": soon,
        "next_meeting_at": soon,
        "team": "华东",
        "stage": "proposal",
        "to_stage": "needs_analysis",
        "probability": 40,
        "version_policy": "pinned",
        "message": "您好",
        "meeting_notes": "首次会面",
        "deal_id": deal_id,
    }


def _json_operations() -> list[tuple[str, str, list[str]]]:
    spec = build_spec("http://portal.test/api/v1")
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = (operation.get("requestBody") or {}).get("content", {})
            schema = (body.get("application/json") or {}).get("schema")
            if schema is None:
                continue
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            found.append((method.upper(), path, sorted(schema.get("properties", {}))))
    return sorted(found)


JSON_OPERATIONS = _json_operations()


@pytest.fixture
def api(client, world, make_user, api_headers):
    """(headers of the rep, headers of an admin, a deal of the rep)."""
    rep = api_headers(world.rep)
    admin = api_headers(make_user("admin"))
    created = client.post(
        "/api/v1/deals",
        json={
            "customer_id": world.customer.id,
            "title": "新项目",
            "amount": "1000",
            "expected_close": "2027-03-01",
            "meeting_notes": "首次会面",
        },
        headers=rep,
    )
    assert created.status_code == 201, created.json
    return rep, admin, created.json["id"]


def _url(path: str, deal_id: int, world) -> str:
    return "/api/v1" + path.replace("{deal_id}", str(deal_id)).replace("{role}", "finance").replace(
        "{customer_id}", str(world.customer.id)
    ).replace("{id}", str(deal_id))


def test_there_are_json_operations_to_check():
    paths = {(method, path) for method, path, _ in JSON_OPERATIONS}
    assert {("POST", "/events"), ("POST", "/deliveries"), ("POST", "/customers")} <= paths


def test_a_member_of_the_wrong_type_is_a_clean_4xx(client, world, api):
    """Each member of each JSON body, in turn, of each wrong type: 4xx with an error code."""
    rep, admin, deal_id = api
    good = _good_values(world, deal_id)
    failures = []
    for method, path, members in JSON_OPERATIONS:
        base = {m: good[m] for m in members if m in good}
        headers = admin if path == "/stage-probabilities" else rep
        for member in members:
            for value in WRONG_TYPES:
                try:  # (TESTING propagates a view's exception: here it counts as a 500)
                    answer = client.open(
                        _url(path, deal_id, world),
                        method=method,
                        json={**base, member: value},
                        headers=headers,
                    )
                except Exception as exc:
                    failures.append((method, path, member, json.dumps(value)[:20], repr(exc)[:80]))
                    db.session.rollback()
                    continue
                error = (answer.json or {}).get("error", {}) if answer.is_json else {}
                if answer.status_code >= 500 or (
                    answer.status_code >= 400 and not error.get("code")
                ):
                    failures.append(
                        (method, path, member, json.dumps(value)[:20], answer.status_code)
                    )
    assert failures == [], "\n".join(map(str, failures))


def _nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_json_nested_beyond_the_limit_is_refused_with_a_code(client, world, api):
    rep, _admin, deal_id = api
    answers = {}
    for method, path, _members in JSON_OPERATIONS:
        for depth in (MAX_JSON_DEPTH + 1, 100_000):
            answer = client.open(
                _url(path, deal_id, world),
                method=method,
                data=_nested(depth),
                content_type="application/json",
                headers=rep,
            )
            code = answer.json["error"]["code"] if answer.is_json else None
            answers[(method, path, depth)] = (answer.status_code, code)
    assert set(answers.values()) == {(400, "json_too_deep")}, answers


def test_nesting_within_the_limit_still_works(client, world, api):
    rep, _admin, _deal = api
    properties: dict[str, Any] = {}
    inner = properties
    for _ in range(MAX_JSON_DEPTH - 3):  # the body, properties, then these levels
        inner["a"] = {}
        inner = inner["a"]
    body = {**_good_values(world, None), "properties": properties}
    body = {k: body[k] for k in ("customer_id", "type", "occurred_at", "idempotency_key")} | {
        "properties": properties
    }
    answer = client.post("/api/v1/events", json=body, headers=rep)
    assert answer.status_code == 202, answer.json


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_refused(client, world, api, literal):
    rep, _admin, deal_id = api
    for path, raw in [
        (
            "/deals",
            f'{{"customer_id": {world.customer.id}, "title": "t", "amount": {literal},'
            ' "expected_close": "2027-03-01"}',
        ),
        (f"/deals/{deal_id}", f'{{"amount": {literal}}}'),
        (
            "/events",
            f'{{"customer_id": {world.customer.id}, "type": "reply.received",'
            f' "occurred_at": "{datetime.now(UTC).isoformat()}", "idempotency_key": "n1",'
            f' "properties": {{"x": {literal}}}}}',
        ),
    ]:
        method = "PATCH" if path.startswith("/deals/") else "POST"
        answer = client.open(
            "/api/v1" + path,
            method=method,
            data=raw,
            content_type="application/json",
            headers=rep,
        )
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert answer.json["error"]["code"]
