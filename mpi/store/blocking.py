"""Blocking keys: the index that turns "who could this be?" into an index lookup.

The keys are opaque strings made by :mod:`matching` (``blocking_keys(record)``);
the store keeps each as a 64-bit hash (:func:`hash_keys`) per record and finds
the records sharing a key. Every writer and reader goes through :func:`hash_keys`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import delete, insert, select

from mpi.domain import RecordStatus, SourceRecord, SourceRecordRef
from mpi.store._base import Context, placeholder
from mpi.store.models import BlockingKey
from mpi.store.records import RecordRepository

__all__ = ["BlockingKeyRepository", "choose_candidates", "hash_keys", "plan_hashes"]

_KEYS_PER_QUERY = 100  # SQLite allows 500 terms in a compound SELECT
_HASH_KEY = "mpi.blocking.key"
"""The 16-byte SipHash key of :func:`hash_keys`. Stored hashes depend on it: never change it."""


def hash_keys(keys: Sequence[str] | npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """The stored form of blocking keys: a signed 64-bit hash of each key's UTF-8 text.

    SipHash-2-4 with a fixed key plus a final bit mix, as :func:`pandas.util.hash_array`
    computes it (vectorised: a few million keys a second). Deterministic across
    processes and machines; a test pins known values, so a change of the function
    cannot go unnoticed (stored hashes would stop matching).
    """
    values = np.asarray(keys, dtype=object)
    if not len(values):
        return np.empty(0, dtype=np.int64)
    hashed = pd.util.hash_array(values, encoding="utf8", hash_key=_HASH_KEY, categorize=False)
    return np.asarray(hashed, dtype=np.uint64).view(np.int64)


_CANDIDATE_STATEMENTS: dict[tuple[str, int], str] = {}


def _candidates_statement(paramstyle: str, count: int) -> str:
    """``(n, record_id)`` of the newest records of ``count`` keys, by ``n``: parameters
    ``key_0, limit_0, key_1, limit_1, ...`` (at most ``limit_n`` records of key ``n``).

    One index range scan per key (stopping after its limit). Built once per key count
    as the driver's own SQL (``paramstyle`` ``qmark`` or ``format``) and run with
    positional parameters: SQLAlchemy's statement building, cache-key and parameter
    work for a compound of a hundred subqueries cost more than the query itself.
    """
    found = _CANDIDATE_STATEMENTS.get((paramstyle, count))
    if found is None:
        mark = placeholder(paramstyle)
        table = BlockingKey.__tablename__
        parts = [
            f"SELECT {i} AS n, s{i}.record_id FROM (SELECT record_id FROM {table}"
            f" WHERE key_hash = {mark} ORDER BY record_id DESC LIMIT {mark}) AS s{i}"
            for i in range(count)
        ]
        found = " UNION ALL ".join(parts) + " ORDER BY n, record_id DESC"
        _CANDIDATE_STATEMENTS[(paramstyle, count)] = found
    return found


_PG_CANDIDATES = (
    "SELECT k.n, b.record_id"
    " FROM unnest(%s::bigint[], %s::integer[]) WITH ORDINALITY AS k(key_hash, lim, n)"
    f" CROSS JOIN LATERAL (SELECT record_id FROM {BlockingKey.__tablename__}"
    " WHERE key_hash = k.key_hash ORDER BY record_id DESC LIMIT k.lim) AS b"
    " ORDER BY k.n, b.record_id DESC"
)
"""PostgreSQL: every key in one statement of fixed text (prepared once by the driver,
planned once), one index range scan per key; ``n`` counts from 1."""


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
        hashes = dict.fromkeys(hash_keys(list(keys)).tolist())
        rows = [{"key_hash": h, "record_id": pk} for h in hashes]
        if rows:
            self._ctx.session.execute(insert(BlockingKey), rows)

    def delete_all(self) -> None:
        """Drop every stored key (before they are all rebuilt)."""
        self._ctx.session.execute(delete(BlockingKey))

    def keys_of(self, ref: SourceRecordRef) -> list[int]:
        """A record's stored keys (their :func:`hash_keys` values), sorted."""
        pk = self._ctx.record_pk(ref)
        return list(
            self._ctx.session.scalars(
                select(BlockingKey.key_hash)
                .where(BlockingKey.record_id == pk)
                .order_by(BlockingKey.key_hash)
            )
        )

    def candidate_pks(
        self,
        keys: Sequence[str],
        limit_per_key: int = 200,
        limit_total: int | None = None,
        *,
        max_blocks: Sequence[int | None] | None = None,
    ) -> list[int]:
        """Keys of the records sharing any of ``keys``, newest first per key.

        At most ``limit_per_key`` records are taken per key, so one very common
        key (a frequent name and year) cannot flood the matcher; the other keys
        still find what it misses. Each record appears once, in the order first
        found. With ``limit_total``, the keys with the fewest records (the most
        telling) fill the total first. Subsumed records have no keys
        (:meth:`RecordRepository.subsume <mpi.store.records.RecordRepository.subsume>`
        drops them).

        Args:
            max_blocks: per key (same order as ``keys``), the largest block its rule
                searches (:attr:`matching.settings.BlockingRule.max_block`): a key
                shared by more records finds none, as the batch path skips that block.
        """
        blocks = list(max_blocks) if max_blocks is not None else [None] * len(keys)
        return self.candidate_pks_many(
            [list(zip(keys, blocks, strict=True))], limit_per_key, limit_total
        )[0]

    def candidate_pks_many(
        self,
        plans: Sequence[Sequence[tuple[str, int | None]]],
        limit_per_key: int = 200,
        limit_total: int | None = None,
    ) -> list[list[int]]:
        """:meth:`candidate_pks` for several records at once, in one pass over their keys.

        Args:
            plans: per record, its ``(lookup key, max block)`` pairs
                (:meth:`matching.scalar.ScalarMatcher.lookup_plan`).

        Returns:
            Per record (same order), the keys of its candidates.
        """
        keys, fetch = plan_hashes(plans)
        groups = self.key_groups(fetch, limit_per_key)
        return [choose_candidates(mine, groups, limit_total) for mine in keys]

    def key_groups(
        self, limits: Mapping[int, int | None], limit_per_key: int
    ) -> dict[int, list[int]]:
        """Per key hash, its records newest first: at most ``limit_per_key``, or the key's
        ``max_block`` + 1 (the mapping's value; enough to tell that the block is too big,
        which :func:`choose_candidates` checks)."""
        hashes = list(limits)
        if limit_per_key < 1:
            return {}
        groups: dict[int, list[int]] = {}
        connection = self._ctx.driver_connection()
        paramstyle = connection.dialect.paramstyle
        if connection.dialect.name == "postgresql":
            bounds = [_fetch_limit(limits[h], limit_per_key) for h in hashes]
            rows = connection.exec_driver_sql(_PG_CANDIDATES, (hashes, bounds)).all()
            for n, pk in rows:
                groups.setdefault(hashes[n - 1], []).append(pk)
            return groups
        for start in range(0, len(hashes), _KEYS_PER_QUERY):
            # One index range scan per key, newest first, stopping after the limit: a
            # huge block costs no more than a small one.
            chunk = hashes[start : start + _KEYS_PER_QUERY]
            params: list[int] = []
            for h in chunk:
                params += (h, _fetch_limit(limits[h], limit_per_key))
            # Fetched at once: iterating a result fetches (and wraps) one row at a time.
            sql = _candidates_statement(paramstyle, len(chunk))
            rows = connection.exec_driver_sql(sql, tuple(params)).all()
            for n, pk in rows:
                groups.setdefault(chunk[n], []).append(pk)
        return groups

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

    def match_candidates(
        self,
        keys: Sequence[str],
        limit_per_key: int = 200,
        limit_total: int | None = None,
        *,
        exclude: SourceRecordRef | None = None,
        max_blocks: Sequence[int | None] | None = None,
    ) -> list[SourceRecord]:
        """Like :meth:`candidate_records`, but only what matching needs, in one query.

        The records carry their ref, status, person, demographics and times; their
        ``pid`` is empty and their ``identifiers`` are ``()`` (read the record with
        :meth:`RecordRepository.get <mpi.store.records.RecordRepository.get>` for those).
        ``limit_total`` caps the candidates, ``max_blocks`` skips oversized blocks
        (see :meth:`candidate_pks`).
        """
        pks = self.candidate_pks(keys, limit_per_key, limit_total, max_blocks=max_blocks)
        records = self._records.match_views(pks)
        return [r for r in records if r.ref != exclude and r.status is RecordStatus.ACTIVE]


