"""The ITI-10 notifier: deliver the outbox's ``ADT^A31`` messages to their subscribers.

The services queue notifications in the outbox inside the transaction of the
change (:func:`mpi.service.notifications.queue_xref_change`); this task polls
:meth:`~mpi.store.outbox.OutboxRepository.due`, sends each message over MLLP to
its subscriber (``[[subscriber]]`` host and port) and records the outcome:

* ``AA`` (or ``CA``) with MSA-2 = the message's MSH-10: ``mark_acked``;
* ``AE``: the subscriber refused the content; sending it again cannot help:
  ``mark_failed`` without a retry (the person's later messages then go on);
* ``AR``: refused whatever the content (e.g. the subscriber is down for
  maintenance): retried with backoff, and given up after
  :attr:`RetryPolicy.rejected_attempts` attempts;
* connection refused, timeout, dropped connection, malformed or mismatched
  answer: ``mark_failed`` with a retry time, exponential backoff without a
  limit on attempts (the subscriber will come back).

Order: the repository only offers the oldest unfinished message per subscriber
and person, so a person's updates arrive in order. Restarts lose nothing: the
state lives in the outbox table, and a message stays ``pending`` until its ACK
is recorded (so a crash between sending and recording sends it again:
at-least-once delivery, as MLLP original mode implies).

The outcomes of one poll (up to ``batch_size`` messages) are recorded together, in one
transaction, after the poll's messages were sent: a SQLite index has one writer at a
time, and under a sustained feed the notifier waits for the feed writer's turn before
each transaction (~30 ms at 1M persons). Recorded one by one, ~30 notifications a
second got through while the feed registered ~250 records a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hl7.codec import decode
from hl7.errors import Hl7Error
from hl7.messages import peek_header
from mpi.domain import OutboxMessage, SourceSystem
from mpi.errors import InvalidState, NotFound
from mpi.notify.client import SubscriberConnection, TransportError
from mpi.settings import SubscriberSettings
from mpi.store import Store, UnitOfWork
from mpi.store.writer_lock import WriteLock

__all__ = ["DispatchStats", "Notifier", "RetryPolicy"]

log = logging.getLogger(__name__)

Connect = Callable[[SubscriberSettings], SubscriberConnection]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again after a failed attempt.

    Attributes:
        base: seconds to wait after the first failed attempt.
        factor: the wait grows by this factor per further attempt.
        maximum: the wait never exceeds this many seconds.
        rejected_attempts: attempts in all for a message the subscriber answers AR.
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    rejected_attempts: int = 5

    def delay(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed attempts (1 for the first)."""
        exponent = max(0, attempts - 1)
        # Capping the exponent first keeps huge attempt counts from overflowing.
        return min(self.maximum, self.base * self.factor ** min(exponent, 64))


@dataclass(slots=True)
class DispatchStats:
    """Counters since the notifier started."""

    acked: int = 0
    rejected: int = 0
    retried: int = 0
    given_up: int = 0


