"""Group commit for the ITI-8 feed: many messages, one transaction, each in its own savepoint.

A writer thread takes every feed message waiting in its queue (up to
``max_batch``), applies them in arrival order inside ONE unit of work, each in
its own SAVEPOINT, commits once and only then answers them all (an AA is never
sent before its commit). While a batch is being written, the next one queues
up, so the batch size follows the load by itself: one message when traffic is
light, dozens under a burst from many connections.

A message whose ``apply`` raises has its savepoint rolled back (the others keep
their changes) and is sent, after the batch commit, through the handler's
normal one-message path (``handle``: its own transaction, retries, error
mapping, replay of duplicates), which gives it the precise AE/AR answer; the
messages after it wait for it, so arrival order is kept. If the batch's
transaction fails (the commit, a savepoint that cannot be rolled back), every
message of it takes that path, in order.

A handler with ``apply_run`` (the feed: :mod:`mpi.service.feed_batch`) first takes
as many leading messages of the batch as it can decide together, in their own
savepoint; the message after them goes through ``apply``, then ``apply_run``
again with the rest. If a run fails, its savepoint is rolled back and its
messages go through ``apply`` one by one.

When it pays (``benchmarks/feed_bench.py``, 1M persons, Dec 2026): a message
decided alone costs ~12 ms of Python, most of it per-statement and per-candidate
overhead; decided in runs, ~7 ms at the batch sizes 8 connections produce
(85 -> ~140 msg/s). ``mpi serve`` turns it on (``--feed-batch 64``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from hl7.messages import Request
from mpi.store import Store, UnitOfWork
from mpi.store.writer_lock import WriteLock

__all__ = ["BatchApplier", "GroupCommitHandler", "GroupCommitStats", "RunApplier"]

log = logging.getLogger(__name__)


class BatchApplier(Protocol):
    """A feed handler that can also work inside someone else's unit of work."""

    def apply(self, uow: UnitOfWork, request: Request, raw: bytes) -> bytes:
        """Process the message in ``uow`` without committing; raise on any failure."""
        ...

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Process the message in a transaction of its own; never raise."""
        ...


class RunApplier(BatchApplier, Protocol):
    """A batch applier that can also take several messages together (optional)."""

    def apply_run(self, uow: UnitOfWork, items: Sequence[tuple[Request, bytes]]) -> list[bytes]:
        """Process as many leading messages of ``items`` together as it can, in ``uow``
        without committing; return their answers (none: the first goes through ``apply``).
        Raise on any failure (then they go through ``apply``, one by one)."""
        ...


@dataclass(slots=True)
class GroupCommitStats:
    """Counters since start (read by benchmarks and tests)."""

    batches: int = 0
    messages: int = 0
    largest_batch: int = 0
    fallbacks: int = 0
    failed_batches: int = 0
    runs: int = 0
    run_messages: int = 0
    failed_runs: int = 0
    busy_seconds: float = 0.0


@dataclass(eq=False, slots=True)
class _Item:
    request: Request
    raw: bytes
    future: Future[bytes] = field(default_factory=Future)


_STOP = None


class GroupCommitHandler:
    """A :class:`~mpi.mllp.MessageHandler` that batches feed messages into shared commits.

    Args:
        handler: does the work (``apply`` in a batch, ``handle`` alone).
        store: where the batch's unit of work comes from.
        max_batch: the most messages in one transaction.
        write_lock: held around each batch and each single-message fallback
            (SQLite: shared with the other writers of the process).
    """

    def __init__(
        self,
        handler: BatchApplier,
        store: Store,
        *,
        max_batch: int = 64,
        write_lock: WriteLock | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: {max_batch!r} must be at least 1")
        self.handler = handler
        self.store = store
        self.max_batch = max_batch
        self.stats = GroupCommitStats()
        self._write_lock: WriteLock = write_lock or threading.Lock()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="feed-writer", daemon=True)
        self._thread.start()

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Queue the message and wait for its answer (after the commit of its batch)."""
        return self.submit(request, raw).result()

    def submit(self, request: Request, raw: bytes) -> Future[bytes]:
        """Queue the message; its answer comes in the future (after the commit of its batch).

        Raises:
            RuntimeError: the writer is closed.
        """
        if self._closed:
            raise RuntimeError("the feed writer is closed")
        item = _Item(request, raw)
        self._queue.put(item)
        return item.future

    def close(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        st = self.stats
        log.info(
            "feed writer: %d messages in %d transactions (largest %d): %d decided in %d runs, "
            "%d one by one in a batch, %d alone after a failure; busy %.1f s",
            st.messages,
            st.batches,
            st.largest_batch,
            st.run_messages,
            st.runs,
            st.messages - st.run_messages - st.fallbacks,
            st.fallbacks,
            st.busy_seconds,
        )

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            started = time.perf_counter()
            try:
                self._process(batch)
            except BaseException as e:  # never leave a caller waiting forever
                log.exception("feed writer: batch of %d failed unexpectedly", len(batch))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
            self.stats.busy_seconds += time.perf_counter() - started

    def _process(self, batch: list[_Item]) -> None:
        self.stats.batches += 1
        self.stats.messages += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        pending = batch
        while pending:
            answers = self._apply_prefix(pending)
            if answers is None:  # the transaction failed: everything goes one by one, in order
                self.stats.failed_batches += 1
                for item in pending:
                    self._alone(item)
                return
            for item, answer in zip(pending, answers, strict=False):
                item.future.set_result(answer)
            if len(answers) == len(pending):
                return
            # The message after the committed prefix failed: it goes alone before the rest,
            # so that arrival order is kept (an A08 never overtakes its A01).
            self._alone(pending[len(answers)])
            pending = pending[len(answers) + 1 :]

    def _alone(self, item: _Item) -> None:
        self.stats.fallbacks += 1
        try:
            with self._write_lock:
                answer = self.handler.handle(item.request, item.raw)
        except Exception as e:
            item.future.set_exception(e)
            return
        item.future.set_result(answer)

    def _take_run(self, uow: UnitOfWork, batch: list[_Item]) -> list[bytes] | None:
        """The answers of the leading messages the handler takes together (in a savepoint);
        ``None`` when the run failed (rolled back)."""
        apply_run = getattr(self.handler, "apply_run", None)
        if apply_run is None:
            return []
        savepoint = uow.session.begin_nested()
        try:
            answers = list(apply_run(uow, [(i.request, i.raw) for i in batch]))
        except Exception as e:
            savepoint.rollback()
            self.stats.failed_runs += 1
            log.warning("feed writer: a run of %d goes one by one (%s)", len(batch), e)
            return None
        savepoint.commit()
        self.stats.runs += 1
        self.stats.run_messages += len(answers)
        return answers

    def _apply_prefix(self, batch: list[_Item]) -> list[bytes] | None:
        """Apply messages in order until one fails; commit those before it and return their answers.

        Returns:
            The answers of the committed prefix (all of ``batch`` when nothing failed), or
            ``None`` when the transaction itself failed (nothing was committed).
        """
        answers: list[bytes] = []
        try:
            with self._write_lock, self.store.unit_of_work() as uow:
                runs = True
                while len(answers) < len(batch):
                    taken = self._take_run(uow, batch[len(answers) :]) if runs else []
                    if taken is None:  # the run failed: the rest go one by one
                        runs, taken = False, []
                    answers += taken
                    if len(answers) == len(batch):
                        break
                    item = batch[len(answers)]
                    savepoint = uow.session.begin_nested()
                    try:
                        answer = self.handler.apply(uow, item.request, item.raw)
                    except Exception as e:
                        savepoint.rollback()
                        log.debug("feed writer: a message goes alone (%s)", e)
                        break
                    savepoint.commit()
                    answers.append(answer)
                uow.commit()
        except Exception:
            log.warning(
                "feed writer: a batch of %d failed; its messages go one by one",
                len(batch),
                exc_info=True,
            )
            return None
        return answers
