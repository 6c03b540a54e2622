"""Property tests of every operation against the app's own OpenAPI schema (schemathesis).

Small and deterministic: a few derandomized examples per operation, on SQLite,
with an admin token so that requests reach the routes' own validation. Valid
requests must conform to the documented statuses, media types and response
schemas; invalid ones (negative mode) must never get a 5xx, and every 4xx carries a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from api_helpers import ADMIN, RC, adt, api_settings, auth, msa
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mpi.api import create_app
from mpi.service import open_context
from mpi.service.feed import FeedHandler
from mpi.store import Store

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> object:
    path: Path = tmp_path_factory.mktemp("schema") / "mpi.db"
    url = f"sqlite:///{path}"
    ctx = open_context(api_settings(url), store=Store.open(url))
    handler = FeedHandler(ctx)
    assert msa(handler.handle_bytes(adt("1", "NG-1^^^NORTHGEN"))) == "AA"
    assert (
        msa(
            handler.handle_bytes(
                adt("2", "RC-1^^^RIVERCL", sender=RC, phone="", address="9 X^^Y^^1^^H")
            )
        )
        == "AA"
    )
    return create_app(ctx)


def _operations(app: object) -> list[object]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms_to_its_schema(app: object) -> None:
    operations = _operations(app)
    assert len(operations) >= 13
    for operation in operations:

        @settings(
            max_examples=12,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        def run(case: object) -> None:
            response = case.call(headers=auth(ADMIN))  # type: ignore[attr-defined]
            case.validate_response(response, checks=CHECKS)  # type: ignore[attr-defined]

        run()


def test_invalid_requests_never_fail_on_the_server_and_errors_have_a_message(app: object) -> None:
    for operation in _operations(app):
        if operation.label in ("GET /health", "GET /metrics"):  # type: ignore[attr-defined]
            continue  # no parameters: nothing to break

        @settings(
            max_examples=12,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(GenerationMode.NEGATIVE))  # type: ignore[attr-defined]
        def run(case: object) -> None:
            response = case.call(headers=auth(ADMIN))  # type: ignore[attr-defined]
            # Unknown query parameters are ignored (FHIR's lenient search), so some
            # "negative" cases are valid requests; none may fail on the server.
            assert response.status_code < 500, (case, response.text)
            if response.status_code < 400:
                return
            body = response.json()
            if body.get("resourceType") == "OperationOutcome":
                assert body["issue"][0]["diagnostics"]
            else:
                assert isinstance(body["detail"], str) and body["detail"]

        run()
