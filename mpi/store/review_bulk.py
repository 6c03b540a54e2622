"""Helpers of ``mpi load`` beyond :class:`~mpi.store.BulkLoader`: many review tasks at once
(by record key, skipping known pairs), and a bigger SQLite page cache for a load's connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from mpi.domain import ReviewStatus
from mpi.store._base import utc_now
from mpi.store.models import ReviewTaskRow
from mpi.store.unit_of_work import UnitOfWork

__all__ = ["BULK_CACHE_KIB", "BulkReview", "insert_review_tasks", "tune_for_bulk"]

_CHUNK = 2000
BULK_CACHE_KIB = 262_144
"""SQLite page cache of a loading connection: the key indexes of a batch stay in memory."""


@dataclass(frozen=True, slots=True)
class BulkReview:
    """One pair to review: the two records' keys, match probability, per-field explanation."""

    left_pk: int
    right_pk: int
    score: float
    fields: Mapping[str, Any]


def insert_review_tasks(uow: UnitOfWork, reviews: Iterable[BulkReview]) -> int:
    """Open a task for each pair that has none yet (open or decided); returns how many were new.

    Pairs are stored ordered (``left_id < right_id``), as :class:`ReviewRepository
    <mpi.store.reviews.ReviewRepository>` stores them, so a later ``propose`` of the
    same pair finds the task.
    """
    session = uow.session
    dialect = session.get_bind().dialect.name
    now = utc_now()
    rows = [
        {
            "left_id": min(r.left_pk, r.right_pk),
            "right_id": max(r.left_pk, r.right_pk),
            "score": r.score,
            "fields": dict(r.fields),
            "status": ReviewStatus.OPEN.value,
            "created_at": now,
            "updated_at": now,
        }
        for r in reviews
        if r.left_pk != r.right_pk
    ]
    before = _count(uow)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(ReviewTaskRow).on_conflict_do_nothing(
                index_elements=["left_id", "right_id"]
            )
        elif dialect == "sqlite":
            stmt = sqlite.insert(ReviewTaskRow).on_conflict_do_nothing(
                index_elements=["left_id", "right_id"]
            )
        else:  # pragma: no cover - only the two supported databases
            stmt = insert(ReviewTaskRow)
        session.execute(stmt, chunk)
    session.flush()
    return _count(uow) - before


def _count(uow: UnitOfWork) -> int:
    return int(uow.session.scalar(select(func.count()).select_from(ReviewTaskRow)) or 0)


def tune_for_bulk(uow: UnitOfWork) -> None:
    """Give the unit of work's SQLite connection a large page cache (PostgreSQL: nothing).

    A load batch inserts hundreds of thousands of index entries; with SQLite's
    default 2 MB cache the same index pages are written out and read back again
    and again (a load is about a third faster with the cache). The setting stays
    with the pooled connection, which is fine for the one-shot ``mpi load`` process.
    """
    if uow.session.get_bind().dialect.name == "sqlite":
        uow.session.execute(text(f"PRAGMA cache_size=-{BULK_CACHE_KIB}"))
