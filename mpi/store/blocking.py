"""Blocking keys: the index that turns "who could this be?" into an index lookup.

The keys are opaque strings made by :mod:`matching` (``blocking_keys(record)``);
the store only keeps them per record and finds the records sharing a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, literal, select, union_all

from mpi.domain import RecordStatus, SourceRecord, SourceRecordRef
from mpi.store._base import Context
from mpi.store.models import BlockingKey
from mpi.store.records import RecordRepository

__all__ = ["BlockingKeyRepository"]

_KEYS_PER_QUERY = 100  # SQLite allows 500 terms in a compound SELECT


class BlockingKeyRepository:
    """The ``(key, record)`` table, indexed on key."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._records = RecordRepository(ctx)

    def replace(self, ref: SourceRecordRef, keys: Iterable[str]) -> None:
        """Set a record's keys (after registering or updating it), dropping its old ones.

        Raises:
            UnknownDomain, NotFound: the record is not registered.
        """
        pk = self._ctx.record_pk(ref)
        self._ctx.session.execute(delete(BlockingKey).where(BlockingKey.record_id == pk))
        rows = [{"key": key, "record_id": pk} for key in dict.fromkeys(keys)]
        if rows:
            self._ctx.session.execute(insert(BlockingKey), rows)

    def keys_of(self, ref: SourceRecordRef) -> list[str]:
        """A record's keys, sorted."""
        pk = self._ctx.record_pk(ref)
        return list(
            self._ctx.session.scalars(
                select(BlockingKey.key).where(BlockingKey.record_id == pk).order_by(BlockingKey.key)
            )
        )

    def candidate_pks(self, keys: Sequence[str], limit_per_key: int = 200) -> list[int]:
        """Keys of the records sharing any of ``keys``, newest first per key.

        At most ``limit_per_key`` records are taken per key, so one very common
        key (a frequent name and year) cannot flood the matcher; the other keys
        still find what it misses. Each record appears once, in the order first
        found. Subsumed records have no keys (:meth:`RecordRepository.subsume
        <mpi.store.records.RecordRepository.subsume>` drops them).
        """
        keys = list(dict.fromkeys(keys))
        if not keys or limit_per_key < 1:
            return []
        found: list[int] = []
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            # One index range scan per key, newest first, stopping after the limit: a
            # huge block costs no more than a small one.
            parts = []
            for i, key in enumerate(keys[start : start + _KEYS_PER_QUERY]):
                sub = (
                    select(BlockingKey.record_id)
                    .where(BlockingKey.key == key)
                    .order_by(BlockingKey.record_id.desc())
                    .limit(limit_per_key)
                    .subquery()
                )
                parts.append(select(literal(start + i).label("n"), sub.c.record_id))
            rows = self._ctx.session.execute(union_all(*parts).order_by("n"))
            found.extend(pk for _, pk in rows)
        return list(dict.fromkeys(found))

    def candidate_records(
        self,
        keys: Sequence[str],
        limit_per_key: int = 200,
        *,
        exclude: SourceRecordRef | None = None,
    ) -> list[SourceRecord]:
        """The active records sharing any of ``keys`` (see :meth:`candidate_pks`).

        Args:
            keys: the incoming record's lookup keys.
            limit_per_key: at most this many records per key.
            exclude: leave this record out (the incoming record itself, on update).
        """
        records = self._records.by_pks(self.candidate_pks(keys, limit_per_key))
        return [r for r in records if r.ref != exclude and r.status is RecordStatus.ACTIVE]
