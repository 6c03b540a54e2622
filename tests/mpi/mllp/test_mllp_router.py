"""Router: dispatch by message type, and every answer it writes itself (no sockets)."""

from __future__ import annotations

import pytest

from hl7.codec import decode
from hl7.errors import FramingError, UnknownKeyError
from hl7.messages import PatientFeed, PatientMerge, PdqCancel, PdqQuery, PixQuery, Request
from hl7.mllp import FrameDecoder
from mpi.mllp import Router, ServerIdentity
from tests.mpi.mllp.doubles import (
    FailingHandler,
    RecordingHandler,
    adt,
    err_code,
    golden,
    msa,
)


def make_router() -> tuple[Router, RecordingHandler, RecordingHandler, RecordingHandler]:
    feed, pix, pdq = RecordingHandler("feed"), RecordingHandler("pix"), RecordingHandler("pdq")
    return Router(ServerIdentity("EMPI", "MPIHOST"), feed=feed, pix=pix, pdq=pdq), feed, pix, pdq


@pytest.mark.parametrize(
    ("name", "target", "kind"),
    [
        ("adt_a01_231_full_cx4.hl7", "feed", PatientFeed),
        ("adt_a04_231_partial_cx4.hl7", "feed", PatientFeed),
        ("adt_a08_231_latin1.hl7", "feed", PatientFeed),
        ("adt_a40_231.hl7", "feed", PatientMerge),
        ("qbp_q23.hl7", "pix", PixQuery),
        ("qbp_q22.hl7", "pdq", PdqQuery),
        ("qcn_j01.hl7", "pdq", PdqCancel),
    ],
)
def test_dispatch_by_message_type(name: str, target: str, kind: type[Request]) -> None:
    router, feed, pix, pdq = make_router()
    raw = golden(name)
    answer = router.route(raw)
    handlers = {"feed": feed, "pix": pix, "pdq": pdq}
    called = handlers.pop(target)
    assert len(called.calls) == 1
    request, given_raw = called.calls[0]
    assert isinstance(request, kind)
    assert given_raw == raw
    assert all(not h.calls for h in handlers.values())
    assert answer is not None
    assert msa(answer) == ("AA", request.header.control_id)


@pytest.mark.parametrize(
    ("name", "ack", "code", "answer_type"),
    [
        ("bad_type_orm.hl7", "AR", "200", "ACK"),
        ("bad_event_a02.hl7", "AR", "201", "ACK"),
        ("bad_qbp_zv1.hl7", "AR", "201", "ACK"),
        ("bad_version.hl7", "AR", "203", "ACK"),
        ("bad_processing_id.hl7", "AR", "202", "ACK"),
        ("bad_no_evn.hl7", "AE", "100", "ACK"),
        ("bad_no_pid3.hl7", "AE", "101", "ACK"),
        ("bad_qbp_no_cx4.hl7", "AE", "101", "RSP"),
    ],
)
def test_refused_requests_are_answered_without_a_handler(
    name: str, ack: str, code: str, answer_type: str
) -> None:
    router, feed, pix, pdq = make_router()
    raw = golden(name)
    answer = router.route(raw)
    assert answer is not None
    control_id = decode(raw).msh.get(10)
    assert msa(answer) == (ack, control_id)
    assert err_code(answer) == code
    assert decode(answer).msh.get(9, 1, 1) == answer_type
    assert not (feed.calls or pix.calls or pdq.calls)


def test_zv1_is_rejected_clearly() -> None:
    router, *_ = make_router()
    answer = router.route(golden("bad_qbp_zv1.hl7"))
    assert answer is not None
    text = answer.decode()
    assert "ITI-22" in text
    assert decode(answer).msh.field(9) == "ACK^ZV1^ACK"


def test_answers_come_from_the_configured_identity() -> None:
    router = Router(ServerIdentity("MY_MPI", "MY_FAC"))
    answer = router.route(golden("bad_type_orm.hl7"))
    assert answer is not None
    msh = decode(answer).msh
    assert (msh.get(3), msh.get(4)) == ("MY_MPI", "MY_FAC")


def test_handler_crash_is_answered_ae_207() -> None:
    router = Router(feed=FailingHandler())
    answer = router.route(adt("CRASH1"))
    assert answer is not None
    assert msa(answer) == ("AE", "CRASH1")
    assert err_code(answer) == "207"


def test_query_handler_crash_is_answered_with_an_rsp() -> None:
    class Crash:
        def handle(self, request: Request, raw: bytes) -> bytes:
            raise KeyError("nope")

    router = Router(pix=Crash())
    raw = golden("qbp_q23.hl7")
    answer = router.route(raw)
    assert answer is not None
    message = decode(answer)
    assert message.msh.field(9) == "RSP^K23^RSP_K23"
    assert msa(answer) == ("AE", "PIXQ001")
    qak = message.segment("QAK")
    assert qak is not None and (qak.get(1), qak.get(2)) == ("QRY-PIX-1", "AE")
    qpd = message.segment("QPD")
    assert qpd is not None and qpd.text == decode(raw).segment("QPD").text  # type: ignore[union-attr]


