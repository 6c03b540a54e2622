"""Named locks held until the end of the unit of work: serialising linking decisions.

Two connections registering the same person at the same moment must not both
decide "no candidate yet, new person". The feed service therefore takes a lock
on every blocking key (and identifier) a decision depends on before it looks
for candidates: two records that could find each other share a key, so their
decisions run one after the other and the second sees the first's commit.

PostgreSQL: transaction-level advisory locks (``pg_advisory_xact_lock``), taken
in one statement in a fixed order (no deadlocks between two lockers), released
at commit or rollback. SQLite: nothing to do; a writing unit of work already
holds the database's only write lock from ``BEGIN IMMEDIATE`` on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT

from mpi.store._base import Context

__all__ = ["LockRepository", "lock_number"]

_LOCK_MANY = text(
    "SELECT count(pg_advisory_xact_lock(n)) FROM unnest(:numbers) AS t(n)"
).bindparams(bindparam("numbers", type_=ARRAY(BIGINT)))


def lock_number(name: str) -> int:
    """A stable signed 64-bit number for a lock name (the same in every process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LockRepository:
    """Transaction-scoped named locks."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def acquire(self, names: Iterable[str]) -> None:
        """Wait for and hold the locks of ``names`` until the unit of work ends.

        Locks are taken in ascending number order, so two units of work locking
        overlapping sets cannot deadlock on them.
        """
        if self._ctx.session.get_bind().dialect.name != "postgresql":
            return
        numbers = sorted({lock_number(n) for n in names})
        if numbers:
            self._ctx.session.execute(_LOCK_MANY, {"numbers": numbers})
