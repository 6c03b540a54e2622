"""Route one MLLP frame's payload to the handler of its message type and return the answer.

The router decodes a payload once (:func:`hl7.codec.decode`), reads it once
(:func:`hl7.messages.parse_request`) and hands the typed request to one of
three handlers:

* ``feed``: ITI-8 ``ADT^A01/A04/A05/A08`` and ``ADT^A40`` (helper "service");
* ``pix``: ITI-9 ``QBP^Q23``;
* ``pdq``: ITI-21 ``QBP^Q22`` and its cancel ``QCN^J01``.

Everything a handler never sees is answered here: bytes that do not decode,
requests :func:`~hl7.messages.parse_request` refuses (unsupported type 200 or
event 201, ITI-22 ``QBP^ZV1`` among them, version 203: AR; missing or bad
content: AE), framing errors whose header is still readable (oversize), and a
handler that raises: an :class:`~hl7.errors.Hl7Error` is answered as it says,
anything else as AE with ERR 207 (application internal error). Queries get
their RSP (QAK-2 AE/AR, QPD echoed), everything else an ACK.

The router is synchronous and thread-safe as long as its handlers are: the
server calls :meth:`Router.route` in worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from hl7.codec import Message, Segment, decode, decode_lenient
from hl7.errors import (
    AckCode,
    CharsetError,
    FramingError,
    Hl7Error,
    InternalError,
    SegmentSequenceError,
    UnsupportedMessageTypeError,
)
from hl7.messages import (
    MessageHeader,
    PatientFeed,
    PatientMerge,
    PdqCancel,
    PdqQuery,
    PixQuery,
    Request,
    parse_request,
    read_header_lenient,
)
from hl7.model import AssigningAuthority
from hl7.responses import build_ack, build_pdq_response, build_pix_response
from mpi import metrics
from mpi.store.writer_lock import WriteLock

__all__ = [
    "MessageHandler",
    "Router",
    "SerializedHandler",
    "ServerIdentity",
    "internal_error",
]

log = logging.getLogger(__name__)


class MessageHandler(Protocol):
    """Answers one parsed request (see /work/notes/ROUTER.md for the full contract).

    ``handle`` is synchronous and may run in several worker threads at once.
    It returns the complete encoded answer (unframed). It may raise an
    :class:`~hl7.errors.Hl7Error`, which the router answers as the error says.
    """

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Process ``request`` (decoded from ``raw``, the frame payload) and answer it."""
        ...


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Who the MPI is in the answers it writes itself (MSH-3/MSH-4).

    Attributes:
        application: MSH-3 of answers (settings ``server.receiving_application``).
        facility: MSH-4 of answers (settings ``server.receiving_facility``).
    """

    application: str = "EMPI"
    facility: str = "MPIHOST"


class SerializedHandler:
    """Runs a handler's calls one at a time (a lock), for a database with a single writer.

    On SQLite every writing transaction takes the one write lock (``BEGIN
    IMMEDIATE``); several worker threads racing for it wait in SQLite's busy
    handler, which sleeps in growing steps, so the tail latency explodes. A
    Python lock hands the turn over at once instead.

    Args:
        handler: the handler to protect.
        lock: the lock to take (share one with every other writer of the
            process, e.g. the ITI-10 notifier); a new one by default.
    """

    def __init__(self, handler: MessageHandler, lock: WriteLock | None = None) -> None:
        self.handler = handler
        self._lock: WriteLock = lock or threading.Lock()

    def handle(self, request: Request, raw: bytes) -> bytes:
        """``handler.handle`` under the lock."""
        with self._lock:
            return self.handler.handle(request, raw)


_UNKNOWN_SENDER = AssigningAuthority("")
_NO_HEADER = MessageHeader(
    sending_application=_UNKNOWN_SENDER,
    sending_facility=_UNKNOWN_SENDER,
    receiving_application=_UNKNOWN_SENDER,
    receiving_facility=_UNKNOWN_SENDER,
    timestamp="",
    message_code="",
    trigger_event="",
    structure="",
    control_id="",
    processing_id="P",
    version="2.5",
)


class Router:
    """Dispatches raw payloads to handlers by message type; see the module docstring.

    Args:
        identity: MSH-3/MSH-4 of the answers the router writes itself.
        feed: handles ``PatientFeed`` and ``PatientMerge`` (ITI-8).
        pix: handles ``PixQuery`` (ITI-9).
        pdq: handles ``PdqQuery`` and ``PdqCancel`` (ITI-21).
        answer_garbage: answer a frame without an MSH segment with an AR
            whose MSA-2 is empty (IHE: never stay silent); ``False`` drops it.

    A handler left ``None`` makes its requests answered AR 200/201 (not offered).
    """

    def __init__(
        self,
        identity: ServerIdentity | None = None,
        *,
        feed: MessageHandler | None = None,
        pix: MessageHandler | None = None,
        pdq: MessageHandler | None = None,
        answer_garbage: bool = True,
    ) -> None:
        self.identity = identity or ServerIdentity()
        self.feed = feed
        self.pix = pix
        self.pdq = pdq
        self.answer_garbage = answer_garbage

    # -- entry points ----------------------------------------------------------------------------

    def route(self, payload: bytes) -> bytes | None:
        """Answer one frame's payload (and count it in :mod:`mpi.metrics`).

        Returns:
            The encoded answer, or ``None`` when nothing can be answered
            (no MSH and ``answer_garbage`` off).
        """
        started = time.perf_counter()
        answer = self._route(payload)
        kind = _metric_type(payload)
        metrics.observe_message(kind, time.perf_counter() - started)
        metrics.count_message(kind, _outcome(answer))
        return answer

    def _route(self, payload: bytes) -> bytes | None:
        try:
            message = decode(payload)
        except Hl7Error as e:
            return self._undecodable(payload, e)
        try:
            request = parse_request(message)
        except Hl7Error as e:
            return self._answer(read_header_lenient(message), message, e)
        handler = self._handler_for(request)
        if handler is None:
            return self._answer(request.header, message, _not_offered(request))
        try:
            return handler.handle(request, payload)
        except Hl7Error as e:
            return self._answer(request.header, message, e)
        except Exception as e:
            log.exception(
                "handler %s failed on %s^%s control id %r",
                type(handler).__name__,
                request.header.message_code,
                request.header.trigger_event,
                request.header.control_id,
            )
            return self._answer(request.header, message, internal_error(e))

    def route_framing_error(self, error: FramingError) -> bytes | None:
        """Answer a broken frame (oversize, incomplete, bad end block) if its header is readable.

        Returns:
            An AR answer built from the frame's first bytes, or ``None`` when
            they hold no complete MSH segment (the frame is then dropped).
        """
        head = error.head
        end = min((i for i in (head.find(b"\r"), head.find(b"\n")) if i >= 0), default=-1)
        if end < 0:
            return None  # MSH itself is cut off: MSH-10 might be truncated, say nothing
        message = decode_lenient(head[:end])
        if message is None:
            return None
        return self._answer(read_header_lenient(message), message, error)

    def route_internal_error(self, payload: bytes, error: BaseException) -> bytes | None:
        """Last resort when :meth:`route` itself failed: AE 207 if a header is readable."""
        message = decode_lenient(payload)
        if message is None:
            return None
        return self._answer(read_header_lenient(message), message, internal_error(error))

    # -- internals -------------------------------------------------------------------------------

    def _handler_for(self, request: Request) -> MessageHandler | None:
        if isinstance(request, PatientFeed | PatientMerge):
            return self.feed
        if isinstance(request, PixQuery):
            return self.pix
        if isinstance(request, PdqQuery | PdqCancel):
            return self.pdq
        raise AssertionError(f"unexpected request type {type(request).__name__}")

    def _undecodable(self, payload: bytes, error: Hl7Error) -> bytes | None:
        message = decode_lenient(payload)
        if message is None:
            if not self.answer_garbage:
                return None
            rejected = SegmentSequenceError(
                "MSH", None, f"no readable MSH segment in the frame ({error})", ack_code=AckCode.AR
            )
            return build_ack(
                _NO_HEADER,
                rejected,
                application=self.identity.application,
                facility=self.identity.facility,
            )
        charset = "" if isinstance(error, CharsetError) else None
        return self._answer(read_header_lenient(message), message, error, charset=charset)

    def _answer(
        self,
        header: MessageHeader,
        message: Message | None,
        error: Hl7Error,
        *,
        charset: str | None = None,
    ) -> bytes:
        app, fac = self.identity.application, self.identity.facility
        qpd: Segment | None = message.segment("QPD") if message is not None else None
        kind = (header.message_code, header.trigger_event)
        if kind == ("QBP", "Q23"):
            return build_pix_response(
                header, qpd, error=error, application=app, facility=fac, charset=charset
            )
        if kind == ("QBP", "Q22"):
            return build_pdq_response(
                header, qpd, error=error, application=app, facility=fac, charset=charset
            )
        return build_ack(header, error, application=app, facility=fac, charset=charset)


def internal_error(cause: BaseException) -> InternalError:
    """ERR 207 answered AE (the brief's choice: the content may succeed when sent again)."""
    return InternalError(
        "",
        type(cause).__name__,
        "application internal error while processing the message; send it again later",
        ack_code=AckCode.AE,
    )


def _not_offered(request: Request) -> Hl7Error:
    h = request.header
    return UnsupportedMessageTypeError(
        "MSH-9",
        f"{h.message_code}^{h.trigger_event}",
        "is not offered by this server",
    )


_METRIC_TYPES = frozenset(
    {"ADT^A01", "ADT^A04", "ADT^A05", "ADT^A08", "ADT^A40", "QBP^Q22", "QBP^Q23", "QCN^J01"}
)


def _metric_type(payload: bytes) -> str:
    """MSH-9.1^MSH-9.2 for the metrics label; anything unexpected is ``other`` (bounded labels)."""
    end = payload.find(b"\r", 0, 1024)
    head = payload[: end if end > 0 else 1024]
    if not head.startswith(b"MSH") or len(head) < 8:
        return "other"
    fields = head.split(head[3:4])
    if len(fields) <= 8:
        return "other"
    parts = fields[8].split(head[4:5])
    kind = b"^".join(parts[:2]).decode("ascii", "replace")
    return kind if kind in _METRIC_TYPES else "other"


def _outcome(answer: bytes | None) -> str:
    """QAK-2 of an RSP, else MSA-1 (``none`` when nothing was answered)."""
    if answer is None:
        return "none"
    sep = answer[3:4] or b"|"
    for segment, field in ((b"\rQAK" + sep, 2), (b"\rMSA" + sep, 1)):
        at = answer.find(segment)
        if at >= 0:
            value = answer[at + 1 :].split(b"\r", 1)[0].split(sep)
            if len(value) > field:
                code = value[field].decode("ascii", "replace")
                return code if code in _OUTCOMES else "other"
    return "other"


_OUTCOMES = frozenset({"AA", "AE", "AR", "OK", "NF"})
