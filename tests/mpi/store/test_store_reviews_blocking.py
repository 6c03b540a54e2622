"""Review tasks (a no-match is remembered) and the blocking-key candidate lookup."""

from __future__ import annotations

import pytest
from store_helpers import new_record

from mpi.domain import LinkMethod, ReviewDecision, ReviewStatus, SourceRecordRef
from mpi.errors import InvalidState, NotFound
from mpi.store import UnitOfWork
from mpi.store.blocking import hash_keys

A = SourceRecordRef("NORTHGEN", "A")
B = SourceRecordRef("RIVERCL", "B")
C = SourceRecordRef("RIVERCL", "C")
FIELDS = {"family_name": {"level": "exact", "weight": 4.2}, "birth_date": {"level": "transposed", "weight": 1.5}}


def _records(uow: UnitOfWork, *refs: SourceRecordRef) -> None:
    for ref in refs:
        uow.records.add(new_record(ref.domain, ref.id, family_name="Doe"))


def test_propose_list_and_refresh(uow: UnitOfWork) -> None:
    _records(uow, A, B, C)
    t1 = uow.reviews.propose(A, B, 0.7, FIELDS)
    t2 = uow.reviews.propose(C, A, 0.8, {})
    assert t1 is not None and t2 is not None
    assert (t1.left, t1.right, t1.score, t1.fields, t1.status) == (A, B, 0.7, FIELDS, ReviewStatus.OPEN)
    # The same pair in the other order is the same task, refreshed.
    again = uow.reviews.propose(B, A, 0.75, {"x": 1})
    assert again is not None and again.id == t1.id and again.score == 0.75
    assert [t.id for t in uow.reviews.list()] == [t2.id, t1.id]  # highest score first
    assert uow.reviews.count() == 2
    assert [t.id for t in uow.reviews.list(offset=1, limit=1)] == [t1.id]
    assert [t.id for t in uow.reviews.for_record(C)] == [t2.id]
    with pytest.raises(InvalidState):
        uow.reviews.propose(A, A, 0.6, {})


def test_no_match_decision_is_remembered(uow: UnitOfWork) -> None:
    _records(uow, A, B)
    task = uow.reviews.propose(A, B, 0.6, FIELDS)
    assert task is not None
    decided = uow.reviews.decide(task.id, ReviewDecision.NO_MATCH, by="alice", reason="different mothers")
    assert (decided.status, decided.decision, decided.decided_by, decided.reason) == (
        ReviewStatus.DECIDED, ReviewDecision.NO_MATCH, "alice", "different mothers")
    assert decided.decided_at is not None
    assert uow.reviews.propose(B, A, 0.9, FIELDS) is None
    assert uow.reviews.is_no_match(B, A)
    assert uow.reviews.no_match_partners(A) == {B}
    assert uow.reviews.count() == 0 and uow.reviews.count(ReviewStatus.DECIDED) == 1
    with pytest.raises(InvalidState, match="already decided"):
        uow.reviews.decide(task.id, ReviewDecision.MATCH, by="bob")
    with pytest.raises(NotFound, match="review: 999"):
        uow.reviews.decide(999, ReviewDecision.MATCH, by="bob")


def test_candidates_by_blocking_key(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(5)]
    _records(uow, *refs)
    for i, ref in enumerate(refs):
        uow.blocking.replace(ref, ["fam:doe", f"dob:{i % 2}", "fam:doe"])
    assert uow.blocking.keys_of(refs[0]) == sorted(hash_keys(["dob:0", "fam:doe"]).tolist())
    found = uow.blocking.candidate_records(["dob:1"])
    assert [r.ref for r in found] == [refs[3], refs[1]]  # newest first within a key
    pks = {ref.id: uow.records.require(ref).pk for ref in refs}
    limited = uow.blocking.candidate_pks(["fam:doe", "dob:0"], limit_per_key=2)
    # dob:0 gives R4, R2 (not R0); fam:doe gives R4, R3; each record once.
    assert sorted(limited) == sorted([pks["R4"], pks["R2"], pks["R3"]])
    assert uow.blocking.candidate_records(["fam:doe"], exclude=refs[4], limit_per_key=10)[0].ref == refs[3]
    assert uow.blocking.candidate_records([]) == []
    assert uow.blocking.candidate_records(["nothing"]) == []
    # Replacing keys drops the old ones; subsumed records are no candidates.
    uow.blocking.replace(refs[1], ["other"])
    assert [r.ref for r in uow.blocking.candidate_records(["dob:1"])] == [refs[3]]
    uow.records.subsume(refs[3], refs[0])
    assert uow.blocking.candidate_records(["dob:1"]) == []


def test_a_key_shared_beyond_its_rules_block_limit_finds_nobody(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(5)]
    _records(uow, *refs)
    for i, ref in enumerate(refs):
        uow.blocking.replace(ref, ["house:12|berlin", *(["dob:1"] if i < 2 else [])])
    pks = {ref.id: uow.records.require(ref).pk for ref in refs}
    keys = ["house:12|berlin", "dob:1"]
    # 5 records share the house key: searched with a block limit of 5, skipped with 4
    # (as the batch path skips a block larger than its rule's max_block).
    assert set(uow.blocking.candidate_pks(keys, max_blocks=[5, None])) == set(pks.values())
    assert uow.blocking.candidate_pks(keys, max_blocks=[4, None]) == [pks["R1"], pks["R0"]]
    # Without a block limit a key gives its newest records up to limit_per_key.
    newest = uow.blocking.candidate_pks(keys, limit_per_key=3, max_blocks=[None, None])
    assert newest == [pks["R4"], pks["R3"], pks["R2"], pks["R1"], pks["R0"]]
    matched = uow.blocking.match_candidates(keys, max_blocks=[4, 1])
    assert matched == []  # dob:1 is shared by 2 records, more than its limit of 1


GOLDEN = [2136450106423002961, 4665799361902612447, 94604871318156630]


def test_key_hashes_are_fixed() -> None:
    # Stored hashes must stay valid across versions and machines: known values pinned.
    assert hash_keys(["names:P360|N425", "given_dob:jürgen|19561231", ""]).tolist() == GOLDEN
    assert hash_keys([]).tolist() == []
    assert len(set(hash_keys([f"k{i}" for i in range(10_000)]).tolist())) == 10_000


def test_candidates_carry_their_person(uow: UnitOfWork) -> None:
    _records(uow, A)
    person = uow.persons.create()
    uow.links.link(A, person.enterprise_id, score=1.0, method=LinkMethod.AUTO)
    uow.blocking.replace(A, ["k"])
    (found,) = uow.blocking.candidate_records(["k"])
    assert found.enterprise_id == person.enterprise_id
    assert found.demographics.family_name == "Doe"
