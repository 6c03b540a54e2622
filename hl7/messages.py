"""Typed requests read from decoded messages (ITI-8, ITI-9, ITI-21).

:func:`parse_request` dispatches on MSH-9 and returns one of
:class:`PatientFeed`, :class:`PatientMerge`, :class:`PixQuery`,
:class:`PdqQuery` or :class:`PdqCancel`, or raises an
:class:`~hl7.errors.Hl7Error` with the code, location and MSA-1 the answer
needs. When even the header cannot be read, :func:`read_header_lenient` and
:func:`peek_header` still give what an AR needs (MSH-10, the applications).

Lenience, documented: MSH-9.3 may be missing on ``QBP^Q22``/``QBP^Q23`` (old
MESA tools); PV1 is not required in ADT; QPD-1 is not checked (MSH-9 decides);
RCP-2 without a unit is read as records (``RD``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hl7.codec import Message, Segment, decode_lenient
from hl7.datatypes import read_cx, read_hd, read_hd_subcomponents
from hl7.errors import (
    DataTypeError,
    ErrorLocation,
    Hl7Error,
    MissingFieldError,
    SegmentSequenceError,
    TableValueError,
    UnsupportedEventError,
    UnsupportedMessageTypeError,
    UnsupportedProcessingIdError,
    UnsupportedVersionError,
)
from hl7.model import AssigningAuthority, Identifier, PatientDemographics
from hl7.pid import read_pid

__all__ = [
    "ADT_VERSIONS",
    "FEED_EVENTS",
    "QUERY_VERSIONS",
    "MergeGroup",
    "MessageHeader",
    "PatientFeed",
    "PatientMerge",
    "PdqCancel",
    "PdqQuery",
    "PixQuery",
    "Request",
    "parse_request",
    "peek_header",
    "read_header",
    "read_header_lenient",
]

FEED_EVENTS = frozenset({"A01", "A04", "A05", "A08"})
"""ITI-8 events that register or update a patient (A40 merges)."""
ADT_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})
"""MSH-12 values accepted for ADT (ITI-8 is 2.3.1; later versions are harmless)."""
QUERY_VERSIONS = frozenset({"2.4", "2.5", "2.5.1"})
"""MSH-12 values accepted for QBP/QCN (they do not exist before 2.4)."""
_PROCESSING_IDS = frozenset({"P", "D", "T"})
_STRUCTURE_OPTIONAL = frozenset({("QBP", "Q23"), ("QBP", "Q22")})
_QIP_PATH = re.compile(r"^@?([A-Z][A-Z0-9]{2})((?:\.\d{1,3}){1,3})$")


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The MSH fields the MPI uses.

    Attributes:
        sending_application: MSH-3.
        sending_facility: MSH-4.
        receiving_application: MSH-5.
        receiving_facility: MSH-6.
        timestamp: MSH-7.1 as sent.
        message_code: MSH-9.1, e.g. ``"ADT"``.
        trigger_event: MSH-9.2, e.g. ``"A01"``.
        structure: MSH-9.3, e.g. ``"ADT_A01"`` (``""`` if tolerated missing).
        control_id: MSH-10.
        processing_id: MSH-11.1 (``P``, ``D`` or ``T``).
        version: MSH-12.1, e.g. ``"2.3.1"``.
        charset: MSH-18 as declared (``""``: ASCII default).
        accept_ack_type: MSH-15.
        application_ack_type: MSH-16.
    """

    sending_application: AssigningAuthority
    sending_facility: AssigningAuthority
    receiving_application: AssigningAuthority
    receiving_facility: AssigningAuthority
    timestamp: str
    message_code: str
    trigger_event: str
    structure: str
    control_id: str
    processing_id: str
    version: str
    charset: str = ""
    accept_ack_type: str = ""
    application_ack_type: str = ""


