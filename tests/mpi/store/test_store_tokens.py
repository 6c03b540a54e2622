"""TokenRepository: API tokens created at run time, stored as digests only."""

from __future__ import annotations

import pytest

from mpi.domain import Role
from mpi.errors import NotFound
from mpi.store import Store, UnitOfWork
from mpi.store.tokens import token_digest


def test_create_find_count_revoke(uow: UnitOfWork) -> None:
    assert uow.tokens.count() == 0
    token = uow.tokens.create("admin", Role.ADMIN)
    other = uow.tokens.create("ops", Role.READER)
    assert token != other and len(token) >= 40
    found = uow.tokens.find(token)
    assert found is not None
    assert (found.name, found.role, found.revoked_at) == ("admin", Role.ADMIN, None)
    assert uow.tokens.find(token + "x") is None
    assert uow.tokens.count() == 2
    revoked = uow.tokens.revoke(found.id)
    assert revoked.revoked_at is not None
    assert uow.tokens.find(token) is None
    assert uow.tokens.count() == 1
    assert uow.tokens.count(active_only=False) == 2
    assert [t.name for t in uow.tokens.list()] == ["admin", "ops"]
    with pytest.raises(NotFound):
        uow.tokens.revoke(999)
    with pytest.raises(ValueError, match="token name"):
        uow.tokens.create(" ", Role.ADMIN)


def test_only_the_digest_is_stored(ready_store: Store) -> None:
    with ready_store.unit_of_work() as uow:
        token = uow.tokens.create("admin", Role.ADMIN)
        uow.commit()
    with ready_store.unit_of_work(readonly=True) as uow:
        from sqlalchemy import select

        from mpi.store.models import ApiTokenRow

        stored = uow.session.scalars(select(ApiTokenRow.token_sha256)).all()
        assert stored == [token_digest(token)]
        assert token not in stored
        assert uow.tokens.find(token) is not None
