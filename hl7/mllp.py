"""MLLP framing: ``0x0B`` payload ``0x1C 0x0D``, bytes only.

:class:`FrameDecoder` is a pure state machine fed with whatever a socket read
returned; the asyncio helpers below wrap it. Its rules:

* bytes before a start block (``0x0B``) are discarded (counted in
  :attr:`FrameDecoder.discarded`);
* a frame split across reads is reassembled; several frames in one read
  come out in order;
* an empty frame (``0x0B 0x1C 0x0D``) is returned as ``b""``: the codec then
  rejects it, so the sender gets an answer instead of silence;
* a frame longer than ``max_size`` yields one :class:`~hl7.errors.FramingError`
  (kind ``"oversize"``, with the frame's first bytes) as soon as it crosses
  the limit; the rest up to its end block (or the next start block) is
  skipped and the decoder carries on with the next frame;
* a start block inside a frame means the previous frame never ended: it is
  reported (kind ``"incomplete"``) and the new frame starts;
* lenience: an end block ``0x1C`` must be followed by CR, except that
  ``0x1C`` directly followed by a new start block ``0x0B`` also ends the frame
  (some senders omit the CR). ``0x1C`` followed by anything else is reported
  (kind ``"bad-end-block"``) and the frame dropped. A ``0x1C`` at the very end
  of a read waits for the next read to decide;
* LF and CRLF segment separators inside a payload are normalised to CR.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from hl7.errors import FramingError

__all__ = [
    "CR",
    "DEFAULT_MAX_SIZE",
    "END_BLOCK",
    "START_BLOCK",
    "FrameDecoder",
    "FrameEvent",
    "frame",
    "read_frames",
    "send",
]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CR = b"\r"
DEFAULT_MAX_SIZE = 1 << 20
_HEAD = 1024
_READ_SIZE = 65536

FrameEvent = bytes | FramingError
"""What :meth:`FrameDecoder.feed` yields: a frame's payload, or a framing error."""


def frame(payload: bytes) -> bytes:
    """Wrap a payload in an MLLP frame."""
    return START_BLOCK + payload + END_BLOCK + CR


def _normalise(payload: bytes) -> bytes:
    if b"\n" in payload:
        payload = payload.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    return payload


