"""Comparison levels: properties, and the scalar and vectorised paths agreeing pair for pair."""

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.comparison import PairContext, compare_all
from matching.prepare import NormalisedMemo, prepare_frame, prepare_record, prepare_records
from matching.record import Record
from matching.settings import compile_settings

SETTINGS = compile_settings()
names = st.sampled_from(
    [
        "Müller",
        "Mueller",
        "Muller",
        "Miller",
        "Schmidt",
        "Bob",
        "Robert",
        "Anna",
        "Anne",
        "Hannes",
        "Johannes",
        "Müller-Schmidt",
        "J",
        None,
    ]
)
dates = st.sampled_from(
    ["19700412", "19701204", "1970", "197004", "19710412", "19700413", "19800101", None]
)
records = st.builds(
    Record,
    record_id=st.just("x"),
    given_name=names,
    family_name=names,
    birth_date=dates,
    sex=st.sampled_from(["M", "F", "U", None]),
    postcode=st.sampled_from(["10115", "10117", "20095", None]),
    phone=st.sampled_from(["030 1234567", "040 1234567", "0301234568", None]),
    national_id=st.sampled_from(["123456789", "123456798", "987654321", None]),
)


@given(records, records)
def test_levels_are_symmetric(a: Record, b: Record) -> None:
    pa, pb = prepare_record(a), prepare_record(b)
    for spec in SETTINGS.comparisons:
        assert spec.compare(pa, pb) == spec.compare(pb, pa), spec.name


@given(records)
def test_a_record_agrees_with_itself(a: Record) -> None:
    p = prepare_record(a)
    for spec in SETTINGS.comparisons:
        level = spec.compare(p, p)
        assert 0 <= level < spec.size
        label = spec.labels[level]
        assert label in ("null", "exact", "partial"), (spec.name, label)


def _frame(rows: list[Record]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(r) for r in rows])


@settings(max_examples=50, deadline=None)
@given(st.lists(records, min_size=2, max_size=12))
def test_vector_path_agrees_with_scalar_path(rows: list[Record]) -> None:
    rows = [r.with_id(f"r{k}") for k, r in enumerate(rows)]
    frame = prepare_frame(_frame(rows))
    n = len(rows)
    left, right = np.triu_indices(n, 1)
    gamma = compare_all(
        SETTINGS.comparisons, PairContext(frame, left.astype(np.int64), right.astype(np.int64))
    )
    prepared = [prepare_record(r) for r in rows]
    for k, (i, j) in enumerate(zip(left, right, strict=True)):
        expected = [spec.compare(prepared[i], prepared[j]) for spec in SETTINGS.comparisons]
        assert gamma[k].tolist() == expected, (rows[i], rows[j])


def test_named_levels() -> None:
    def level(name: str, a: Record, b: Record) -> str:
        spec = next(c for c in SETTINGS.comparisons if c.name == name)
        return spec.labels[spec.compare(prepare_record(a), prepare_record(b))]

    r = Record("a", given_name="Robert", family_name="Müller", birth_date="19700412")
    assert level("given_name", r, Record("b", given_name="Bob")) == "nickname"
    assert level("family_name", r, Record("b", family_name="MUELLER")) == "exact"
    assert level("family_name", r, Record("b", family_name="Müller-Schmidt")) == "shared part"
    assert level("birth_date", r, Record("b", birth_date="19701204")) == "day/month swapped"
    assert level("birth_date", r, Record("b", birth_date="1970")) == "partial"
    assert level("birth_date", r, Record("b", birth_date="19700413")) == "one digit"
    assert level("birth_date", r, Record("b", birth_date="19951231")) == "else"
    swapped = Record("b", given_name="Müller", family_name="Robert")
    assert level("given_name", r, swapped) == "swapped"
    assert level("family_name", r, swapped).startswith("swapped")
    assert (
        level(
            "national_id",
            Record("a", national_id="123456789"),
            Record("b", national_id="123456798"),
        )
        == "one typo"
    )
    assert level("given_name", r, Record("b")) == "null"


