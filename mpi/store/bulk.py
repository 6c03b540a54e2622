"""The bulk path for ``mpi load``: batches of rows through Core ``INSERT`` executemany.

It bypasses the ORM unit of work (no per-row objects, no per-row flush) but runs
in the same session and transaction as everything else, so a load batch commits
or rolls back as one. Typical use per batch of a few thousand rows::

    known = uow.bulk.existing("NORTHGEN", [r.ref.id for r in batch])   # idempotent reload
    new = [r for r in batch if r.ref.id not in known]
    pks = uow.bulk.insert_records(new)
    uow.bulk.insert_blocking_keys((pk, k) for pk, r in zip(pks, new) for k in keys(r))
    persons = uow.bulk.create_persons(n)
    uow.bulk.insert_links([BulkLink(pk, eid, 1.0, LinkMethod.AUTO), ...])
    uow.commit()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import insert, select

from matching.record import Record
from mpi.domain import (
    AuditEntry,
    LinkMethod,
    NewSourceRecord,
    PersonStatus,
    RecordStatus,
    SourceRecordRef,
    format_enterprise_id,
    parse_enterprise_id,
)
from mpi.errors import NotFound
from mpi.store._base import Context
from mpi.store.models import (
    AuditEvent,
    BlockingKey,
    IdentityDomainRow,
    LinkRow,
    PersonRow,
    RecordIdentifier,
    SourceRecordRow,
)
from mpi.store.records import DEMOGRAPHIC_COLUMNS, record_columns

__all__ = ["BulkLink", "BulkLoader", "StoredDemographics"]

_CHUNK = 5000
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BulkLink:
    """A link to insert: record key, person, score and method."""

    record_pk: int
    enterprise_id: str
    score: float
    method: LinkMethod


@dataclass(frozen=True, slots=True)
class StoredDemographics:
    """An active record as the batch matcher needs it: key, name, person and fields."""

    pk: int
    ref: SourceRecordRef
    enterprise_id: str | None
    demographics: Record


class BulkLoader:
    """Batch inserts and scans; every method works on many rows per statement."""

    def __init__(self, ctx: Context, *, by: str = "system") -> None:
        self._ctx = ctx
        self._by = by

    def existing(self, domain: str, source_ids: Sequence[str]) -> dict[str, int]:
        """Which of these ids the domain already has: id → record key.

        Raises:
            UnknownDomain: the domain is not registered.
        """
        domain_id = self._ctx.domain_id(domain)
        found: dict[str, int] = {}
        ids = list(dict.fromkeys(source_ids))
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            rows = self._ctx.session.execute(
                select(SourceRecordRow.source_id, SourceRecordRow.id).where(
                    SourceRecordRow.domain_id == domain_id,
                    SourceRecordRow.source_id.in_(ids[start : start + _LOOKUP_CHUNK]),
                )
            )
            found.update({sid: pk for sid, pk in rows})
        return found

    def insert_records(self, records: Sequence[NewSourceRecord]) -> list[int]:
        """Insert new records (unlinked) and their carried ids; returns their keys in order.

        Raises:
            UnknownDomain: a record's domain is not registered.
            sqlalchemy.exc.IntegrityError: a ``(domain, id)`` exists already (check
                with :meth:`existing` first); the whole batch is refused.
        """
        now = self._ctx.clock()
        rows = [
            {
                "domain_id": self._ctx.domain_id(r.ref.domain),
                "source_id": r.ref.id,
                "status": RecordStatus.ACTIVE.value,
                "subsumed_by_id": None,
                "pid": dict(r.pid),
                "created_at": now,
                "updated_at": now,
                **record_columns(r.demographics),
            }
            for r in records
        ]
        pks = self._insert_returning(SourceRecordRow, rows)
        carried = (
            {"record_id": pk, "namespace": ref.domain, "value": ref.id}
            for pk, r in zip(pks, records, strict=True)
            for ref in dict.fromkeys(r.identifiers)
        )
        self._insert(RecordIdentifier, carried)
        return pks

    def insert_blocking_keys(self, rows: Iterable[tuple[int, str]]) -> int:
        """Insert ``(record key, blocking key)`` pairs, unique per record; returns the count."""
        return self._insert(BlockingKey, ({"record_id": pk, "key": key} for pk, key in rows))

    def create_persons(self, count: int) -> list[str]:
        """Create ``count`` active persons; returns their enterprise ids in creation order."""
        now = self._ctx.clock()
        row = {
            "status": PersonStatus.ACTIVE.value,
            "merged_into_id": None,
            "outbox_seq": 0,
            "created_at": now,
            "updated_at": now,
        }
        pks = self._insert_returning(PersonRow, [dict(row) for _ in range(count)])
        return [format_enterprise_id(pk) for pk in pks]

    def insert_links(self, links: Iterable[BulkLink]) -> int:
        """Insert links of records that have none yet; returns the count.

        Raises:
            NotFound: an enterprise id is malformed.
        """
        now = self._ctx.clock()

        def rows() -> Iterator[dict[str, Any]]:
            for link in links:
                person = parse_enterprise_id(link.enterprise_id)
                if person is None:
                    raise NotFound("person", link.enterprise_id, "is not an enterprise id")
                yield {
                    "record_id": link.record_pk,
                    "person_id": person,
                    "score": link.score,
                    "method": link.method.value,
                    "linked_at": now,
                    "linked_by": self._by,
                }

        return self._insert(LinkRow, rows())

    def insert_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Append many audit entries at once; returns the count."""
        now = self._ctx.clock()
        return self._insert(
            AuditEvent,
            (
                {
                    "at": e.at or now,
                    "actor": e.actor,
                    "action": e.action,
                    "entity_type": e.entity_type,
                    "entity_id": e.entity_id,
                    "before": dict(e.before) if e.before is not None else None,
                    "after": dict(e.after) if e.after is not None else None,
                    "reason": e.reason,
                }
                for e in entries
            ),
        )

    def iter_active(self, *, batch_size: int = 10_000) -> Iterator[list[StoredDemographics]]:
        """Every active record's demographics and person, in key order, a batch at a time.

        For matching a load against the whole index with the vectorised path.
        """
        columns = [getattr(SourceRecordRow, c) for c in DEMOGRAPHIC_COLUMNS]
        after = 0
        while True:
            rows = self._ctx.session.execute(
                select(
                    SourceRecordRow.id,
                    IdentityDomainRow.namespace,
                    SourceRecordRow.source_id,
                    LinkRow.person_id,
                    *columns,
                )
                .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
                .outerjoin(LinkRow, LinkRow.record_id == SourceRecordRow.id)
                .where(
                    SourceRecordRow.status == RecordStatus.ACTIVE.value,
                    SourceRecordRow.id > after,
                )
                .order_by(SourceRecordRow.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            yield [_stored(row) for row in rows]
            after = rows[-1][0]

    def _insert_returning(self, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        table = model.__table__
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        pks: list[int] = []
        for start in range(0, len(rows), _CHUNK):
            result = self._ctx.session.execute(stmt, rows[start : start + _CHUNK])
            pks.extend(pk for (pk,) in result)
        return pks

    def _insert(self, model: type[Any], rows: Iterable[dict[str, Any]]) -> int:
        table = model.__table__
        total = 0
        it = iter(rows)
        while chunk := list(islice(it, _CHUNK)):
            self._ctx.session.execute(insert(table), chunk)
            total += len(chunk)
        return total


def _stored(row: Any) -> StoredDemographics:
    pk, namespace, source_id, person = row[0], row[1], row[2], row[3]
    ref = SourceRecordRef(namespace, source_id)
    values = dict(zip(DEMOGRAPHIC_COLUMNS, row[4:], strict=True))
    return StoredDemographics(
        pk=pk,
        ref=ref,
        enterprise_id=format_enterprise_id(person) if person is not None else None,
        demographics=Record(record_id=str(ref), **values),
    )
