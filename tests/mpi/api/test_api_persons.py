"""Persons: golden view, merge/unmerge round trip, unlink, history, audit, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import ADMIN, RC, READER, Feed, TestClient, auth, ids

from mpi.domain import OutboxStatus
from mpi.service import ServiceContext


def _person(client: TestClient, eid: str) -> dict[str, Any]:
    r = client.get(f"/api/persons/{eid}", headers=auth(READER))
    assert r.status_code == 200, r.text
    return r.json()


def _eid(ctx: ServiceContext, domain: str, id_: str) -> str:
    from mpi.domain import SourceRecordRef

    with ctx.store.unit_of_work(readonly=True) as uow:
        link = uow.links.get(SourceRecordRef(domain, id_))
    assert link is not None
    return link.enterprise_id


@pytest.fixture
def people(feed: Feed, ctx: ServiceContext) -> dict[str, str]:
    """John Smith (NG-1 + RC-0, auto-linked) and Jane Doe (RC-5): two persons."""
    feed("NG-1^^^NORTHGEN")
    feed("RC-0^^^RIVERCL", "SMITH^JON^^^^^L", sender=RC)
    feed(
        "RC-5^^^RIVERCL",
        "DOE^JANE^^^^^L",
        sender=RC,
        birth="19850101",
        sex="F",
        address="1 ELM ST^^CAPITAL CITY^^10001^^H",
        phone="(555)555-0199^PRN^PH",
    )
    john, jane = _eid(ctx, "NORTHGEN", "NG-1"), _eid(ctx, "RIVERCL", "RC-5")
    assert john == _eid(ctx, "RIVERCL", "RC-0") and john != jane
    return {"john": john, "jane": jane}


def test_golden_view_shows_where_each_value_came_from(
    client: TestClient, people: dict[str, str]
) -> None:
    person = _person(client, people["john"])
    assert person["status"] == "active" and person["merged_into"] is None
    assert ids(person) == ["NORTHGEN|NG-1", "RIVERCL|RC-0"]
    golden = person["golden"]
    assert golden["family_name"]["value"] == "SMITH"
    assert golden["birth_date"] == {
        "value": "19700412",
        "source": golden["birth_date"]["source"],
        "rule": golden["birth_date"]["rule"],
    }
    # RC-0 was updated last: its given name wins over NG-1's by recency.
    assert golden["given_name"] == {
        "value": "JON",
        "source": {"domain": "RIVERCL", "id": "RC-0"},
        "rule": "most recent",
    }
    for value in golden.values():
        record = next(
            r
            for r in person["records"]
            if (r["domain"], r["id"]) == (value["source"]["domain"], value["source"]["id"])
        )
        field = next(k for k, v in golden.items() if v is value)
        assert record["demographics"][field] == value["value"]
    assert len(person["survivorship"]) == 4
    assert {link["method"] for link in person["links"]} == {"auto"}


def test_merge_then_unmerge_restores_exactly(
    client: TestClient, people: dict[str, str], ctx: ServiceContext
) -> None:
    john, jane = people["john"], people["jane"]
    before = {eid: _person(client, eid) for eid in (john, jane)}
    r = client.post(
        f"/api/persons/{john}/merge", json={"from": jane, "reason": "same"}, headers=auth(ADMIN)
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert ids(merged) == ["NORTHGEN|NG-1", "RIVERCL|RC-0", "RIVERCL|RC-5"]
    assert {link["method"] for link in merged["links"] if link["id"] == "RC-5"} == {"manual"}
    assert _person(client, jane)["status"] == "merged"
    r = client.post(f"/api/persons/{john}/unmerge", json={"reason": "wrong"}, headers=auth(ADMIN))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["merge"]["survivor"] == john and body["merge"]["subsumed"] == jane
    assert body["merge"]["undone_by"] == "alice"
    for eid, person in before.items():
        now = _person(client, eid)
        assert now["links"] == person["links"]
        assert now["records"] == person["records"]
        assert now["status"] == "active" and now["merged_into"] is None
    # ITI-10 queued for both persons after the unmerge (PID-3 of each changed back).
    with ctx.store.unit_of_work(readonly=True) as uow:
        pending = uow.outbox.list(OutboxStatus.PENDING, limit=1000)
    assert {m.enterprise_id for m in pending[-2:]} == {john, jane}


def test_unlink_moves_the_record_to_a_person_of_its_own(
    client: TestClient, people: dict[str, str]
) -> None:
    john = people["john"]
    r = client.post(
        f"/api/persons/{john}/unlink",
        json={"domain": "RIVERCL", "id": "RC-0", "reason": "different patient"},
        headers=auth(ADMIN),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert ids(body["person"]) == ["NORTHGEN|NG-1"]
    assert ids(body["new_person"]) == ["RIVERCL|RC-0"]
    assert body["new_person"]["links"][0]["method"] == "manual"
    assert body["new_person"]["links"][0]["linked_by"] == "alice"
    history = client.get(f"/api/persons/{john}/history", headers=auth(READER)).json()
    unlink = [e for e in history["events"] if e["action"] == "person.unlink"]
    assert unlink[0]["reason"] == "different patient"
    assert unlink[0]["before"]["records"] == ["NORTHGEN|NG-1", "RIVERCL|RC-0"]
    assert unlink[0]["after"] == {
        "records": ["NORTHGEN|NG-1"],
        "new_person": body["new_person"]["enterprise_id"],
    }


def test_history_lists_merges_and_events_newest_first(
    client: TestClient, people: dict[str, str]
) -> None:
    john, jane = people["john"], people["jane"]
    client.post(f"/api/persons/{john}/merge", json={"from": jane}, headers=auth(ADMIN))
    client.post(f"/api/persons/{john}/unmerge", headers=auth(ADMIN))
    history = client.get(f"/api/persons/{john}/history", headers=auth(READER)).json()
    assert history["enterprise_id"] == john
    assert len(history["merges"]) == 1 and history["merges"][0]["undone_at"] is not None
    assert [m["id"] for m in history["merges"][0]["moved"]] == ["RC-5"]
    events = [e["id"] for e in history["events"]]
    assert events == sorted(events, reverse=True)
    actions = [e["action"] for e in history["events"]]
    assert actions[:2] == ["person.unmerge", "person.merge"]
    assert "record.register" in actions and "link.create" in actions


def test_audit_filters_and_pages(client: TestClient, people: dict[str, str]) -> None:
    john, jane = people["john"], people["jane"]
    client.post(f"/api/persons/{john}/merge", json={"from": jane}, headers=auth(ADMIN))
    everything = client.get("/api/audit", params={"limit": 500}, headers=auth(ADMIN)).json()
    assert everything["total"] == len(everything["items"]) > 3
    merges = client.get(
        "/api/audit", params={"action": "person.merged", "entity_id": jane}, headers=auth(ADMIN)
    ).json()
    assert merges["total"] == 1
    entry = merges["items"][0]
    assert entry["actor"] == "alice" and entry["entity_type"] == "person"
    assert entry["before"]["status"] == "active" and entry["after"] == {
        "status": "merged",
        "merged_into": john,
    }
    page = client.get("/api/audit", params={"limit": 2, "offset": 1}, headers=auth(ADMIN)).json()
    assert [e["id"] for e in page["items"]] == [e["id"] for e in everything["items"][1:3]]
    since = client.get("/api/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=auth(ADMIN))
    assert since.json()["total"] == 0


@pytest.mark.parametrize(
    ("action", "body", "status", "fragment"),
    [
        ("merge", {"from": "{john}"}, 409, "cannot be merged into itself"),
        ("merge", {"from": "E000009999"}, 404, "'E000009999' is not an enterprise id"),
        ("merge", {"from": "nonsense"}, 404, "'nonsense' is not an enterprise id"),
        ("merge", {}, 422, "body.from: Field required"),
        ("merge", {"from": ""}, 422, "body.from: String should have at least 1 character"),
        ("unmerge", None, 409, "has no merge to undo"),
        ("unmerge", {"why": "x"}, 422, "body.why: Extra inputs are not permitted"),
        ("unlink", {"domain": "RIVERCL", "id": "RC-5"}, 404, "is not linked to person"),
        ("unlink", {"domain": "NOPE", "id": "X"}, 404, "'NOPE'"),
        ("unlink", {"domain": "RIVERCL"}, 422, "body.id: Field required"),
    ],
)
def test_bad_person_changes_are_4xx_with_a_clear_message(
    client: TestClient, people: dict[str, str], action: str, body: Any, status: int, fragment: str
) -> None:
    if body and "from" in body:
        body = {"from": body["from"].format(**people)}
    r = client.post(f"/api/persons/{people['john']}/{action}", json=body, headers=auth(ADMIN))
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"], r.json()


def test_unlinking_the_only_record_or_from_a_merged_person_is_409(
    client: TestClient, people: dict[str, str]
) -> None:
    jane, john = people["jane"], people["john"]
    r = client.post(
        f"/api/persons/{jane}/unlink", json={"domain": "RIVERCL", "id": "RC-5"}, headers=auth(ADMIN)
    )
    assert r.status_code == 409 and "is the only record" in r.json()["detail"]
    client.post(f"/api/persons/{john}/merge", json={"from": jane}, headers=auth(ADMIN))
    r = client.post(
        f"/api/persons/{jane}/unlink", json={"domain": "RIVERCL", "id": "RC-5"}, headers=auth(ADMIN)
    )
    assert r.status_code == 409 and f"is merged into {john}" in r.json()["detail"]
    r = client.post(f"/api/persons/{jane}/merge", json={"from": john}, headers=auth(ADMIN))
    assert r.status_code == 409 and "already merged" in r.json()["detail"]


def test_unknown_person_reads_are_404(client: TestClient) -> None:
    for url in ("/api/persons/E000000042", "/api/persons/E000000042/history"):
        r = client.get(url, headers=auth(READER))
        assert r.status_code == 404
        assert r.json() == {"detail": "person: 'E000000042' is not an enterprise id of this index"}


def test_an_unlink_survives_later_updates_of_either_record(
    client: TestClient, people: dict[str, str], feed: Feed
) -> None:
    john = people["john"]
    r = client.post(
        f"/api/persons/{john}/unlink", json={"domain": "RIVERCL", "id": "RC-0"}, headers=auth(ADMIN)
    )
    assert r.status_code == 200, r.text
    new = r.json()["new_person"]["enterprise_id"]
    # Both facilities re-send their records unchanged (A08): the steward's split holds.
    feed("NG-1^^^NORTHGEN", event="A08")
    feed("RC-0^^^RIVERCL", "SMITH^JON^^^^^L", sender=RC, event="A08")
    assert ids(_person(client, john)) == ["NORTHGEN|NG-1"]
    assert ids(_person(client, new)) == ["RIVERCL|RC-0"]
    # The split is remembered as a reviewer's no-match (a labelled pair for mpi train).
    decided = client.get("/api/reviews", params={"status": "decided"}, headers=auth(ADMIN)).json()
    assert [(i["decision"], i["decided_by"]) for i in decided["items"]] == [("no-match", "alice")]
