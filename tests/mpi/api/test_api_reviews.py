"""Review queue and decisions end to end: records come in through the ITI-8 feed."""

from __future__ import annotations

import pytest
from api_helpers import ADMIN, RC, READER, REVIEWER, Feed, TestClient, auth, ids

from mpi.domain import OutboxStatus
from mpi.service import ServiceContext

pytestmark = pytest.mark.usefixtures("review_pair")


def _open(client: TestClient) -> dict:
    r = client.get("/api/reviews", params={"status": "open"}, headers=auth(READER))
    assert r.status_code == 200, r.text
    return r.json()


def _outbox(ctx: ServiceContext) -> int:
    with ctx.store.unit_of_work(readonly=True) as uow:
        return len(uow.outbox.list(OutboxStatus.PENDING, limit=1000))


def test_open_reviews_list_the_pair_with_records_and_explanation(client: TestClient) -> None:
    page = _open(client)
    assert page["total"] == 1 and len(page["items"]) == 1
    item = page["items"][0]
    assert 0.5 <= item["score"] < 0.95
    sides = {
        (item["left"]["domain"], item["left"]["id"]),
        (item["right"]["domain"], item["right"]["id"]),
    }
    assert sides == {("NORTHGEN", "NG-1"), ("RIVERCL", "RC-1")}
    assert item["left"]["demographics"]["family_name"] == "SMITH"
    assert item["left"]["enterprise_id"] != item["right"]["enterprise_id"]
    assert {"level", "weight"} <= set(item["fields"]["family_name"])
    assert item["fields"]["family_name"]["level"] == "exact"
    assert item["fields"]["family_name"]["weight"] > 0
    one = client.get(f"/api/reviews/{item['id']}", headers=auth(READER))
    assert one.status_code == 200 and one.json() == item


def test_reviews_sort_by_score_and_paginate(client: TestClient, feed: Feed) -> None:
    feed("RC-2^^^RIVERCL", "SMITH^JAMES^^^^^L", sender=RC, phone="")
    page = _open(client)
    assert page["total"] == 2
    scores = [i["score"] for i in page["items"]]
    assert scores == sorted(scores, reverse=True)
    first = client.get("/api/reviews", params={"limit": 1}, headers=auth(READER)).json()
    second = client.get(
        "/api/reviews", params={"limit": 1, "offset": 1}, headers=auth(READER)
    ).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [i["id"] for i in page["items"]]
    assert first["total"] == second["total"] == 2
    decided = client.get("/api/reviews", params={"status": "decided"}, headers=auth(READER)).json()
    assert decided == {"items": [], "total": 0, "offset": 0, "limit": 50}


