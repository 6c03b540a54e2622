"""Test doubles for the MLLP router and server: handlers that record, answer, block or fail."""

from __future__ import annotations

import threading
from pathlib import Path

from hl7.codec import decode
from hl7.messages import Request
from hl7.responses import build_ack

GOLDEN = Path(__file__).resolve().parents[2] / "hl7" / "golden"


def golden(name: str) -> bytes:
    """A golden request message, with CR segment separators as on the wire."""
    return (GOLDEN / name).read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")


def adt(control_id: str, mrn: str = "NG-1", *, pad: int = 0) -> bytes:
    """A minimal valid ITI-8 ADT^A01 (2.3.1); ``pad`` adds that many bytes to a Z segment."""
    text = (
        "MSH|^~\\&|NG_ADT|NORTHGEN|EMPI|MPIHOST|20240315101500||ADT^A01^ADT_A01|"
        f"{control_id}|P|2.3.1\r"
        "EVN|A01|20240315101500\r"
        f"PID|1||{mrn}^^^NORTHGEN&2.999.10.1&ISO^MR||SMITH^JOHN||19700412|M\r"
        "PV1||I\r"
    )
    if pad:
        text += "ZPD|" + "X" * pad + "\r"
    return text.encode()


def msa(answer: bytes) -> tuple[str, str]:
    """MSA-1 and MSA-2 of an answer."""
    seg = decode(answer).segment("MSA")
    assert seg is not None, answer
    return seg.get(1), seg.get(2)


def err_code(answer: bytes) -> str:
    """The Table 0357 code of an answer's ERR (ERR-3.1 in 2.5, ERR-1.4.1 before)."""
    message = decode(answer)
    seg = message.segment("ERR")
    assert seg is not None, answer
    return seg.get(3, 1, 1) or seg.get(1, 1, 4).split("&")[0]


class RecordingHandler:
    """Answers AA with an ACK and remembers what it was given (thread-safe)."""

    def __init__(self, name: str = "handler") -> None:
        self.name = name
        self.calls: list[tuple[Request, bytes]] = []
        self._lock = threading.Lock()

    def handle(self, request: Request, raw: bytes) -> bytes:
        with self._lock:
            self.calls.append((request, raw))
        return build_ack(request.header, application="EMPI", facility="MPIHOST")


class FailingHandler(RecordingHandler):
    """Raises for control ids starting with ``CRASH``, else answers AA."""

    def handle(self, request: Request, raw: bytes) -> bytes:
        if request.header.control_id.startswith("CRASH"):
            raise RuntimeError("boom: the handler crashed")
        return super().handle(request, raw)


class BlockingHandler(RecordingHandler):
    """Waits for :attr:`release` before answering control ids starting with ``SLOW``."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def handle(self, request: Request, raw: bytes) -> bytes:
        if request.header.control_id.startswith("SLOW"):
            self.entered.set()
            if not self.release.wait(10):
                raise TimeoutError("test never released the handler")
        return super().handle(request, raw)
