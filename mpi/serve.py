"""``mpi serve``: the MLLP listener, the ITI-10 notifier and the HTTP API in one asyncio loop.

One process, one event loop:

* :class:`~mpi.mllp.MllpServer` answers ITI-8/9/21 through a
  :class:`~mpi.mllp.Router` whose handlers (synchronous, database-bound) run
  in a bounded thread pool;
* :class:`~mpi.notify.Notifier` delivers the ITI-10 outbox;
* uvicorn serves the HTTP app (``mpi.api.create_app(context)``) inside the same loop.

The feed's group-commit writer (ITI-8 decisions and commits, most of the work under a
feed) runs beside it in a child process of its own (:class:`~mpi.feed_writer.
FeedWriterProcess`, ``ServeOptions.feed_process``; ``mpi serve`` turns it on), on the
second core; the router hands it each valid feed message and relays its answer.

Start-up opens and migrates the database (:func:`mpi.service.context.open_context`)
before anything listens. On first start with no ``[[api.token]]`` configured
an admin token is created, stored and printed once. SIGINT or SIGTERM stop
accepting, let in-flight messages finish, stop the feed writer process, then the
process exits with 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import uvicorn

from mpi.api import create_app
from mpi.domain import Role
from mpi.feed_writer import FeedWriterProcess, build_feed_writer
from mpi.mllp import MessageHandler, MllpServer, Router, SerializedHandler, ServerIdentity
from mpi.mllp.group_commit import GroupCommitHandler
from mpi.notify import Notifier
from mpi.runtime import tune_garbage_collector
from mpi.service.context import ServiceContext, open_context
from mpi.service.feed import FeedHandler
from mpi.service.query_handlers import PdqQueryHandler, PixQueryHandler
from mpi.settings import Settings
from mpi.store import UnitOfWork
from mpi.store.checkpoint import WalCheckpointer
from mpi.store.writer_lock import WriteLock, WriterLock, writer_lock_for

__all__ = ["Serve", "ServeOptions", "build_router", "ensure_admin_token", "run_server"]

T = TypeVar("T")
log = logging.getLogger(__name__)


FEED_MAX_BATCH = 64
"""ITI-8 messages decided and committed together at most (measured with
``benchmarks/feed_bench.py`` at 1M persons, 8 connections: 85 -> ~140 msg/s)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where and how ``mpi serve`` listens.

    Attributes:
        host: interface for both listeners.
        mllp_port: MLLP port (0: any free port).
        http_port: HTTP port (0: any free port).
        workers: threads running the message handlers.
        notify_interval: seconds between ITI-10 outbox polls when idle.
        grace: seconds to let in-flight messages finish on shutdown.
        feed_max_batch: ITI-8 messages per group commit (default 64; 0: one transaction
            each). See :mod:`mpi.mllp.group_commit` and :mod:`mpi.service.feed_batch`.
        feed_process: run the group-commit writer in a process of its own
            (:class:`~mpi.feed_writer.FeedWriterProcess`; ``mpi serve`` does, on a
            database another process can open: not an in-memory SQLite one).
    """

    host: str = "127.0.0.1"
    mllp_port: int = 2575
    http_port: int = 8080
    workers: int = 16
    notify_interval: float = 0.5
    grace: float = 10.0
    feed_max_batch: int = FEED_MAX_BATCH
    feed_process: bool = False


# -- wiring --------------------------------------------------------------------------------------


def build_router(
    context: ServiceContext,
    write_lock: WriteLock | None = None,
    *,
    feed_max_batch: int = 0,
    feed: MessageHandler | None = None,
) -> tuple[Router, GroupCommitHandler | None]:
    """The router with the feed (ITI-8), PIX (ITI-9) and PDQ (ITI-21) handlers.

    Args:
        context: the service context.
        write_lock: the writers' lock (SQLite: :func:`~mpi.store.writer_lock.writer_lock_for`),
            or ``None``.
        feed_max_batch: feed messages per group commit; 0 turns group commit off
            (one transaction per message, serialised on ``write_lock`` if given).
        feed: the feed handler to use instead (:class:`~mpi.feed_writer.FeedWriterProcess`);
            ``feed_max_batch`` is then not used.

    Returns:
        The router, and the group-commit writer to close on shutdown (if any).
    """
    group = None
    if feed is None:
        handler = FeedHandler(context)
        if feed_max_batch > 0:
            group = build_feed_writer(context, feed_max_batch, write_lock, handler)
            feed = group
        elif write_lock is not None:
            feed = SerializedHandler(handler, write_lock)
        else:
            feed = handler
    server = context.settings.server
    router = Router(
        ServerIdentity(server.receiving_application, server.receiving_facility),
        feed=feed,
        pix=PixQueryHandler(context),
        pdq=PdqQueryHandler(context),
    )
    return router, group


def ensure_admin_token(context: ServiceContext) -> str | None:
    """On first start with no tokens at all, create an admin token and return it (else ``None``).

    "No tokens" means none in ``[[api.token]]`` and none stored (``uow.tokens``);
    the token is stored as a digest only, so this is the one chance to show it.
    """
    if context.settings.api.tokens:
        return None

    def work(uow: UnitOfWork) -> str | None:
        if uow.tokens.count() > 0:
            return None
        return uow.tokens.create("admin", Role.ADMIN)

    return context.store.run(work)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: the process, not uvicorn, owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# -- the process ---------------------------------------------------------------------------------


class Serve:
    """The three services of one ``mpi serve`` process, started and stopped together.

    Args:
        context: the open service context (store migrated).
        options: ports and limits.
        app: the HTTP app (default: :func:`mpi.api.create_app`).
    """

    def __init__(self, context: ServiceContext, options: ServeOptions, *, app: Any = None) -> None:
        self.context = context
        self.options = options
        settings = context.settings
        # SQLite has one writer at a time: the feed and the notifier take turns on one lock
        # instead of racing for BEGIN IMMEDIATE (SQLite's busy handler sleeps, the tail grows,
        # a writer that begins again at once starves the others); across processes too.
        write_lock = writer_lock_for(context.store.engine.url.render_as_string(False))
        self.feed_writer: GroupCommitHandler | FeedWriterProcess | None = None
        # Another process can open the database unless it is an in-memory SQLite one (whose
        # writers share a plain thread lock).
        shareable = write_lock is None or isinstance(write_lock, WriterLock)
        if options.feed_process and options.feed_max_batch > 0 and shareable:
            self.feed_writer = FeedWriterProcess(
                settings,
                max_batch=options.feed_max_batch,
                checkpointed=WalCheckpointer.applies_to(context.store.engine),
                write_lock=write_lock if isinstance(write_lock, WriterLock) else None,
            )
            router, _ = build_router(context, write_lock, feed=self.feed_writer)
        else:
            router, self.feed_writer = build_router(
                context, write_lock, feed_max_batch=options.feed_max_batch
            )
        self.mllp = MllpServer(
            router,
            options.host,
            options.mllp_port,
            max_message_bytes=settings.mllp.max_message_bytes,
            idle_timeout=settings.mllp.idle_timeout_seconds,
            workers=options.workers,
            grace=options.grace,
        )
        self.checkpointer = WalCheckpointer(context.store.engine)
        self.notifier = Notifier(
            context.store,
            settings.subscribers,
            poll_interval=options.notify_interval,
            write_lock=write_lock,
        )
        config = uvicorn.Config(
            app
            if app is not None
            else create_app(
                context,
                feed=self.feed_writer if isinstance(self.feed_writer, FeedWriterProcess) else None,
            ),
            host=options.host,
            port=options.http_port,
            log_level="warning",
            access_log=False,
            lifespan="auto",
        )
        self.http = _EmbeddedUvicorn(config)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def http_port(self) -> int:
        """The HTTP port actually listened on (after :meth:`start`)."""
        for server in getattr(self.http, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.options.http_port

    async def start(self) -> None:
        """Listen on both ports and start the notifier.

        Raises:
            OSError: a port cannot be bound.
        """
        self.checkpointer.start()
        try:
            await self.mllp.start()
        except OSError:
            await self.stop()  # the feed writer (a process of its own) and the checkpointer
            raise
        http_task = asyncio.create_task(self._serve_http(), name="http")
        self._tasks = [http_task, asyncio.create_task(self.notifier.run(), name="notifier")]
        while not self.http.started:
            if http_task.done():
                await self.stop()
                raise OSError(
                    f"HTTP: cannot listen on {self.options.host}:{self.options.http_port}"
                )
            await asyncio.sleep(0.02)

    async def _serve_http(self) -> None:
        try:
            await self.http.serve()
        except SystemExit as e:  # uvicorn exits when it cannot bind
            log.error("HTTP server stopped during start-up (exit %s)", e.code)

    async def stop(self) -> None:
        """Stop accepting, finish in-flight messages, stop the notifier and the HTTP server."""
        self.http.should_exit = True
        self.notifier.stop()
        await self.mllp.close()
        if self.feed_writer is not None:
            await asyncio.to_thread(self.feed_writer.close)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.checkpointer.stop)

    async def run(
        self, stop: asyncio.Event, *, ready: Callable[[Serve], None] | None = None
    ) -> None:
        """Start, call ``ready``, serve until ``stop`` is set, then stop cleanly."""
        await self.start()
        try:
            if ready is not None:
                ready(self)
            await stop.wait()
        finally:
            await self.stop()


def run_server(
    settings: Settings, options: ServeOptions, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Open the index, then serve until SIGINT/SIGTERM; return the exit code.

    Args:
        settings: the configuration (``database.url`` included).
        options: ports and limits.
        out: where the first-start admin token is printed.
        err: where start-up and shutdown lines go.

    Returns:
        0 after a clean shutdown, 1 when a port cannot be bound.
    """
    url = settings.database.url
    context = open_context(settings)
    try:
        token = ensure_admin_token(context)
        if token is not None:
            print(f"Created the first admin API token (shown only once): {token}", file=out)
            out.flush()
        if settings.accepts_any_domain:
            log.warning("no [[domain]] configured: every identity domain is accepted as first seen")
        tune_garbage_collector()
        return run_event_loop(_serve_until_signal(context, options, url, err))
    finally:
        context.store.dispose()


async def _serve_until_signal(
    context: ServiceContext, options: ServeOptions, url: str, err: TextIO
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve = Serve(context, options)

    def ready(s: Serve) -> None:
        shown = _safe_url(url)
        print(
            f"mpi serve: MLLP on {options.host}:{s.mllp.port}, "
            f"HTTP on http://{options.host}:{s.http_port} (database {shown}); "
            "SIGINT/SIGTERM to stop",
            file=err,
            flush=True,
        )

    try:
        await serve.run(stop, ready=ready)
    except OSError as e:
        print(f"mpi serve: {e}", file=err, flush=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("mpi serve: stopped", file=err, flush=True)
    return 0


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop where it is installed (Linux and macOS:
    its loop and socket handling cost a fraction of the pure-Python ones), else on
    asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
