"""Review of uncertain pairs: list the open tasks, show one, record a reviewer's decision.

A review task is a pair of source records whose match probability fell in the
review band (between ``matching.review_threshold`` and ``link_threshold``).
A reviewer decides it:

* ``match``: the two records are one patient. If they belong to different
  persons, the persons are merged (the one with more records survives; on a tie
  the older one), exactly as a steward's merge, so ``unmerge`` can undo it.
* ``no-match``: they are different patients. The decision is remembered: the
  pair is never proposed again (:meth:`~mpi.store.reviews.ReviewRepository.propose`)
  and the matcher never links the two on an update
  (:meth:`~mpi.store.reviews.ReviewRepository.no_match_partners`). If the two
  are in one person by now (linked automatically since the task was opened),
  the later-linked record leaves for a person of its own.

Each decision is audited (who, when, before/after, reason) and queues ITI-10
for every person whose cross-references changed, in the same transaction.
Decided tasks are the labelled pairs ``mpi train`` learns from.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpi.domain import (
    AuditEntry,
    ReviewDecision,
    ReviewStatus,
    ReviewTask,
    SourceRecord,
)
from mpi.errors import InvalidState
from mpi.service.context import ServiceContext
from mpi.service.stewardship import detach_record, merge_persons
from mpi.store import UnitOfWork

__all__ = ["ReviewItem", "ReviewPage", "ReviewService"]


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A task with its two records as they are now.

    Attributes:
        merged_into: after a ``match`` decision, the person both records now belong to.
    """

    task: ReviewTask
    left: SourceRecord
    right: SourceRecord
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of tasks (highest score first) and how many match the filter."""

    items: tuple[ReviewItem, ...]
    total: int


class ReviewService:
    """The review queue of the HTTP API (``/api/reviews``).

    Args:
        ctx: settings, store and clock.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def list(
        self, status: ReviewStatus | None = ReviewStatus.OPEN, *, offset: int = 0, limit: int = 50
    ) -> ReviewPage:
        """Tasks with this status (``None``: all), highest score first."""
        with self.ctx.store.unit_of_work(readonly=True) as uow:
            tasks = uow.reviews.list(status, offset=offset, limit=limit)
            items = tuple(_item(uow, task) for task in tasks)
            return ReviewPage(items, uow.reviews.count(status))

    def get(self, task_id: int) -> ReviewItem:
        """One task with its records.

        Raises:
            NotFound: no task has this id.
        """
        with self.ctx.store.unit_of_work(readonly=True) as uow:
            return _item(uow, uow.reviews.require(task_id))

    def decide(
        self, task_id: int, decision: ReviewDecision, *, actor: str, reason: str | None = None
    ) -> ReviewItem:
        """Record the decision and apply it (merge the persons, or keep the records apart).

        Raises:
            NotFound: no task has this id.
            InvalidState: the task is already decided, or a record of it was
                merged away (A40) so that ``match`` cannot be applied.
        """

        def work(uow: UnitOfWork) -> ReviewItem:
            # Deciding first locks the task: of two concurrent decisions, the second
            # waits, then finds it decided (409) and changes nothing.
            task = uow.reviews.require(task_id)
            decided = uow.reviews.decide(task_id, decision, by=actor, reason=reason)
            left, right = uow.records.require(task.left), uow.records.require(task.right)
            merged_into = None
            if decision is ReviewDecision.MATCH:
                merged_into = self._match(uow, task, left, right, actor, reason)
            else:
                self._no_match(uow, task, left, right, actor, reason)
            uow.audit.append(
                AuditEntry(
                    actor,
                    "review.decide",
                    "review",
                    str(task_id),
                    {"status": ReviewStatus.OPEN.value, "score": task.score},
                    {
                        "status": ReviewStatus.DECIDED.value,
                        "decision": decision.value,
                        "left": str(task.left),
                        "right": str(task.right),
                        "merged_into": merged_into,
                    },
                    reason,
                )
            )
            return _item(uow, decided, merged_into)

        return self.ctx.store.run(work)

    def _match(
        self,
        uow: UnitOfWork,
        task: ReviewTask,
        left: SourceRecord,
        right: SourceRecord,
        actor: str,
        reason: str | None,
    ) -> str:
        persons = []
        for record in (left, right):
            if record.enterprise_id is None:
                raise InvalidState(
                    "review",
                    task.id,
                    f"record {record.ref} is {record.status.value} and linked to no person: "
                    "decide no-match, or review its surviving record",
                )
            persons.append(uow.persons.resolve(record.enterprise_id).enterprise_id)
        a, b = persons
        if a == b:
            return a
        survivor, subsumed = sorted((a, b), key=lambda eid: (-uow.persons.record_count(eid), eid))
        merge_persons(
            uow,
            self.ctx,
            survivor,
            subsumed,
            actor=actor,
            reason=f"review {task.id}: match" + (f" ({reason})" if reason else ""),
        )
        return survivor

    def _no_match(
        self,
        uow: UnitOfWork,
        task: ReviewTask,
        left: SourceRecord,
        right: SourceRecord,
        actor: str,
        reason: str | None,
    ) -> None:
        if left.enterprise_id is None or right.enterprise_id is None:
            return
        a = uow.persons.resolve(left.enterprise_id).enterprise_id
        b = uow.persons.resolve(right.enterprise_id).enterprise_id
        if a != b:
            return
        links = [uow.links.get(left.ref), uow.links.get(right.ref)]
        later = max(
            (link for link in links if link is not None),
            key=lambda link: (link.linked_at, str(link.record)),
        )
        detach_record(
            uow,
            self.ctx,
            a,
            later.record,
            actor=actor,
            reason=f"review {task.id}: no-match" + (f" ({reason})" if reason else ""),
        )


def _item(uow: UnitOfWork, task: ReviewTask, merged_into: str | None = None) -> ReviewItem:
    left = uow.records.require(task.left)
    right = uow.records.require(task.right)
    return ReviewItem(task, left, right, merged_into)
