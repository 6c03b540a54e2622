"""The ITI-10 outbox: notifications written in the same transaction as the change they report.

The service enqueues inside its unit of work, so a notification exists exactly
when the change was committed. A notifier then polls :meth:`OutboxRepository.due`,
sends, and marks the outcome. Per subscriber and person only the oldest
unfinished message is due, so a person's updates arrive in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from mpi.domain import OutboxMessage, OutboxStatus, SourceSystem, parse_enterprise_id
from mpi.errors import InvalidState, NotFound
from mpi.store._base import Context, enterprise_id
from mpi.store.models import OutboxRow, PersonRow

__all__ = ["OutboxRepository"]

_UNFINISHED = (OutboxStatus.PENDING.value, OutboxStatus.SENT.value)


class OutboxRepository:
    """Queued ITI-10 notifications with their delivery state."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def enqueue(
        self, enterprise_id_: str, payloads: Mapping[SourceSystem, bytes]
    ) -> list[OutboxMessage]:
        """Queue one change of a person for each subscriber, under one new sequence number.

        Args:
            enterprise_id_: the person whose cross-references changed.
            payloads: subscriber (MSH-5/MSH-6) → the encoded ``ADT^A31`` for it.

        Raises:
            NotFound: no such person.
        """
        return self.enqueue_many([(enterprise_id_, payloads)])

    def enqueue_many(
        self, changes: Sequence[tuple[str, Mapping[SourceSystem, bytes]]]
    ) -> list[OutboxMessage]:
        """:meth:`enqueue` for several persons (each once), in order: their sequence numbers
        in one ``UPDATE … RETURNING``, their messages in one flush.

        Raises:
            NotFound: one of the persons does not exist.
            ValueError: a person is named twice.
        """
        changes = [(eid, payloads) for eid, payloads in changes if payloads]
        if not changes:
            return []
        numbers: dict[str, int] = {}
        for eid, _ in changes:
            number = parse_enterprise_id(eid)
            if number is None:
                raise NotFound("person", eid, "is not an enterprise id of this index")
            if eid in numbers:
                raise ValueError(
                    f"enterprise id {eid!r}: named twice (one change each is the rule)"
                )
            numbers[eid] = number
        # UPDATE ... RETURNING locks the persons' rows: concurrent changes of one person get
        # consecutive numbers, in commit order.
        sequences: dict[int, int] = {
            int(pk): int(seq)
            for pk, seq in self._ctx.session.execute(
                update(PersonRow)
                .where(PersonRow.id.in_(sorted(numbers.values())))
                .values(outbox_seq=PersonRow.outbox_seq + 1)
                .returning(PersonRow.id, PersonRow.outbox_seq)
            )
        }
        for eid, number in numbers.items():
            if number not in sequences:
                raise NotFound("person", eid, "is not an enterprise id of this index")
        now = self._ctx.clock()
        rows = [
            OutboxRow(
                subscriber_application=sub.application,
                subscriber_facility=sub.facility,
                person_id=numbers[eid],
                sequence=sequences[numbers[eid]],
                payload=payload,
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for eid, payloads in changes
            for sub, payload in payloads.items()
        ]
        self._ctx.session.add_all(rows)
        self._ctx.session.flush()
        return [_to_message(r) for r in rows]

    def due(self, *, now: datetime | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages whose time has come and that no older unfinished message blocks."""
        now = now or self._ctx.clock()
        older = aliased(OutboxRow)
        blocked = exists().where(
            and_(
                older.subscriber_application == OutboxRow.subscriber_application,
                older.subscriber_facility == OutboxRow.subscriber_facility,
                older.person_id == OutboxRow.person_id,
                older.sequence < OutboxRow.sequence,
                older.status.in_(_UNFINISHED),
            )
        )
        rows = self._ctx.session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING.value,
                OutboxRow.next_attempt_at <= now,
                ~blocked,
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
        return [_to_message(r) for r in rows]

    def get(self, message_id: int) -> OutboxMessage | None:
        """One message, or ``None``."""
        row = self._ctx.session.get(OutboxRow, message_id)
        return _to_message(row) if row is not None else None

    def list(
        self, status: OutboxStatus | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[OutboxMessage]:
        """Messages with this status (``None``: all), oldest first."""
        query = select(OutboxRow)
        if status is not None:
            query = query.where(OutboxRow.status == status.value)
        rows = self._ctx.session.scalars(query.order_by(OutboxRow.id).offset(offset).limit(limit))
        return [_to_message(r) for r in rows]

    def mark_sent(self, message_id: int) -> OutboxMessage:
        """The message went out; its ACK is awaited (a crash now means it is sent again)."""
        row = self._row(message_id)
        row.status = OutboxStatus.SENT.value
        row.attempts += 1
        row.sent_at = self._ctx.clock()
        return self._done(row)

    def mark_acked(self, message_id: int) -> OutboxMessage:
        """The subscriber acknowledged (AA): delivery is complete."""
        row = self._row(message_id)
        if row.status == OutboxStatus.PENDING.value:
            row.attempts += 1
            row.sent_at = self._ctx.clock()
        row.status = OutboxStatus.ACKED.value
        row.last_error = None
        return self._done(row)

    def mark_failed(
        self, message_id: int, error: str, *, retry_at: datetime | None
    ) -> OutboxMessage:
        """An attempt failed: try again at ``retry_at``, or give up when it is ``None``."""
        row = self._row(message_id)
        if row.status == OutboxStatus.PENDING.value:
            row.attempts += 1  # not marked sent first: the connection failed
        row.last_error = error
        if retry_at is None:
            row.status = OutboxStatus.FAILED.value
        else:
            row.status = OutboxStatus.PENDING.value
            row.next_attempt_at = retry_at
        return self._done(row)

    def _row(self, message_id: int) -> OutboxRow:
        row = self._ctx.session.get(OutboxRow, message_id, with_for_update=True)
        if row is None:
            raise NotFound("outbox message", message_id)
        if row.status in (OutboxStatus.ACKED.value, OutboxStatus.FAILED.value):
            raise InvalidState("outbox message", message_id, f"is already {row.status}")
        return row

    def _done(self, row: OutboxRow) -> OutboxMessage:
        self._ctx.session.flush()
        return _to_message(row)


def _to_message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        subscriber=SourceSystem(row.subscriber_application, row.subscriber_facility),
        enterprise_id=enterprise_id(row.person_id),
        payload=bytes(row.payload),
        sequence=row.sequence,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
    )
