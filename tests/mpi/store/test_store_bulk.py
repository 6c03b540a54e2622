"""The bulk path writes the same rows the repositories would, and mixes with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from store_helpers import new_record

from mpi.domain import AuditEntry, LinkMethod, RecordQuery, SourceRecordRef
from mpi.store import BulkLink, Store
from mpi.store.blocking import hash_keys


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


def test_column_wise_records_and_hashed_keys_read_back_like_any_record(ready_store: Store) -> None:
    n = 1203  # more than one multi-row INSERT, and a remainder
    ids = [f"C{i:05d}" for i in range(n)]
    columns = {
        "family_name": ["Müller" if i % 2 else None for i in range(n)],
        "given_name": [f"Kind{i}" for i in range(n)],
        "birth_date": ["20200101"] * n,
    }
    with ready_store.unit_of_work() as uow:
        pks = uow.bulk.insert_record_columns("NORTHGEN", ids, columns)
        assert len(pks) == n and pks == sorted(pks)
        record_pks = np.repeat(np.asarray(pks, dtype=np.int64), 2)
        texts = [key for i in range(n) for key in (f"dob:{i % 3}", f"id:{i}")]
        written = uow.bulk.insert_key_hashes(record_pks, hash_keys(texts))
        assert written == 2 * n
        # The same (record, key) again is dropped within a call.
        assert uow.bulk.insert_key_hashes(record_pks[:2], hash_keys(["x", "x"])) == 1
        uow.commit()
    with ready_store.unit_of_work(readonly=True) as uow:
        r = uow.records.require(SourceRecordRef("NORTHGEN", "C00007"))
        assert (r.pk, r.demographics.family_name, r.demographics.given_name) == (pks[7], "Müller", "Kind7")
        assert r.pid == {} and r.identifiers == () and r.created_at.tzinfo is not None
        assert uow.records.require(SourceRecordRef("NORTHGEN", "C00008")).demographics.family_name is None
        # Search keys folded as the matcher folds names (family_key / given_key).
        found = {x.ref.id for x in uow.records.search(RecordQuery(family_name="MUELLER"), limit=2000)}
        assert found == {i for i in ids if int(i[1:]) % 2}
        assert uow.blocking.candidate_pks(["id:1202"]) == [pks[1202]]
        assert len(uow.blocking.candidate_pks(["dob:1"], limit_per_key=1000)) == 401
        assert uow.blocking.keys_of(SourceRecordRef("NORTHGEN", "C00000")) == sorted(
            hash_keys(["dob:0", "id:0", "x"]).tolist()
        )
    with ready_store.unit_of_work() as uow, pytest.raises(ValueError, match="not record fields"):
        uow.bulk.insert_record_columns("NORTHGEN", ["Z"], {"colour": ["red"]})


def test_bulk_mode_settings_hold_during_a_load_only(tmp_path: Path) -> None:
    from mpi.store.review_bulk import _SORT_THREADS, BULK_CACHE_KIB, bulk_mode

    store = Store.open(f"sqlite:///{tmp_path / 'mpi.db'}")

    def pragmas() -> tuple[int, int, int]:
        with store.unit_of_work(readonly=True) as uow:
            connection = uow.session.connection()
            return tuple(  # type: ignore[return-value]
                connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("synchronous", "cache_size", "threads")
            )

    try:
        assert pragmas() == (1, -2000, 0)  # NORMAL, SQLite's 2 MB, no sort helpers
        with bulk_mode(store):
            assert pragmas() == (0, -BULK_CACHE_KIB, _SORT_THREADS)
        assert pragmas() == (1, -2000, 0)
    finally:
        store.dispose()
