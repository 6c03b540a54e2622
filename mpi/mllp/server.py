"""The asyncio MLLP listener: many connections, frames in, answers out, in order.

Each connection reads bytes into an :class:`hl7.mllp.FrameDecoder` (bytes before a
start block are discarded, frames are reassembled across reads and split when
several arrive in one read) and answers every frame in wire order. Routing runs
in a bounded thread pool so that a slow handler (a database write) never blocks
the event loop; different connections are served at the same time.

What never kills a connection or the listener: a frame that does not decode, a
handler that raises, an oversize frame (answered AR when its header is
readable, else dropped; the connection carries on with the next frame), a
frame without an end block (answered when the next start block or the idle
timeout shows it is incomplete). A connection silent for
``idle_timeout`` seconds is closed.

Shutdown (:meth:`MllpServer.close`): stop accepting, close idle connections at
once, let busy ones finish the frames they already received and write the
answers, then close them; whatever is still running after ``grace`` seconds is
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from hl7.errors import FramingError
from hl7.mllp import DEFAULT_MAX_SIZE, FrameDecoder, FrameEvent, frame
from mpi.mllp.router import Router

__all__ = ["MllpServer", "ServerStats"]

log = logging.getLogger(__name__)

_READ_SIZE = 65536


@dataclass(slots=True)
class ServerStats:
    """Counters since the server started (read them from the event loop's thread).

    Attributes:
        connections: connections accepted.
        open_connections: connections open now.
        messages: frames answered or dropped (framing errors included).
        framing_errors: oversize, incomplete or badly ended frames.
        dropped: frames that got no answer (no readable header).
        internal_errors: routing failures answered (or dropped) as a last resort.
    """

    connections: int = 0
    open_connections: int = 0
    messages: int = 0
    framing_errors: int = 0
    dropped: int = 0
    internal_errors: int = 0


@dataclass(eq=False, slots=True)
class _Connection:
    task: asyncio.Task[None]
    peer: str
    busy: bool = False
    closing: bool = field(default=False)


class MllpServer:
    """An MLLP listener answering through a :class:`~mpi.mllp.router.Router`.

    Args:
        router: turns a payload into its answer (called in worker threads), or
            any callable with :meth:`Router.route`'s shape plus
            ``route_framing_error`` and ``route_internal_error``.
        host: interface to listen on.
        port: TCP port (0: any free port; see :attr:`port` after :meth:`start`).
        max_message_bytes: the largest frame payload accepted.
        idle_timeout: seconds without a byte after which a connection is
            closed (``None`` or 0: never).
        workers: threads that run the router (ignored when ``executor`` is given).
        executor: run the router here instead of a pool of our own.
        grace: seconds :meth:`close` waits for busy connections before cancelling them.
    """

    def __init__(
        self,
        router: Router,
        host: str = "127.0.0.1",
        port: int = 2575,
        *,
        max_message_bytes: int = DEFAULT_MAX_SIZE,
        idle_timeout: float | None = 300.0,
        workers: int = 8,
        executor: Executor | None = None,
        grace: float = 10.0,
    ) -> None:
        self.router = router
        self.host = host
        self._port = port
        self.max_message_bytes = max_message_bytes
        self.idle_timeout = idle_timeout or None
        self.grace = grace
        self.stats = ServerStats()
        self._own_executor = executor is None
        self._executor: Executor = executor or ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="mllp-worker"
        )
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def port(self) -> int:
        """The port actually listened on (after :meth:`start`)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self.handle_connection, self.host, self._port, limit=_READ_SIZE
        )
        log.info("MLLP listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        """Start if needed and run until :meth:`close` has finished."""
        if self._server is None:
            await self.start()
        await self._closed.wait()

    async def close(self) -> None:
        """Stop accepting, finish in-flight messages, close every connection."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.closing = True
            if not conn.busy:
                conn.task.cancel()
        tasks = [c.task for c in self._connections]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._server is not None:
            await self._server.wait_closed()
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._closed.set()
        log.info("MLLP listener closed")

    async def __aenter__(self) -> MllpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- one connection ----------------------------------------------------------------------------

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one connection until EOF, idle timeout or shutdown (the listener calls this)."""
        task = asyncio.current_task()
        assert task is not None
        peer = _peer(writer)
        if self._closing:
            writer.close()
            return
        conn = _Connection(task, peer)
        self._connections.add(conn)
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            await self._serve_connection(conn, reader, writer)
        except asyncio.CancelledError:
            pass  # shutdown or grace period over: just close
        except (ConnectionError, OSError) as e:
            log.debug("MLLP %s: connection lost (%s)", peer, e)
        except Exception:  # never let one connection take the listener down
            log.exception("MLLP %s: connection failed", peer)
        finally:
            self._connections.discard(conn)
            self.stats.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve_connection(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = FrameDecoder(self.max_message_bytes)
        while not conn.closing:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                log.info("MLLP %s: idle for %.0f s, closing", conn.peer, self.idle_timeout)
                data = b""
            conn.busy = True
            events = decoder.feed(data) if data else decoder.close()
            for event in events:
                answer = await self._answer(event, conn.peer)
                if answer is not None:
                    writer.write(frame(answer))
                    await writer.drain()
            conn.busy = False
            if not data:
                return

    async def _answer(self, event: FrameEvent, peer: str) -> bytes | None:
        self.stats.messages += 1
        answer: bytes | None = None
        if isinstance(event, FramingError):
            self.stats.framing_errors += 1
            log.warning("MLLP %s: %s", peer, event)
            try:
                answer = await self._in_worker(self.router.route_framing_error, event)
            except Exception:
                self.stats.internal_errors += 1
                log.exception("MLLP %s: could not answer a framing error; frame dropped", peer)
        else:
            try:
                answer = await self._in_worker(self.router.route, event)
            except Exception as e:
                self.stats.internal_errors += 1
                log.exception("MLLP %s: routing failed", peer)
                answer = await self._last_resort(event, e)
        if answer is None:
            self.stats.dropped += 1
        return answer

    async def _last_resort(self, payload: bytes, error: Exception) -> bytes | None:
        try:
            return await self._in_worker(self.router.route_internal_error, payload, error)
        except Exception:
            log.exception("MLLP: could not even answer the failure; frame dropped")
            return None

    async def _in_worker(self, fn: Callable[..., bytes | None], *args: object) -> bytes | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)
