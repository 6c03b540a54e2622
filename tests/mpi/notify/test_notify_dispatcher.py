"""ITI-10 notifier against a real fake-subscriber socket server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from hl7.codec import decode
from hl7.errors import UnknownKeyError
from hl7.messages import read_header_lenient
from hl7.mllp import FrameDecoder, frame
from hl7.model import AssigningAuthority, Identifier, PatientDemographics
from hl7.responses import build_a31, build_ack
from mpi.domain import OutboxStatus, SourceSystem
from mpi.notify import Notifier, RetryPolicy, SubscriberConnection
from mpi.settings import SubscriberSettings
from mpi.store import Store

PORTAL = SourceSystem("HIE_PORTAL", "CITYHIE")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSubscriber:
    """An MLLP consumer on 127.0.0.1 that records every A31 and answers as told."""

    def __init__(self, port: int = 0, answer: Callable[[bytes], str] = lambda _: "AA") -> None:
        self.port = port
        self.answer = answer
        self.received: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for event in decoder.feed(data):
                    assert isinstance(event, bytes)
                    self.received.append(event)
                    code = self.answer(event)
                    header = read_header_lenient(decode(event))
                    error = None
                    if code != "AA":
                        error = UnknownKeyError("PID-3", "X", "is not known here")
                        error.ack_code = type(error.ack_code)(code)
                    writer.write(frame(build_ack(header, error)))
                    await writer.drain()
        finally:
            writer.close()

    def ids_of(self, enterprise_id: str) -> list[str]:
        """MSH-10s of the messages received for one person (in arrival order)."""
        out = []
        for raw in self.received:
            message = decode(raw)
            pid = message.segment("PID")
            assert pid is not None
            if enterprise_id in pid.field(3):
                out.append(message.msh.get(10))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_store(engine: Engine, clock: FakeClock) -> Store:
    return Store(engine, clock=clock)


def enqueue(store: Store, eid: str | None = None, *, control_id: str) -> str:
    """Queue one A31 for a (new or given) person; return the enterprise id."""

    def work(uow: object) -> str:
        person_id = eid or uow.persons.create().enterprise_id  # type: ignore[attr-defined]
        payload = build_a31(
            PatientDemographics(
                identifiers=(Identifier(person_id, AssigningAuthority("MPI")),), names=()
            ),
            sending_application="EMPI",
            sending_facility="MPIHOST",
            receiving_application=PORTAL.application,
            receiving_facility=PORTAL.facility,
            control_id=control_id,
        )
        uow.outbox.enqueue(person_id, {PORTAL: payload})  # type: ignore[attr-defined]
        return person_id

    return store.run(work)


def outbox(store: Store) -> list[tuple[str, OutboxStatus, int]]:
    with store.unit_of_work(readonly=True) as uow:
        return [
            (decode(m.payload).msh.get(10), m.status, m.attempts)
            for m in uow.outbox.list(limit=1000)
        ]


def notifier(store: Store, port: int, **kw: object) -> Notifier:
    sub = SubscriberSettings(PORTAL.application, PORTAL.facility, "127.0.0.1", port, ("MPI",))
    options: dict[str, object] = {"timeout": 2.0, "poll_interval": 0.05}
    options.update(kw)
    return Notifier(store, [sub], **options)  # type: ignore[arg-type]


async def drain(n: Notifier, rounds: int = 20) -> None:
    for _ in range(rounds):
        if await n.dispatch_once() == 0:
            return
    raise AssertionError("the outbox never drained")


@pytest.fixture
async def subscriber() -> AsyncIterator[FakeSubscriber]:
    sub = FakeSubscriber()
    await sub.start()
    yield sub
    await sub.stop()


def test_retry_policy_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, maximum=60.0)
    assert [policy.delay(a) for a in (1, 2, 3, 4, 7, 8, 1000)] == [1, 2, 4, 8, 60, 60, 60]


async def test_aa_marks_acked_in_order(clocked_store: Store, subscriber: FakeSubscriber) -> None:
    p = enqueue(clocked_store, control_id="P-1")
    enqueue(clocked_store, p, control_id="P-2")
    enqueue(clocked_store, p, control_id="P-3")
    q = enqueue(clocked_store, control_id="Q-1")
    n = notifier(clocked_store, subscriber.port)
    await drain(n)
    await n.close()
    assert subscriber.ids_of(p) == ["P-1", "P-2", "P-3"]
    assert subscriber.ids_of(q) == ["Q-1"]
    assert {s for _, s, _ in outbox(clocked_store)} == {OutboxStatus.ACKED}
    assert n.stats.acked == 4


async def test_ae_gives_up_and_later_messages_go_on(clocked_store: Store) -> None:
    sub = FakeSubscriber(answer=lambda raw: "AE" if b"|BAD-1|" in raw else "AA")
    await sub.start()
    try:
        p = enqueue(clocked_store, control_id="BAD-1")
        enqueue(clocked_store, p, control_id="GOOD-2")
        n = notifier(clocked_store, sub.port)
        await drain(n)
        await n.close()
    finally:
        await sub.stop()
    assert sub.ids_of(p) == ["BAD-1", "GOOD-2"]  # AE is not retried
    state = {cid: (status, attempts) for cid, status, attempts in outbox(clocked_store)}
    assert state == {"BAD-1": (OutboxStatus.FAILED, 1), "GOOD-2": (OutboxStatus.ACKED, 1)}
    with clocked_store.unit_of_work(readonly=True) as uow:
        failed = uow.outbox.list(OutboxStatus.FAILED)
    assert "AE" in (failed[0].last_error or "")


async def test_ar_is_retried_then_given_up(clocked_store: Store, clock: FakeClock) -> None:
    sub = FakeSubscriber(answer=lambda raw: "AR")
    await sub.start()
    try:
        enqueue(clocked_store, control_id="R-1")
        n = notifier(clocked_store, sub.port, retry=RetryPolicy(base=10, rejected_attempts=3))
        for _ in range(5):
            await n.dispatch_once()
            clock.advance(1000)
        await n.close()
    finally:
        await sub.stop()
    assert len(sub.received) == 3
    assert outbox(clocked_store) == [("R-1", OutboxStatus.FAILED, 3)]


async def test_down_then_up_is_retried_in_order(clocked_store: Store, clock: FakeClock) -> None:
    port = free_port()
    p = enqueue(clocked_store, control_id="P-1")
    enqueue(clocked_store, p, control_id="P-2")
    enqueue(clocked_store, p, control_id="P-3")
    q = enqueue(clocked_store, control_id="Q-1")
    n = notifier(clocked_store, port, retry=RetryPolicy(base=5.0, factor=2.0))

    assert await n.dispatch_once() == 2  # P-1 and Q-1 are due; the subscriber is down
    state = {cid: (s, a) for cid, s, a in outbox(clocked_store)}
    assert state["P-1"] == (OutboxStatus.PENDING, 1)
    assert state["P-2"] == (OutboxStatus.PENDING, 0)
    assert await n.dispatch_once() == 0  # backing off: nothing due yet
    clock.advance(5)
    assert await n.dispatch_once() == 2  # second attempt, still down
    clock.advance(9)
    assert await n.dispatch_once() == 0  # the second wait is 10 s
    clock.advance(1)

    sub = FakeSubscriber(port=port)
    await sub.start()
    try:
        await drain(n)
        await n.close()
    finally:
        await sub.stop()
    assert sub.ids_of(p) == ["P-1", "P-2", "P-3"]
    assert sub.ids_of(q) == ["Q-1"]
    state = {cid: (s, a) for cid, s, a in outbox(clocked_store)}
    assert state == {
        "P-1": (OutboxStatus.ACKED, 3),
        "P-2": (OutboxStatus.ACKED, 1),
        "P-3": (OutboxStatus.ACKED, 1),
        "Q-1": (OutboxStatus.ACKED, 3),
    }


async def test_nothing_lost_across_a_restart(clocked_store: Store, clock: FakeClock) -> None:
    port = free_port()
    p = enqueue(clocked_store, control_id="P-1")
    enqueue(clocked_store, p, control_id="P-2")
    first = notifier(clocked_store, port)
    await first.dispatch_once()  # subscriber down
    await first.close()
    del first  # the process "restarts": only the outbox table remembers

    clock.advance(3600)
    sub = FakeSubscriber(port=port)
    await sub.start()
    try:
        second = notifier(clocked_store, port)
        await drain(second)
        await second.close()
    finally:
        await sub.stop()
    assert sub.ids_of(p) == ["P-1", "P-2"]


async def test_mismatched_msa2_is_retried(clocked_store: Store, clock: FakeClock) -> None:
    class WrongAck(SubscriberConnection):
        async def ask(self, payload: bytes) -> bytes:
            header = read_header_lenient(decode(payload.replace(b"|M-1|", b"|OTHER|")))
            return build_ack(header)

    enqueue(clocked_store, control_id="M-1")
    n = notifier(clocked_store, 1, connect=lambda s: WrongAck(s.host, s.port))
    await n.dispatch_once()
    assert outbox(clocked_store) == [("M-1", OutboxStatus.PENDING, 1)]
    with clocked_store.unit_of_work(readonly=True) as uow:
        (message,) = uow.outbox.list()
    assert "does not match" in (message.last_error or "")


async def test_unconfigured_subscriber_is_given_up(clocked_store: Store) -> None:
    enqueue(clocked_store, control_id="U-1")
    n = Notifier(clocked_store, [], timeout=1.0)
    await n.dispatch_once()
    assert outbox(clocked_store) == [("U-1", OutboxStatus.FAILED, 1)]


async def test_run_loop_delivers_and_stops(store: Store, subscriber: FakeSubscriber) -> None:
    n = notifier(store, subscriber.port)
    task = asyncio.create_task(n.run())
    await asyncio.sleep(0.1)
    p = await asyncio.to_thread(enqueue, store, control_id="LIVE-1")
    n.wake()
    for _ in range(100):
        if subscriber.ids_of(p):
            break
        await asyncio.sleep(0.05)
    n.stop()
    await asyncio.wait_for(task, 5)
    assert subscriber.ids_of(p) == ["LIVE-1"]
    for _ in range(20):  # the ACK is recorded right after the answer arrives
        if outbox(store)[0][1] is OutboxStatus.ACKED:
            break
        await asyncio.sleep(0.05)
    assert outbox(store) == [("LIVE-1", OutboxStatus.ACKED, 1)]


async def test_outbox_updates_take_the_shared_write_lock(
    clocked_store: Store, subscriber: FakeSubscriber
) -> None:
    import threading

    lock = threading.Lock()
    enqueue(clocked_store, control_id="L-1")
    n = notifier(clocked_store, subscriber.port, write_lock=lock)
    lock.acquire()
    try:
        task = asyncio.create_task(n.dispatch_once())
        for _ in range(100):
            if subscriber.received:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert subscriber.received  # sent, but the ACK cannot be recorded yet
        assert not task.done()
        assert outbox(clocked_store) == [("L-1", OutboxStatus.PENDING, 0)]
    finally:
        lock.release()
    assert await asyncio.wait_for(task, 5) == 1
    await n.close()
    assert outbox(clocked_store) == [("L-1", OutboxStatus.ACKED, 1)]


async def test_a_polls_outcomes_are_recorded_in_one_transaction(
    clocked_store: Store, subscriber: FakeSubscriber
) -> None:
    """Under a feed the notifier waits for the writers' lock before each transaction: a poll's
    ACKs are recorded together, not one transaction (one wait) each."""
    import threading

    class CountingLock:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.taken = 0

        def __enter__(self) -> None:
            self.lock.acquire()
            self.taken += 1

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    for k in range(12):
        enqueue(clocked_store, control_id=f"B-{k}")
    lock = CountingLock()
    n = notifier(clocked_store, subscriber.port, write_lock=lock)
    assert await n.dispatch_once() == 12
    await n.close()
    assert lock.taken == 1
    assert {s for _, s, _ in outbox(clocked_store)} == {OutboxStatus.ACKED}
    assert n.stats.acked == 12


async def test_an_outcome_finished_elsewhere_does_not_spoil_the_others(
    clocked_store: Store, subscriber: FakeSubscriber
) -> None:
    """A second notifier (another process) recorded one of the poll's messages first: the
    others are still recorded."""
    for k in range(3):
        enqueue(clocked_store, control_id=f"S-{k}")
    n = notifier(clocked_store, subscriber.port)
    original = n._deliver

    async def deliver_then_finish_one_elsewhere(system, messages):  # type: ignore[no-untyped-def]
        await original(system, messages)
        clocked_store.run(lambda uow: uow.outbox.mark_acked(messages[1].id))

    n._deliver = deliver_then_finish_one_elsewhere  # type: ignore[method-assign]
    assert await n.dispatch_once() == 3
    await n.close()
    assert [s for _, s, _ in outbox(clocked_store)] == [OutboxStatus.ACKED] * 3
