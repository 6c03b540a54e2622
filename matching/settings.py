"""Matching settings: authored as plain data, validated all at once, compiled to objects.

The default settings (:data:`DEFAULT_SETTINGS`) are a plain ``dict`` that could
equally come from a TOML or JSON file. :func:`compile_settings` checks every
part and raises one :class:`~matching.errors.SettingsError` listing every
problem, or returns :class:`MatchSettings` with live comparison objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matching.comparison import (
    Comparison,
    ComponentsEqual,
    CrossEqual,
    CrossSimilar,
    Exact,
    Initial,
    Level,
    Neutral,
    Prefix,
    SharedGroup,
    SharedPart,
    Similarity,
    Transposed,
)
from matching.errors import SettingsError
from matching.prepare import VOCABULARIES

__all__ = [
    "DEFAULT_SETTINGS",
    "BlockingRule",
    "Guard",
    "MatchSettings",
    "compile_settings",
    "default_settings",
]

_NAME_LEVELS = [
    {"type": "exact", "column": "{c}"},
    {"type": "jw", "column": "{c}", "threshold": 0.92},
    {"type": "phonetic", "column": "{c}_meta"},
    {"type": "jw", "column": "{c}", "threshold": 0.8},
]

DEFAULT_SETTINGS: dict[str, Any] = {
    "comparisons": [
        {
            "name": "given_name",
            "present": ["given"],
            "tf": "given",
            "levels": [
                {"type": "exact", "column": "given"},
                {"type": "variant", "columns": ["given_g1", "given_g2"], "label": "nickname"},
                {"type": "swapped", "columns": ["given", "family"]},
                {"type": "swapped_close", "columns": ["given", "family"], "threshold": 0.9},
                {"type": "jw", "column": "given", "threshold": 0.92},
                {"type": "phonetic", "column": "given_meta"},
                {"type": "jw", "column": "given", "threshold": 0.8},
                {"type": "initial", "column": "given", "initial_column": "given_init"},
            ],
        },
        {
            "name": "family_name",
            "present": ["family"],
            "tf": "family",
            "levels": [
                {"type": "exact", "column": "family"},
                # A swap was counted by the given-name comparison already.
                {"type": "swapped", "columns": ["given", "family"], "neutral": True},
                {
                    "type": "swapped_close",
                    "columns": ["given", "family"],
                    "threshold": 0.9,
                    "neutral": True,
                },
                {"type": "part", "column": "family", "label": "shared part"},
                {"type": "jw", "column": "family", "threshold": 0.92},
                {"type": "phonetic", "column": "family_meta"},
                {"type": "jw", "column": "family", "threshold": 0.8},
            ],
        },
        {
            "name": "middle_name",
            "present": ["middle"],
            "levels": [
                {"type": "exact", "column": "middle"},
                {"type": "initial", "column": "middle", "initial_column": "middle_init"},
            ],
        },
        {
            "name": "birth_date",
            "present": ["dob"],
            "levels": [
                {"type": "exact", "column": "dob", "length": 8},
                {"type": "partial", "column": "dob", "full_length": 8},
                {"type": "transposed", "columns": ["dob_y", "dob_m", "dob_d"]},
                {"type": "edits", "column": "dob", "threshold": 1, "label": "one digit"},
                {
                    "type": "components",
                    "columns": ["dob_y", "dob_m", "dob_d"],
                    "count": 2,
                    "label": "one part differs",
                },
                {"type": "exact", "column": "dob_y", "label": "same year"},
            ],
        },
        {
            "name": "sex",
            "present": ["sex"],
            "levels": [{"type": "exact", "column": "sex"}],
        },
        {
            "name": "street",
            "present": ["street"],
            "levels": [
                {"type": "exact", "column": "street"},
                {"type": "jw", "column": "street", "threshold": 0.9},
                {"type": "jw", "column": "street", "threshold": 0.75},
            ],
        },
        {
            "name": "city",
            "present": ["city"],
            "levels": [
                {"type": "exact", "column": "city"},
                {"type": "jw", "column": "city", "threshold": 0.88},
            ],
        },
        {
            "name": "postcode",
            "present": ["postcode"],
            "levels": [
                {"type": "exact", "column": "postcode"},
                {"type": "edits", "column": "postcode", "threshold": 1, "label": "one edit"},
                {"type": "exact", "column": "postcode_area", "label": "same area"},
            ],
        },
        {
            "name": "phone",
            "present": ["phone"],
            "levels": [
                {"type": "exact", "column": "phone"},
                {"type": "exact", "column": "phone_tail", "label": "last 6 digits"},
                {"type": "edits", "column": "phone", "threshold": 1, "label": "one edit"},
            ],
        },
        {
            "name": "national_id",
            "present": ["nid"],
            "levels": [
                {"type": "exact", "column": "nid"},
                {"type": "edits", "column": "nid", "threshold": 1, "label": "one typo"},
            ],
        },
        {
            "name": "email",
            "present": ["email"],
            "levels": [
                {"type": "exact", "column": "email"},
                {"type": "exact", "column": "email_local", "label": "same local part"},
            ],
        },
        {
            "name": "mother_maiden_name",
            "present": ["mmn"],
            "levels": [
                {"type": "exact", "column": "mmn"},
                {"type": "jw", "column": "mmn", "threshold": 0.88},
            ],
        },
    ],
    # A pair is a candidate when it shares the key of any rule (all parts present).
    "blocking": [
        {"name": "family_year", "columns": ["family_meta", "dob_y"]},
        {"name": "given_dob", "columns": ["given_g1", "dob"]},
        {"name": "dob_postcode", "columns": ["dob", "postcode"]},
        # Both names by sound: alone where the pair of names is rare, else with the
        # birth year or the postcode area, so that common name pairs (John Smith)
        # do not make blocks of thousands. (With month or day as well: 3.7M more
        # pairs at 1M records for 2 more true pairs.)
        {"name": "names", "columns": ["given_sdx", "family_sdx"], "max_block": 50},
        {"name": "names_year", "columns": ["given_sdx", "family_sdx", "dob_y"]},
        {"name": "names_area", "columns": ["given_sdx", "family_sdx", "postcode_area"]},
        {"name": "swapped_names", "columns": ["family_sdx", "given_sdx"], "cross": True},
        {"name": "family_postcode", "columns": ["family_sdx", "postcode"]},
        {"name": "family_dob", "columns": ["family_sdx", "dob"]},
        {"name": "given_postcode", "columns": ["given_sdx", "postcode"]},
        # The address finds what names and birth date no longer can (both replaced
        # or mistyped). The street by its letters alone, so a typo'd house number,
        # a split or joined word or ``Str.`` for ``Straße`` still meet; the house
        # number with the postcode or the city where the street name is mistyped.
        {"name": "street_postcode", "columns": ["street", "postcode"]},
        {"name": "street_city", "columns": ["street_name", "city"], "max_block": 8},
        {"name": "house_postcode", "columns": ["house_no", "postcode"], "max_block": 8},
        {"name": "house_city", "columns": ["house_no", "city"], "max_block": 8},
        {"name": "dob_house", "columns": ["dob", "house_no"]},
        {"name": "city_postcode", "columns": ["city", "postcode"], "max_block": 8},
        {"name": "family_city", "columns": ["family_sdx", "city"], "max_block": 8},
        {"name": "dob_city", "columns": ["dob", "city"]},
        {"name": "dob_street", "columns": ["dob", "street_name"]},
        {"name": "family_street", "columns": ["family_sdx", "street"]},
        {"name": "national_id", "columns": ["nid"]},
        {"name": "phone", "columns": ["phone_tail"]},
        {"name": "email", "columns": ["email"]},
    ],
    # Blocks bigger than this are searched with a sorted window instead of all pairs
    # (measured on 1M synthetic records: ~16M candidate pairs with all rules holding 99.8% of the
    # true pairs, against 104M pairs for 99.9% with blocks of 400 and a window of 40).
    "max_block_size": 50,
    "window": 10,
    # A pair that disagrees like this is never auto-linked, whatever its score:
    # the independence assumption of Fellegi-Sunter fails for relatives.
    "guards": [
        # A guard holds only where the data show the disagreement is rare among
        # true matches (EM's m at most max_m), and a shared national id lifts it.
        {
            "comparison": "given_name",
            "levels": ["else"],
            # Measured: ~0.03 on the synthetic population, 0.17 on FEBRL's
            # heavily corrupted names (where the guard would only cost recall).
            "max_m": 0.08,
            "unless": {"national_id": ["exact", "one typo"]},
            "reason": "given names differ: twins or siblings look like this",
        },
        {
            "comparison": "birth_date",
            "levels": ["else"],
            # Measured: ~0.027 on the synthetic population, 0.058 on FEBRL.
            "max_m": 0.045,
            "unless": {"national_id": ["exact", "one typo"]},
            "reason": "birth years differ: junior and senior look like this",
        },
    ],
    "tf_adjustment_cap": 5.0,
}


def default_settings() -> dict[str, Any]:
    """A deep copy of :data:`DEFAULT_SETTINGS`, safe to edit."""
    return copy.deepcopy(DEFAULT_SETTINGS)


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """Candidate pairs share every column's value (``cross``: left's columns = right's reversed)."""

    name: str
    columns: tuple[str, ...]
    cross: bool = False
    max_block: int | None = None
    """Blocks larger than this are skipped by this rule (left to the narrower rules);
    ``None``: the global ``max_block_size``, beyond which a sorted window is used."""


