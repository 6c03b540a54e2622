"""Reading a facility's CSV export into canonical columns, with line-numbered errors.

Data stewards hand over whatever their systems export: other column names
(``--map surname=family_name``), semicolons, a BOM, dates as ``YYYYMMDD`` or
``YYYY-MM-DD``. Every problem is reported with its line number; nothing is
dropped silently.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matching.errors import RecordError
from matching.record import FIELDS, parse_birth_date
from mpi.errors import MpiError

__all__ = [
    "CANONICAL",
    "CsvDataError",
    "CsvUsageError",
    "InputTable",
    "InvalidValues",
    "parse_mapping",
    "read_table",
]

CANONICAL: tuple[str, ...] = FIELDS
_SEX = {
    "M": "M",
    "MALE": "M",
    "F": "F",
    "FEMALE": "F",
    "W": "F",
    "O": "O",
    "OTHER": "O",
    "D": "O",
    "X": "O",
    "U": "U",
    "UNKNOWN": "U",
    "": "",
}
_MAX_LISTED = 20


class CsvUsageError(MpiError):
    """The command was called wrongly (missing file, bad ``--map``): exit code 2."""


class CsvDataError(MpiError):
    """The file's content is wrong (bad row, duplicate id, bad value): exit code 1."""


class InvalidValues(enum.Enum):
    """What to do with a value that breaks its field's rule (a date like ``19561345``)."""

    ERROR = "error"  # stop and list the lines
    BLANK = "blank"  # treat as missing, warn with the count
    KEEP = "keep"  # keep an 8-digit date as written (still comparable), blank the rest