@dataclass(frozen=True, slots=True)
class PatientFeed:
    """ITI-8 ``ADT^A01/A04/A05/A08``: register or update one patient.

    Attributes:
        header: the MSH.
        event: the trigger event.
        patient: the PID.
        recorded_at: EVN-2.
    """

    header: MessageHeader
    event: str
    patient: PatientDemographics
    recorded_at: str = ""


@dataclass(frozen=True, slots=True)
class MergeGroup:
    """One PID/MRG pair of an ``ADT^A40``.

    Attributes:
        patient: the surviving patient (PID; PID-3 holds the surviving id).
        subsumed_identifiers: MRG-1, all repetitions (the prior ids).
        pid_sequence: which PID of the message this is (for error locations).
        mrg_sequence: which MRG.
    """

    patient: PatientDemographics
    subsumed_identifiers: tuple[Identifier, ...]
    pid_sequence: int = 1
    mrg_sequence: int = 1

    @property
    def subsumed(self) -> Identifier:
        """The (first) prior identifier, MRG-1."""
        return self.subsumed_identifiers[0]


@dataclass(frozen=True, slots=True)
class PatientMerge:
    """ITI-8 ``ADT^A40^ADT_A39``: one or more merges.

    Attributes:
        header: the MSH.
        groups: the PID/MRG pairs in message order (at least one).
        recorded_at: EVN-2.
    """

    header: MessageHeader
    groups: tuple[MergeGroup, ...]
    recorded_at: str = ""

    @property
    def event(self) -> str:
        """Always ``"A40"``."""
        return "A40"

    @property
    def patient(self) -> PatientDemographics:
        """The surviving patient of the first group."""
        return self.groups[0].patient

    @property
    def subsumed(self) -> Identifier:
        """The subsumed identifier of the first group."""
        return self.groups[0].subsumed


@dataclass(frozen=True, slots=True)
class PixQuery:
    """ITI-9 ``QBP^Q23``.

    Attributes:
        header: the MSH.
        query_tag: QPD-2.
        identifier: QPD-3 (its authority may be partial: namespace, OID, or both).
        domains: QPD-4 authorities, one per repetition in order (empty: all
            domains); the ``i``-th is at :meth:`domain_location` ``(i)``.
        qpd: the QPD segment, echoed unchanged in the answer.
    """

    header: MessageHeader
    query_tag: str
    identifier: Identifier
    domains: tuple[AssigningAuthority, ...]
    qpd: Segment

    def domain_location(self, index: int) -> ErrorLocation:
        """Where ``domains[index]`` sits, for an unknown-domain error (QPD^1^4^rep)."""
        return ErrorLocation("QPD", 1, 4, index + 1)


@dataclass(frozen=True, slots=True)
class PdqQuery:
    """ITI-21 ``QBP^Q22``.

    Attributes:
        header: the MSH.
        query_tag: QPD-2.
        parameters: QPD-3 as ``(path, value)`` pairs in order, the path without
            its ``@``, e.g. ``("PID.5.1.1", "SMITH")``; values unescaped.
        domains: QPD-8 authorities, one per repetition in order (empty: all).
        limit: RCP-2 quantity (``None``: no limit).
        continuation: DSC-1 pointer of a follow-up request, else ``None``.
        qpd: the QPD segment, echoed unchanged in the answer.
    """

    header: MessageHeader
    query_tag: str
    parameters: tuple[tuple[str, str], ...]
    domains: tuple[AssigningAuthority, ...]
    limit: int | None
    continuation: str | None
    qpd: Segment

    def domain_location(self, index: int) -> ErrorLocation:
        """Where ``domains[index]`` sits (QPD^1^8^rep)."""
        return ErrorLocation("QPD", 1, 8, index + 1)

    def parameter_location(self, index: int) -> ErrorLocation:
        """Where ``parameters[index]`` sits (QPD^1^3^rep)."""
        return ErrorLocation("QPD", 1, 3, index + 1)


@dataclass(frozen=True, slots=True)
class PdqCancel:
    """ITI-21 ``QCN^J01``: discard a continuation chain.

    Attributes:
        header: the MSH.
        query_tag: QID-1.
    """

    header: MessageHeader
    query_tag: str


