"""Review tasks: pairs the matcher could not decide, and reviewers' remembered decisions."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from mpi.domain import ReviewDecision, ReviewStatus, ReviewTask, SourceRecordRef
from mpi.errors import InvalidState, NotFound
from mpi.store._base import Context, is_unique_violation
from mpi.store.models import IdentityDomainRow, ReviewTaskRow, SourceRecordRow

__all__ = ["ReviewRepository"]

_Left = aliased(SourceRecordRow, name="left_record")
_Right = aliased(SourceRecordRow, name="right_record")
_LeftDomain = aliased(IdentityDomainRow, name="left_domain")
_RightDomain = aliased(IdentityDomainRow, name="right_domain")


class ReviewRepository:
    """One task per unordered pair of records, ever: a decided pair is never proposed again."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def propose(
        self, a: SourceRecordRef, b: SourceRecordRef, score: float, fields: Mapping[str, Any]
    ) -> ReviewTask | None:
        """Open a task for the pair, or refresh the open one's score and explanation.

        Args:
            a, b: the two records (either order).
            score: the match probability.
            fields: the per-field explanation as JSON, e.g.
                ``{"family_name": {"level": "exact", "weight": 4.1}, ...}``.

        Returns:
            The open task, or ``None`` when the pair was already decided (a
            ``no-match`` is remembered so the pair is not suggested again).

        Raises:
            UnknownDomain, NotFound: a record is not registered.
            InvalidState: ``a`` and ``b`` are the same record.
        """
        left, right = sorted((self._ctx.record_pk(a), self._ctx.record_pk(b)))
        if left == right:
            raise InvalidState("review pair", str(a), "must name two different records")
        row = self._pair_row(left, right)
        now = self._ctx.clock()
        if row is None:
            row = ReviewTaskRow(
                left_id=left,
                right_id=right,
                score=score,
                fields=dict(fields),
                status=ReviewStatus.OPEN.value,
                created_at=now,
                updated_at=now,
            )
            try:
                with self._ctx.savepoint():
                    self._ctx.session.add(row)
                    self._ctx.session.flush()
            except IntegrityError as e:
                if not is_unique_violation(e):
                    raise
                # Another connection proposed the same pair first: refresh that one instead.
                row = self._pair_row(left, right)
                assert row is not None
        if row.status != ReviewStatus.OPEN.value:
            return None
        row.score, row.fields, row.updated_at = score, dict(fields), now
        self._ctx.session.flush()
        return self.require(row.id)

    def get(self, task_id: int) -> ReviewTask | None:
        """The task, or ``None``."""
        found = self._load(self._select().where(ReviewTaskRow.id == task_id))
        return found[0] if found else None

    def require(self, task_id: int) -> ReviewTask:
        """Like :meth:`get`, but a missing task is an error.

        Raises:
            NotFound: no task has this id.
        """
        task = self.get(task_id)
        if task is None:
            raise NotFound("review", task_id)
        return task

    def list(
        self, status: ReviewStatus | None = ReviewStatus.OPEN, *, offset: int = 0, limit: int = 50
    ) -> list[ReviewTask]:
        """Tasks with this status (``None``: all), highest score first."""
        query = self._select()
        if status is not None:
            query = query.where(ReviewTaskRow.status == status.value)
        query = query.order_by(ReviewTaskRow.score.desc(), ReviewTaskRow.id).offset(offset)
        return self._load(query.limit(limit))

    def count(self, status: ReviewStatus | None = ReviewStatus.OPEN) -> int:
        """How many tasks have this status (``None``: all)."""
        query = select(func.count()).select_from(ReviewTaskRow)
        if status is not None:
            query = query.where(ReviewTaskRow.status == status.value)
        return int(self._ctx.session.scalar(query) or 0)

    def decide(
        self, task_id: int, decision: ReviewDecision, *, by: str, reason: str | None = None
    ) -> ReviewTask:
        """Record a reviewer's decision (the service then links or keeps apart).

        Raises:
            NotFound: no task has this id.
            InvalidState: the task is already decided.
        """
        row = self._ctx.session.get(ReviewTaskRow, task_id, with_for_update=True)
        if row is None:
            raise NotFound("review", task_id)
        if row.status != ReviewStatus.OPEN.value:
            raise InvalidState("review", task_id, f"is already decided ({row.decision})")
        now = self._ctx.clock()
        row.status = ReviewStatus.DECIDED.value
        row.decision = decision.value
        row.decided_by, row.decided_at, row.reason, row.updated_at = by, now, reason, now
        self._ctx.session.flush()
        return self.require(task_id)

    def for_record(
        self, ref: SourceRecordRef, status: ReviewStatus | None = ReviewStatus.OPEN
    ) -> builtins.list[ReviewTask]:
        """Tasks in which the record takes part (e.g. to close them once it is linked by hand)."""
        pk = self._ctx.record_pk(ref)
        query = self._select().where(or_(ReviewTaskRow.left_id == pk, ReviewTaskRow.right_id == pk))
        if status is not None:
            query = query.where(ReviewTaskRow.status == status.value)
        return self._load(query.order_by(ReviewTaskRow.id))

    def no_match_partners(self, ref: SourceRecordRef) -> set[SourceRecordRef]:
        """The records a reviewer decided are not the same patient as this one."""
        return {
            task.right if task.left == ref else task.left
            for task in self.for_record(ref, ReviewStatus.DECIDED)
            if task.decision is ReviewDecision.NO_MATCH
        }

    def is_no_match(self, a: SourceRecordRef, b: SourceRecordRef) -> bool:
        """Whether a reviewer decided that these two records are different patients."""
        left, right = sorted((self._ctx.record_pk(a), self._ctx.record_pk(b)))
        row = self._pair_row(left, right)
        return row is not None and row.decision == ReviewDecision.NO_MATCH.value

    def _pair_row(self, left: int, right: int) -> ReviewTaskRow | None:
        return self._ctx.session.scalar(
            select(ReviewTaskRow).where(
                ReviewTaskRow.left_id == left, ReviewTaskRow.right_id == right
            )
        )

    def _select(self) -> Any:
        return (
            select(
                ReviewTaskRow,
                _LeftDomain.namespace,
                _Left.source_id,
                _RightDomain.namespace,
                _Right.source_id,
            )
            .join(_Left, _Left.id == ReviewTaskRow.left_id)
            .join(_LeftDomain, _LeftDomain.id == _Left.domain_id)
            .join(_Right, _Right.id == ReviewTaskRow.right_id)
            .join(_RightDomain, _RightDomain.id == _Right.domain_id)
        )

    def _load(self, query: Any) -> builtins.list[ReviewTask]:
        return [
            ReviewTask(
                id=row.id,
                left=SourceRecordRef(lns, lid),
                right=SourceRecordRef(rns, rid),
                score=row.score,
                fields=dict(row.fields),
                status=ReviewStatus(row.status),
                created_at=row.created_at,
                decision=ReviewDecision(row.decision) if row.decision else None,
                decided_by=row.decided_by,
                decided_at=row.decided_at,
                reason=row.reason,
            )
            for row, lns, lid, rns, rid in self._ctx.session.execute(query)
        ]
