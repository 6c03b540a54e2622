"""Enterprise persons, links, merge and unmerge, mother-child relations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from store_helpers import new_record

from mpi.domain import (
    LinkMethod,
    PersonStatus,
    SourceRecordRef,
    format_enterprise_id,
    parse_enterprise_id,
)
from mpi.errors import InvalidState, NotFound
from mpi.store import UnitOfWork

A = SourceRecordRef("NORTHGEN", "A")
B = SourceRecordRef("RIVERCL", "B")
C = SourceRecordRef("RIVERCL", "C")


def _records(uow: UnitOfWork, *refs: SourceRecordRef) -> None:
    for ref in refs:
        uow.records.add(new_record(ref.domain, ref.id, family_name="Doe"))


def test_enterprise_ids_are_distinct_and_parse_back(uow: UnitOfWork) -> None:
    ids = [uow.persons.create().enterprise_id for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(format_enterprise_id(parse_enterprise_id(i) or 0) == i for i in ids)
    assert parse_enterprise_id("E12") is None and parse_enterprise_id("X000000001") is None
    assert uow.persons.get("E999999999") is None
    assert uow.persons.get("garbage") is None
    with pytest.raises(NotFound, match="person: 'garbage'"):
        uow.persons.require("garbage")


def test_link_replace_and_unlink(uow: UnitOfWork) -> None:
    _records(uow, A, B)
    p1, p2 = uow.persons.create(), uow.persons.create()
    link = uow.links.link(A, p1.enterprise_id, score=0.97, method=LinkMethod.AUTO)
    assert (link.record, link.enterprise_id, link.score, link.method, link.linked_by) == (
        A, p1.enterprise_id, 0.97, LinkMethod.AUTO, "system")
    uow.links.link(B, p1.enterprise_id, score=1.0, method=LinkMethod.IDENTIFIER)
    assert [r.ref for r in uow.records.for_person(p1.enterprise_id)] == [A, B]
    assert uow.persons.record_count(p1.enterprise_id) == 2
    moved = uow.links.link(B, p2.enterprise_id, score=1.0, method=LinkMethod.MANUAL, by="alice")
    assert moved.linked_by == "alice"
    assert uow.records.require(B).enterprise_id == p2.enterprise_id
    assert [lk.record for lk in uow.links.for_person(p1.enterprise_id)] == [A]
    before = uow.links.unlink(A)
    assert before is not None and before.enterprise_id == p1.enterprise_id
    assert uow.links.get(A) is None
    assert uow.links.unlink(A) is None
    assert uow.records.require(A).enterprise_id is None


def test_merge_then_unmerge_restores_persons_and_links_exactly(uow: UnitOfWork) -> None:
    _records(uow, A, B, C)
    survivor, subsumed = uow.persons.create().enterprise_id, uow.persons.create().enterprise_id
    when = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    uow.links.link(A, survivor, score=0.99, method=LinkMethod.AUTO)
    uow.links.link(B, subsumed, score=0.96, method=LinkMethod.AUTO, at=when)
    uow.links.link(C, subsumed, score=1.0, method=LinkMethod.IDENTIFIER, by="feed", at=when)
    before = uow.links.for_person(subsumed)

    merge = uow.merges.merge(survivor, subsumed, by="alice", reason="same patient")
    assert merge.moved == tuple(before)
    assert [lk.record for lk in uow.links.for_person(survivor)] == [A, B, C]
    assert all(lk.method is LinkMethod.MANUAL for lk in uow.links.for_person(survivor)[1:])
    merged = uow.persons.require(subsumed)
    assert merged.status is PersonStatus.MERGED and merged.merged_into == survivor
    assert uow.persons.resolve(subsumed).enterprise_id == survivor
    with pytest.raises(InvalidState, match="merged"):
        uow.links.link(A, subsumed, score=1.0, method=LinkMethod.MANUAL)
    with pytest.raises(InvalidState):
        uow.merges.merge(survivor, subsumed, by="alice")
    uow.commit()

    undone = uow.merges.unmerge(survivor, by="bob")
    assert undone.undone_by == "bob" and undone.id == merge.id
    assert uow.persons.require(subsumed).status is PersonStatus.ACTIVE
    assert uow.links.for_person(subsumed) == before
    assert [lk.record for lk in uow.links.for_person(survivor)] == [A]
    assert [m.id for m in uow.merges.history(subsumed)] == [merge.id]
    with pytest.raises(InvalidState, match="no merge to undo"):
        uow.merges.unmerge(survivor, by="bob")


def test_unmerge_leaves_records_that_moved_on_since(uow: UnitOfWork) -> None:
    _records(uow, A, B)
    s, m, other = (uow.persons.create().enterprise_id for _ in range(3))
    uow.links.link(A, s, score=1.0, method=LinkMethod.AUTO)
    uow.links.link(B, m, score=1.0, method=LinkMethod.AUTO)
    uow.merges.merge(s, m, by="alice")
    uow.links.link(B, other, score=1.0, method=LinkMethod.MANUAL, by="carol")
    uow.merges.unmerge(s, by="bob")
    assert uow.links.get(B) is not None
    assert uow.records.require(B).enterprise_id == other


def test_merge_into_itself_is_refused(uow: UnitOfWork) -> None:
    p = uow.persons.create().enterprise_id
    with pytest.raises(InvalidState, match="itself"):
        uow.merges.merge(p, p, by="alice")


def test_mother_child_relationship(uow: UnitOfWork) -> None:
    mother, child = SourceRecordRef("NORTHGEN", "MUM"), SourceRecordRef("NORTHGEN", "BABY")
    _records(uow, mother, child)
    uow.relations.add_mother(child, mother)
    uow.relations.add_mother(child, mother)  # idempotent
    assert uow.relations.mothers_of(child) == [mother]
    assert uow.relations.children_of(mother) == [child]
    uow.relations.remove_mother(child, mother)
    assert uow.relations.mothers_of(child) == []