Request = PatientFeed | PatientMerge | PixQuery | PdqQuery | PdqCancel
"""Every request :func:`parse_request` returns."""


# -- header -----------------------------------------------------------------


def read_header_lenient(message: Message) -> MessageHeader:
    """Read MSH without checking anything; absent values are ``""``."""
    msh = message.msh
    return MessageHeader(
        sending_application=read_hd(msh, 3),
        sending_facility=read_hd(msh, 4),
        receiving_application=read_hd(msh, 5),
        receiving_facility=read_hd(msh, 6),
        timestamp=msh.get(7).strip(),
        message_code=msh.get(9, 1, 1).strip(),
        trigger_event=msh.get(9, 1, 2).strip(),
        structure=msh.get(9, 1, 3).strip(),
        control_id=msh.get(10).strip(),
        processing_id=msh.get(11).strip(),
        version=msh.get(12).strip(),
        charset=message.declared_charset,
        accept_ack_type=msh.get(15).strip(),
        application_ack_type=msh.get(16).strip(),
    )


def peek_header(data: bytes) -> MessageHeader | None:
    """The header of raw bytes that may not decode at all (bad charset, bad segment).

    Returns:
        The header read leniently, or ``None`` when there is no MSH.
    """
    message = decode_lenient(data)
    return None if message is None else read_header_lenient(message)


def read_header(message: Message) -> MessageHeader:
    """Read and check MSH: message type, control id, processing id, version present.

    Raises:
        MissingFieldError: MSH-9.1/.2/.3 (``.3`` tolerated for QBP^Q22/Q23),
            MSH-10, MSH-11 or MSH-12 empty (code 101).
        UnsupportedProcessingIdError: MSH-11 not P, D or T (code 202, AR).
    """
    h = read_header_lenient(message)
    for comp, value in ((1, h.message_code), (2, h.trigger_event)):
        if not value:
            raise MissingFieldError(f"MSH-9.{comp}", value, "is required", location=_msh(9, comp))
    if not h.structure and (h.message_code, h.trigger_event) not in _STRUCTURE_OPTIONAL:
        raise MissingFieldError(
            "MSH-9.3", "", "(message structure) is required", location=_msh(9, 3)
        )
    for field, value in ((10, h.control_id), (11, h.processing_id), (12, h.version)):
        if not value:
            raise MissingFieldError(f"MSH-{field}", value, "is required", location=_msh(field))
    if h.processing_id not in _PROCESSING_IDS:
        raise UnsupportedProcessingIdError(
            "MSH-11", h.processing_id, "must be P, D or T", location=_msh(11)
        )
    return h


def _msh(field: int, component: int | None = None) -> ErrorLocation:
    return ErrorLocation("MSH", 1, field, 1 if component else None, component)


# -- dispatch ---------------------------------------------------------------


def parse_request(message: Message) -> Request:
    """Read a decoded message as one of the supported requests.

    Args:
        message: from :func:`hl7.codec.decode`.

    Returns:
        The typed request.

    Raises:
        Hl7Error: its subclasses say what is wrong and where: unsupported
            type (200) or event (201) or version (203), all AR; missing
            content (101) or segments (100), bad values (102/103), AE.
    """
    h = read_header(message)
    code, event = h.message_code, h.trigger_event
    if code == "ADT":
        _check_version(h, ADT_VERSIONS)
        if event in FEED_EVENTS:
            return _feed(message, h)
        if event == "A40":
            return _merge(message, h)
        raise _unsupported_event(h, "must be A01, A04, A05, A08 or A40 for ADT")
    if code == "QBP":
        if event not in ("Q22", "Q23"):
            rule = "must be Q22 (PDQ) or Q23 (PIX) for QBP"
            if event == "ZV1":
                rule = "(ITI-22 visit query) is not supported; " + rule
            raise _unsupported_event(h, rule)
        _check_version(h, QUERY_VERSIONS)
        return _pix_query(message, h) if event == "Q23" else _pdq_query(message, h)
    if code == "QCN":
        if event != "J01":
            raise _unsupported_event(h, "must be J01 for QCN")
        _check_version(h, QUERY_VERSIONS)
        return _cancel(message, h)
    raise UnsupportedMessageTypeError(
        "MSH-9.1", code, "must be ADT, QBP or QCN", location=_msh(9, 1)
    )


