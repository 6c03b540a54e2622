"""Tests of the synthetic population generator (benchmarks/synth.py)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from benchmarks.synth import (
    COLUMNS,
    TRUTH_COLUMN,
    SynthConfig,
    generate_frame,
    main,
    parse_dup_rate,
)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return generate_frame(SynthConfig(persons=20_000, seed=7, chunk_persons=5_000))


def test_same_seed_gives_identical_output() -> None:
    a = generate_frame(SynthConfig(persons=800, seed=3, chunk_persons=300))
    b = generate_frame(SynthConfig(persons=800, seed=3, chunk_persons=300))
    pd.testing.assert_frame_equal(a, b)


def test_other_seed_gives_other_output() -> None:
    a = generate_frame(SynthConfig(persons=800, seed=3))
    b = generate_frame(SynthConfig(persons=800, seed=4))
    assert not a.drop(columns="record_id").equals(b.drop(columns="record_id"))


def test_columns_and_formats(population: pd.DataFrame) -> None:
    assert list(population.columns) == [*COLUMNS, TRUTH_COLUMN]
    assert population["record_id"].is_unique
    dates = population.loc[population["birth_date"] != "", "birth_date"]
    assert dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert pd.to_datetime(dates, format="%Y-%m-%d", errors="coerce").notna().all()
    assert set(population["sex"]) <= {"M", "F", ""}
    pcs = population.loc[population["postcode"] != "", "postcode"]
    assert pcs.str.fullmatch(r"\d{5}").all()


def test_person_count_and_duplication_distribution(population: pd.DataFrame) -> None:
    sizes = population[TRUTH_COLUMN].value_counts()
    assert len(sizes) == 20_000
    share = sizes.value_counts(normalize=True)
    assert share[1] == pytest.approx(0.5, abs=0.02)
    assert share[2] == pytest.approx(0.3, abs=0.02)
    assert sizes.max() == 5


def test_records_option_gives_exact_count() -> None:
    df = generate_frame(SynthConfig(records=1_234, seed=1, chunk_persons=400))
    assert len(df) == 1_234
    assert df["record_id"].is_unique


def test_family_names_are_skewed(population: pd.DataFrame) -> None:
    top = population["family_name"].value_counts()
    assert top.index[0] in {"Müller", "Schmidt", "Smith"}
    assert top.iloc[0] > 0.005 * len(population)
    assert population["family_name"].nunique() > 2_000


def _variants_within_person(df: pd.DataFrame, column: str, a: str, b: str) -> bool:
    has_a = set(df.loc[df[column] == a, TRUTH_COLUMN])
    has_b = set(df.loc[df[column] == b, TRUTH_COLUMN])
    return bool(has_a & has_b)


def test_realistic_variants_occur(population: pd.DataFrame) -> None:
    assert _variants_within_person(population, "family_name", "Müller", "Mueller")
    nick = (_variants_within_person(population, "given_name", "Johannes", "Hannes")
            or _variants_within_person(population, "given_name", "Robert", "Bob"))
    assert nick
    streets = population["street"]
    assert streets.str.contains("str. ", regex=False).any()
    phones = population.loc[population["phone"] != "", "phone"]
    assert phones.str.startswith("+49").any()
    assert phones.str.fullmatch(r"\d{7}").any()  # last digits only


def test_national_id_present_in_some_sources_only(population: pd.DataFrame) -> None:
    present = (population["national_id"] != "").mean()
    assert 0.3 < present < 0.5
    ids = population.loc[population["national_id"] != ""]
    per_person = ids.groupby(TRUTH_COLUMN)["national_id"].nunique()
    assert (per_person > 1).any()  # a typo in one copy
    assert (per_person == 1).mean() > 0.95


def test_clean_copies_agree_when_errors_are_off() -> None:
    df = generate_frame(SynthConfig(persons=3_000, seed=5, error_scale=0.0, married_rate=0.0))
    per_person = df.groupby(TRUTH_COLUMN)[["given_name", "family_name", "birth_date"]].nunique()
    # the ASCII-only and upper-case sources still write umlauts their way: fold them
    folded = df.assign(family_name=df["family_name"].str.lower()
                       .str.replace(r"(?<=[aou])e", "", regex=True)
                       .str.translate(str.maketrans("äöü", "aou")).str.replace("ß", "ss"))
    assert (per_person["birth_date"] == 1).all()
    assert (folded.groupby(TRUTH_COLUMN)["family_name"].nunique() == 1).all()


def test_hard_negatives_are_planted() -> None:
    df = generate_frame(SynthConfig(persons=5_000, seed=11, error_scale=0.0,
                                    twin_rate=0.05, junior_rate=0.05, namesake_rate=0.05))
    first = df.drop_duplicates(TRUTH_COLUMN)
    # twins: same family name, birth date and home, different persons and given names
    twins = first.groupby(["family_name", "birth_date", "postcode"])[TRUTH_COLUMN].nunique()
    assert (twins > 1).sum() >= 0.03 * 5_000
    # junior/senior: same given and family name and postcode, birth 25-35 years apart
    first = first.assign(year=first["birth_date"].str[:4].astype(int))
    groups = first.groupby(["given_name", "family_name", "postcode"])["year"]
    spread = groups.max() - groups.min()
    assert ((spread >= 25) & (spread <= 35)).sum() >= 0.03 * 5_000


def test_config_reports_all_problems_at_once() -> None:
    with pytest.raises(ValueError) as err:
        SynthConfig(persons=0, dup_dist=(0.5, 0.1), chunk_persons=10)
    message = str(err.value)
    assert "persons=0" in message and "sum to 1" in message and "chunk_persons" in message


def test_parse_dup_rate() -> None:
    assert parse_dup_rate("0.5,0.3,0.2") == pytest.approx((0.5, 0.3, 0.2))
    assert parse_dup_rate("1,1") == pytest.approx((0.5, 0.5))
    assert sum(parse_dup_rate("0.4")) == pytest.approx(1.0)
    assert parse_dup_rate("0.4")[0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="dup-rate"):
        parse_dup_rate("1.5")


def test_cli_writes_csv(tmp_path, capsys) -> None:
    out = tmp_path / "s.csv"
    assert main(["--persons", "300", "--seed", "2", "-o", str(out), "--dup-rate", "0.3"]) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df[TRUTH_COLUMN].nunique() == 300
    assert re.search(r"wrote [\d,]+ records of 300 persons", capsys.readouterr().err)
