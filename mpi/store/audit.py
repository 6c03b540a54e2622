"""The append-only audit trail (database triggers refuse UPDATE and DELETE on it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select

from mpi.domain import AuditEntry
from mpi.store._base import Context
from mpi.store.models import AuditEvent, Base

__all__ = ["AuditRepository"]

_TABLE = Base.metadata.tables[AuditEvent.__tablename__]
_APPEND = insert(_TABLE).returning(_TABLE.c.id)
"""One Core insert per entry (no ORM flush), built once."""


class AuditRepository:
    """Who did what, when, to which entity, with before/after snapshots."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def append(self, entry: AuditEntry) -> AuditEntry:
        """Add one entry (its ``id`` and ``at`` are filled in; a given ``at`` is kept)."""
        at = entry.at or self._ctx.clock()
        before = dict(entry.before) if entry.before is not None else None
        after = dict(entry.after) if entry.after is not None else None
        pk = self._ctx.session.execute(
            _APPEND,
            {
                "at": at,
                "actor": entry.actor,
                "action": entry.action,
                "entity_type": entry.entity_type,
                "entity_id": entry.entity_id,
                "before": before,
                "after": after,
                "reason": entry.reason,
            },
        ).scalar_one()
        return AuditEntry(
            actor=entry.actor,
            action=entry.action,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            before=before,
            after=after,
            reason=entry.reason,
            id=pk,
            at=at,
        )

    def list(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries matching every given filter, newest first."""
        rows = self._ctx.session.scalars(
            select(AuditEvent)
            .where(*_filters(entity_type, entity_id, action, since))
            .order_by(AuditEvent.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [_to_entry(r) for r in rows]

    def count(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """How many entries :meth:`list` would page through."""
        counted = (
            select(func.count())
            .select_from(AuditEvent)
            .where(*_filters(entity_type, entity_id, action, since))
        )
        return int(self._ctx.session.scalar(counted) or 0)


def _filters(
    entity_type: str | None, entity_id: str | None, action: str | None, since: datetime | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if entity_type is not None:
        where.append(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        where.append(AuditEvent.entity_id == entity_id)
    if action is not None:
        where.append(AuditEvent.action == action)
    if since is not None:
        where.append(AuditEvent.at >= since)
    return where


def _to_entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        before=row.before,
        after=row.after,
        reason=row.reason,
        id=row.id,
        at=row.at,
    )