def _unsupported_event(h: MessageHeader, rule: str) -> Hl7Error:
    return UnsupportedEventError("MSH-9.2", h.trigger_event, rule, location=_msh(9, 2))


def _check_version(h: MessageHeader, accepted: frozenset[str]) -> None:
    if h.version not in accepted:
        raise UnsupportedVersionError(
            "MSH-12",
            h.version,
            f"must be one of {', '.join(sorted(accepted))} for {h.message_code}",
            location=_msh(12),
        )


def _require_segment(message: Message, segment_id: str, occurrence: int = 1) -> Segment:
    seg = message.segment(segment_id, occurrence)
    if seg is None:
        raise SegmentSequenceError(
            segment_id,
            None,
            f"segment is required in {_type_name(message)}",
            location=ErrorLocation(segment_id, occurrence),
        )
    return seg


def _type_name(message: Message) -> str:
    msh = message.msh
    return f"{msh.get(9, 1, 1)}^{msh.get(9, 1, 2)}"


# -- ITI-8 ------------------------------------------------------------------


def _evn(message: Message) -> str:
    evn = _require_segment(message, "EVN")
    recorded = evn.get(2).strip()
    if not recorded:
        raise MissingFieldError(
            "EVN-2", "", "(recorded date/time) is required", location=ErrorLocation("EVN", 1, 2)
        )
    return recorded


def _patient(pid: Segment) -> PatientDemographics:
    patient = read_pid(pid)
    if not patient.identifiers:
        raise MissingFieldError(
            "PID-3",
            pid.field(3),
            "must hold at least one identifier (CX.1)",
            location=ErrorLocation("PID", pid.sequence, 3, 1, 1),
        )
    if not patient.names:
        raise MissingFieldError(
            "PID-5",
            pid.field(5),
            "(patient name) is required",
            location=ErrorLocation("PID", pid.sequence, 5),
        )
    return patient


def _feed(message: Message, h: MessageHeader) -> PatientFeed:
    recorded = _evn(message)
    pid = _require_segment(message, "PID")
    return PatientFeed(h, h.trigger_event, _patient(pid), recorded)


def _merge(message: Message, h: MessageHeader) -> PatientMerge:
    recorded = _evn(message)
    groups: list[MergeGroup] = []
    pid: Segment | None = None
    for seg in message.segments:
        if seg.id == "PID":
            if pid is not None:
                raise _missing_mrg(pid)
            pid = seg
        elif seg.id == "MRG":
            if pid is None:
                raise SegmentSequenceError(
                    "MRG",
                    None,
                    "must follow a PID in ADT^A40",
                    location=ErrorLocation("MRG", seg.sequence),
                )
            groups.append(_merge_group(pid, seg))
            pid = None
    if pid is not None:
        raise _missing_mrg(pid)
    if not groups:
        raise SegmentSequenceError(
            "PID", None, "segment is required in ADT^A40", location=ErrorLocation("PID", 1)
        )
    return PatientMerge(h, tuple(groups), recorded)


def _missing_mrg(pid: Segment) -> Hl7Error:
    return SegmentSequenceError(
        "MRG",
        None,
        f"segment must follow PID #{pid.sequence} in ADT^A40",
        location=ErrorLocation("MRG", pid.sequence),
    )


