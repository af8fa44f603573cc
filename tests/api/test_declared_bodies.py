"""What openapi.json says a route takes is what the route validates: both come from the one
@declare (portal.routes.api.declare), and these tests fail when they part.

- every /api/v1 operation is declared, and the document names the very models the view
  validates with (its body, its query string);
- no API route reads the raw request (request.get_json, .form, .args, .files …) beside its
  model, which is how a second, undocumented validation would creep back in;
- for every operation with a JSON body, bodies generated from the served document (valid ones
  and invalid ones) are judged by the route's validation as the document judges them: one
  that fits the document's schema passes it, one that does not is refused there with 422
  (seen from spectree's hook, whatever the service then decides).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from portal.routes.api import declare
from portal.routes.api.openapi import build_spec

API_DIR = Path(declare.__file__).parent
SPEC = build_spec("http://portal.test/api/v1")
JSON_OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
)
EXAMPLES = 15


def _views(app):
    """(path as the document writes it, method, the function that serves it) of each API rule."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view_class = getattr(view, "view_class", None)
            yield path, method, getattr(view_class, method.lower()) if view_class else view


def test_the_document_names_the_models_each_view_validates_with(app):
    seen = 0
    for path, method, view in _views(app):
        metadata = declare.spec.get_function_metadata(view)
        assert metadata is not None, f"{method} {path} is not declared with @declare"
        operation = SPEC["paths"][path][method.lower()]
        content = operation.get("requestBody", {}).get("content", {})
        documented = {
            kind: body["schema"]["$ref"].rsplit("/", 1)[1] for kind, body in content.items()
        }
        validated = {
            kind: name
            for kind, name in (
                ("application/json", metadata.json),
                ("multipart/form-data", metadata.form),
            )
            if name
        }
        assert documented == validated, f"{method} {path}"
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        model = SPEC["components"]["schemas"].get(metadata.query or "", {})
        assert query == set(model.get("properties", {})), f"{method} {path}"
        seen += 1
    assert seen >= 40  # every route of the API, not a handful


_RAW = {"get_json", "json", "form", "args", "files", "values", "data", "get_data", "stream"}


def test_no_api_route_reads_the_request_beside_its_model():
    readers = []
    for source in sorted(API_DIR.glob("*.py")):
        if source.name == "declare.py":  # the one place that hands the request to spectree
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in _RAW
                and isinstance(node.value, ast.Name)
                and node.value.id == "request"
            ):
                readers.append(f"{source.name}:{node.lineno} request.{node.attr}")
    assert readers == []


@pytest.fixture
def headers(world, make_user, api_headers) -> list[dict[str, str]]:
    return [api_headers(world.rep), api_headers(make_user("admin"))]


@pytest.fixture
def judged(monkeypatch) -> list[tuple[str, object]]:
    """What the validation layer decided, per request that reached it: (path, error or None)."""
    seen: list[tuple[str, object]] = []
    refuse = declare.spec.before

    def recording(request, response, error, *args):
        seen.append((request.path, error))
        return refuse(request, response, error, *args)

    monkeypatch.setattr(declare.spec, "before", recording)
    return seen


def _document_judges(label: str) -> jsonschema_rs.Validator:
    """The served document's verdict on a body of this operation (formats included)."""
    method, path = label.split(" ", 1)
    operation = SPEC["paths"][path][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for(
        {**schema, "components": SPEC["components"]}, validate_formats=True
    )


def _exchange(operation, mode, headers, judged, document) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), auth=st.sampled_from(headers))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one(case, auth):
        judged.clear()
        response = case.call(headers=auth)
        # Stopped before any body is read (no route for the id, no token, the rate limit, a
        # body that is no JSON object or holds NUL): nothing to judge.
        if not judged or not isinstance(case.body, dict):
            return
        error = judged[-1][1]
        fits = document.is_valid(case.body)
        assert fits == (error is None), (
            f"{case.body!r}: the document says {'valid' if fits else 'invalid'}, "
            f"the validation says {error or 'valid'}"
        )
        if error is not None:
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"]

    one()


@pytest.mark.parametrize("label", JSON_OPERATIONS)
def test_a_body_is_valid_for_the_route_exactly_when_the_document_says_so(
    app, headers, judged, label
):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    document = _document_judges(label)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        _exchange(operation, mode, headers, judged, document)


def test_there_are_json_bodies_to_judge():
    assert {"POST /customers", "POST /deliveries", "POST /events", "PATCH /deals/{deal_id}"} <= set(
        JSON_OPERATIONS
    )