@dataclass(frozen=True)
class InputTable:
    """A CSV export read into canonical columns.

    Attributes:
        original: every input column as read, in input order (carried through).
        canonical: ``record_id`` plus the canonical fields the matcher reads.
        lines: the physical line number of each row (for messages).
        warnings: what was blanked or kept under :class:`InvalidValues`.
    """

    original: pd.DataFrame
    canonical: pd.DataFrame
    lines: list[int]
    id_column: str | None
    warnings: list[str] = field(default_factory=list)


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--map SRC=FIELD`` options into {source column: canonical field}.

    Raises:
        CsvUsageError: an item is not ``SRC=FIELD`` or FIELD is not canonical.
    """
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise CsvUsageError(f"--map: {item!r} must have the form SOURCE=FIELD")
        if target.strip() not in CANONICAL:
            raise CsvUsageError(
                f"--map: {target.strip()!r} in {item!r} is not a canonical field "
                f"(one of {', '.join(CANONICAL)})"
            )
        mapping[source.strip()] = target.strip()
    return mapping


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise CsvUsageError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise CsvUsageError(f"{path}: is a directory, not a CSV file") from e
    except OSError as e:
        raise CsvUsageError(f"{path}: cannot be read ({e.strerror})") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older exports are Windows-1252/Latin-1; every byte decodes there.
        return raw.decode("cp1252", errors="replace")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = ","

    class _Export(csv.excel):
        pass

    _Export.delimiter = delimiter
    return _Export


def _rows(path: Path, text: str) -> tuple[list[str], list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvDataError(f"{path}: the file is empty (no header line)") from None
    except csv.Error as e:
        raise CsvDataError(f"{path} line 1: unreadable header ({e})") from e
    header = [h.strip() for h in header]
    if not any(header):
        raise CsvDataError(f"{path} line 1: the header is blank")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise CsvDataError(f"{path} line 1: column {dupes[0]!r} appears more than once")
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[str] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            line = start
            start = reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is no record
            if len(row) != len(header):
                bad.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
                continue
            rows.append(row)
            lines.append(line)
    except csv.Error as e:
        raise CsvDataError(f"{path} line {reader.line_num}: {e}") from e
    if bad:
        raise CsvDataError(_listing(path, "rows with the wrong number of fields", bad))
    if not rows:
        raise CsvDataError(f"{path}: no records after the header line")
    return header, rows, lines


def _listing(path: Path, what: str, items: list[str]) -> str:
    shown = items[:_MAX_LISTED]
    more = f"\n  ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return f"{path}: {len(items)} {what}:\n  " + "\n  ".join(shown) + more


def _canonical_names(path: Path, header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    missing = [src for src in mapping if src not in header]
    if missing:
        raise CsvUsageError(
            f"--map: column {missing[0]!r} is not in {path} (columns: {', '.join(header)})"
        )
    names: dict[str, str] = {}
    for column in header:
        target = mapping.get(column, column if column in CANONICAL else None)
        if target is None:
            continue
        if target in names.values():
            raise CsvUsageError(f"{path}: two columns map to {target!r}; map only one of them")
        names[column] = target
    return names


def _clean_dates(
    values: pd.Series, lines: list[int], policy: InvalidValues
) -> tuple[pd.Series, list[str]]:
    parsed: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for value in values.unique():
        try:
            parsed[value] = parse_birth_date(value)
        except RecordError as e:
            problems[value] = e.rule
            digits = value.replace("-", "").strip()
            keep = policy is InvalidValues.KEEP and digits.isdigit() and len(digits) == 8
            parsed[value] = digits if keep else None
    texts: list[str] = values.tolist()
    wrong: list[int] = np.flatnonzero(values.isin(list(problems)).to_numpy()).tolist()
    bad = [f"line {lines[k]}: birth_date {texts[k]!r} {problems[texts[k]]}" for k in wrong]
    return values.map(parsed), bad


def _clean_sex(values: pd.Series, lines: list[int]) -> tuple[pd.Series, list[str]]:
    upper = values.str.strip().str.upper()
    mapped = upper.map(_SEX)
    texts: list[str] = values.tolist()
    unknown: list[int] = np.flatnonzero(mapped.isna().to_numpy()).tolist()
    bad = [f"line {lines[k]}: sex {texts[k]!r} must be M, F, O or U" for k in unknown]
    known = [v if isinstance(v, str) and v else None for v in mapped.tolist()]
    return pd.Series(known, index=values.index, dtype=object), bad


def read_table(
    path: Path,
    mapping: Mapping[str, str] | None = None,
    invalid: InvalidValues = InvalidValues.ERROR,
) -> InputTable:
    """Read and check a CSV export.

    Args:
        path: the CSV file (comma, semicolon, tab or pipe separated; UTF-8 or Windows-1252).
        mapping: source column → canonical field, from ``--map``.
        invalid: what to do with a value that breaks its field's rule.

    Raises:
        CsvUsageError: the file cannot be opened or ``mapping`` does not fit it.
        CsvDataError: the content is wrong; the message lists the lines.
    """
    header, rows, lines = _rows(path, _read_text(path))
    original = pd.DataFrame(rows, columns=header, dtype=object)
    names = _canonical_names(path, header, mapping or {})
    canonical = pd.DataFrame({target: original[src] for src, target in names.items()})
    id_column = next((src for src, target in names.items() if target == "record_id"), None)
    if id_column is None:
        canonical["record_id"] = [str(n) for n in range(1, len(original) + 1)]
    else:
        canonical["record_id"] = canonical["record_id"].str.strip()
        _check_ids(path, canonical["record_id"], lines)
    problems: list[str] = []
    if "birth_date" in canonical:
        canonical["birth_date"], bad = _clean_dates(canonical["birth_date"], lines, invalid)
        problems += bad
    if "sex" in canonical:
        canonical["sex"], bad = _clean_sex(canonical["sex"], lines)
        problems += bad
    warnings: list[str] = []
    if problems:
        if invalid is InvalidValues.ERROR:
            raise CsvDataError(
                _listing(path, "invalid values", problems)
                + "\n(use --invalid blank to treat them as missing, or --invalid keep)"
            )
        warnings.append(_listing(path, f"invalid values treated as '{invalid.value}'", problems))
    for column in canonical.columns:
        if column not in ("record_id", "birth_date", "sex"):
            canonical[column] = pd.Series(
                [v.strip() or None for v in canonical[column].tolist()],
                index=canonical.index,
                dtype=object,
            )
    return InputTable(original, canonical, lines, id_column, warnings)


def _check_ids(path: Path, ids: pd.Series, lines: list[int]) -> None:
    texts: list[str] = ids.tolist()
    blank: list[int] = np.flatnonzero((ids == "").to_numpy()).tolist()
    if blank:
        raise CsvDataError(
            _listing(path, "rows without a record_id", [f"line {lines[k]}" for k in blank])
        )
    repeated: list[int] = np.flatnonzero(ids.duplicated(keep="first").to_numpy()).tolist()
    if not repeated:
        return
    first_seen: dict[str, int] = {}
    for k in np.flatnonzero(ids.duplicated(keep=False).to_numpy()).tolist():
        first_seen.setdefault(texts[k], lines[k])
    dupes = [
        f"line {lines[k]}: record_id {texts[k]!r} already on line {first_seen[texts[k]]}"
        for k in repeated
    ]
    if dupes:
        raise CsvDataError(_listing(path, "duplicate record ids", dupes))