def _merge_group(pid: Segment, mrg: Segment) -> MergeGroup:
    prior = tuple(
        cx for r in range(1, mrg.repetition_count(1) + 1) if (cx := read_cx(mrg, 1, r)).id
    )
    if not prior:
        raise MissingFieldError(
            "MRG-1",
            mrg.field(1),
            "(prior patient identifier) is required",
            location=ErrorLocation("MRG", mrg.sequence, 1, 1, 1),
        )
    return MergeGroup(_patient(pid), prior, pid.sequence, mrg.sequence)


# -- ITI-9 / ITI-21 -----------------------------------------------------------


def _query_tag(qpd: Segment) -> str:
    tag = qpd.get(2).strip()
    if not tag:
        raise MissingFieldError(
            "QPD-2", "", "(query tag) is required", location=ErrorLocation("QPD", 1, 2)
        )
    return tag


def _domains(qpd: Segment, field: int) -> tuple[AssigningAuthority, ...]:
    return tuple(
        read_hd_subcomponents(qpd, field, r, 4) for r in range(1, qpd.repetition_count(field) + 1)
    )


def _pix_query(message: Message, h: MessageHeader) -> PixQuery:
    qpd = _require_segment(message, "QPD")
    tag = _query_tag(qpd)
    ident = read_cx(qpd, 3)
    if not ident.id:
        raise MissingFieldError(
            "QPD-3.1",
            qpd.field(3),
            "(person identifier) is required",
            location=ErrorLocation("QPD", 1, 3, 1, 1),
        )
    if ident.authority.is_empty:
        raise MissingFieldError(
            "QPD-3.4",
            qpd.field(3),
            "(assigning authority: namespace and/or universal id) is required",
            location=ErrorLocation("QPD", 1, 3, 1, 4),
        )
    return PixQuery(h, tag, ident, _domains(qpd, 4), qpd)


def _pdq_query(message: Message, h: MessageHeader) -> PdqQuery:
    qpd = _require_segment(message, "QPD")
    tag = _query_tag(qpd)
    params: list[tuple[str, str]] = []
    for r in range(1, qpd.repetition_count(3) + 1):
        raw_path = qpd.get(3, r, 1).strip()
        value = qpd.get(3, r, 2).strip()
        if not raw_path and not value:
            continue
        m = _QIP_PATH.match(raw_path)
        if m is None:
            raise DataTypeError(
                "QPD-3.1",
                raw_path,
                "must be a field path like @PID.5.1.1",
                location=ErrorLocation("QPD", 1, 3, r, 1),
            )
        if value:
            params.append((m.group(1) + m.group(2), value))
    if not params:
        raise MissingFieldError(
            "QPD-3",
            qpd.field(3),
            "must hold at least one @SEG.field^value pair",
            location=ErrorLocation("QPD", 1, 3),
        )
    dsc = message.segment("DSC")
    pointer = dsc.get(1).strip() if dsc is not None else ""
    return PdqQuery(h, tag, tuple(params), _domains(qpd, 8), _limit(message), pointer or None, qpd)


def _limit(message: Message) -> int | None:
    rcp = message.segment("RCP")
    if rcp is None:
        return None
    quantity = rcp.get(2, 1, 1).strip()
    unit = rcp.get(2, 1, 2).strip().upper()
    if not quantity:
        return None
    if not quantity.isdigit() or int(quantity) < 1:
        raise DataTypeError(
            "RCP-2.1",
            quantity,
            "must be a positive whole number",
            location=ErrorLocation("RCP", 1, 2, 1, 1),
        )
    if unit not in ("", "RD"):
        raise TableValueError(
            "RCP-2.2",
            unit,
            "must be RD (records; Table 0126)",
            location=ErrorLocation("RCP", 1, 2, 1, 2),
        )
    return int(quantity)


def _cancel(message: Message, h: MessageHeader) -> PdqCancel:
    qid = _require_segment(message, "QID")
    tag = qid.get(1).strip()
    if not tag:
        raise MissingFieldError(
            "QID-1", "", "(query tag) is required", location=ErrorLocation("QID", 1, 1)
        )
    return PdqCancel(h, tag)
