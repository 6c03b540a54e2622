"""A persistent MLLP client connection to one ITI-10 subscriber.

One :class:`SubscriberConnection` sends messages one at a time and reads each
answer before the next goes out (original-mode acknowledgement). A failure of
any kind closes the connection; the next :meth:`SubscriberConnection.ask`
connects again.
"""

from __future__ import annotations

import asyncio
import contextlib

from hl7.errors import FramingError
from hl7.mllp import DEFAULT_MAX_SIZE, FrameDecoder, frame

__all__ = ["SubscriberConnection", "TransportError"]

_READ_SIZE = 65536


class TransportError(Exception):
    """The subscriber could not be reached or did not answer properly (worth retrying)."""


class SubscriberConnection:
    """An MLLP connection to ``host:port``, opened on first use.

    Args:
        host: the subscriber's host.
        port: its port.
        timeout: seconds for connecting, and for each send-and-answer.
        max_size: the largest answer accepted.
    """

    def __init__(
        self, host: str, port: int, *, timeout: float = 10.0, max_size: int = DEFAULT_MAX_SIZE
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.max_size = max_size
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = FrameDecoder(max_size)

    @property
    def address(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    async def ask(self, payload: bytes) -> bytes:
        """Send one message and return the payload of the answer frame.

        Raises:
            TransportError: connect refused or timed out, the connection
                dropped, no answer within the timeout, or a malformed frame.
        """
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connected()
                writer.write(frame(payload))
                await writer.drain()
                return await self._read_answer(reader)
        except TimeoutError as e:
            await self.close()
            raise TransportError(f"{self.address}: no answer within {self.timeout:g} s") from e
        except (OSError, FramingError, TransportError) as e:
            await self.close()
            if isinstance(e, TransportError):
                raise
            raise TransportError(f"{self.address}: {e}") from e

    async def close(self) -> None:
        """Close the connection (a later :meth:`ask` reconnects)."""
        writer, self._reader, self._writer = self._writer, None, None
        self._decoder = FrameDecoder(self.max_size)
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _connected(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._decoder = FrameDecoder(self.max_size)
        return self._reader, self._writer

    async def _read_answer(self, reader: asyncio.StreamReader) -> bytes:
        while True:
            data = await reader.read(_READ_SIZE)
            events = self._decoder.feed(data) if data else self._decoder.close()
            if events:
                first = events[0]
                if isinstance(first, FramingError):
                    raise first
                # Extra frames after the answer are not ours to read: start clean next time.
                if len(events) > 1:
                    self._decoder = FrameDecoder(self.max_size)
                return first
            if not data:
                raise TransportError(f"{self.address}: the connection closed without an answer")
