"""The record value every part of the product exchanges with the matcher.

A :class:`Record` is one source record's demographics in canonical form: the
fields the matcher compares, nothing else. HL7 PID segments, CSV rows and
database rows are all mapped to it at the edges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from matching.errors import RecordError

__all__ = ["FIELDS", "SEXES", "Record", "parse_birth_date"]

SEXES = frozenset({"M", "F", "O", "U"})

_DATE_DIGITS = re.compile(r"^(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?$")


def parse_birth_date(value: str | None) -> str | None:
    """Parse a birth date at year, month or day precision.

    Args:
        value: ``YYYY``, ``YYYYMM``, ``YYYYMMDD``, ``YYYY-MM`` or ``YYYY-MM-DD``;
            an HL7 TS with a time part (``YYYYMMDDHHMM...``) keeps its date part.

    Returns:
        The date as digits at the precision given (``"1990"``, ``"199004"``,
        ``"19900412"``), or ``None`` for an empty value.

    Raises:
        RecordError: the value is not a date, or a month or day is out of range.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > 8 and text[:8].isdigit() and "-" not in text:
        text = text[:8]
    m = _DATE_DIGITS.match(text)
    if m is None:
        raise RecordError("birth_date", value, "must be YYYY, YYYYMM, YYYYMMDD or YYYY-MM-DD")
    year, month, day = m.group(1), m.group(2), m.group(3)
    if not 1800 <= int(year) <= 2200:
        raise RecordError("birth_date", value, "year must lie between 1800 and 2200")
    if month is not None and not 1 <= int(month) <= 12:
        raise RecordError("birth_date", value, "month must lie between 01 and 12")
    if day is not None:
        assert month is not None
        if not 1 <= int(day) <= _days_in_month(int(year), int(month)):
            raise RecordError("birth_date", value, "day does not exist in that month")
    return year + (month or "") + (day or "")


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


@dataclass(frozen=True, slots=True)
class Record:
    """One source record's demographics, as the matcher sees them.

    Every field but ``record_id`` may be ``None`` (unknown). Values are kept as
    the source sent them (trimmed); normalisation happens in
    :mod:`matching.normalise` so that explanations can show the original.

    Attributes:
        record_id: unique within one data set (a CSV ``record_id``, or
            ``domain|id`` for a source record in the index).
        birth_date: digits at year, month or day precision, see
            :func:`parse_birth_date`.
        sex: one of ``M F O U``.
    """

    record_id: str
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    phone: str | None = None
    national_id: str | None = None
    mother_maiden_name: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if not self.record_id:
            raise RecordError("record_id", self.record_id, "must not be empty")
        if self.sex is not None and self.sex not in SEXES:
            raise RecordError("sex", self.sex, "must be one of M, F, O, U")
        if self.birth_date is not None and not (
            self.birth_date.isdigit() and len(self.birth_date) in (4, 6, 8)
        ):
            raise RecordError(
                "birth_date", self.birth_date, "must be digits YYYY, YYYYMM or YYYYMMDD"
            )

    @classmethod
    def from_mapping(cls, record_id: str, values: dict[str, str | None]) -> Record:
        """Build a record from loosely formatted text values (a CSV row, a form).

        Empty strings become ``None``; the birth date is parsed with
        :func:`parse_birth_date`; sex is upper-cased and mapped from common
        spellings (``male``, ``f``, ...).

        Raises:
            RecordError: a value breaks a field's rule.
        """
        clean: dict[str, str | None] = {}
        for name in FIELDS:
            if name == "record_id":
                continue
            raw = values.get(name)
            text = raw.strip() if isinstance(raw, str) else None
            clean[name] = text or None
        clean["birth_date"] = parse_birth_date(clean["birth_date"])
        clean["sex"] = _parse_sex(clean["sex"])
        return cls(record_id=record_id, **clean)

    def with_id(self, record_id: str) -> Record:
        """The same demographics under another id."""
        return replace(self, record_id=record_id)


_SEX_WORDS = {
    "M": "M",
    "MALE": "M",
    "MAN": "M",
    "MANN": "M",
    "MAENNLICH": "M",
    "MÄNNLICH": "M",
    "F": "F",
    "FEMALE": "F",
    "WOMAN": "F",
    "W": "F",
    "WEIBLICH": "F",
    "FRAU": "F",
    "O": "O",
    "OTHER": "O",
    "D": "O",
    "DIVERS": "O",
    "X": "O",
    "U": "U",
    "UNKNOWN": "U",
    "A": "O",
    "N": "U",
}


def _parse_sex(value: str | None) -> str | None:
    if value is None:
        return None
    sex = _SEX_WORDS.get(value.strip().upper())
    if sex is None:
        raise RecordError("sex", value, "must be M, F, O or U (or male/female/other/unknown)")
    return sex


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Record))
