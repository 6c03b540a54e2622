"""MllpServer: every framing edge case on in-memory streams first, then on a real 127.0.0.1 socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from hl7.mllp import FrameDecoder, frame
from mpi.mllp import MllpServer, Router
from tests.mpi.mllp.doubles import (
    BlockingHandler,
    FailingHandler,
    RecordingHandler,
    adt,
    err_code,
    msa,
)

MAX = 4096


class MemoryWriter:
    """Collects what the server writes (an asyncio.StreamWriter stand-in)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str) -> object:
        return ("memory", 0) if name == "peername" else None

    def answers(self) -> list[bytes]:
        events = FrameDecoder().feed(bytes(self.data))
        assert all(isinstance(e, bytes) for e in events), events
        return [e for e in events if isinstance(e, bytes)]


def make_server(handler: RecordingHandler | None = None, **kwargs: object) -> MllpServer:
    options: dict[str, object] = {"max_message_bytes": MAX, "idle_timeout": 5.0}
    options.update(kwargs)
    return MllpServer(Router(feed=handler or RecordingHandler()), "127.0.0.1", 0, **options)  # type: ignore[arg-type]


async def run_memory(
    chunks: Sequence[bytes],
    handler: RecordingHandler | None = None,
    *,
    eof: bool = True,
    **kw: object,
) -> MemoryWriter:
    """Feed ``chunks`` as separate reads into one connection and collect the answers."""
    server = make_server(handler, **kw)
    reader = asyncio.StreamReader()
    writer = MemoryWriter()
    task = asyncio.create_task(server.handle_connection(reader, writer))  # type: ignore[arg-type]
    for chunk in chunks:
        reader.feed_data(chunk)
        await asyncio.sleep(0.01)  # let the server read each chunk on its own
    if eof:
        reader.feed_eof()
    await asyncio.wait_for(task, 5)
    await server.close()
    return writer


def ids(answers: list[bytes]) -> list[tuple[str, str]]:
    return [msa(a) for a in answers]


# -- in-memory streams --------------------------------------------------------------------------


async def test_memory_split_frame_is_reassembled() -> None:
    wire = frame(adt("S1"))
    writer = await run_memory([wire[i : i + 7] for i in range(0, len(wire), 7)])
    assert ids(writer.answers()) == [("AA", "S1")]
    assert writer.closed


async def test_memory_two_frames_in_one_read_answered_in_order() -> None:
    writer = await run_memory([frame(adt("T1")) + frame(adt("T2"))])
    assert ids(writer.answers()) == [("AA", "T1"), ("AA", "T2")]


async def test_memory_garbage_before_start_block_is_discarded() -> None:
    writer = await run_memory([b"\x00\xffnoise\r\n" + frame(adt("G1"))])
    assert ids(writer.answers()) == [("AA", "G1")]


async def test_memory_no_end_block_then_idle_timeout_answers_and_closes() -> None:
    handler = RecordingHandler()
    started = time.monotonic()
    writer = await run_memory([b"\x0b" + adt("NOEND")], handler, eof=False, idle_timeout=0.3)
    assert time.monotonic() - started < 3
    assert writer.closed
    # The incomplete frame is not processed, but its sender learns it was refused.
    assert not handler.calls
    assert ids(writer.answers()) == [("AR", "NOEND")]


async def test_memory_oversize_answered_ar_and_connection_usable() -> None:
    handler = RecordingHandler()
    writer = await run_memory([frame(adt("BIG", pad=MAX * 2)) + frame(adt("AFTER"))], handler)
    assert ids(writer.answers()) == [("AR", "BIG"), ("AA", "AFTER")]
    assert [r.header.control_id for r, _ in handler.calls] == ["AFTER"]


async def test_memory_handler_crash_ae_then_next_message_served() -> None:
    writer = await run_memory([frame(adt("CRASH1")), frame(adt("OK1"))], FailingHandler())
    answers = writer.answers()
    assert ids(answers) == [("AE", "CRASH1"), ("AA", "OK1")]
    assert err_code(answers[0]) == "207"


async def test_memory_router_failure_gets_last_resort_answer() -> None:
    class BrokenRouter(Router):
        def route(self, payload: bytes) -> bytes | None:
            raise RuntimeError("router bug")

    server = MllpServer(BrokenRouter(), "127.0.0.1", 0, idle_timeout=5.0)
    reader, writer = asyncio.StreamReader(), MemoryWriter()
    reader.feed_data(frame(adt("RB1")) + frame(adt("RB2")))
    reader.feed_eof()
    await server.handle_connection(reader, writer)  # type: ignore[arg-type]
    await server.close()
    answers = writer.answers()
    assert ids(answers) == [("AE", "RB1"), ("AE", "RB2")]
    assert server.stats.internal_errors == 2


# -- real sockets --------------------------------------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[MllpServer, FailingHandler]]:
    handler = FailingHandler()
    server = make_server(handler, idle_timeout=1.0)
    await server.start()
    try:
        yield server, handler
    finally:
        await server.close()


