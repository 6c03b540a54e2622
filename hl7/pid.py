"""PID segment ⇄ :class:`~hl7.model.PatientDemographics`."""

from __future__ import annotations

from hl7.codec import FieldValue, Repetition, Segment, SegmentValue
from hl7.datatypes import (
    address_from,
    cx_from,
    name_from,
    telecom_from,
    write_address,
    write_cx,
    write_name,
    write_repeated,
    write_telecom,
)
from hl7.errors import DataTypeError, ErrorLocation
from hl7.model import Address, Identifier, PatientDemographics, PersonName, Telecom
from matching.record import parse_birth_date

__all__ = ["PSEUDONYM_NAMES", "read_pid", "write_pid"]

PSEUDONYM_NAMES: tuple[PersonName, ...] = (PersonName(), PersonName(name_type="S"))
"""PID-5 of a PIX answer: an empty repetition, then ``^^^^^^S`` (IHE ITI-9)."""


def read_pid(pid: Segment) -> PatientDemographics:
    """Read the demographics of a PID segment.

    Args:
        pid: the segment.

    Returns:
        The demographics; empty repetitions are skipped.

    Raises:
        DataTypeError: PID-7 is not a date, or PID-25 not a number (code 102).
    """
    reps = pid.repetitions
    ids = tuple(cx for c in reps(3) if (cx := cx_from(c)).id)
    names = tuple(n for c in reps(5) if not (n := name_from(c)).is_empty)
    mother = name_from(pid.repetition(6))
    return PatientDemographics(
        identifiers=ids,
        names=names,
        mother_maiden_name=None if mother.is_empty else mother,
        birth_date=_birth_date(pid),
        sex=_opt(pid.get(8).strip().upper()),
        addresses=tuple(a for c in reps(11) if (a := address_from(c)) != Address(type=a.type)),
        home_phones=_phones(pid, 13),
        business_phones=_phones(pid, 14),
        language=_opt(pid.get(15).strip()),
        marital_status=_opt(pid.get(16).strip()),
        national_id=_national_id(pid),
        mother_identifiers=tuple(cx for c in reps(21) if (cx := cx_from(c)).id),
        multiple_birth=_opt(pid.get(24).strip().upper()),
        birth_order=_birth_order(pid),
        death_indicator=_opt(pid.get(30).strip().upper()),
    )


def _opt(value: str) -> str | None:
    return value or None


def _phones(pid: Segment, field: int) -> tuple[Telecom, ...]:
    return tuple(t for c in pid.repetitions(field) if (t := telecom_from(c)).number or t.email)


def _birth_date(pid: Segment) -> str | None:
    raw = pid.get(7)
    try:
        return parse_birth_date(raw)
    except ValueError as e:  # matching's RecordError
        raise DataTypeError(
            "PID-7",
            raw,
            "must be a date YYYY[MM[DD]] (TS.1)",
            location=ErrorLocation("PID", pid.sequence, 7, 1, 1),
        ) from e


def _birth_order(pid: Segment) -> int | None:
    raw = pid.get(25).strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise DataTypeError(
            "PID-25", raw, "must be a number (NM)", location=ErrorLocation("PID", pid.sequence, 25)
        )
    return int(raw)


def _national_id(pid: Segment) -> Identifier | None:
    # PID-19 is ST in 2.3.1/2.5, but some sources send a CX with its domain.
    cx = cx_from(pid.repetition(19))
    return cx if cx.id else None


def write_pid(
    patient: PatientDemographics,
    *,
    set_id: int | None = 1,
    identity_only: bool = False,
) -> SegmentValue:
    """Encoder values for a PID segment.

    Args:
        patient: the demographics to write.
        set_id: PID-1 (``None`` leaves it empty).
        identity_only: write only PID-3 and PID-5 (PIX answers and ITI-10
            notifications); pass ``names=PSEUDONYM_NAMES`` in ``patient`` for
            the IHE ``~^^^^^^S`` of a PIX answer.

    Returns:
        ``("PID", fields)`` for :func:`~hl7.codec.encode_message`.
    """
    fields: list[FieldValue] = [None] * 30
    fields[0] = None if set_id is None else str(set_id)
    fields[2] = write_repeated([write_cx(i) for i in patient.identifiers])
    fields[4] = write_repeated([write_name(n) for n in patient.names])
    if not identity_only:
        _write_demographics(patient, fields)
    return ("PID", fields)


def _write_demographics(p: PatientDemographics, fields: list[FieldValue]) -> None:
    if p.mother_maiden_name is not None:
        fields[5] = write_name(p.mother_maiden_name)
    fields[6] = p.birth_date
    fields[7] = p.sex
    fields[10] = write_repeated([write_address(a) for a in p.addresses])
    home: list[Repetition] = [write_telecom(t) for t in p.home_phones]
    fields[12] = write_repeated(home)
    fields[13] = write_repeated([write_telecom(t) for t in p.business_phones])
    fields[14] = p.language
    fields[15] = p.marital_status
    # PID-19 is ST on output in both versions; the domain stays with us.
    fields[18] = p.national_id.id if p.national_id else None
    fields[20] = write_repeated([write_cx(i) for i in p.mother_identifiers])
    fields[23] = p.multiple_birth
    fields[24] = None if p.birth_order is None else str(p.birth_order)
    fields[29] = p.death_indicator
