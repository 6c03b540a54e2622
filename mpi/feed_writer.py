"""The feed's group-commit writer, in ``mpi serve``'s process or in a process of its own.

:func:`build_feed_writer` makes the writer of :mod:`mpi.mllp.group_commit` for the
ITI-8 feed (:class:`FeedApplier`: runs of new registrations through
:class:`~mpi.service.feed_batch.BatchRegistrar`, everything else through the feed
service). :class:`FeedWriterProcess` runs that writer in a child process and stands
in for it as the router's feed handler.

Why a process: one Python process runs on one core at a time, and the writer takes
most of ``mpi serve``'s time under a feed. In a process of its own it runs beside the
MLLP listener, the parsing, the queries and the HTTP API, on the second core.

What crosses the pipe (a :func:`multiprocessing.Pipe`, bytes both ways):

* parent to child: an 8-byte message number and the frame's payload as received
  (the child decodes it again: ~55 µs, less than pickling the parsed request); the
  number 0 with no payload asks the child to stop;
* child to parent: first :data:`READY` (or :data:`FAILED` and the reason), then per
  message its number, :data:`ANSWER` and the answer, or :data:`FAILED` and the reason.

The child answers a message only after the commit of its batch, as the writer does
in process: nothing is acknowledged AA before it is stored. If the child dies, the
messages it holds are answered AE (internal error, "send it again": a message it had
committed is then answered as a re-delivery, unchanged) and a new child is started;
until it is up, feed messages are answered the same way. The child ignores SIGINT (a
Ctrl-C reaches the whole process group; the parent stops the child after the listener's
in-flight messages) and exits when its pipe closes, so it never outlives ``mpi serve``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from hl7.codec import decode
from hl7.messages import PatientFeed, PatientMerge, Request, parse_request
from mpi.errors import MpiError
from mpi.mllp.group_commit import GroupCommitHandler
from mpi.runtime import configure_logging, tune_garbage_collector
from mpi.service.context import ServiceContext, open_context
from mpi.service.feed import FeedHandler
from mpi.service.feed_batch import BatchRegistrar
from mpi.settings import Settings
from mpi.store import Store, UnitOfWork
from mpi.store.checkpoint import WalCheckpointer, leave_checkpoints_to_another
from mpi.store.writer_lock import WriteLock, WriterLock

__all__ = [
    "FeedApplier",
    "FeedWriterError",
    "FeedWriterProcess",
    "build_feed_writer",
    "run_child",
]

log = logging.getLogger(__name__)

READY = b"R"
"""The child's first word: the index is open, messages may come."""
ANSWER = b"A"
"""Kind of a child's reply: the answer follows."""
FAILED = b"F"
"""Kind of a child's reply: the reason follows (UTF-8)."""
_NUMBER = 8
"""Bytes of a message number (little endian)."""
_STOP = (0).to_bytes(_NUMBER, "little")
RESTART_DELAY = 1.0
"""Seconds between a child's death and the start of the next (no busy loop if it keeps dying)."""


class FeedWriterError(MpiError):
    """The feed writer process could not answer a message (the router answers AE, ERR 207)."""


class FeedApplier:
    """The feed handler as a :class:`~mpi.mllp.group_commit.RunApplier`.

    ``apply`` is the feed's own processing inside the batch's unit of work (no
    commit, no retry); any failure is raised so that the message goes alone
    through ``handle``, which maps it to its AE/AR or replays a duplicate.
    """

    def __init__(self, handler: FeedHandler) -> None:
        self.handler = handler
        self.registrar = BatchRegistrar(handler.service)

    def apply_run(self, uow: UnitOfWork, items: Sequence[tuple[Request, bytes]]) -> list[bytes]:
        return self.registrar.apply(uow, items)

    def apply(self, uow: UnitOfWork, request: Request, raw: bytes) -> bytes:
        own = getattr(self.handler, "apply", None)
        if own is not None:
            return bytes(own(uow, request, raw))
        if not isinstance(request, PatientFeed | PatientMerge):
            raise TypeError(f"not a feed message: {type(request).__name__}")
        digest = hashlib.sha256(raw).hexdigest()
        return self.handler.service.process(uow, request, digest)[0]

    def handle(self, request: Request, raw: bytes) -> bytes:
        return self.handler.handle(request, raw)


