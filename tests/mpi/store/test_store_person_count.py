"""PersonRepository.count: active, merged and all persons."""

from __future__ import annotations

from mpi.domain import PersonStatus
from mpi.store import UnitOfWork


def test_count_by_status(uow: UnitOfWork) -> None:
    assert uow.persons.count() == 0
    a, b, _ = (uow.persons.create().enterprise_id for _ in range(3))
    assert uow.persons.count() == 3
    uow.merges.merge(a, b, by="test")
    assert uow.persons.count() == 2
    assert uow.persons.count(PersonStatus.MERGED) == 1
    assert uow.persons.count(None) == 3
