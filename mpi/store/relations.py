"""Mother–child relationships between source records (newborn registration)."""

from __future__ import annotations

from sqlalchemy import delete, select

from mpi.domain import SourceRecordRef
from mpi.store._base import Context
from mpi.store.models import IdentityDomainRow, MotherChild, SourceRecordRow

__all__ = ["RelationshipRepository"]


class RelationshipRepository:
    """Which source record is the mother of which (a child may name one mother per domain)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def add_mother(self, child: SourceRecordRef, mother: SourceRecordRef) -> None:
        """Record that ``mother`` is the mother of ``child`` (idempotent).

        Raises:
            UnknownDomain, NotFound: either record is not registered.
        """
        child_pk, mother_pk = self._ctx.record_pk(child), self._ctx.record_pk(mother)
        if self._ctx.session.get(MotherChild, (mother_pk, child_pk)) is None:
            self._ctx.session.add(
                MotherChild(mother_id=mother_pk, child_id=child_pk, created_at=self._ctx.clock())
            )
            self._ctx.session.flush()

    def remove_mother(self, child: SourceRecordRef, mother: SourceRecordRef) -> None:
        """Forget that ``mother`` is the mother of ``child`` (no error if it was not known)."""
        child_pk, mother_pk = self._ctx.record_pk(child), self._ctx.record_pk(mother)
        self._ctx.session.execute(
            delete(MotherChild).where(
                MotherChild.mother_id == mother_pk, MotherChild.child_id == child_pk
            )
        )

    def mothers_of(self, child: SourceRecordRef) -> list[SourceRecordRef]:
        """The mother records of a child record."""
        pk = self._ctx.record_pk(child)
        return self._refs(MotherChild.mother_id, MotherChild.child_id == pk)

    def children_of(self, mother: SourceRecordRef) -> list[SourceRecordRef]:
        """The child records of a mother record."""
        pk = self._ctx.record_pk(mother)
        return self._refs(MotherChild.child_id, MotherChild.mother_id == pk)

    def _refs(self, column: object, condition: object) -> list[SourceRecordRef]:
        rows = self._ctx.session.execute(
            select(IdentityDomainRow.namespace, SourceRecordRow.source_id)
            .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
            .join(MotherChild, column == SourceRecordRow.id)
            .where(condition)  # type: ignore[arg-type]
            .order_by(IdentityDomainRow.namespace, SourceRecordRow.source_id)
        )
        return [SourceRecordRef(ns, sid) for ns, sid in rows]
