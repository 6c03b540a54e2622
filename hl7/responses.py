"""Builders for the messages the MPI sends: ACK, RSP^K23, RSP^K22, ADT^A31.

Every builder returns the encoded bytes (unframed). Answers swap the
request's applications and facilities (MSH-3/4 ← MSH-5/6 and back; pass
``application``/``facility`` to answer as someone else), carry a new control
id, the current time, MSA-2 = the request's MSH-10, and are written in the
request's charset (MSH-18 declares the one actually used, see
:func:`hl7.codec.encode_message`).

Errors are written from the :class:`~hl7.errors.Hl7Error` alone: before 2.5
(ITI-8's 2.3.1) as ERR-1 ELD ``seg^seq^field^code&text&HL70357`` plus MSA-3
text; from 2.5 as ERR-2 (one repetition per location), ERR-3
``code^text^HL70357``, ERR-4 severity and ERR-8 text.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hl7.codec import FieldValue, Repeated, Repetition, Segment, SegmentValue, encode_message
from hl7.datatypes import write_hd
from hl7.errors import AckCode, Hl7Error, UnsupportedVersionError
from hl7.messages import MessageHeader
from hl7.model import AssigningAuthority, Identifier, PatientDemographics
from hl7.pid import PSEUDONYM_NAMES, write_pid

__all__ = [
    "PdqMatch",
    "build_a31",
    "build_ack",
    "build_pdq_response",
    "build_pix_response",
    "new_control_id",
]

_DEFAULT_VERSION = "2.5"
_KNOWN_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})


@dataclass(frozen=True, slots=True)
class PdqMatch:
    """One patient in a PDQ answer.

    Attributes:
        patient: the demographics written to PID (PID-3 already restricted
            to the requested domains).
        score: the match probability, written to QRI-1 (``None``: QRI left empty).
    """

    patient: PatientDemographics
    score: float | None = None


def new_control_id() -> str:
    """A fresh MSH-10: 20 hex characters (fits 2.3.1's ST(20))."""
    return secrets.token_hex(10)


_clock: list[tuple[int, str]] = [(-1, "")]


def _timestamp(now: datetime | None) -> str:
    """MSH-7/EVN-2 with the local UTC offset, e.g. ``20240101120000+0100``."""
    if now is not None:
        # An aware time keeps its own offset; a naive one is local time.
        moment = now if now.tzinfo is not None else now.astimezone()
        return moment.strftime("%Y%m%d%H%M%S%z")
    # Formatting the clock costs more than the rest of an ACK: reuse it within a second.
    second = int(time.time())
    cached = _clock[0]
    if cached[0] != second:
        cached = (second, time.strftime("%Y%m%d%H%M%S%z", time.localtime(second)))
        _clock[0] = cached
    return cached[1]


def _hd(value: AssigningAuthority | str) -> list[str]:
    return write_hd(AssigningAuthority(value) if isinstance(value, str) else value)


def _msh(
    request: MessageHeader,
    message_type: tuple[str, str, str],
    version: str,
    application: AssigningAuthority | str | None,
    facility: AssigningAuthority | str | None,
    control_id: str | None,
    now: datetime | None,
) -> SegmentValue:
    fields: list[FieldValue] = [
        None,
        None,
        _hd(application if application is not None else request.receiving_application),
        _hd(facility if facility is not None else request.receiving_facility),
        _hd(request.sending_application),
        _hd(request.sending_facility),
        _timestamp(now),
        None,
        list(message_type),
        control_id or new_control_id(),
        request.processing_id or "P",
        version,
    ]
    return ("MSH", fields)


def _legacy(version: str) -> bool:
    return version < "2.5"


def _response_version(request: MessageHeader, error: Hl7Error | None, minimum: str) -> str:
    """The request's version if we know it and it is at least ``minimum``, else 2.5."""
    version = request.version
    if (
        version not in _KNOWN_VERSIONS
        or isinstance(error, UnsupportedVersionError)
        or version < minimum
    ):
        return _DEFAULT_VERSION
    return version


def _msa(request: MessageHeader, error: Hl7Error | None, legacy: bool) -> SegmentValue:
    code = error.ack_code.value if error is not None else AckCode.AA.value
    text = error.text if error is not None and legacy else None
    return ("MSA", [code, request.control_id, text])


def _err(error: Hl7Error, legacy: bool) -> SegmentValue:
    code = [str(error.code.value), error.code.text, "HL70357"]
    if legacy:
        # ELD: segment^sequence^field^code, the code a CE in subcomponents.
        reps: list[Repetition] = [
            [loc.segment, str(loc.sequence), _text(loc.field), code] for loc in error.locations
        ]
        return ("ERR", [Repeated(tuple(reps or [[None, None, None, code]]))])
    fields: list[FieldValue] = [
        None,
        Repeated(tuple(list(loc.parts()) for loc in error.locations)) if error.locations else None,
        code,
        error.severity.value,
        None,
        None,
        None,
        error.text,
    ]
    return ("ERR", fields)


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def build_ack(
    request: MessageHeader,
    error: Hl7Error | None = None,
    *,
    application: AssigningAuthority | str | None = None,
    facility: AssigningAuthority | str | None = None,
    control_id: str | None = None,
    now: datetime | None = None,
    charset: str | None = None,
) -> bytes:
    """An original-mode ``ACK^<event>^ACK`` (ITI-8, ITI-10 answers, QCN^J01).

    The version is the request's (2.5 if it is unknown or was the error);
    MSA-1 is AA without ``error``, else the error's AE/AR.

    Args:
        request: the request's header (see
            :func:`~hl7.messages.read_header_lenient` when it failed to parse).
        error: what went wrong, if anything.
        application: MSH-3 to send instead of the request's MSH-5.
        facility: MSH-4 to send instead of the request's MSH-6.
        control_id: MSH-10 (default: a new random id).
        now: MSH-7 (default: the current time).
        charset: MSH-18 to write in (default: the request's).

    Returns:
        The message bytes.
    """
    version = _response_version(request, error, "2.3")
    legacy = _legacy(version)
    msh = _msh(
        request,
        ("ACK", request.trigger_event, "ACK"),
        version,
        application,
        facility,
        control_id,
        now,
    )
    segments = [msh, _msa(request, error, legacy)]
    if error is not None:
        segments.append(_err(error, legacy))
    return encode_message(segments, request.charset if charset is None else charset)


def _qak(
    qpd: Segment | None, error: Hl7Error | None, hits: bool, counts: Sequence[int] | None
) -> SegmentValue:
    if error is not None:
        status = "AR" if error.ack_code is AckCode.AR else "AE"
    else:
        status = "OK" if hits else "NF"
    tag = qpd.get(2) if qpd is not None else ""
    name = qpd.values()[0] if qpd is not None and qpd.field(1) else None
    fields: list[FieldValue] = [tag, status, name]
    if counts is not None and error is None:
        fields.extend(str(c) for c in counts)
    return ("QAK", fields)


def _query_segments(qpd: Segment | None) -> list[SegmentValue]:
    return [] if qpd is None else [("QPD", qpd.values())]


def build_pix_response(
    request: MessageHeader,
    qpd: Segment | None,
    identifiers: Sequence[Identifier] = (),
    error: Hl7Error | None = None,
    *,
    application: AssigningAuthority | str | None = None,
    facility: AssigningAuthority | str | None = None,
    control_id: str | None = None,
    now: datetime | None = None,
    charset: str | None = None,
) -> bytes:
    """``RSP^K23^RSP_K23``: MSH MSA [ERR] QAK QPD [PID] (ITI-9).

    QAK-2 is OK with identifiers, NF without, AE/AR with an error (then no
    PID). The PID holds only PID-3 (``identifiers``) and PID-5 ``~^^^^^^S``.

    Args:
        request: the query's header.
        qpd: the query's QPD, echoed unchanged (``None`` if it had none).
        identifiers: the cross-referenced ids to return (not the queried one).
        error: e.g. an :class:`~hl7.errors.UnknownKeyError` with one location
            per unknown domain (``QPD^1^4^<rep>``).
        application, facility, control_id, now, charset: as in :func:`build_ack`.

    Returns:
        The message bytes.
    """
    version = _response_version(request, error, "2.5")
    msh = _msh(request, ("RSP", "K23", "RSP_K23"), version, application, facility, control_id, now)
    hits = bool(identifiers) and error is None
    segments = [msh, _msa(request, error, False)]
    if error is not None:
        segments.append(_err(error, False))
    segments.append(_qak(qpd, error, hits, None))
    segments.extend(_query_segments(qpd))
    if hits:
        patient = PatientDemographics(identifiers=tuple(identifiers), names=PSEUDONYM_NAMES)
        segments.append(write_pid(patient, identity_only=True))
    return encode_message(segments, request.charset if charset is None else charset)


def _score(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def build_pdq_response(
    request: MessageHeader,
    qpd: Segment | None,
    matches: Sequence[PdqMatch] = (),
    error: Hl7Error | None = None,
    *,
    remaining: int = 0,
    total: int | None = None,
    continuation: str | None = None,
    application: AssigningAuthority | str | None = None,
    facility: AssigningAuthority | str | None = None,
    control_id: str | None = None,
    now: datetime | None = None,
    charset: str | None = None,
) -> bytes:
    """``RSP^K22^RSP_K21``: MSH MSA [ERR] QAK QPD {PID QRI} [DSC] (ITI-21).

    QAK-4 total hits (``total``; default ``len(matches) + remaining``), QAK-5
    this payload, QAK-6 remaining; no PID with an error.

    Args:
        request: the query's header.
        qpd: the query's QPD, echoed unchanged.
        matches: this increment's patients, best first.
        error: what went wrong (e.g. unknown domain at ``QPD^1^8^<rep>``).
        remaining: hits left for later increments.
        total: all hits of the query, for a later increment of a continued query
            (whose earlier increments are not in ``matches``).
        continuation: the DSC-1 pointer for the next increment (written with
            DSC-2 ``I``), ``None`` on the last one.
        application, facility, control_id, now, charset: as in :func:`build_ack`.

    Returns:
        The message bytes.
    """
    version = _response_version(request, error, "2.5")
    msh = _msh(request, ("RSP", "K22", "RSP_K21"), version, application, facility, control_id, now)
    hits = bool(matches) and error is None
    segments = [msh, _msa(request, error, False)]
    if error is not None:
        segments.append(_err(error, False))
    counts = (len(matches) + remaining if total is None else total, len(matches), remaining)
    segments.append(_qak(qpd, error, hits, counts))
    segments.extend(_query_segments(qpd))
    if hits:
        for n, match in enumerate(matches, start=1):
            segments.append(write_pid(match.patient, set_id=n))
            # hl7apy's 2.5 RSP_K21 requires QRI in each group: write it, empty without a score.
            segments.append(("QRI", [None if match.score is None else _score(match.score)]))
        if continuation:
            segments.append(("DSC", [continuation, "I"]))
    return encode_message(segments, request.charset if charset is None else charset)


def build_a31(
    patient: PatientDemographics,
    *,
    sending_application: AssigningAuthority | str,
    sending_facility: AssigningAuthority | str,
    receiving_application: AssigningAuthority | str,
    receiving_facility: AssigningAuthority | str,
    processing_id: str = "P",
    control_id: str | None = None,
    now: datetime | None = None,
    charset: str = "",
) -> bytes:
    """``ADT^A31^ADT_A05`` (2.5): MSH EVN PID PV1 (ITI-10 update notification).

    PID holds only PID-3 (``patient.identifiers``: pass only the consumer's
    domains) and PID-5 (``patient.names``, or ``~^^^^^^S`` when empty).
    PV1 is ``PV1||N``.

    Returns:
        The message bytes.
    """
    stamp = _timestamp(now)
    msh: SegmentValue = (
        "MSH",
        [
            None,
            None,
            _hd(sending_application),
            _hd(sending_facility),
            _hd(receiving_application),
            _hd(receiving_facility),
            stamp,
            None,
            ["ADT", "A31", "ADT_A05"],
            control_id or new_control_id(),
            processing_id,
            "2.5",
        ],
    )
    names = patient.names or PSEUDONYM_NAMES
    pid_value = PatientDemographics(identifiers=patient.identifiers, names=names)
    segments: list[SegmentValue] = [
        msh,
        ("EVN", ["A31", stamp]),
        write_pid(pid_value, identity_only=True),
        ("PV1", [None, "N"]),
    ]
    return encode_message(segments, charset)