class Client:
    """A raw MLLP client: writes exactly the bytes given, reads answers one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.pending: list[bytes] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes, *, pause: float = 0.0) -> None:
        self.writer.write(data)
        await self.writer.drain()
        if pause:
            await asyncio.sleep(pause)

    async def answer(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                for event in self.decoder.feed(data):
                    assert isinstance(event, bytes), event
                    self.pending.append(event)
        return self.pending.pop(0)

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        async with asyncio.timeout(timeout):
            return await self.reader.read(65536) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_socket_split_frame(served: tuple[MllpServer, FailingHandler]) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    wire = frame(adt("SPLIT"))
    for i in range(0, len(wire), 16):
        await client.send(wire[i : i + 16], pause=0.005)
    assert msa(await client.answer()) == ("AA", "SPLIT")
    await client.close()


async def test_socket_two_frames_in_one_write(served: tuple[MllpServer, FailingHandler]) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    await client.send(frame(adt("ONE")) + frame(adt("TWO")))
    assert msa(await client.answer()) == ("AA", "ONE")
    assert msa(await client.answer()) == ("AA", "TWO")
    await client.close()


async def test_socket_garbage_before_start(served: tuple[MllpServer, FailingHandler]) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + frame(adt("AFTERJUNK")))
    assert msa(await client.answer()) == ("AA", "AFTERJUNK")
    await client.close()


async def test_socket_no_end_block_then_idle_timeout(
    served: tuple[MllpServer, FailingHandler],
) -> None:
    server, handler = served
    client = await Client.connect(server.port)
    await client.send(b"\x0b" + adt("HANG"))
    assert msa(await client.answer(timeout=3)) == ("AR", "HANG")
    assert await client.closed_by_peer(timeout=3)
    assert not handler.calls
    assert server.stats.open_connections == 0
    await client.close()


async def test_socket_idle_connection_is_closed(served: tuple[MllpServer, FailingHandler]) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    started = time.monotonic()
    assert await client.closed_by_peer(timeout=3)
    assert 0.9 <= time.monotonic() - started < 3
    await client.close()


async def test_socket_oversize_then_usable(served: tuple[MllpServer, FailingHandler]) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    big = frame(adt("HUGE", pad=MAX * 4))
    for i in range(0, len(big), 1000):
        await client.send(big[i : i + 1000])
    assert msa(await client.answer()) == ("AR", "HUGE")
    await client.send(frame(adt("SMALL")))
    assert msa(await client.answer()) == ("AA", "SMALL")
    await client.close()


async def test_socket_oversize_without_header_dropped_then_usable(
    served: tuple[MllpServer, FailingHandler],
) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    await client.send(frame(b"X" * (MAX * 2)) + frame(adt("NEXT")))
    assert msa(await client.answer()) == ("AA", "NEXT")
    assert server.stats.dropped == 1
    await client.close()


async def test_socket_handler_crash_keeps_connection(
    served: tuple[MllpServer, FailingHandler],
) -> None:
    server, _ = served
    client = await Client.connect(server.port)
    await client.send(frame(adt("CRASH2")))
    answer = await client.answer()
    assert msa(answer) == ("AE", "CRASH2") and err_code(answer) == "207"
    await client.send(frame(adt("ALIVE")))
    assert msa(await client.answer()) == ("AA", "ALIVE")
    await client.close()


async def test_socket_many_concurrent_connections(
    served: tuple[MllpServer, FailingHandler],
) -> None:
    server, handler = served

    async def talk(n: int) -> list[tuple[str, str]]:
        client = await Client.connect(server.port)
        got = []
        for m in range(10):
            await client.send(frame(adt(f"C{n}-{m}", mrn=f"NG-{n}-{m}")))
            got.append(msa(await client.answer()))
        await client.close()
        return got

    results = await asyncio.gather(*(talk(n) for n in range(40)))
    for n, got in enumerate(results):
        assert got == [("AA", f"C{n}-{m}") for m in range(10)]
    assert len(handler.calls) == 400
    assert server.stats.connections == 40


async def test_slow_handler_does_not_block_other_connections() -> None:
    handler = BlockingHandler()
    server = make_server(handler)
    await server.start()
    try:
        slow = await Client.connect(server.port)
        await slow.send(frame(adt("SLOW1")))
        await asyncio.to_thread(handler.entered.wait, 5)
        fast = await Client.connect(server.port)
        await fast.send(frame(adt("FAST1")))
        assert msa(await fast.answer(timeout=2)) == ("AA", "FAST1")
        handler.release.set()
        assert msa(await slow.answer()) == ("AA", "SLOW1")
        await slow.close()
        await fast.close()
    finally:
        handler.release.set()
        await server.close()


async def test_graceful_shutdown_finishes_in_flight_message() -> None:
    handler = BlockingHandler()
    server = make_server(handler)
    await server.start()
    port = server.port
    busy = await Client.connect(port)
    idle = await Client.connect(port)
    await busy.send(frame(adt("SLOW-INFLIGHT")))
    await asyncio.to_thread(handler.entered.wait, 5)
    closing = asyncio.create_task(server.close())
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the in-flight message
    assert await idle.closed_by_peer(timeout=2)  # idle connections go at once
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)  # no longer accepting
    handler.release.set()
    assert msa(await busy.answer()) == ("AA", "SLOW-INFLIGHT")
    await asyncio.wait_for(closing, 5)
    assert await busy.closed_by_peer(timeout=2)
    await busy.close()
    await idle.close()


async def test_shutdown_cancels_after_grace() -> None:
    handler = BlockingHandler()
    server = make_server(handler, grace=0.3)
    await server.start()
    client = await Client.connect(server.port)
    await client.send(frame(adt("SLOW-STUCK")))
    await asyncio.to_thread(handler.entered.wait, 5)
    started = time.monotonic()
    await server.close()
    assert time.monotonic() - started < 3
    handler.release.set()
    await client.close()