def build_feed_writer(
    context: ServiceContext,
    max_batch: int,
    write_lock: WriteLock | None = None,
    handler: FeedHandler | None = None,
) -> GroupCommitHandler:
    """The group-commit writer of the ITI-8 feed (a writer thread starts at once).

    Args:
        context: the service context.
        max_batch: feed messages per transaction at most.
        write_lock: the writers' lock (SQLite: :func:`~mpi.store.writer_lock.writer_lock_for`),
            or ``None``.
        handler: the feed handler to use (a new one by default).
    """
    return GroupCommitHandler(
        FeedApplier(handler or FeedHandler(context)),
        context.store,
        max_batch=max_batch,
        write_lock=write_lock,
    )


class FeedWriterProcess:
    """The router's feed handler: hands each message to the writer in a child process.

    Args:
        settings: the configuration (the child opens ``settings.database.url`` itself;
            the parent has created or migrated its schema).
        max_batch: feed messages per transaction at most (the child's writer).
        start_timeout: seconds the child may take to open the index.
        checkpointed: a :class:`~mpi.store.checkpoint.WalCheckpointer` of the caller keeps
            the SQLite WAL short: the child's commits leave checkpoints to it.
        write_lock: the writers' lock the child's writer shares with the caller's writers
            (SQLite: a :class:`~mpi.store.writer_lock.WriterLock`, which works across
            processes), or ``None``.

    Raises:
        FeedWriterError: the first child did not start (its reason is in the message).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_batch: int,
        start_timeout: float = 300.0,
        checkpointed: bool = False,
        write_lock: WriterLock | None = None,
    ) -> None:
        self.settings = settings
        self.checkpointed = checkpointed
        self.write_lock = write_lock
        self.max_batch = max_batch
        self.start_timeout = start_timeout
        self.starts = 0
        self._lock = threading.Lock()
        self._pending: dict[int, Future[bytes]] = {}
        self._numbers = itertools.count(1)
        self._closed = threading.Event()
        self._conn: Connection | None = None
        self._process: Any = None
        self._spawn()
        self._reader = threading.Thread(
            target=self._supervise, name="feed-writer-answers", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` while none runs)."""
        process = self._process
        return int(process.pid) if process is not None and process.pid is not None else None

    def problem(self) -> str | None:
        """``None`` while a child takes messages, else why none does (``/health``)."""
        if self._closed.is_set():
            return "the feed writer process is stopped"
        if self._conn is None:
            return (
                "the feed writer process exited and is being restarted; ITI-8 messages are "
                "answered AE (send again) meanwhile"
            )
        return None

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Send the message to the child and wait for its answer (after its commit).

        Raises:
            FeedWriterError: no child runs, or it died before answering.
        """
        future: Future[bytes] = Future()
        with self._lock:
            conn = self._conn
            if conn is None or self._closed.is_set():
                raise FeedWriterError(
                    "the feed writer process is not running; send the message again later"
                )
            number = next(self._numbers)
            self._pending[number] = future
            try:
                conn.send_bytes(number.to_bytes(_NUMBER, "little") + raw)
            except (OSError, ValueError) as e:
                del self._pending[number]
                raise FeedWriterError(f"the feed writer process cannot be reached ({e})") from e
        return future.result()

    def close(self, timeout: float = 60.0) -> None:
        """Let the child answer what it holds, stop it, and stop watching it."""
        if self._closed.is_set():
            return
        self._closed.set()
        process = self._ask_to_stop()
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                log.error("feed writer process: did not stop in %.0f s; terminated", timeout)
                process.terminate()
                process.join(5)
        self._reader.join(timeout)

    # -- the child's life ------------------------------------------------------------------------

    def _spawn(self) -> None:
        spawner = multiprocessing.get_context("spawn")
        parent, child = spawner.Pipe(duplex=True)
        process = spawner.Process(
            target=run_child,
            args=(self.settings, child, self.max_batch, self.checkpointed, self.write_lock),
            name="mpi-feed-writer",
            daemon=True,
        )
        process.start()
        child.close()
        reason = "it exited"
        try:
            if parent.poll(self.start_timeout):
                first = parent.recv_bytes()
                if first == READY:
                    self.starts += 1
                    with self._lock:
                        self._conn, self._process = parent, process
                    log.info("feed writer process %d started", process.pid)
                    return
                reason = first[len(FAILED) :].decode("utf-8", "replace")
            else:
                reason = f"it did not open the index in {self.start_timeout:.0f} s"
        except (EOFError, OSError):
            pass
        parent.close()
        if process.is_alive():
            process.terminate()
        process.join(5)
        raise FeedWriterError(f"the feed writer process did not start: {reason}")

    def _supervise(self) -> None:
        """Deliver the child's answers; when it dies, fail what it held and start another."""
        while True:
            conn = self._conn
            if conn is not None:
                self._deliver(conn)
                self._child_gone()
            if self._closed.wait(RESTART_DELAY):
                return
            try:
                self._spawn()
            except FeedWriterError as e:
                log.error("%s; trying again", e)
                continue
            if self._closed.is_set():  # closed while this one started: stop it too
                self._ask_to_stop()

    def _ask_to_stop(self) -> Any:
        """Ask the running child (if any) to answer what it holds and exit; return its process."""
        with self._lock:
            conn, process = self._conn, self._process
            if conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    conn.send_bytes(_STOP)
        return process

    def _deliver(self, conn: Connection) -> None:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                return
            number = int.from_bytes(data[:_NUMBER], "little")
            kind, body = data[_NUMBER : _NUMBER + 1], data[_NUMBER + 1 :]
            with self._lock:
                future = self._pending.pop(number, None)
            if future is None:
                continue
            if kind == ANSWER:
                future.set_result(body)
            else:
                future.set_exception(FeedWriterError(body.decode("utf-8", "replace")))

    def _child_gone(self) -> None:
        with self._lock:
            conn, process = self._conn, self._process
            self._conn = self._process = None
            pending, self._pending = self._pending, {}
        if conn is not None:
            conn.close()
        code = None
        if process is not None:
            process.join(5)
            code = process.exitcode
        if pending or not self._closed.is_set():
            log.error(
                "feed writer process exited (code %s) holding %d messages; they are answered "
                "AE and a new one is started",
                code,
                len(pending),
            )
        for future in pending.values():
            future.set_exception(
                FeedWriterError(
                    f"the feed writer process exited (code {code}) before answering; "
                    "send the message again"
                )
            )