def test_swapped_close_level_agrees_on_both_paths() -> None:
    import numpy as np
    import pandas as pd

    from matching.comparison import CrossSimilar, PairContext
    from matching.prepare import prepare_frame, prepare_record
    from matching.record import Record

    names = [
        ("James", "Sebregts"),
        ("Sebretgs", "James"),
        ("James", "Sebregts"),
        ("Anna", "Berg"),
        ("Berg", "Annna"),
        ("Berg", "Zoe"),
        (None, "James"),
    ]
    records = [Record(str(k), g, None, f) for k, (g, f) in enumerate(names)]
    frame = prepare_frame(
        pd.DataFrame(
            {
                "record_id": [r.record_id for r in records],
                "given_name": [g for g, _ in names],
                "family_name": [f for _, f in names],
            }
        )
    )
    level = CrossSimilar(first="given", second="family", threshold=0.9)
    pairs = [(a, b) for a in range(len(names)) for b in range(len(names)) if a != b]
    left = np.array([a for a, _ in pairs], dtype=np.int64)
    right = np.array([b for _, b in pairs], dtype=np.int64)
    vector = level.vector(PairContext(frame, left, right), np.arange(len(pairs)))
    prepared = [prepare_record(r) for r in records]
    scalar = [level.scalar(prepared[a], prepared[b]) for a, b in pairs]
    assert vector.tolist() == scalar
    found = {pairs[k] for k in np.flatnonzero(vector)}
    assert {(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)} == found


@settings(max_examples=30, deadline=None)
@given(st.lists(records, min_size=1, max_size=8), st.lists(records, min_size=1, max_size=8))
def test_memo_backed_frames_equal_fresh_ones(first: list[Record], second: list[Record]) -> None:
    memo = NormalisedMemo()
    for batch in (first, second):  # the second frame reads values the first one remembered
        rows = [r.with_id(f"r{k}") for k, r in enumerate(batch)]
        fresh, remembered = prepare_frame(_frame(rows)), prepare_frame(_frame(rows), memo)
        for column, codes in fresh.codes.items():
            assert fresh.strings(column).tolist() == remembered.strings(column).tolist(), column
            assert (codes < 0).tolist() == (remembered.codes[column] < 0).tolist(), column
    assert memo.column("family") or all(r.family_name is None for r in first + second)


def test_the_memo_is_filled_from_the_first_frame_on() -> None:
    memo = NormalisedMemo()
    prepare_frame(_frame([Record("a", given_name="Müller", family_name="Schmidt")]), memo)
    assert memo["family"] == {"Schmidt": "schmidt"}
    assert memo["given"] == {"Müller": "mueller"}


full_records = st.builds(
    Record,
    record_id=st.sampled_from(["a", "b", "c"]),
    given_name=names,
    family_name=names,
    middle_name=names,
    mother_maiden_name=names,
    birth_date=dates,
    sex=st.sampled_from(["M", "F", "U", None]),
    street=st.sampled_from(["Hauptstr. 12", "Haupt Strasse 12a", "12 Main St", "", None]),
    city=st.sampled_from(["Berlin", "BERLIN ", "Köln", None]),
    postcode=st.sampled_from(["10115", "10117", "20095", "", None]),
    phone=st.sampled_from(["030 1234567", "040 1234567", "0301234568", "12", None]),
    national_id=st.sampled_from(["123456789", "123-456-789", None]),
    email=st.sampled_from(["a.b@x.de", "A.B@x.de", "@x.de", None]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(full_records, min_size=1, max_size=10), st.lists(full_records, max_size=10))
def test_prepare_records_makes_prepare_frames_frame(
    first: list[Record], second: list[Record]
) -> None:
    memo = NormalisedMemo()
    for batch in (first, second):  # the second reads values the first one remembered
        expected = prepare_frame(_frame(batch)) if batch else None
        got = prepare_records(batch, memo)
        if expected is None:
            assert len(got) == 0
            continue
        assert got.record_ids.tolist() == expected.record_ids.tolist()
        for column, codes in expected.codes.items():
            assert got.codes[column].tolist() == codes.tolist(), column
        for name, words in expected.vocab.items():
            assert got.vocab[name].tolist() == words.tolist(), name


def test_every_normaliser_maps_missing_to_missing() -> None:
    # The memo-backed paths (prepare_frame with a memo, prepare_records) skip missing values.
    from matching.prepare import _BASE, DERIVED

    assert {c: n(None) for c, (_, n, _) in _BASE.items()} == dict.fromkeys(_BASE)
    assert {c: f(None) for c, (_, f, _) in DERIVED.items()} == dict.fromkeys(DERIVED)