@dataclass(frozen=True, slots=True)
class Guard:
    """Levels of one comparison that forbid an automatic link."""

    comparison: int
    levels: frozenset[int]
    reason: str
    max_m: float = 1.0
    unless: tuple[tuple[int, frozenset[int]], ...] = ()


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Compiled settings: live comparisons, blocking rules and guards."""

    comparisons: tuple[Comparison, ...]
    blocking: tuple[BlockingRule, ...]
    guards: tuple[Guard, ...]
    max_block_size: int
    window: int
    tf_adjustment_cap: float
    raw: Mapping[str, Any]


def _level(spec: Mapping[str, Any], where: str, problems: list[str]) -> Level | None:
    kind = spec.get("type")
    label = spec.get("label")
    extra = {"label": label} if label else {}
    builder = _LEVEL_BUILDERS.get(str(kind))
    if builder is None:
        problems.append(f"{where}.type: {kind!r} must be one of {sorted(_LEVEL_BUILDERS)}")
        return None
    for column in _columns_of(spec):
        if column not in VOCABULARIES:
            problems.append(f"{where}: column {column!r} is not a prepared column")
            return None
    try:
        level = builder(spec, extra)
    except (KeyError, TypeError, ValueError) as e:
        problems.append(f"{where}: {kind} level is missing or has a bad parameter ({e})")
        return None
    if spec.get("neutral"):
        return Neutral(inner=level, label=label or f"{level.label} (neutral)")
    return level


def _columns_of(spec: Mapping[str, Any]) -> list[str]:
    columns = list(spec.get("columns", []))
    if "column" in spec:
        columns.append(spec["column"])
    return [str(c) for c in columns]


def _jw(spec: Mapping[str, Any], extra: dict[str, Any]) -> Level:
    threshold = float(spec["threshold"])
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold {threshold} must lie in (0, 1]")
    return Similarity(column=spec["column"], metric="jw", threshold=threshold, **extra)


def _edits(spec: Mapping[str, Any], extra: dict[str, Any]) -> Level:
    threshold = int(spec["threshold"])
    if threshold < 1:
        raise ValueError(f"threshold {threshold} must be at least 1")
    return Similarity(column=spec["column"], metric="osa", threshold=threshold, **extra)


_LEVEL_BUILDERS: dict[str, Callable[[Mapping[str, Any], dict[str, Any]], Level]] = {
    "exact": lambda s, e: Exact(column=s["column"], length=s.get("length"), **e),
    "variant": lambda s, e: SharedGroup(columns=tuple(s["columns"]), **e),
    "swapped": lambda s, e: CrossEqual(first=s["columns"][0], second=s["columns"][1], **e),
    "swapped_close": lambda s, e: CrossSimilar(
        first=s["columns"][0], second=s["columns"][1], threshold=float(s["threshold"]), **e
    ),
    "part": lambda s, e: SharedPart(column=s["column"], **e),
    "jw": _jw,
    "edits": _edits,
    "phonetic": lambda s, e: Exact(column=s["column"], **({"label": "phonetic"} | e)),
    "initial": lambda s, e: Initial(column=s["column"], initial_column=s["initial_column"], **e),
    "partial": lambda s, e: Prefix(column=s["column"], full_length=int(s["full_length"]), **e),
    "transposed": lambda s, e: Transposed(*s["columns"], **e),
    "components": lambda s, e: ComponentsEqual(
        columns=tuple(s["columns"]), count=int(s["count"]), **e
    ),
}


def _comparisons(raw: Sequence[Mapping[str, Any]], problems: list[str]) -> list[Comparison]:
    out: list[Comparison] = []
    seen: set[str] = set()
    for n, spec in enumerate(raw):
        where = f"comparisons[{n}]"
        name = str(spec.get("name", ""))
        if not name:
            problems.append(f"{where}.name: must be given")
        elif name in seen:
            problems.append(f"{where}.name: {name!r} is used twice")
        seen.add(name)
        present = [str(c) for c in spec.get("present", [])]
        for column in present:
            if column not in VOCABULARIES:
                problems.append(f"{where}.present: {column!r} is not a prepared column")
        levels = [
            _level(lv, f"{where}.levels[{k}]", problems)
            for k, lv in enumerate(spec.get("levels", []))
        ]
        if not levels:
            problems.append(f"{where}.levels: needs at least one level")
        tf = spec.get("tf")
        if tf is not None and tf not in VOCABULARIES:
            problems.append(f"{where}.tf: {tf!r} is not a prepared column")
        if all(lv is not None for lv in levels) and name and present:
            out.append(Comparison(name, tuple(present), tuple(lv for lv in levels if lv), tf))
    return out


def _blocking(raw: Sequence[Mapping[str, Any]], problems: list[str]) -> list[BlockingRule]:
    rules = []
    for n, spec in enumerate(raw):
        columns = tuple(str(c) for c in spec.get("columns", []))
        bad = [c for c in columns if c not in VOCABULARIES]
        if not columns or bad:
            problems.append(f"blocking[{n}].columns: {list(columns)!r} must be prepared columns")
            continue
        cross = bool(spec.get("cross", False))
        if cross and len(columns) != 2:
            problems.append(f"blocking[{n}].cross: needs exactly two columns")
            continue
        max_block = spec.get("max_block")
        if max_block is not None and (not isinstance(max_block, int) or max_block < 2):
            problems.append(f"blocking[{n}].max_block: {max_block!r} must be an integer >= 2")
            continue
        name = str(spec.get("name", "+".join(columns)))
        rules.append(BlockingRule(name, columns, cross, max_block))
    if not rules:
        problems.append("blocking: needs at least one rule")
    return rules


def _level_set(
    comparisons: list[Comparison], name: object, wanted: object, where: str, problems: list[str]
) -> tuple[int, frozenset[int]] | None:
    by_name = {c.name: k for k, c in enumerate(comparisons)}
    if name not in by_name:
        problems.append(f"{where}.comparison: {name!r} is not a comparison")
        return None
    labels = comparisons[by_name[str(name)]].labels
    chosen = [str(x) for x in wanted] if isinstance(wanted, list | tuple) else []
    unknown = [x for x in chosen if x not in labels]
    if unknown or not chosen:
        problems.append(f"{where}.levels: {unknown or chosen!r} must be among {list(labels)}")
        return None
    return by_name[str(name)], frozenset(labels.index(x) for x in chosen)


def _guards(
    raw: Sequence[Mapping[str, Any]], comparisons: list[Comparison], problems: list[str]
) -> list[Guard]:
    guards = []
    for n, spec in enumerate(raw):
        where = f"guards[{n}]"
        main = _level_set(comparisons, spec.get("comparison"), spec.get("levels"), where, problems)
        unless = [
            _level_set(comparisons, name, levels, f"{where}.unless", problems)
            for name, levels in dict(spec.get("unless", {})).items()
        ]
        max_m = spec.get("max_m", 1.0)
        if not isinstance(max_m, int | float) or not 0 < max_m <= 1:
            problems.append(f"{where}.max_m: {max_m!r} must lie in (0, 1]")
            continue
        if main is None or any(u is None for u in unless):
            continue
        lifted = tuple(u for u in unless if u is not None)
        guards.append(Guard(main[0], main[1], str(spec.get("reason", "")), float(max_m), lifted))
    return guards


def compile_settings(raw: Mapping[str, Any] | None = None) -> MatchSettings:
    """Validate plain-data settings and build the live objects.

    Args:
        raw: settings shaped like :data:`DEFAULT_SETTINGS`; ``None`` for those.

    Raises:
        SettingsError: listing every problem found, not just the first.
    """
    data = default_settings() if raw is None else dict(raw)
    problems: list[str] = []
    known = set(DEFAULT_SETTINGS)
    problems += [
        f"{key}: unknown setting (known: {sorted(known)})" for key in data if key not in known
    ]
    comparisons = _comparisons(data.get("comparisons", []), problems)
    blocking = _blocking(data.get("blocking", []), problems)
    guards = _guards(data.get("guards", []), comparisons, problems)
    numbers = {}
    for key in ("max_block_size", "window", "tf_adjustment_cap"):
        value = data.get(key, DEFAULT_SETTINGS[key])
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            problems.append(f"{key}: {value!r} must be a positive number")
            value = DEFAULT_SETTINGS[key]
        numbers[key] = value
    if problems:
        raise SettingsError(problems)
    return MatchSettings(
        comparisons=tuple(comparisons),
        blocking=tuple(blocking),
        guards=tuple(guards),
        max_block_size=int(numbers["max_block_size"]),
        window=int(numbers["window"]),
        tf_adjustment_cap=float(numbers["tf_adjustment_cap"]),
        raw=copy.deepcopy(data),
    )
