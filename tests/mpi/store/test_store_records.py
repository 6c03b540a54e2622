"""Source records: register, duplicate, update, look up, search, subsume; identity domains."""

from __future__ import annotations

from datetime import UTC

import pytest
from store_helpers import DOMAINS, new_record

from mpi.domain import (
    IdentityDomain,
    LinkMethod,
    RecordQuery,
    RecordStatus,
    SourceRecordRef,
    SourceSystem,
)
from mpi.errors import Conflict, DuplicateRecord, NotFound, UnknownDomain
from mpi.store import Store, UnitOfWork

NG1 = SourceRecordRef("NORTHGEN", "NG-1")

FULL_PID = {
    "names": [
        {"family": "Müller", "given": "Anna", "type": "L"},
        {"family": "Schmidt", "given": "Anna", "type": "M"},
    ],
    "addresses": [{"street": "Hauptstr. 1", "city": "Köln", "postcode": "50667"}],
    "phones": ["+49 221 1234"],
    "birth_date": "19800412",
    "sex": "F",
    "mother_maiden_name": "Schmidt",
    "mother_identifier": {"domain": "NORTHGEN", "id": "NG-0"},
    "multiple_birth_order": 2,
    "language": "de",
    "marital_status": "M",
    "identifiers": [{"domain": "NATID", "id": "X123"}],
}


def test_register_and_read_back_the_whole_record(uow: UnitOfWork) -> None:
    new = new_record(
        "NORTHGEN", "NG-1", given_name="Anna", family_name="Müller", birth_date="19800412",
        sex="F", city="Köln", pid=FULL_PID, identifiers=[SourceRecordRef("NATID", "X123")],
    )
    stored = uow.records.add(new)
    uow.commit()
    again = uow.records.require(NG1)
    assert again == stored
    assert again.ref == NG1
    assert again.pid == FULL_PID
    assert again.demographics.record_id == "NORTHGEN|NG-1"
    assert again.demographics.family_name == "Müller"
    assert again.identifiers == (SourceRecordRef("NATID", "X123"),)
    assert again.status is RecordStatus.ACTIVE
    assert again.enterprise_id is None
    assert again.created_at.tzinfo is not None
    assert again.created_at.utcoffset() == UTC.utcoffset(None)


def test_the_same_domain_and_id_cannot_be_registered_twice(uow: UnitOfWork) -> None:
    uow.records.add(new_record("NORTHGEN", "NG-1", family_name="A"))
    with pytest.raises(DuplicateRecord, match=r"NORTHGEN\|NG-1.*already registered"):
        uow.records.add(new_record("NORTHGEN", "NG-1", family_name="B"))
    # The failed insert ran in a savepoint: the unit of work goes on.
    uow.records.add(new_record("RIVERCL", "NG-1", family_name="C"))
    uow.commit()
    assert uow.records.require(NG1).demographics.family_name == "A"


def test_unknown_domain_is_refused(uow: UnitOfWork) -> None:
    with pytest.raises(UnknownDomain, match="'SOUTH'"):
        uow.records.add(new_record("SOUTH", "1", family_name="A"))
    with pytest.raises(UnknownDomain):
        uow.records.get(SourceRecordRef("SOUTH", "1"))


def test_missing_record(uow: UnitOfWork) -> None:
    assert uow.records.get(NG1) is None
    with pytest.raises(NotFound, match=r"source record: 'NORTHGEN\|NG-1' is not registered"):
        uow.records.require(NG1)


def test_update_replaces_demographics_pid_and_carried_ids(uow: UnitOfWork) -> None:
    uow.records.add(new_record("NORTHGEN", "NG-1", family_name="Meier", identifiers=[SourceRecordRef("NATID", "1")]))
    updated = uow.records.update(
        new_record("NORTHGEN", "NG-1", family_name="Maier", pid={"v": 2}, identifiers=[SourceRecordRef("NATID", "2")])
    )
    assert updated.demographics.family_name == "Maier"
    assert updated.pid == {"v": 2}
    assert updated.identifiers == (SourceRecordRef("NATID", "2"),)
    assert uow.records.with_identifier(SourceRecordRef("NATID", "1")) == []
    with pytest.raises(NotFound):
        uow.records.update(new_record("NORTHGEN", "NG-404", family_name="X"))


def test_with_identifier_finds_own_and_carried_ids(uow: UnitOfWork) -> None:
    a = uow.records.add(new_record("NORTHGEN", "NG-1", identifiers=[SourceRecordRef("NATID", "X1")]))
    b = uow.records.add(new_record("RIVERCL", "R-9", identifiers=[SourceRecordRef("NATID", "X1")]))
    c = uow.records.add(new_record("NATID", "X1"))
    uow.records.add(new_record("RIVERCL", "R-10", identifiers=[SourceRecordRef("NATID", "X2")]))
    found = uow.records.with_identifier(SourceRecordRef("NATID", "X1"))
    assert [r.ref for r in found] == [a.ref, b.ref, c.ref]
    # A domain nobody registered can still be carried.
    assert uow.records.with_identifier(SourceRecordRef("ELSEWHERE", "1")) == []