def test_handler_hl7_error_is_answered_as_it_says() -> None:
    class Unknown:
        def handle(self, request: Request, raw: bytes) -> bytes:
            raise UnknownKeyError("PID-3.4", "ELSEWHERE", "is not a configured domain")

    answer = Router(feed=Unknown()).route(adt("UK1"))
    assert answer is not None
    assert msa(answer) == ("AE", "UK1")
    assert err_code(answer) == "204"


def test_missing_handler_is_answered_ar() -> None:
    answer = Router().route(adt("NOH"))
    assert answer is not None
    assert msa(answer) == ("AR", "NOH")
    assert err_code(answer) == "200"


def test_frame_without_msh_gets_an_ar_with_empty_msa2() -> None:
    answer = Router().route(golden("bad_not_hl7.hl7"))
    assert answer is not None
    assert msa(answer) == ("AR", "")


def test_frame_without_msh_is_dropped_when_told() -> None:
    assert Router(answer_garbage=False).route(b"hello") is None


def test_undecodable_charset_is_answered() -> None:
    answer = Router(feed=RecordingHandler()).route(golden("bad_charset.hl7"))
    assert answer is not None
    assert msa(answer) == ("AE", "BAD007")
    assert err_code(answer) == "103"


def test_oversize_frame_with_readable_header_gets_ar() -> None:
    decoder = FrameDecoder(max_size=2048)
    events = decoder.feed(b"\x0b" + adt("BIG1", pad=4096) + b"\x1c\r")
    assert len(events) == 1 and isinstance(events[0], FramingError)
    answer = Router().route_framing_error(events[0])
    assert answer is not None
    assert msa(answer) == ("AR", "BIG1")
    assert "exceeds the maximum size" in answer.decode()


def test_oversize_frame_with_cut_header_is_dropped() -> None:
    long_msh = b"MSH|^~\\&|" + b"A" * 3000 + b"|B\r"
    events = FrameDecoder(max_size=2048).feed(b"\x0b" + long_msh + b"\x1c\r")
    assert isinstance(events[0], FramingError)
    assert Router().route_framing_error(events[0]) is None


def test_last_resort_answer() -> None:
    answer = Router().route_internal_error(adt("X9"), RuntimeError("x"))
    assert answer is not None
    assert msa(answer) == ("AE", "X9")
    assert err_code(answer) == "207"
    assert Router().route_internal_error(b"junk", RuntimeError("x")) is None


def test_serialized_handler_runs_one_call_at_a_time() -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from mpi.mllp import SerializedHandler

    class Overlap(RecordingHandler):
        def __init__(self) -> None:
            super().__init__()
            self.inside = 0
            self.most = 0
            self.guard = threading.Lock()

        def handle(self, request: Request, raw: bytes) -> bytes:
            with self.guard:
                self.inside += 1
                self.most = max(self.most, self.inside)
            time.sleep(0.005)
            with self.guard:
                self.inside -= 1
            return super().handle(request, raw)

    inner = Overlap()
    router = Router(feed=SerializedHandler(inner))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(router.route, [adt(f"P{i}") for i in range(40)]))
    assert [msa(a)[0] for a in answers if a] == ["AA"] * 40
    assert inner.most == 1
    assert len(inner.calls) == 40


def test_answers_are_counted_in_the_metrics() -> None:
    from mpi.metrics import REGISTRY

    def count(kind: str, outcome: str) -> float:
        value = REGISTRY.get_sample_value("mpi_messages_total", {"type": kind, "outcome": outcome})
        return value or 0.0

    def latency_count(kind: str) -> float:
        return REGISTRY.get_sample_value("mpi_message_seconds_count", {"type": kind}) or 0.0

    before = (
        count("ADT^A01", "AA"),
        count("ADT^A01", "AE"),
        count("QBP^Q23", "AE"),
        count("other", "AR"),
        latency_count("ADT^A01"),
    )
    router = Router(feed=FailingHandler())
    router.route(adt("M1"))
    router.route(adt("CRASH-M"))
    Router().route(golden("qbp_q23.hl7"))  # no PIX handler: RSP with QAK-2 AR
    router.route(golden("bad_type_orm.hl7"))  # an unexpected type is labelled "other"
    after = (
        count("ADT^A01", "AA"),
        count("ADT^A01", "AE"),
        count("QBP^Q23", "AE"),
        count("other", "AR"),
        latency_count("ADT^A01"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 0, 1, 2]
    assert count("QBP^Q23", "AR") >= 1