def _fetch_limit(block: int | None, limit_per_key: int) -> int:
    """Records to read under a key: enough to tell that its block exceeds ``block``."""
    return limit_per_key if block is None else min(block + 1, limit_per_key)


def plan_hashes(
    plans: Sequence[Sequence[tuple[str, int | None]]],
) -> tuple[list[list[tuple[int, int | None]]], dict[int, int | None]]:
    """Per plan its distinct ``(key hash, max block)`` in order; and per hash the block to
    fetch (the largest of its plans' ``max_block``, ``None`` if one has none)."""
    all_hashes = hash_keys([key for plan in plans for key, _ in plan]).tolist()
    fetch: dict[int, int | None] = {}
    per_plan: list[list[tuple[int, int | None]]] = []
    at = 0
    for plan in plans:
        mine: dict[int, int | None] = {}
        for h, (_, block) in zip(all_hashes[at : at + len(plan)], plan, strict=True):
            mine.setdefault(h, block)
            if h not in fetch:
                fetch[h] = block
            elif fetch[h] is not None:
                fetch[h] = None if block is None else max(block, fetch[h] or 0)
        per_plan.append(list(mine.items()))
        at += len(plan)
    return per_plan, fetch


def choose_candidates(
    keys: Sequence[tuple[int, int | None]],
    groups: Mapping[int, Sequence[int]],
    limit_total: int | None,
) -> list[int]:
    """One record's candidates from the groups of its ``(key hash, max block)`` (see
    :meth:`BlockingKeyRepository.candidate_pks`): a group larger than its key's
    ``max_block`` finds none; with ``limit_total`` the smallest groups fill it first."""
    found = []
    for h, block in keys:
        group = groups.get(h)
        if not group or (block is not None and len(group) > block):
            continue
        found.append(group)
    if limit_total is None:
        return list(dict.fromkeys(pk for group in found for pk in group))
    chosen: dict[int, None] = {}
    for group in sorted(found, key=len):
        for pk in group:
            if len(chosen) >= limit_total:
                return list(chosen)
            chosen[pk] = None
    return list(chosen)
