"""Store test fixtures: a store with the usual domains registered, and a unit of work on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_helpers import DOMAINS

from mpi.store import Store, UnitOfWork


@pytest.fixture
def ready_store(store: Store) -> Store:
    """A store whose domains are registered."""
    with store.unit_of_work() as uow:
        uow.domains.sync(DOMAINS)
        uow.commit()
    return store


@pytest.fixture
def uow(ready_store: Store) -> Iterator[UnitOfWork]:
    """A unit of work on the ready store (rolled back unless the test commits)."""
    with ready_store.unit_of_work() as work:
        yield work
