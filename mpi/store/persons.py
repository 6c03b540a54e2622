"""Enterprise persons and the links of source records to them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update

from mpi.domain import (
    Link,
    LinkMethod,
    Person,
    PersonStatus,
    SourceRecordRef,
    parse_enterprise_id,
)
from mpi.errors import InvalidState, NotFound
from mpi.store._base import Context, chunks, enterprise_id
from mpi.store.models import IdentityDomainRow, LinkRow, PersonRow, SourceRecordRow

__all__ = ["LinkRepository", "PersonRepository", "to_person"]

SYSTEM = "system"
"""The actor name of the matcher and other automatic changes."""


class PersonRepository:
    """Enterprise persons; the enterprise id is formatted from the row's autoincrement key."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def create(self) -> Person:
        """A new active person with a freshly allocated enterprise id.

        Safe under concurrency on both databases: the key comes from the
        database's own autoincrement (a sequence on PostgreSQL), never from
        ``max(id) + 1``.
        """
        now = self._ctx.clock()
        row = PersonRow(
            status=PersonStatus.ACTIVE.value, outbox_seq=0, created_at=now, updated_at=now
        )
        self._ctx.session.add(row)
        self._ctx.session.flush()
        return to_person(row)

    def count(self, status: PersonStatus | None = PersonStatus.ACTIVE) -> int:
        """How many persons have this status (``None``: all), e.g. for benchmarks and health."""
        query = select(func.count()).select_from(PersonRow)
        if status is not None:
            query = query.where(PersonRow.status == status.value)
        return int(self._ctx.session.scalar(query) or 0)

    def get(self, enterprise_id_: str, *, for_update: bool = False) -> Person | None:
        """The person (active or merged), or ``None``; ``for_update`` locks it until commit."""
        try:
            pk = self._ctx.person_pk(enterprise_id_, for_update=for_update)
        except NotFound:
            return None
        row = self._ctx.session.get(PersonRow, pk)
        assert row is not None
        return to_person(row)

    def get_many(self, enterprise_ids: Iterable[str]) -> dict[str, Person]:
        """:meth:`get` for many persons in one query a few hundred (unknown ids left out)."""
        asked = {n: e for e in enterprise_ids if (n := parse_enterprise_id(e)) is not None}
        found: dict[str, Person] = {}
        for chunk in chunks(sorted(asked), 500):
            for row in self._ctx.session.scalars(select(PersonRow).where(PersonRow.id.in_(chunk))):
                found[asked[row.id]] = to_person(row)
        return found

    def require(self, enterprise_id_: str, *, for_update: bool = False) -> Person:
        """Like :meth:`get`, but a missing person is an error.

        Raises:
            NotFound: no person has this enterprise id.
        """
        person = self.get(enterprise_id_, for_update=for_update)
        if person is None:
            raise NotFound("person", enterprise_id_, "is not an enterprise id of this index")
        return person

    def resolve(self, enterprise_id_: str) -> Person:
        """The active person an enterprise id stands for now, following merges.

        Raises:
            NotFound: no person has this enterprise id.
        """
        person = self.require(enterprise_id_)
        seen = {person.enterprise_id}
        while person.status is PersonStatus.MERGED and person.merged_into is not None:
            person = self.require(person.merged_into)
            if person.enterprise_id in seen:  # pragma: no cover - a cycle is a bug elsewhere
                raise InvalidState("person", enterprise_id_, "has a merge cycle")
            seen.add(person.enterprise_id)
        return person

    def resolve_many(self, enterprise_ids: Iterable[str]) -> dict[str, str]:
        """The active person each enterprise id stands for now (one query for the unmerged).

        Unknown ids are left out; merged ones follow their merge chain (:meth:`resolve`).
        """
        wanted: dict[int, str] = {}
        for eid in enterprise_ids:
            number = parse_enterprise_id(eid)
            if number is not None:
                wanted.setdefault(number, eid)
        out: dict[str, str] = {}
        numbers = list(wanted)
        table = PersonRow.__table__
        connection = self._ctx.driver_connection()  # Core below, no ORM row processing
        for chunk in chunks(numbers, 500):
            rows = connection.execute(
                select(table.c.id, table.c.status).where(table.c.id.in_(chunk))
            ).all()
            for pk, status in rows:
                eid = wanted[pk]
                if status == PersonStatus.ACTIVE.value:
                    out[eid] = eid
                else:
                    out[eid] = self.resolve(eid).enterprise_id
        return out

    def touch(self, enterprise_id_: str) -> None:
        """Record that the person's cross-references changed now."""
        pk = self._ctx.person_pk(enterprise_id_)
        self._ctx.session.execute(
            update(PersonRow).where(PersonRow.id == pk).values(updated_at=self._ctx.clock())
        )

    def record_count(self, enterprise_id_: str) -> int:
        """How many source records are linked to the person."""
        pk = self._ctx.person_pk(enterprise_id_)
        counted = select(func.count()).select_from(LinkRow).where(LinkRow.person_id == pk)
        return int(self._ctx.session.scalar(counted) or 0)