def test_search_folds_case_and_accents_and_supports_prefix(uow: UnitOfWork) -> None:
    uow.records.add(new_record("NORTHGEN", "1", family_name="Müller", given_name="Jörg", birth_date="19700101", sex="M"))
    uow.records.add(new_record("NORTHGEN", "2", family_name="MULLER", given_name="Anna", birth_date="19700101", sex="F"))
    uow.records.add(new_record("NORTHGEN", "3", family_name="Mullins", given_name="Jo", birth_date="19710202", sex="M"))
    uow.records.add(new_record("NORTHGEN", "4", family_name="Mul%r", given_name="X"))

    def ids(q: RecordQuery) -> list[str]:
        return [r.ref.id for r in uow.records.search(q)]

    # Names are folded as the matcher folds them: umlauts become ae/oe/ue, punctuation goes.
    assert ids(RecordQuery(family_name="muller")) == ["2"]
    assert ids(RecordQuery(family_name="MUELLER")) == ids(RecordQuery(family_name="Müller")) == ["1"]
    assert ids(RecordQuery(family_name="MUL*")) == ["4", "2", "3"]  # "mul r" sorts first
    assert ids(RecordQuery(family_name="Mu*")) == ["1", "4", "2", "3"]
    assert ids(RecordQuery(family_name="Mul%*")) == ["4", "2", "3"]  # % is noise, not a wildcard
    assert ids(RecordQuery(family_name="mu*", sex="M")) == ["1", "3"]
    assert ids(RecordQuery(given_name="JOERG")) == ids(RecordQuery(given_name="jörg")) == ["1"]
    assert ids(RecordQuery(given_name="JORG")) == []
    assert ids(RecordQuery(birth_date="1970")) == ["1", "2"]
    assert ids(RecordQuery(birth_date="19710202")) == ["3"]
    assert ids(RecordQuery(identifier=SourceRecordRef("NORTHGEN", "3"))) == ["3"]
    assert uow.records.count(RecordQuery(family_name="mu*")) == 4
    assert ids_page(uow, RecordQuery(family_name="mu*"), 1, 2) == ["4", "2"]


def ids_page(uow: UnitOfWork, q: RecordQuery, offset: int, limit: int) -> list[str]:
    return [r.ref.id for r in uow.records.search(q, offset=offset, limit=limit)]


def test_subsumed_record_leaves_search_and_points_to_survivor(uow: UnitOfWork) -> None:
    uow.records.add(new_record("NORTHGEN", "OLD", family_name="Smith"))
    uow.records.add(new_record("NORTHGEN", "NEW", family_name="Smith"))
    person = uow.persons.create()
    uow.links.link(SourceRecordRef("NORTHGEN", "OLD"), person.enterprise_id, score=1.0, method=LinkMethod.AUTO)
    old = uow.records.subsume(SourceRecordRef("NORTHGEN", "OLD"), SourceRecordRef("NORTHGEN", "NEW"))
    assert old.status is RecordStatus.SUBSUMED
    assert old.subsumed_by == SourceRecordRef("NORTHGEN", "NEW")
    assert old.enterprise_id is None
    assert [r.ref.id for r in uow.records.search(RecordQuery(family_name="smith"))] == ["NEW"]
    assert uow.records.with_identifier(SourceRecordRef("NORTHGEN", "OLD")) == []


def test_domains_sync_resolve_and_conflicts(ready_store: Store) -> None:
    with ready_store.unit_of_work() as uow:
        assert [d.namespace for d in uow.domains.all()] == ["MPI", "NATID", "NORTHGEN", "RIVERCL"]
        assert uow.domains.enterprise().namespace == "MPI"
        ng = uow.domains.get("NORTHGEN")
        assert ng == DOMAINS[1]
        assert ng is not None and ng.accepts_from(SourceSystem("NG_ADT", "NORTHGEN"))
        assert not ng.accepts_from(SourceSystem("OTHER", "NORTHGEN"))
        assert uow.domains.resolve(None, "2.999.10.2").namespace == "RIVERCL"
        assert uow.domains.resolve("RIVERCL", "2.999.10.2").namespace == "RIVERCL"
        with pytest.raises(UnknownDomain, match="names two different domains"):
            uow.domains.resolve("NORTHGEN", "2.999.10.2")
        with pytest.raises(UnknownDomain, match=r"domain OID: '1\.2\.3'"):
            uow.domains.resolve(None, "1.2.3")
        with pytest.raises(UnknownDomain):
            uow.domains.resolve(None, None)
        with pytest.raises(Conflict):
            uow.domains.add(IdentityDomain("OTHER", "2.999.10.1"))
        # Re-sync with changed settings updates in place.
        uow.domains.sync([IdentityDomain("NORTHGEN", "2.999.10.1", trusted=True, sources=())])
        uow.domains.add(IdentityDomain("SOUTH"))  # first seen in development mode
        uow.commit()
    with ready_store.unit_of_work(readonly=True) as uow:
        ng = uow.domains.get("NORTHGEN")
        assert ng is not None and ng.trusted and ng.sources == ()
        assert uow.domains.get("SOUTH") == IdentityDomain("SOUTH", None, "ISO")
        assert uow.domains.by_oid("2.999.99") == DOMAINS[3]
