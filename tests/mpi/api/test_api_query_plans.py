"""Every statement of the operators' API and of PIXm / PDQm finds its rows through an index.

A session on SQLite (golden views, history, the review queue and a decision, merge,
unmerge, unlink, audit, FHIR PIXm and PDQm, health) is recorded; no statement of it
may scan a table that grows (see :mod:`tests.mpi.query_plans`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import ADMIN, RC, READER, TestClient, adt, api_settings, auth, msa

from mpi.api import create_app
from mpi.service import ServiceContext, open_context
from mpi.service.feed import FeedHandler
from tests.mpi.query_plans import GROWING, record_statements, scans


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    ctx = open_context(api_settings(f"sqlite:///{tmp_path / 'plans.db'}"))
    yield ctx
    ctx.store.dispose()


def test_no_statement_of_the_api_scans_a_growing_table(sqlite_ctx: ServiceContext) -> None:
    handler = FeedHandler(sqlite_ctx)
    for n, (pid3, kw) in enumerate(
        [
            ("NG-1^^^NORTHGEN", {}),
            (
                "RC-1^^^RIVERCL",
                {"sender": RC, "address": "99 OTHER ROAD^^SHELBYVILLE^^62999^^H", "phone": ""},
            ),
            (
                "NG-2^^^NORTHGEN",
                {"name": "DOE^JANE^^^^^L", "sex": "F", "birth": "19850101", "phone": ""},
            ),
            ("RC-2^^^RIVERCL", {"sender": RC}),
        ]
    ):
        assert msa(handler.handle_bytes(adt(f"M{n}", pid3, **kw))) == "AA"  # type: ignore[arg-type]
    statements = record_statements(sqlite_ctx.store.engine)
    with TestClient(create_app(sqlite_ctx), raise_server_exceptions=True) as client:
        reader, admin = auth(READER), auth(ADMIN)

        def ok(response: object) -> dict[str, object]:
            assert response.status_code == 200, response.text  # type: ignore[attr-defined]
            return response.json()  # type: ignore[attr-defined,no-any-return]

        def person_of(ref: str) -> str:
            pix = ok(
                client.get(
                    "/fhir/Patient/$ihe-pix", params={"sourceIdentifier": ref}, headers=reader
                )
            )
            (target,) = [
                p["valueReference"]["reference"]  # type: ignore[index]
                for p in pix["parameter"]  # type: ignore[attr-defined]
                if p["name"] == "targetId"
            ]
            return str(target).removeprefix("Patient/")

        john = person_of("urn:oid:2.999.10.1|NG-1")
        jane = person_of("urn:oid:2.999.10.1|NG-2")
        ok(client.get(f"/api/persons/{john}", headers=reader))
        ok(client.get(f"/api/persons/{john}/history", headers=reader))
        queue = ok(client.get("/api/reviews", headers=reader))
        tasks = queue["items"]
        assert tasks, queue
        task = tasks[0]["id"]  # type: ignore[index]
        ok(client.get(f"/api/reviews/{task}", headers=reader))
        ok(
            client.post(
                f"/api/reviews/{task}/decision", json={"decision": "no-match"}, headers=admin
            )
        )
        ok(client.post(f"/api/persons/{jane}/merge", json={"from": john}, headers=admin))
        ok(client.post(f"/api/persons/{jane}/unmerge", headers=admin))
        ok(
            client.post(
                f"/api/persons/{john}/unlink",
                json={"domain": "RIVERCL", "id": "RC-2", "reason": "another patient"},
                headers=admin,
            )
        )
        ok(
            client.get(
                "/api/audit", params={"entity_type": "person", "entity_id": john}, headers=admin
            )
        )
        client.headers.update(reader)
        ok(client.get("/fhir/Patient", params={"family": "SMITH", "birthdate": "1970-04-12"}))
        ok(client.get("/fhir/Patient", params={"identifier": "urn:oid:2.999.10.2|RC-1"}))
        ok(client.get(f"/fhir/Patient/{john}"))
        ok(client.get("/health"))
        checked = list(statements)
        # Not checked: /metrics' gauges count the active persons and the open tasks,
        # which reads them all whatever the plan (~60 ms at 1M persons, once a scrape).
        assert client.get("/metrics").status_code == 200
    touched = {table for statement, _ in checked for table in GROWING if table in statement}
    assert {"review_task", "person_merge", "audit_event", "link", "source_record"} <= touched
    assert scans(sqlite_ctx.store.engine, checked) == {}
