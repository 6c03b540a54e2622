"""The one exception tree of :mod:`hl7`.

Every :class:`Hl7Error` carries what an acknowledgement needs: the HL7 Table
0357 error code, the location(s) of the offending content (ERL:
segment^sequence^field^repetition^component^subcomponent, 1-based), the
severity (Table 0516) and the acknowledgement code (Table 0008, AE or AR).
So the ACK/RSP builders in :mod:`hl7.responses` need no guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "AckCode",
    "CharsetError",
    "DataTypeError",
    "DuplicateKeyError",
    "ErrorCode",
    "ErrorLocation",
    "FramingError",
    "Hl7Error",
    "InternalError",
    "MissingFieldError",
    "RecordLockedError",
    "SegmentSequenceError",
    "Severity",
    "TableValueError",
    "UnknownKeyError",
    "UnsupportedEventError",
    "UnsupportedMessageTypeError",
    "UnsupportedProcessingIdError",
    "UnsupportedVersionError",
]


class ErrorCode(IntEnum):
    """HL7 Table 0357 (message error condition codes)."""

    OK = 0
    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    RECORD_LOCKED = 206
    INTERNAL = 207

    @property
    def text(self) -> str:
        """The code's display text, as written in CWE.2 / CE.2."""
        return _CODE_TEXT[self]


_CODE_TEXT = {
    ErrorCode.OK: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown Key Identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL: "Application internal error",
}


class AckCode(StrEnum):
    """HL7 Table 0008 acknowledgement codes (MSA-1)."""

    AA = "AA"
    AE = "AE"
    AR = "AR"


class Severity(StrEnum):
    """HL7 Table 0516 error severity (ERR-4)."""

    ERROR = "E"
    WARNING = "W"
    INFORMATION = "I"


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where an error sits (HL7 ERL), every position 1-based.

    Attributes:
        segment: segment id, e.g. ``"PID"``.
        sequence: which occurrence of that segment in the message.
        field: field number; ``None`` when the whole segment is meant.
        repetition: field repetition.
        component: component; ``None`` when the whole repetition is meant.
        subcomponent: subcomponent; ``None`` when the whole component is meant.
    """

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def parts(self) -> tuple[str, ...]:
        """The ERL components as text, trailing empty positions dropped."""
        raw = (
            self.segment,
            str(self.sequence),
            _num(self.field),
            _num(self.repetition),
            _num(self.component),
            _num(self.subcomponent),
        )
        end = len(raw)
        while end > 1 and not raw[end - 1]:
            end -= 1
        return raw[:end]

    def __str__(self) -> str:
        return "^".join(self.parts())


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


_AR_CODES = frozenset(
    {
        ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        ErrorCode.UNSUPPORTED_EVENT,
        ErrorCode.UNSUPPORTED_PROCESSING_ID,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.INTERNAL,
    }
)


class Hl7Error(Exception):
    """Base class of every error :mod:`hl7` raises.

    Attributes:
        code: the Table 0357 code.
        locations: every location the error applies to (several for, e.g.,
            several unknown domains in QPD-4); may be empty.
        severity: ERR-4 severity.
        ack_code: ``AE`` (content error) or ``AR`` (rejected whatever the
            content: unsupported type, event, processing id, version, or the
            system cannot process).
        field: the field's name (``"PID-3"``, ``"MSH-18"``), or ``""``.
        value: the offending value (``None`` when absent).
        rule: what the value should have been.
    """

    default_code = ErrorCode.INTERNAL

    def __init__(
        self,
        field: str,
        value: object,
        rule: str,
        *,
        location: ErrorLocation | Sequence[ErrorLocation] | None = None,
        code: ErrorCode | None = None,
        severity: Severity = Severity.ERROR,
        ack_code: AckCode | None = None,
    ) -> None:
        self.code = code if code is not None else type(self).default_code
        if location is None:
            self.locations: tuple[ErrorLocation, ...] = ()
        elif isinstance(location, ErrorLocation):
            self.locations = (location,)
        else:
            self.locations = tuple(location)
        self.severity = severity
        if ack_code is None:
            ack_code = AckCode.AR if self.code in _AR_CODES else AckCode.AE
        self.ack_code = ack_code
        self.field = field
        self.value = value
        self.rule = rule
        shown = "(empty)" if value is None or value == "" else repr(value)
        prefix = f"{field}: " if field else ""
        super().__init__(f"{prefix}{shown} {rule}")

    @property
    def location(self) -> ErrorLocation | None:
        """The first location, or ``None``."""
        return self.locations[0] if self.locations else None

    @property
    def text(self) -> str:
        """The human-readable message (for MSA-3 / ERR-8)."""
        return str(self)


class SegmentSequenceError(Hl7Error):
    """A segment is missing, misplaced or unparseable (code 100)."""

    default_code = ErrorCode.SEGMENT_SEQUENCE


class MissingFieldError(Hl7Error):
    """A required field or component is empty (code 101)."""

    default_code = ErrorCode.REQUIRED_FIELD_MISSING


class DataTypeError(Hl7Error):
    """A value does not fit its data type, e.g. a bad date (code 102)."""

    default_code = ErrorCode.DATA_TYPE


class TableValueError(Hl7Error):
    """A coded value is not in its table (code 103)."""

    default_code = ErrorCode.TABLE_VALUE


class CharsetError(TableValueError):
    """MSH-18 names a character set we cannot decode, or the bytes do not fit it."""


class UnsupportedMessageTypeError(Hl7Error):
    """MSH-9.1 is not a message type this system accepts (code 200, AR)."""

    default_code = ErrorCode.UNSUPPORTED_MESSAGE_TYPE


class UnsupportedEventError(Hl7Error):
    """MSH-9.2 is not a trigger event this system accepts (code 201, AR)."""

    default_code = ErrorCode.UNSUPPORTED_EVENT


class UnsupportedProcessingIdError(Hl7Error):
    """MSH-11 is not P, D or T (code 202, AR)."""

    default_code = ErrorCode.UNSUPPORTED_PROCESSING_ID


class UnsupportedVersionError(Hl7Error):
    """MSH-12 names a version this message type is not accepted in (code 203, AR)."""

    default_code = ErrorCode.UNSUPPORTED_VERSION


class UnknownKeyError(Hl7Error):
    """An identifier or identity domain is unknown (code 204, AE as IHE uses it)."""

    default_code = ErrorCode.UNKNOWN_KEY


class DuplicateKeyError(Hl7Error):
    """An identifier is already taken (code 205)."""

    default_code = ErrorCode.DUPLICATE_KEY


class RecordLockedError(Hl7Error):
    """The record is locked by another operation (code 206)."""

    default_code = ErrorCode.RECORD_LOCKED


class InternalError(Hl7Error):
    """The application failed while processing the message (code 207, AR)."""

    default_code = ErrorCode.INTERNAL


class FramingError(Hl7Error):
    """An MLLP frame is malformed: oversize, truncated, or a bad end block.

    Framing errors are reported by :class:`hl7.mllp.FrameDecoder` as events
    rather than raised, so that the connection stays usable. They carry code
    100 and AR: the bytes could not be read as one message at all.

    Attributes:
        kind: ``"oversize"``, ``"incomplete"`` or ``"bad-end-block"``.
        head: the first bytes of the broken frame (at most 1 KiB), so a
            listener can still find MSH-10 and answer with an AR.
    """

    default_code = ErrorCode.SEGMENT_SEQUENCE

    def __init__(self, kind: str, rule: str, *, head: bytes = b"") -> None:
        super().__init__("MLLP frame", kind, rule, ack_code=AckCode.AR)
        self.kind = kind
        self.head = head
