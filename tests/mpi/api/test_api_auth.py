"""Bearer tokens and roles: reader < reviewer < admin; /health and /metrics are open."""

from __future__ import annotations

import pytest
from api_helpers import ADMIN, READER, REVIEWER, TestClient, auth

from mpi.api.auth import Forbidden, Unauthenticated, authenticate, authorise
from mpi.domain import Role
from mpi.service import ServiceContext

# (method, url, body, role needed). Bodies are valid so that only the role decides.
ENDPOINTS = [
    ("GET", "/api/reviews", None, Role.READER),
    ("GET", "/api/reviews/1", None, Role.READER),
    ("POST", "/api/reviews/1/decision", {"decision": "match"}, Role.REVIEWER),
    ("GET", "/api/persons/E000000001", None, Role.READER),
    ("GET", "/api/persons/E000000001/history", None, Role.READER),
    ("POST", "/api/persons/E000000001/merge", {"from": "E000000002"}, Role.ADMIN),
    ("POST", "/api/persons/E000000001/unmerge", None, Role.ADMIN),
    ("POST", "/api/persons/E000000001/unlink", {"domain": "NORTHGEN", "id": "X"}, Role.ADMIN),
    ("GET", "/api/audit", None, Role.ADMIN),
]
TOKENS = {Role.READER: READER, Role.REVIEWER: REVIEWER, Role.ADMIN: ADMIN}


@pytest.mark.parametrize(("method", "url", "body", "needed"), ENDPOINTS)
def test_every_api_endpoint_needs_a_token(
    client: TestClient, method: str, url: str, body: object, needed: Role
) -> None:
    for headers in ({}, auth("wrong-token"), {"Authorization": f"Basic {ADMIN}"}):
        r = client.request(method, url, json=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["detail"]
        assert "secret" not in r.text  # the presented token is never echoed


@pytest.mark.parametrize(("method", "url", "body", "needed"), ENDPOINTS)
def test_roles_below_the_needed_one_are_forbidden(
    client: TestClient, method: str, url: str, body: object, needed: Role
) -> None:
    for role, token in TOKENS.items():
        r = client.request(method, url, json=body, headers=auth(token))
        if role.allows(needed):
            assert r.status_code not in (401, 403), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            assert f"the {needed.value} role is needed" in r.json()["detail"]


def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert "mpi_review_backlog 0.0" in m.text
    assert "# TYPE mpi_messages_total counter" in m.text


def test_health_reports_a_broken_database_as_503(ctx: ServiceContext, client: TestClient) -> None:
    ctx.store.engine.dispose()
    original = ctx.store.unit_of_work

    def broken(**kw: object) -> object:
        raise RuntimeError("connection refused")

    ctx.store.unit_of_work = broken  # type: ignore[method-assign]
    try:
        r = client.get("/health")
    finally:
        ctx.store.unit_of_work = original  # type: ignore[method-assign]
    assert r.status_code == 503
    assert r.json() == {"status": "error", "database": "RuntimeError: connection refused"}


def test_metrics_count_backlog_and_request_latency(client: TestClient, review_pair: None) -> None:
    answer = client.get("/api/reviews", headers=auth(READER))
    assert answer.headers["server-timing"].startswith("app;dur=")
    assert float(answer.headers["server-timing"].split("dur=")[1]) > 0
    text = client.get("/metrics").text
    assert "mpi_review_backlog 1.0" in text
    assert 'mpi_http_request_seconds_count{method="GET",route="/api/reviews",status="2xx"}' in text


def test_tokens_compare_whole_values(ctx: ServiceContext) -> None:
    assert authenticate(ctx, ADMIN).name == "alice"
    assert authenticate(ctx, READER).role is Role.READER
    for guess in (ADMIN[:-1], ADMIN + "x", ADMIN.upper(), "", " " + ADMIN):
        with pytest.raises(Unauthenticated):
            authenticate(ctx, guess)
    with pytest.raises(Forbidden, match="the admin role is needed"):
        authorise(authenticate(ctx, REVIEWER), Role.ADMIN)


def test_tokens_stored_by_mpi_serve_authenticate_too(
    ctx: ServiceContext, client: TestClient
) -> None:
    issued = ctx.store.run(lambda uow: uow.tokens.create("ops-bot", Role.REVIEWER))
    caller = authenticate(ctx, issued)
    assert (caller.name, caller.role) == ("ops-bot", Role.REVIEWER)
    assert client.get("/api/reviews", headers=auth(issued)).status_code == 200
    assert client.get("/api/audit", headers=auth(issued)).status_code == 403


def test_a_revoked_stored_token_is_refused(ctx: ServiceContext, client: TestClient) -> None:
    issued = ctx.store.run(lambda uow: uow.tokens.create("temp", Role.ADMIN))
    token_id = ctx.store.run(lambda uow: uow.tokens.list()[-1].id)
    ctx.store.run(lambda uow: uow.tokens.revoke(token_id))
    r = client.get("/api/reviews", headers=auth(issued))
    assert r.status_code == 401 and "is not a known API token" in r.json()["detail"]
