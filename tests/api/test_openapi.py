"""The OpenAPI document covers every route of /api/v1."""

from __future__ import annotations

import re


def test_openapi_document_is_public_and_lists_every_api_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method))
    assert routed <= documented, f"undocumented API routes: {sorted(routed - documented)}"
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]


def test_every_operation_documents_the_outage_answer(client):
    """portal.outages answers 503 (JSON error, Retry-After) on any endpoint whose database,
    storage or Redis is down: the document says so for each operation."""
    spec = client.get("/api/v1/openapi.json").json
    answers = {
        (path, method): op["responses"].get("503")
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    assert [key for key, answer in answers.items() if answer is None] == []
    for answer in answers.values():
        schema = answer["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
