"""Schemathesis against /api/v1/openapi.json: for generated requests, valid and invalid, the API
never answers 5xx and every answer matches the document: a documented status code, the
documented content type, and a body that fits the response schema.

In-process through WSGI, deterministic (derandomize) and bounded (MAX_EXAMPLES per operation and
mode), with a rep's and an admin's token drawn per request, and a seeded world so that some ids
exist. One test per (operation, mode); the operations come from the same build_spec the app
serves, and a guard test checks that the served document lists exactly these.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal import jobs
from portal.routes.api.openapi import build_spec
from portal.tracking.events import NewEvent, record
from portal.tracking.models import EventType
from tests.delivery.helpers import make_delivery

MAX_EXAMPLES = 20  # 25 cost ~145 s of CPU per CI run, over the 15 minutes with the rest
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, methods in build_spec("http://portal.test/api/v1")["paths"].items()
    for method in methods
)


@pytest.fixture
def tokens(world, make_user, api_headers) -> list[dict[str, str]]:
    """A rep with a customer, a delivery and an event; marketing's template; an admin."""
    sent = make_delivery(world.rep, world.customer, world.template)
    record(
        NewEvent(
            customer_id=world.customer.id,
            delivery_id=sent.delivery.id,
            type=EventType.LINK_OPENED,
        )
    )
    jobs.commit()
    return [api_headers(world.rep), api_headers(make_user("admin"))]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_the_fuzzed_operations_are_the_served_ones(api_schema):
    served = sorted(result.ok().label for result in api_schema.get_all_operations())
    assert served == OPERATIONS


def _fuzz(operation, mode: GenerationMode, tokens: list[dict[str, str]]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), headers=st.sampled_from(tokens))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure reports at once
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case, headers):
        case.call_and_validate(headers=headers, checks=CHECKS)

    exchange()


# With both passes each mode runs in one (tests/conftest.py, only_in_pass): valid requests on
# SQLite, the embedded default; invalid ones on PostgreSQL, where a value the API lets through
# becomes the database's error (an integer out of range, a string in a number column).
@pytest.mark.long(seconds=18)
@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(GenerationMode.POSITIVE, marks=pytest.mark.only_in_pass("sqlite")),
        pytest.param(GenerationMode.NEGATIVE, marks=pytest.mark.only_in_pass("postgresql")),
    ],
)
def test_the_api_keeps_its_documented_contract(api_schema, tokens, mode):
    """Every operation in turn (one seeded world per mode: seeding costs more than fuzzing)."""
    failures = []
    for label in OPERATIONS:
        try:
            _fuzz(api_schema.find_operation_by_label(label), mode, tokens)
        except Exception as exc:  # collected, and reported together below
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures)


# --- what the fuzzer found, kept as plain regression tests -------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/customers/2147483648",  # past the largest id: no route, not an OverflowError
        "/customers/99999999999999999999/timeline",
        "/templates/1/versions/99999999999999999999/file",
        "/deliveries/300722720759803474345984",
    ],
)
def test_ids_beyond_any_row_are_404_not_500(client, tokens, path):
    response = client.get(f"/api/v1{path}", headers=tokens[0])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_ids_beyond_any_row_in_bodies_and_queries_are_refused(client, tokens, world):
    rep = tokens[0]
    huge = 2**63
    for path, body in (
        ("/deliveries", {"customer_id": huge, "template_id": world.template.id}),
        ("/recommendations", {"customer_id": huge, "text": "报价"}),
        (
            "/events",
            {
                "customer_id": huge,
                "type": "form.submitted",
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "idempotency_key": "k",
            },
        ),
    ):
        response = client.post(f"/api/v1{path}", json=body, headers=rep)
        assert response.status_code == 422, (path, response.get_json())
    preview = client.get(
        f"/api/v1/templates/{world.template.id}/preview.pdf?version={huge}", headers=rep
    )
    assert preview.status_code == 404
    audit = client.get(f"/api/v1/audit?page={huge}", headers=tokens[1])
    assert audit.status_code == 422


def test_nul_characters_are_refused_before_the_database(client, tokens, world):
    """PostgreSQL cannot store NUL in text: without the guard these were 500s there."""
    rep, admin = tokens
    for response in (
        client.get("/api/v1/templates?q=a%00b", headers=rep),
        client.get("/api/v1/audit?actor=%00", headers=admin),
        client.post("/api/v1/customers", json={"name": "a\x00b"}, headers=rep),
        client.post(
            "/api/v1/recommendations",
            json={"customer_id": world.customer.id, "text": "报价\x00"},
            headers=rep,
        ),
    ):
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "nul_character"