def run_child(
    settings: Settings,
    conn: Connection,
    max_batch: int,
    checkpointed: bool = False,
    write_lock: WriterLock | None = None,
) -> None:
    """The child process: open the index, then write the feed until told to stop.

    Answers go back from the writer thread as each batch commits; messages are read
    from the pipe by this (main) thread.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent
    configure_logging()
    try:
        store = Store.open(settings.database.url, upgrade=False)
        if checkpointed and WalCheckpointer.applies_to(store.engine):
            # The serving process checkpoints the WAL in the background: a commit here that
            # crossed SQLite's automatic checkpoint line would copy the log back itself.
            leave_checkpoints_to_another(store.engine)
        context = open_context(settings, store=store)
        writer = build_feed_writer(context, max_batch, write_lock)
    except Exception as e:  # the parent raises it: mpi serve does not start
        conn.send_bytes(FAILED + f"{type(e).__name__}: {e}".encode())
        conn.close()
        return
    tune_garbage_collector()
    sending = threading.Lock()

    def reply(number: bytes, kind: bytes, body: bytes) -> None:
        # OSError, ValueError: the parent is gone, nobody waits for the answer.
        with sending, contextlib.suppress(OSError, ValueError):
            conn.send_bytes(number + kind + body)

    def answered(number: bytes, future: Future[bytes]) -> None:
        try:
            reply(number, ANSWER, future.result())
        except Exception as e:
            reply(number, FAILED, f"{type(e).__name__}: {e}".encode())

    conn.send_bytes(READY)
    try:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                log.warning("feed writer process: the parent is gone; stopping")
                break
            if data == _STOP:
                break
            number, raw = data[:_NUMBER], data[_NUMBER:]
            try:
                future = writer.submit(parse_request(decode(raw)), raw)
            except Exception as e:  # the parent parsed it: not expected
                reply(number, FAILED, f"{type(e).__name__}: {e}".encode())
                continue
            future.add_done_callback(lambda f, n=number: answered(n, f))  # type: ignore[misc]
    finally:
        writer.close()
        store.dispose()
        conn.close()
