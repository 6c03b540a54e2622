"""Blocking: the vectorised pairs are exactly the pairs that share a scalar key."""

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from matching.blocking import candidate_pairs, lookup_keys, lookup_plan, record_keys
from matching.prepare import prepare_frame, prepare_record
from matching.record import Record
from matching.settings import compile_settings

SETTINGS = compile_settings()


def _records(population: pd.DataFrame) -> list[Record]:
    cols = [c for c in population.columns if c != "person"]
    return [
        Record.from_mapping(str(row["record_id"]), {c: row[c] for c in cols if c != "record_id"})
        for row in population.to_dict("records")
    ]


def test_vector_pairs_equal_pairs_sharing_a_key(population: pd.DataFrame) -> None:
    sample = population.head(250)
    frame = prepare_frame(sample)
    # Without any block limit (the store's lookups limit differently: newest first).
    rules = [dataclasses.replace(rule, max_block=None) for rule in SETTINGS.blocking]
    left, right = candidate_pairs(frame, rules, max_block_size=10_000, window=5)
    got = set(zip(left.tolist(), right.tolist(), strict=True))
    prepared = [prepare_record(r) for r in _records(sample)]
    stored = [set(record_keys(p, SETTINGS.blocking)) for p in prepared]
    looked = [set(lookup_keys(p, SETTINGS.blocking)) for p in prepared]
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(prepared)), 2)
        if (stored[i] & looked[j]) or (stored[j] & looked[i])
    }
    assert got == expected
    assert all(a < b for a, b in got)


def test_oversized_blocks_use_a_window() -> None:
    n = 60
    frame = prepare_frame(
        pd.DataFrame(
            {
                "record_id": [str(k) for k in range(n)],
                "family_name": ["Müller"] * n,
                "birth_date": ["1970"] * n,
                "given_name": [f"Name{k:03d}" for k in range(n)],
            }
        )
    )
    left, _ = candidate_pairs(frame, SETTINGS.blocking[:1], max_block_size=20, window=3)
    # 60 records in one block: all pairs would be 1770; a window of 3 gives 57+58+59.
    assert len(left) == 57 + 58 + 59


def test_rule_with_its_own_max_block_skips_oversized_blocks() -> None:
    from matching.settings import BlockingRule

    def frame_of(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "record_id": [str(k) for k in range(n)],
                "given_name": ["John"] * n,
                "family_name": ["Smith"] * n,
            }
        )

    rule = BlockingRule("names", ("given_sdx", "family_sdx"), max_block=5)
    small = prepare_frame(frame_of(5))
    left, _ = candidate_pairs(small, [rule], max_block_size=1000, window=3)
    assert len(left) == 10  # within its limit: every pair
    big = prepare_frame(frame_of(6))
    left, _ = candidate_pairs(big, [rule], max_block_size=1000, window=3)
    assert len(left) == 0  # beyond: left to the narrower rules, no window either


def test_settings_reject_a_bad_max_block() -> None:
    import pytest

    from matching.errors import SettingsError
    from matching.settings import default_settings

    raw = default_settings()
    raw["blocking"][0]["max_block"] = 1
    with pytest.raises(SettingsError, match=r"blocking\[0\]\.max_block: 1 must be an integer >= 2"):
        compile_settings(raw)


def test_link_pairs_cross_the_sides_only() -> None:
    frame = prepare_frame(
        pd.DataFrame(
            {
                "record_id": ["a1", "a2", "b1", "b2"],
                "family_name": ["Meyer"] * 4,
                "birth_date": ["1970"] * 4,
            }
        )
    )
    sides = np.array([0, 0, 1, 1], dtype=np.int8)
    left, right = candidate_pairs(
        frame, SETTINGS.blocking, max_block_size=100, window=3, sides=sides
    )
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == {(0, 2), (0, 3), (1, 2), (1, 3)}


@pytest.mark.parametrize(
    ("street", "name", "house"),
    [
        ("Hauptstraße 12", "hauptstr", "12"),
        ("Haupt Strasse 12a", "hauptstr", "12"),
        ("Hauptstr. 12", "hauptstr", "12"),
        ("16 howie co urt", "howiecourt", "16"),
        ("nivis on place", "nivisonplace", None),
        ("Straße des 17. Juni 5", "strdesjuni", "17"),
    ],
)
def test_street_keys_survive_split_words_abbreviations_and_house_numbers(
    street: str, name: str, house: str | None
) -> None:
    prepared = prepare_record(Record("r", street=street))
    assert (prepared["street_name"], prepared["house_no"]) == (name, house)


def test_address_rules_find_a_pair_whose_names_and_birth_date_are_all_damaged() -> None:
    # FEBRL4 rec-3318: given name replaced, family name and street mistyped, no birth date.
    frame = prepare_frame(
        pd.DataFrame(
            {
                "record_id": ["org", "dup"],
                "given_name": ["leah", "koula"],
                "family_name": ["eisele", "eiseaqe"],
                "street": ["16 howie court", "16 howie co urt"],
                "city": ["dunkeld", "dunkeld"],
                "postcode": ["2505", "2505"],
            }
        )
    )
    left, right = candidate_pairs(
        frame, SETTINGS.blocking, max_block_size=SETTINGS.max_block_size, window=SETTINGS.window
    )
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 1)]


def test_lookup_plan_gives_each_key_its_rules_block_limit() -> None:
    prepared = prepare_record(
        Record("r", "Anna", None, "Berg", "19800101", "F", "Hauptstr. 5", "Köln", "50667")
    )
    plan = lookup_plan(prepared, SETTINGS.blocking)
    limits = {rule.name: rule.max_block for rule in SETTINGS.blocking}
    assert [key for key, _ in plan] == lookup_keys(prepared, SETTINGS.blocking)
    assert all(block == limits[key.split(":")[0]] for key, block in plan)
    assert ("house_city:5|koeln", 8) in plan and ("given_dob:ann|19800101", None) in plan
