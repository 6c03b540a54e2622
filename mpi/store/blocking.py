"""Blocking keys: the index that turns "who could this be?" into an index lookup.

The keys are opaque strings made by :mod:`matching` (``blocking_keys(record)``);
the store only keeps them per record and finds the records sharing a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, insert, select

from mpi.domain import RecordStatus, SourceRecord, SourceRecordRef
from mpi.store._base import Context
from mpi.store.models import BlockingKey, SourceRecordRow
from mpi.store.records import RecordRepository

__all__ = ["BlockingKeyRepository"]


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
        """Keys of the active records sharing any of ``keys``, newest first per key.

        At most ``limit_per_key`` records are taken per key, so one very common
        key (a frequent name and year) cannot flood the matcher; the other keys
        still find what it misses. Each record appears once, in the order first found.
        """
        keys = list(dict.fromkeys(keys))
        if not keys or limit_per_key < 1:
            return []
        ranked = (
            select(
                BlockingKey.record_id,
                BlockingKey.key,
                func.row_number()
                .over(partition_by=BlockingKey.key, order_by=BlockingKey.record_id.desc())
                .label("rank"),
            )
            .join(SourceRecordRow, SourceRecordRow.id == BlockingKey.record_id)
            .where(BlockingKey.key.in_(keys), SourceRecordRow.status == RecordStatus.ACTIVE.value)
            .subquery()
        )
        rows = self._ctx.session.execute(
            select(ranked.c.record_id)
            .where(ranked.c.rank <= limit_per_key)
            .order_by(ranked.c.key, ranked.c.rank)
        )
        return list(dict.fromkeys(pk for (pk,) in rows))

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
        return [r for r in records if r.ref != exclude]
