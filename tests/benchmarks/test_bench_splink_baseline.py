"""Smoke tests of the Splink baseline (skipped when splink is not installed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("splink")
pytest.importorskip("duckdb")

from benchmarks import splink_baseline as sb
from benchmarks.evaluate import scores_from_clusters, scores_from_pairs
from benchmarks.synth import COLUMNS, SynthConfig, generate_frame

FAST = ["--u-max-pairs", "2e5", "--threads", "1", "--quiet"]


def test_standardisation_folds_umlauts_streets_and_phones() -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("create table t as select * from (values "
                "('1', 'MÜLLER', 'Hauptstraße 5', '+49 30 1234567', '1980-02-03'), "
                "('2', 'Mueller', 'Hauptstr. 5', '030/1234567', '19800203')) "
                "v(record_id, family_name, street, phone, birth_date)").fetchall()
    sql = sb._prepare_sql({"record_id", "family_name", "street", "phone", "birth_date"}, "t")
    rows = con.execute(sql + " order by record_id").df().set_index("record_id")
    one, two = rows.loc["1"].to_dict(), rows.loc["2"].to_dict()
    assert one == two
    assert one["family_name"] == "mueller" and one["street"] == "hauptstr 5"
    assert one["phone"] == "0301234567" and one["phone_last7"] == "1234567"
    assert one["birth_date"] == "19800203" and one["birth_year"] == "1980"


def test_parse_map_rejects_malformed_items() -> None:
    assert sb.parse_map(["surname=family_name"]) == {"surname": "family_name"}
    with pytest.raises(SystemExit):
        sb.parse_map(["surname"])


def test_dedup_and_link_end_to_end(tmp_path: Path) -> None:
    df = generate_frame(SynthConfig(persons=400, seed=9))
    src = df[COLUMNS].rename(columns={"family_name": "surname"})
    src.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "clusters.csv"
    assert sb.main(["dedup", str(tmp_path / "in.csv"), "-o", str(out),
                    "--map", "surname=family_name", *FAST]) == 0
    clusters = pd.read_csv(out, dtype=str).merge(df[["record_id", "person_id"]])
    assert len(clusters) == len(df)
    assert scores_from_clusters(clusters["cluster_id"], clusters["person_id"]).f1 > 0.8

    first = df.drop_duplicates("person_id")
    second = df[df.duplicated("person_id")].drop_duplicates("person_id")
    first[COLUMNS].to_csv(tmp_path / "a.csv", index=False)
    second[COLUMNS].to_csv(tmp_path / "b.csv", index=False)
    pairs_out = tmp_path / "pairs.csv"
    assert sb.main(["link", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "-o",
                    str(pairs_out), *FAST]) == 0
    pairs = pd.read_csv(pairs_out, dtype=str)
    assert list(pairs.columns) == ["left_id", "right_id", "match_probability"]
    truth = first.merge(second, on="person_id")[["record_id_x", "record_id_y"]]
    scores = scores_from_pairs(zip(pairs["left_id"], pairs["right_id"], strict=True),
                               truth.itertuples(index=False, name=None))
    assert scores.f1 > 0.8