class LinkRepository:
    """The current link of each source record (at most one); history lives in the audit trail."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, ref: SourceRecordRef) -> Link | None:
        """The record's current link, or ``None``.

        Raises:
            UnknownDomain, NotFound: the record is not registered.
        """
        pk = self._ctx.record_pk(ref)
        row = self._ctx.session.get(LinkRow, pk)
        return to_link(ref, row) if row is not None else None

    def link(
        self,
        ref: SourceRecordRef,
        enterprise_id_: str,
        *,
        score: float,
        method: LinkMethod,
        by: str = SYSTEM,
        at: datetime | None = None,
    ) -> Link:
        """Link the record to the person, replacing any link it had.

        Raises:
            UnknownDomain, NotFound: the record or the person does not exist.
            InvalidState: the person was merged into another (link to the survivor).
        """
        record_pk = self._ctx.record_pk(ref)
        number = parse_enterprise_id(enterprise_id_)
        person = self._ctx.session.get(PersonRow, number) if number is not None else None
        if person is None:
            raise NotFound("person", enterprise_id_, "is not an enterprise id of this index")
        person_pk = person.id
        if person.status != PersonStatus.ACTIVE.value:
            raise InvalidState("person", enterprise_id_, "is merged: link to the surviving person")
        row = self._ctx.session.get(LinkRow, record_pk)
        if row is None:
            row = LinkRow(record_id=record_pk)
            self._ctx.session.add(row)
        row.person_id = person_pk
        row.score = score
        row.method = method.value
        row.linked_at = at or self._ctx.clock()
        row.linked_by = by
        self._ctx.session.flush()
        return to_link(ref, row)

    def unlink(self, ref: SourceRecordRef) -> Link | None:
        """Remove the record's link; returns the link it had (``None`` if none)."""
        record_pk = self._ctx.record_pk(ref)
        row = self._ctx.session.get(LinkRow, record_pk)
        if row is None:
            return None
        before = to_link(ref, row)
        self._ctx.session.execute(delete(LinkRow).where(LinkRow.record_id == record_pk))
        self._ctx.session.expire_all()
        return before

    def for_person(self, enterprise_id_: str) -> list[Link]:
        """The links of a person's records, by domain and id.

        Raises:
            NotFound: no such person.
        """
        person_pk = self._ctx.person_pk(enterprise_id_)
        rows = self._ctx.session.execute(
            select(LinkRow, IdentityDomainRow.namespace, SourceRecordRow.source_id)
            .join(SourceRecordRow, SourceRecordRow.id == LinkRow.record_id)
            .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
            .where(LinkRow.person_id == person_pk)
            .order_by(IdentityDomainRow.namespace, SourceRecordRow.source_id)
        )
        return [to_link(SourceRecordRef(ns, sid), row) for row, ns, sid in rows]


def to_person(row: PersonRow) -> Person:
    """Map a person row to a domain value."""
    return Person(
        enterprise_id=enterprise_id(row.id),
        status=PersonStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        merged_into=enterprise_id(row.merged_into_id) if row.merged_into_id else None,
    )


def to_link(ref: SourceRecordRef, row: LinkRow) -> Link:
    """Map a link row (of the record ``ref``) to a domain value."""
    return Link(
        record=ref,
        enterprise_id=enterprise_id(row.person_id),
        score=row.score,
        method=LinkMethod(row.method),
        linked_at=row.linked_at,
        linked_by=row.linked_by,
    )
