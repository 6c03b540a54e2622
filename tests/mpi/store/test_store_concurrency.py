"""Two connections at once: one (domain, id) registration wins; enterprise ids never repeat."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from store_helpers import new_record

from mpi.domain import SourceRecordRef
from mpi.errors import DuplicateRecord
from mpi.store import Store, TransientStoreError, UnitOfWork

REF = SourceRecordRef("NORTHGEN", "NG-7")


def test_concurrent_registration_of_one_id_lets_one_win(ready_store: Store) -> None:
    outcome: list[object] = []

    def second() -> None:
        with ready_store.unit_of_work() as uow:
            try:
                uow.records.add(new_record("NORTHGEN", "NG-7", family_name="Second"))
                outcome.append("inserted")
                uow.commit()
            except DuplicateRecord:
                # The documented pattern: re-read (the winner is committed now) and update.
                existing = uow.records.require(REF)
                outcome.append(existing.demographics.family_name)
                uow.records.update(new_record("NORTHGEN", "NG-7", family_name="Updated"))
                uow.commit()

    with ready_store.unit_of_work() as first:
        first.records.add(new_record("NORTHGEN", "NG-7", family_name="First"))
        thread = threading.Thread(target=second)
        thread.start()  # it waits for our lock (SQLite) or our uncommitted row (PostgreSQL)
        first.commit()
    thread.join(timeout=30)
    assert outcome == ["First"]
    with ready_store.unit_of_work(readonly=True) as uow:
        assert uow.records.require(REF).demographics.family_name == "Updated"


def test_enterprise_ids_are_unique_under_concurrency(ready_store: Store) -> None:
    def create(_: int) -> list[str]:
        return ready_store.run(lambda uow: [uow.persons.create().enterprise_id for _ in range(5)])

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = [eid for chunk in pool.map(create, range(8)) for eid in chunk]
    assert len(ids) == len(set(ids)) == 40


def test_run_retries_transient_failures_and_commits(ready_store: Store) -> None:
    calls: list[int] = []

    def work(uow: UnitOfWork) -> str:
        calls.append(1)
        uow.records.add(new_record("NORTHGEN", f"R{len(calls)}", family_name="X"))
        if len(calls) == 1:
            raise TransientStoreError("database: busy, retry")
        return "ok"

    assert ready_store.run(work, backoff=0) == "ok"
    assert len(calls) == 2
    with ready_store.unit_of_work(readonly=True) as uow:
        assert uow.records.get(SourceRecordRef("NORTHGEN", "R1")) is None  # first attempt rolled back
        assert uow.records.get(SourceRecordRef("NORTHGEN", "R2")) is not None


def test_run_gives_up_after_the_last_attempt(ready_store: Store) -> None:
    def work(uow: UnitOfWork) -> None:
        raise TransientStoreError("database: busy, retry")

    with pytest.raises(TransientStoreError):
        ready_store.run(work, attempts=2, backoff=0)


def test_leaving_without_commit_rolls_back(ready_store: Store) -> None:
    with ready_store.unit_of_work() as uow:
        uow.records.add(new_record("NORTHGEN", "GONE", family_name="X"))
    with ready_store.unit_of_work(readonly=True) as uow:
        assert uow.records.get(SourceRecordRef("NORTHGEN", "GONE")) is None
