"""Audit trail, message log (idempotent re-delivery) and the ITI-10 outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mpi.domain import AuditEntry, OutboxStatus, SourceSystem
from mpi.errors import Conflict, InvalidState, NotFound
from mpi.store import UnitOfWork

SENDER = SourceSystem("NG_ADT", "NORTHGEN")
PORTAL = SourceSystem("HIE_PORTAL", "CITYHIE")
LAB = SourceSystem("LAB", "CITYLAB")


def test_audit_append_and_filter(uow: UnitOfWork) -> None:
    first = uow.audit.append(AuditEntry("alice", "person.merge", "person", "E000000001",
                                        before={"links": 1}, after={"links": 2}, reason="dup"))
    uow.audit.append(AuditEntry("system", "record.register", "record", "NORTHGEN|1", after={"v": 1}))
    assert first.id is not None and first.at is not None
    entries = uow.audit.list()
    assert [e.action for e in entries] == ["record.register", "person.merge"]  # newest first
    assert entries[1] == first
    assert uow.audit.list(entity_type="person", entity_id="E000000001") == [first]
    assert uow.audit.count(action="record.register") == 1
    assert uow.audit.count(since=datetime.now(UTC) + timedelta(days=1)) == 0


def test_message_log_replays_and_refuses_a_second_entry(uow: UnitOfWork) -> None:
    assert uow.messages.get(SENDER, "MSG1") is None
    logged = uow.messages.record(SENDER, "MSG1", "ab" * 32, b"MSH|^~\\&|EMPI\rMSA|AA|MSG1\r")
    assert uow.messages.get(SENDER, "MSG1") == logged
    assert logged.response.startswith(b"MSH|")
    with pytest.raises(Conflict, match="already logged"):
        uow.messages.record(SENDER, "MSG1", "cd" * 32, b"other")
    # Same control id from another sender is another message.
    uow.messages.record(SourceSystem("RC_ADT", "RIVERCL"), "MSG1", "ef" * 32, b"x")
    uow.commit()


def test_outbox_orders_per_person_and_retries(uow: UnitOfWork) -> None:
    p1, p2 = uow.persons.create().enterprise_id, uow.persons.create().enterprise_id
    first = uow.outbox.enqueue(p1, {PORTAL: b"A31-1", LAB: b"A31-1-lab"})
    second = uow.outbox.enqueue(p1, {PORTAL: b"A31-2"})
    other = uow.outbox.enqueue(p2, {PORTAL: b"A31-p2"})
    assert [m.sequence for m in first + second + other] == [1, 1, 2, 1]
    assert uow.outbox.enqueue(p1, {}) == []

    due = uow.outbox.due()
    # p1's second message waits for the first to PORTAL.
    assert {(m.enterprise_id, m.subscriber, m.sequence) for m in due} == {
        (p1, PORTAL, 1), (p1, LAB, 1), (p2, PORTAL, 1)}
    portal1 = next(m for m in due if m.subscriber == PORTAL and m.enterprise_id == p1)
    later = datetime.now(UTC) + timedelta(minutes=5)
    failed = uow.outbox.mark_failed(portal1.id, "connection refused", retry_at=later)
    assert (failed.status, failed.attempts, failed.last_error) == (OutboxStatus.PENDING, 1, "connection refused")
    assert all(m.id != portal1.id for m in uow.outbox.due())
    assert any(m.id == portal1.id for m in uow.outbox.due(now=later))

    sent = uow.outbox.mark_sent(portal1.id)
    assert sent.status is OutboxStatus.SENT and sent.attempts == 2
    assert all(m.sequence == 1 for m in uow.outbox.due(now=later))  # still blocked until acked
    acked = uow.outbox.mark_acked(portal1.id)
    assert acked.status is OutboxStatus.ACKED and acked.last_error is None
    assert (p1, 2) in {(m.enterprise_id, m.sequence) for m in uow.outbox.due(now=later)}
    with pytest.raises(InvalidState, match="already acked"):
        uow.outbox.mark_acked(portal1.id)
    gave_up = uow.outbox.mark_failed(other[0].id, "AR", retry_at=None)
    assert gave_up.status is OutboxStatus.FAILED
    assert [m.id for m in uow.outbox.list(OutboxStatus.FAILED)] == [other[0].id]
    with pytest.raises(NotFound):
        uow.outbox.mark_sent(12345)
    with pytest.raises(NotFound):
        uow.outbox.enqueue("E000009999", {PORTAL: b"x"})
