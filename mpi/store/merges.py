"""Person merge and unmerge, with the history that lets unmerge restore exactly what was."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from mpi.domain import Link, LinkMethod, PersonMerge, PersonStatus, SourceRecordRef
from mpi.errors import InvalidState
from mpi.store._base import Context, enterprise_id
from mpi.store.models import LinkRow, PersonMergeRow, PersonRow
from mpi.store.persons import LinkRepository

__all__ = ["MergeRepository"]


class MergeRepository:
    """Merges of one enterprise person into another, and their undoing."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._links = LinkRepository(ctx)

    def merge(
        self, survivor: str, subsumed: str, *, by: str, reason: str | None = None
    ) -> PersonMerge:
        """Move every record of ``subsumed`` to ``survivor`` and mark ``subsumed`` merged.

        The moved links become manual links by ``by``; their former state is kept
        in the merge history for :meth:`unmerge`. Both persons are locked until commit.

        Raises:
            NotFound: either person does not exist.
            InvalidState: they are the same person, or either is already merged.
        """
        if survivor == subsumed:
            raise InvalidState("person", survivor, "cannot be merged into itself")
        survivor_row = self._locked(survivor)
        subsumed_row = self._locked(subsumed)
        for eid, row in ((survivor, survivor_row), (subsumed, subsumed_row)):
            if row.status != PersonStatus.ACTIVE.value:
                raise InvalidState("person", eid, "is already merged into another person")
        moved = self._links.for_person(subsumed)
        now = self._ctx.clock()
        for link in moved:
            self._links.link(
                link.record, survivor, score=link.score, method=LinkMethod.MANUAL, by=by, at=now
            )
        subsumed_row.status = PersonStatus.MERGED.value
        subsumed_row.merged_into_id = survivor_row.id
        subsumed_row.updated_at = survivor_row.updated_at = now
        history = PersonMergeRow(
            survivor_id=survivor_row.id,
            subsumed_id=subsumed_row.id,
            merged_at=now,
            merged_by=by,
            reason=reason,
            moved={"links": [_link_json(link) for link in moved]},
        )
        self._ctx.session.add(history)
        self._ctx.session.flush()
        return _to_merge(history)

    def unmerge(self, survivor: str, *, by: str) -> PersonMerge:
        """Undo the last merge into ``survivor`` that is not undone yet.

        The subsumed person becomes active again and every record the merge moved
        gets back its exact former link (person, score, method, time, author),
        except records that have since left the survivor (a later decision wins).

        Raises:
            NotFound: the person does not exist.
            InvalidState: nothing to undo, or the survivor was itself merged since.
        """
        survivor_row = self._locked(survivor)
        if survivor_row.status != PersonStatus.ACTIVE.value:
            raise InvalidState(
                "person", survivor, "is merged into another person: unmerge that first"
            )
        history = self._ctx.session.scalar(
            select(PersonMergeRow)
            .where(
                PersonMergeRow.survivor_id == survivor_row.id, PersonMergeRow.undone_at.is_(None)
            )
            .order_by(PersonMergeRow.id.desc())
            .limit(1)
        )
        if history is None:
            raise InvalidState("person", survivor, "has no merge to undo")
        subsumed_row = self._ctx.session.get(PersonRow, history.subsumed_id, with_for_update=True)
        assert subsumed_row is not None
        now = self._ctx.clock()
        subsumed_row.status = PersonStatus.ACTIVE.value
        subsumed_row.merged_into_id = None
        subsumed_row.updated_at = survivor_row.updated_at = now
        for link in _to_merge(history).moved:
            current = self._ctx.session.get(LinkRow, self._ctx.record_pk(link.record))
            if current is not None and current.person_id == survivor_row.id:
                current.person_id = subsumed_row.id
                current.score = link.score
                current.method = link.method.value
                current.linked_at = link.linked_at
                current.linked_by = link.linked_by
        history.undone_at = now
        history.undone_by = by
        self._ctx.session.flush()
        return _to_merge(history)

    def history(self, enterprise_id_: str) -> list[PersonMerge]:
        """Every merge the person took part in (either side), oldest first.

        Raises:
            NotFound: no such person.
        """
        pk = self._ctx.person_pk(enterprise_id_)
        rows = self._ctx.session.scalars(
            select(PersonMergeRow)
            .where(or_(PersonMergeRow.survivor_id == pk, PersonMergeRow.subsumed_id == pk))
            .order_by(PersonMergeRow.id)
        )
        return [_to_merge(r) for r in rows]

    def _locked(self, eid: str) -> PersonRow:
        row = self._ctx.session.get(
            PersonRow, self._ctx.person_pk(eid, for_update=True), populate_existing=True
        )
        assert row is not None
        return row


def _link_json(link: Link) -> dict[str, Any]:
    return {
        "domain": link.record.domain,
        "id": link.record.id,
        "enterprise_id": link.enterprise_id,
        "score": link.score,
        "method": link.method.value,
        "linked_at": link.linked_at.isoformat(),
        "linked_by": link.linked_by,
    }


def _to_merge(row: PersonMergeRow) -> PersonMerge:
    moved = tuple(
        Link(
            record=SourceRecordRef(item["domain"], item["id"]),
            enterprise_id=item["enterprise_id"],
            score=float(item["score"]),
            method=LinkMethod(item["method"]),
            linked_at=datetime.fromisoformat(item["linked_at"]),
            linked_by=item["linked_by"],
        )
        for item in row.moved["links"]
    )
    return PersonMerge(
        id=row.id,
        survivor=enterprise_id(row.survivor_id),
        subsumed=enterprise_id(row.subsumed_id),
        merged_at=row.merged_at,
        merged_by=row.merged_by,
        moved=moved,
        reason=row.reason,
        undone_at=row.undone_at,
        undone_by=row.undone_by,
    )