class Notifier:
    """Polls the outbox and delivers due messages; see the module docstring.

    Args:
        store: the index database (its outbox).
        subscribers: the configured ``[[subscriber]]`` entries.
        poll_interval: seconds between polls when nothing was due.
        batch_size: messages read per poll.
        timeout: seconds for connecting and for each message's answer.
        retry: the backoff policy.
        clock: the current time (default: the store's clock).
        connect: makes the connection to a subscriber (tests may pass a double).
        write_lock: taken around every outbox update, shared with the other writers
            of the process on SQLite (one writer at a time, no busy-waiting).
    """

    def __init__(
        self,
        store: Store,
        subscribers: Sequence[SubscriberSettings],
        *,
        poll_interval: float = 0.5,
        batch_size: int = 100,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        connect: Connect | None = None,
        write_lock: WriteLock | None = None,
    ) -> None:
        self.store = store
        self.subscribers = {s.system: s for s in subscribers}
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.clock = clock or store.clock
        self.stats = DispatchStats()
        self._connect = connect or self._default_connect
        self._write_lock = write_lock
        self._connections: dict[SourceSystem, SubscriberConnection] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._outcomes: list[Callable[[UnitOfWork], object]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until :meth:`stop`; a failing poll is logged and tried again later."""
        try:
            while not self._stopping:
                try:
                    handled = await self.dispatch_once()
                except Exception:
                    log.exception("ITI-10: outbox poll failed; trying again")
                    handled = 0
                if handled == 0 and not self._stopping:
                    await self._sleep()
        finally:
            await self.close()

    def wake(self) -> None:
        """Poll now instead of at the end of the interval (call from the event loop)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to finish after the messages in flight."""
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        """Close every subscriber connection."""
        connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            await conn.close()

    async def _sleep(self) -> None:
        try:
            async with asyncio.timeout(self.poll_interval):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    # -- one poll ----------------------------------------------------------------------------------

    async def dispatch_once(self) -> int:
        """Send every message due now, at most ``batch_size``; return how many were handled."""
        due = await asyncio.to_thread(self._due)
        if not due:
            return 0
        by_subscriber: dict[SourceSystem, list[OutboxMessage]] = defaultdict(list)
        for message in due:
            by_subscriber[message.subscriber].append(message)
        try:
            await asyncio.gather(
                *(self._deliver(sub, messages) for sub, messages in by_subscriber.items())
            )
        finally:
            outcomes, self._outcomes = self._outcomes, []
            if outcomes:
                await asyncio.to_thread(self._run_locked, _recording(outcomes))
        return len(due)

    def _due(self) -> list[OutboxMessage]:
        with self.store.unit_of_work(readonly=True) as uow:
            return uow.outbox.due(now=self.clock(), limit=self.batch_size)

    async def _deliver(self, system: SourceSystem, messages: list[OutboxMessage]) -> None:
        settings = self.subscribers.get(system)
        if settings is None:
            for m in messages:
                self._give_up(
                    m,
                    f"subscriber {system.application}^{system.facility} is no longer configured",
                )
            return
        conn = self._connections.get(system)
        if conn is None:
            conn = self._connections[system] = self._connect(settings)
        for n, message in enumerate(messages):
            try:
                answer = await conn.ask(message.payload)
            except TransportError as e:
                # The subscriber is unreachable: every message of this batch waits.
                for m in messages[n:]:
                    self._retry(m, str(e))
                return
            self._record(message, answer)

    def _default_connect(self, settings: SubscriberSettings) -> SubscriberConnection:
        return SubscriberConnection(settings.host, settings.port, timeout=self.timeout)

    # -- outcomes ----------------------------------------------------------------------------------

    def _record(self, message: OutboxMessage, answer: bytes) -> None:
        try:
            code, control_id, text = _read_ack(answer)
        except Hl7Error as e:
            self._retry(message, f"unreadable acknowledgement: {e}")
            return
        sent = peek_header(message.payload)
        expected = sent.control_id if sent is not None else ""
        if control_id != expected:
            self._retry(
                message, f"acknowledgement MSA-2 {control_id!r} does not match MSH-10 {expected!r}"
            )
            return
        if code in ("AA", "CA"):
            self.stats.acked += 1
            self._mark(lambda uow: uow.outbox.mark_acked(message.id))
        elif code in ("AE", "CE"):
            self.stats.rejected += 1
            self._give_up(message, f"subscriber answered {code}: {text}".rstrip(": "))
        elif code in ("AR", "CR") and message.attempts + 1 < self.retry.rejected_attempts:
            self._retry(message, f"subscriber answered {code}: {text}".rstrip(": "))
        else:
            self._give_up(message, f"subscriber answered {code!r}: {text}".rstrip(": "))

    def _retry(self, message: OutboxMessage, error: str) -> None:
        self.stats.retried += 1
        wait = self.retry.delay(message.attempts + 1)
        retry_at = self.clock() + timedelta(seconds=wait)
        log.warning(
            "ITI-10 message %d (person %s) to %s^%s failed (attempt %d): %s; retry in %.0f s",
            message.id,
            message.enterprise_id,
            message.subscriber.application,
            message.subscriber.facility,
            message.attempts + 1,
            error,
            wait,
        )
        self._mark(lambda uow: uow.outbox.mark_failed(message.id, error, retry_at=retry_at))

    def _give_up(self, message: OutboxMessage, error: str) -> None:
        self.stats.given_up += 1
        log.error(
            "ITI-10 message %d (person %s) to %s^%s given up: %s",
            message.id,
            message.enterprise_id,
            message.subscriber.application,
            message.subscriber.facility,
            error,
        )
        self._mark(lambda uow: uow.outbox.mark_failed(message.id, error, retry_at=None))

    def _run_locked(self, work: Callable[..., object]) -> None:
        if self._write_lock is None:
            self.store.run(work)
            return
        with self._write_lock:
            self.store.run(work)

    def _mark(self, work: Callable[[UnitOfWork], object]) -> None:
        """Record an outcome with the poll's others, in one transaction at the poll's end."""
        self._outcomes.append(work)


def _recording(outcomes: Sequence[Callable[[UnitOfWork], object]]) -> Callable[[UnitOfWork], None]:
    """One transaction's work: every outcome, each on its own (one already finished by another
    notifier, a second process, is skipped: nothing to do)."""

    def work(uow: UnitOfWork) -> None:
        for outcome in outcomes:
            try:
                outcome(uow)
            except (InvalidState, NotFound) as e:
                log.info("ITI-10: %s", e)

    return work


def _read_ack(answer: bytes) -> tuple[str, str, str]:
    """MSA-1, MSA-2 and the error text (MSA-3 or ERR) of an acknowledgement."""
    message = decode(answer)
    msa = message.segment("MSA")
    if msa is None:
        raise Hl7Error("MSA", None, "segment is required in an acknowledgement")
    text = msa.get(3)
    err = message.segment("ERR")
    if not text and err is not None:
        text = err.get(8) or err.get(3, 1, 2) or err.field(1)
    return msa.get(1).strip().upper(), msa.get(2).strip(), text
