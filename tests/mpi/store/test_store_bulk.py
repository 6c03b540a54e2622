"""The bulk path writes the same rows the repositories would, and mixes with them."""

from __future__ import annotations

from store_helpers import new_record

from mpi.domain import AuditEntry, LinkMethod, RecordQuery, SourceRecordRef
from mpi.store import BulkLink, Store


def test_bulk_load_then_read_through_repositories(ready_store: Store) -> None:
    batch = [
        new_record("NORTHGEN", f"MRN{i}", family_name="Müller", given_name=f"Kind{chr(65 + i)}",
                   birth_date="20200101", pid={"i": i, "names": ["x"]},
                   identifiers=[SourceRecordRef("NATID", f"N{i}")] if i % 2 else [])
        for i in range(7)
    ]
    with ready_store.unit_of_work() as uow:
        assert uow.bulk.existing("NORTHGEN", [r.ref.id for r in batch]) == {}
        pks = uow.bulk.insert_records(batch)
        assert uow.bulk.insert_blocking_keys((pk, f"k{i % 2}") for i, pk in enumerate(pks)) == 7
        persons = uow.bulk.create_persons(3)
        assert uow.bulk.insert_links(BulkLink(pk, persons[i % 3], 0.99, LinkMethod.AUTO) for i, pk in enumerate(pks)) == 7
        assert uow.bulk.insert_audit([AuditEntry("loader", "record.register", "record", "NORTHGEN|MRN0")]) == 1
        uow.commit()

    with ready_store.unit_of_work() as uow:
        known = uow.bulk.existing("NORTHGEN", ["MRN0", "MRN6", "MRN99"])
        assert known == {"MRN0": pks[0], "MRN6": pks[6]}
        r3 = uow.records.require(SourceRecordRef("NORTHGEN", "MRN3"))
        assert r3.pk == pks[3] and r3.pid == {"i": 3, "names": ["x"]}
        assert r3.identifiers == (SourceRecordRef("NATID", "N3"),)
        assert r3.enterprise_id == persons[0]
        assert r3.created_at.tzinfo is not None
        assert [r.ref.id for r in uow.records.search(RecordQuery(family_name="MUELLER", given_name="kindf"))] == ["MRN5"]
        assert {r.ref.id for r in uow.blocking.candidate_records(["k1"])} == {"MRN1", "MRN3", "MRN5"}
        link = uow.links.get(SourceRecordRef("NORTHGEN", "MRN1"))
        assert link is not None and (link.score, link.method, link.linked_by) == (0.99, LinkMethod.AUTO, "system")
        assert uow.audit.list()[0].actor == "loader"
        # Keys handed out by the bulk path do not collide with ordinary inserts afterwards.
        fresh = uow.persons.create().enterprise_id
        assert fresh not in persons
        uow.records.add(new_record("NORTHGEN", "AFTER", family_name="X"))
        uow.commit()

    with ready_store.unit_of_work(readonly=True) as uow:
        scanned = [item for chunk in uow.bulk.iter_active(batch_size=3) for item in chunk]
    assert [s.ref.id for s in scanned] == [f"MRN{i}" for i in range(7)] + ["AFTER"]
    assert scanned[4].enterprise_id == persons[1] and scanned[7].enterprise_id is None
    assert scanned[4].demographics.given_name == "KindE"


def test_empty_batches_are_fine(ready_store: Store) -> None:
    with ready_store.unit_of_work() as uow:
        assert uow.bulk.insert_records([]) == []
        assert uow.bulk.create_persons(0) == []
        assert uow.bulk.insert_links([]) == 0
        assert uow.bulk.existing("NORTHGEN", []) == {}