def test_match_merges_the_two_persons_and_is_audited(
    client: TestClient, ctx: ServiceContext
) -> None:
    item = _open(client)["items"][0]
    left_eid, right_eid = item["left"]["enterprise_id"], item["right"]["enterprise_id"]
    queued = _outbox(ctx)
    r = client.post(
        f"/api/reviews/{item['id']}/decision",
        json={"decision": "match", "reason": "same phone on file"},
        headers=auth(REVIEWER),
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "decided" and decided["decision"] == "match"
    assert decided["decided_by"] == "bob" and decided["reason"] == "same phone on file"
    survivor = decided["merged_into"]
    assert survivor in (left_eid, right_eid)
    other = right_eid if survivor == left_eid else left_eid
    person = client.get(f"/api/persons/{survivor}", headers=auth(READER)).json()
    assert ids(person) == ["NORTHGEN|NG-1", "RIVERCL|RC-1"]
    merged = client.get(f"/api/persons/{other}", headers=auth(READER)).json()
    assert merged["status"] == "merged" and merged["merged_into"] == survivor
    assert _open(client)["total"] == 0
    assert _outbox(ctx) == queued + 1  # ITI-10 for the survivor, in the same transaction
    audit = client.get("/api/audit", params={"entity_type": "review"}, headers=auth(ADMIN)).json()
    decide = [e for e in audit["items"] if e["action"] == "review.decide"]
    assert len(decide) == 1
    assert decide[0]["actor"] == "bob" and decide[0]["reason"] == "same phone on file"
    assert decide[0]["before"]["status"] == "open"
    assert decide[0]["after"]["decision"] == "match"
    merges = client.get("/api/audit", params={"action": "person.merge"}, headers=auth(ADMIN)).json()
    assert merges["total"] == 1 and merges["items"][0]["entity_id"] == survivor


def test_match_is_undone_by_unmerge(client: TestClient) -> None:
    item = _open(client)["items"][0]
    before = {
        side: client.get(f"/api/persons/{item[side]['enterprise_id']}", headers=auth(READER)).json()
        for side in ("left", "right")
    }
    decided = client.post(
        f"/api/reviews/{item['id']}/decision", json={"decision": "match"}, headers=auth(REVIEWER)
    ).json()
    r = client.post(f"/api/persons/{decided['merged_into']}/unmerge", headers=auth(ADMIN))
    assert r.status_code == 200, r.text
    for side, person in before.items():
        now = client.get(f"/api/persons/{item[side]['enterprise_id']}", headers=auth(READER)).json()
        assert now["links"] == person["links"]
        assert now["status"] == "active"


def test_no_match_is_remembered_and_never_suggested_again(
    client: TestClient, feed: Feed, ctx: ServiceContext
) -> None:
    item = _open(client)["items"][0]
    queued = _outbox(ctx)
    r = client.post(
        f"/api/reviews/{item['id']}/decision",
        json={"decision": "no-match", "reason": "different people"},
        headers=auth(ADMIN),
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "no-match" and r.json()["merged_into"] is None
    assert _outbox(ctx) == queued  # nothing moved: no notification
    # The same record updated (A08) is matched again: the pair is not proposed again.
    feed(
        "RC-1^^^RIVERCL",
        event="A08",
        sender=RC,
        address="99 OTHER ROAD^^SHELBYVILLE^^62999^^H",
        phone="",
    )
    assert _open(client)["total"] == 0
    everything = client.get("/api/reviews", params={"status": "all"}, headers=auth(READER)).json()
    assert everything["total"] == 1
    left = client.get(f"/api/persons/{item['left']['enterprise_id']}", headers=auth(READER)).json()
    assert len(left["records"]) == 1


def test_no_match_splits_a_pair_that_was_linked_since(
    client: TestClient, ctx: ServiceContext
) -> None:
    item = _open(client)["items"][0]
    # A steward merged the two persons meanwhile; the reviewer then says they differ.
    r = client.post(
        f"/api/persons/{item['left']['enterprise_id']}/merge",
        json={"from": item["right"]["enterprise_id"]},
        headers=auth(ADMIN),
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/reviews/{item['id']}/decision", json={"decision": "no-match"}, headers=auth(ADMIN)
    )
    assert r.status_code == 200, r.text
    left = client.get(f"/api/persons/{item['left']['enterprise_id']}", headers=auth(READER)).json()
    assert ids(left) == ["NORTHGEN|NG-1"]


def test_deciding_twice_is_a_conflict(client: TestClient) -> None:
    item = _open(client)["items"][0]
    url = f"/api/reviews/{item['id']}/decision"
    assert (
        client.post(url, json={"decision": "no-match"}, headers=auth(REVIEWER)).status_code == 200
    )
    r = client.post(url, json={"decision": "match"}, headers=auth(REVIEWER))
    assert r.status_code == 409
    assert "already decided" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "body.decision: Field required"),
        ({"decision": "maybe"}, "body.decision: Input should be 'match' or 'no-match'"),
        ({"decision": "match", "extra": 1}, "body.extra: Extra inputs are not permitted"),
        (
            {"decision": "match", "reason": "x" * 2001},
            "body.reason: String should have at most 2000",
        ),
        ([], "body: Input should be a valid dictionary"),
    ],
)
def test_bad_decision_bodies_are_422_with_a_clear_message(
    client: TestClient, body: object, expected: str
) -> None:
    item = _open(client)["items"][0]
    r = client.post(f"/api/reviews/{item['id']}/decision", json=body, headers=auth(REVIEWER))
    assert r.status_code == 422
    assert r.json()["detail"].startswith(expected), r.json()


@pytest.mark.parametrize(
    ("url", "params", "status", "fragment"),
    [
        ("/api/reviews/999999", {}, 404, "review: 999999 does not exist"),
        ("/api/reviews/abc", {}, 422, "path.task_id: Input should be a valid integer"),
        ("/api/reviews/0", {}, 422, "path.task_id: Input should be greater than or equal to 1"),
        ("/api/reviews", {"status": "pending"}, 422, "query.status: Input should be 'open'"),
        (
            "/api/reviews",
            {"limit": 0},
            422,
            "query.limit: Input should be greater than or equal to 1",
        ),
        (
            "/api/reviews",
            {"limit": 201},
            422,
            "query.limit: Input should be less than or equal to 200",
        ),
        ("/api/reviews", {"offset": -1}, 422, "query.offset"),
    ],
)
def test_bad_review_parameters(
    client: TestClient, url: str, params: dict, status: int, fragment: str
) -> None:
    r = client.get(url, params=params, headers=auth(READER))
    assert r.status_code == status
    assert fragment in r.json()["detail"], r.json()


def test_deciding_an_unknown_task_is_404(client: TestClient) -> None:
    r = client.post("/api/reviews/424242/decision", json={"decision": "match"}, headers=auth(ADMIN))
    assert r.status_code == 404
    assert r.json() == {"detail": "review: 424242 does not exist"}