class FrameDecoder:
    """Incremental MLLP decoder; see the module docstring for its rules.

    Args:
        max_size: the largest payload accepted, in bytes.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 1:
            raise ValueError(f"max_size: {max_size!r} must be at least 1")
        self.max_size = max_size
        self.discarded = 0
        self._buf = bytearray()
        self._in_frame = False
        self._skipping = False  # inside an oversize frame, waiting for its end
        self._pending_end = False  # saw 0x1C as the last byte of a read

    @property
    def pending(self) -> bool:
        """Whether a frame has started and not yet ended."""
        return self._in_frame

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume bytes from the wire.

        Args:
            data: whatever the last read returned.

        Returns:
            Complete frame payloads and framing errors, in wire order.
        """
        events: list[FrameEvent] = []
        pos = 0
        n = len(data)
        if self._pending_end and n:
            self._pending_end = False
            pos = self._after_end_block(data, 0, events)
        while pos < n:
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    self.discarded += n - pos
                    break
                self.discarded += start - pos
                self._begin()
                pos = start + 1
                continue
            end = data.find(END_BLOCK, pos)
            restart = data.find(START_BLOCK, pos, end if end >= 0 else n)
            if restart >= 0:
                self._take(data[pos:restart], events)
                self._abandon("a new start block arrived before the end block", events)
                pos = restart
                continue
            if end < 0:
                self._take(data[pos:], events)
                break
            self._take(data[pos:end], events)
            if end + 1 >= n:
                self._pending_end = True
                break
            pos = self._after_end_block(data, end + 1, events)
        return events

    def close(self) -> list[FrameEvent]:
        """Report a frame left unfinished when the connection ends or idles out.

        Returns:
            One ``"incomplete"`` error if a frame was pending, else nothing.
        """
        if not self._in_frame:
            return []
        events: list[FrameEvent] = []
        if self._pending_end:
            self._pending_end = False
            if not self._skipping:
                events.append(
                    FramingError(
                        "bad-end-block",
                        "end block 0x1C was not followed by CR",
                        head=self._head(),
                    )
                )
            self._reset()
        else:
            self._abandon("the connection ended before the end block", events)
        return events

    def _begin(self) -> None:
        self._in_frame = True
        self._skipping = False
        self._buf.clear()

    def _reset(self) -> None:
        self._in_frame = False
        self._skipping = False
        self._buf.clear()

    def _head(self) -> bytes:
        return bytes(self._buf[:_HEAD])

    def _abandon(self, rule: str, events: list[FrameEvent]) -> None:
        # An oversize frame was reported when it crossed the limit already.
        if not self._skipping:
            events.append(FramingError("incomplete", rule, head=self._head()))
        self._reset()

    def _take(self, chunk: bytes, events: list[FrameEvent]) -> None:
        if self._skipping:
            return
        if len(self._buf) + len(chunk) > self.max_size:
            keep = max(0, _HEAD - len(self._buf))
            self._buf += chunk[:keep]
            self._skipping = True
            events.append(
                FramingError(
                    "oversize",
                    f"frame exceeds the maximum size of {self.max_size} bytes;"
                    " skipped up to its end block",
                    head=self._head(),
                )
            )
            return
        self._buf += chunk

    def _after_end_block(self, data: bytes, pos: int, events: list[FrameEvent]) -> int:
        """Handle the byte after 0x1C at ``data[pos]``; return where to go on."""
        nxt = data[pos : pos + 1]
        if nxt in (CR, START_BLOCK):
            if not self._skipping:
                events.append(_normalise(bytes(self._buf)))
            self._reset()
            # After CR step over it; a start block is opened by the main loop.
            return pos + 1 if nxt == CR else pos
        if not self._skipping:
            events.append(
                FramingError(
                    "bad-end-block",
                    f"end block 0x1C was followed by 0x{nxt.hex()}, not CR",
                    head=self._head(),
                )
            )
        self._reset()
        return pos


async def read_frames(
    reader: asyncio.StreamReader,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    idle_timeout: float | None = None,
) -> AsyncIterator[FrameEvent]:
    """Yield frames (and framing errors) from a stream until EOF or idle timeout.

    Args:
        reader: the connection's reader.
        max_size: the largest payload accepted.
        idle_timeout: seconds without any byte after which the iteration ends
            (``None``: wait forever). A frame left open at EOF or timeout is
            reported as an ``"incomplete"`` error before the iteration ends.

    Yields:
        Payloads (``bytes``) and :class:`~hl7.errors.FramingError` events.
    """
    decoder = FrameDecoder(max_size)
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                data = await reader.read(_READ_SIZE)
        except TimeoutError:
            data = b""
        if not data:
            for event in decoder.close():
                yield event
            return
        for event in decoder.feed(data):
            yield event


async def send(
    host: str,
    port: int,
    payload: bytes,
    timeout: float = 10.0,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
) -> bytes:
    """Send one message over MLLP and return the payload of the first frame answered.

    Args:
        host: the receiver's host.
        port: its port.
        payload: the message (unframed).
        timeout: seconds for connecting, sending and receiving together.
        max_size: the largest answer accepted.

    Returns:
        The answer's payload.

    Raises:
        TimeoutError: no complete answer within ``timeout``.
        FramingError: the connection closed before a complete answer, or the
            answer was malformed.
        OSError: the connection could not be made.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(frame(payload))
            await writer.drain()
            decoder = FrameDecoder(max_size)
            while True:
                data = await reader.read(_READ_SIZE)
                events = decoder.feed(data) if data else decoder.close()
                if events:
                    first = events[0]
                    if isinstance(first, FramingError):
                        raise first
                    return first
                if not data:
                    raise FramingError("incomplete", "the connection closed without an answer")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
