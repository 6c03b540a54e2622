"""MLLP framing: every edge case on bytes first, then on a real socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hl7.errors import FramingError
from hl7.mllp import FrameDecoder, FrameEvent, frame, read_frames, send

A = b"MSH|^~\\&|A|B\rPID|1||X\r"
B = b"MSH|^~\\&|C|D\rPID|1||Y\r"


def feed_all(decoder: FrameDecoder, *chunks: bytes) -> list[FrameEvent]:
    out: list[FrameEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def kinds(events: list[FrameEvent]) -> list[str]:
    return [e.kind if isinstance(e, FramingError) else "frame" for e in events]


def test_frame_wraps_payload() -> None:
    assert frame(b"X") == b"\x0bX\x1c\r"


def test_one_frame() -> None:
    assert FrameDecoder().feed(frame(A)) == [A]


def test_two_frames_in_one_read_come_out_in_order() -> None:
    assert FrameDecoder().feed(frame(A) + frame(B)) == [A, B]


@given(st.lists(st.integers(min_value=0, max_value=len(frame(A) + frame(B))), max_size=8))
def test_frames_split_anywhere_are_reassembled(cuts: list[int]) -> None:
    wire = frame(A) + frame(B)
    points = sorted(set(cuts))
    chunks = [wire[i:j] for i, j in zip([0, *points], [*points, len(wire)], strict=True)]
    assert feed_all(FrameDecoder(), *chunks) == [A, B]


def test_split_between_end_block_and_cr() -> None:
    d = FrameDecoder()
    assert d.feed(b"\x0b" + A + b"\x1c") == []
    assert d.pending
    assert d.feed(b"\r") == [A]
    assert not d.pending


def test_garbage_before_start_block_is_discarded() -> None:
    d = FrameDecoder()
    assert d.feed(b"GET / HTTP/1.0\r\n" + frame(A)) == [A]
    assert d.discarded == 16
    assert d.feed(b"noise between frames" + frame(B)) == [B]


def test_garbage_alone_yields_nothing() -> None:
    d = FrameDecoder()
    assert d.feed(b"\x00\x01junk") == [] and not d.pending and d.close() == []


def test_empty_frame_is_returned_as_empty_payload() -> None:
    assert FrameDecoder().feed(b"\x0b\x1c\r" + frame(A)) == [b"", A]


def test_no_end_block_is_reported_at_close() -> None:
    d = FrameDecoder()
    assert d.feed(b"\x0b" + A) == []
    events = d.close()
    assert kinds(events) == ["incomplete"]
    err = events[0]
    assert isinstance(err, FramingError) and err.head == A and err.ack_code == "AR"
    assert d.close() == []


def test_new_start_block_inside_a_frame_reports_and_resynchronises() -> None:
    events = FrameDecoder().feed(b"\x0b" + A[:10] + frame(B))
    assert kinds(events) == ["incomplete", "frame"] and events[1] == B


def test_oversize_frame_is_reported_once_and_skipped() -> None:
    d = FrameDecoder(max_size=len(A))
    big = A * 3
    events = feed_all(d, b"\x0b" + big[:30], big[30:] + b"\x1c\r", frame(B))
    assert kinds(events) == ["oversize", "frame"]
    err = events[0]
    assert isinstance(err, FramingError) and err.head.startswith(b"MSH|^~\\&|A")
    assert events[1] == B


def test_oversize_frame_followed_by_start_block() -> None:
    d = FrameDecoder(max_size=10)
    events = d.feed(b"\x0b" + A + frame(b"SHORT"))
    assert kinds(events) == ["oversize", "frame"] and events[1] == b"SHORT"


def test_end_block_without_cr_before_a_new_start_block_is_tolerated() -> None:
    assert FrameDecoder().feed(b"\x0b" + A + b"\x1c" + frame(B)) == [A, B]
    d = FrameDecoder()
    assert d.feed(b"\x0b" + A + b"\x1c") == []
    assert d.feed(frame(B)) == [A, B]


def test_end_block_followed_by_other_byte_is_an_error() -> None:
    events = FrameDecoder().feed(b"\x0b" + A + b"\x1cX" + frame(B))
    assert kinds(events) == ["bad-end-block", "frame"] and events[1] == B


def test_end_block_without_cr_at_close() -> None:
    d = FrameDecoder()
    d.feed(b"\x0b" + A + b"\x1c")
    assert kinds(d.close()) == ["bad-end-block"]


def test_lf_segment_separators_are_normalised() -> None:
    assert FrameDecoder().feed(frame(b"MSH|^~\\&|A\nPID|1\r\nPV1|\n")) == [
        b"MSH|^~\\&|A\rPID|1\rPV1|\r"
    ]


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size"):
        FrameDecoder(0)


# -- on a real socket --------------------------------------------------------


async def _ack_server(
    received: list[FrameEvent], *, answer: bool = True, max_size: int = 1 << 20
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for event in read_frames(reader, max_size=max_size, idle_timeout=2.0):
            received.append(event)
            if answer:
                tag = (
                    b"ERR:" + event.kind.encode() if isinstance(event, FramingError) else event[:12]
                )
                writer.write(frame(b"ACK " + tag))
                await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


@pytest.fixture
async def server_and_log() -> AsyncIterator[tuple[asyncio.Server, list[FrameEvent]]]:
    log: list[FrameEvent] = []
    server = await _ack_server(log, max_size=256)
    async with server:
        yield server, log


async def test_send_gets_the_answer(
    server_and_log: tuple[asyncio.Server, list[FrameEvent]],
) -> None:
    server, log = server_and_log
    answer = await send("127.0.0.1", _port(server), A, timeout=5)
    assert answer == b"ACK " + A[:12]
    assert log == [A]


async def _raw_exchange(port: int, chunks: list[bytes], answers: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)
    decoder = FrameDecoder()
    got: list[bytes] = []
    async with asyncio.timeout(5):
        while len(got) < answers:
            data = await reader.read(4096)
            assert data, "server closed early"
            got.extend(e for e in decoder.feed(data) if isinstance(e, bytes))
    writer.close()
    await writer.wait_closed()
    return got


async def test_socket_edge_cases_keep_the_connection_usable(
    server_and_log: tuple[asyncio.Server, list[FrameEvent]],
) -> None:
    server, log = server_and_log
    wire = [
        b"garbage" + frame(A)[:7],  # garbage, then a frame split across writes
        frame(A)[7:] + frame(B),  # rest of it and a second frame in the same write
        frame(b"X" * 1000),  # oversize for this server
        b"\x0b\x1c\r",  # empty frame
        frame(B),  # still answered
    ]
    got = await _raw_exchange(_port(server), wire, answers=5)
    assert got == [
        b"ACK " + A[:12],
        b"ACK " + B[:12],
        b"ACK ERR:oversize",
        b"ACK ",
        b"ACK " + B[:12],
    ]
    assert kinds(log) == ["frame", "frame", "oversize", "frame", "frame"]


async def test_frame_without_end_is_reported_at_idle_timeout() -> None:
    log: list[FrameEvent] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for event in read_frames(reader, idle_timeout=0.2):
            log.append(event)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
        writer.write(b"\x0b" + A)
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # the server gave up and closed
        writer.close()
        await writer.wait_closed()
    assert kinds(log) == ["incomplete"]


async def test_send_times_out_without_an_answer() -> None:
    log: list[FrameEvent] = []
    server = await _ack_server(log, answer=False)
    async with server:
        with pytest.raises(TimeoutError):
            await send("127.0.0.1", _port(server), A, timeout=0.3)


async def test_send_reports_a_closed_connection() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x0bpartial")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        with pytest.raises(FramingError) as info:
            await send("127.0.0.1", _port(server), A, timeout=5)
    assert info.value.kind == "incomplete"
