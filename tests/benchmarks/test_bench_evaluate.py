"""Tests of the benchmark evaluation helpers (benchmarks/evaluate.py)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.evaluate import (
    PairScores,
    pairs_in_clusters,
    run_measured,
    scores_from_clusters,
    scores_from_pairs,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=40))
def test_contingency_counts_equal_brute_force_pairs(labels: list[tuple[int, int]]) -> None:
    ids = list(range(len(labels)))
    pred = [p for p, _ in labels]
    true = [t for _, t in labels]
    pred_pairs = pairs_in_clusters(ids, pred)
    true_pairs = pairs_in_clusters(ids, true)
    scores = scores_from_clusters(pred, true)
    assert scores.predicted_pairs == len(pred_pairs)
    assert scores.true_pairs == len(true_pairs)
    assert scores.true_positives == len(pred_pairs & true_pairs)
    assert scores == scores_from_pairs(pred_pairs, true_pairs, ordered=False)


def test_perfect_and_empty_clusterings() -> None:
    truth = ["a", "a", "b", "b", "b", "c"]
    perfect = scores_from_clusters([1, 1, 2, 2, 2, 3], truth)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    singletons = scores_from_clusters(list(range(6)), truth)
    assert singletons.true_pairs == 4
    assert singletons.precision == 1.0 and singletons.recall == 0.0 and singletons.f1 == 0.0


def test_one_big_cluster_counts_without_enumerating() -> None:
    n = 200_000
    scores = scores_from_clusters([0] * n, [i // 2 for i in range(n)])
    assert scores.predicted_pairs == n * (n - 1) // 2
    assert scores.true_positives == n // 2
    assert scores.recall == 1.0
    assert scores.precision == pytest.approx((n // 2) / (n * (n - 1) // 2))


def test_known_counts() -> None:
    # predicted {1,2,3} {4,5}; truth {1,2} {3,4,5}
    s = scores_from_clusters(["x", "x", "x", "y", "y"], ["A", "A", "B", "B", "B"])
    assert (s.true_positives, s.predicted_pairs, s.true_pairs) == (2, 4, 4)
    assert s.false_positives == 2 and s.false_negatives == 2
    assert s.f1 == pytest.approx(0.5)


def test_misaligned_or_missing_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="aligned"):
        scores_from_clusters([1, 2], [1])
    with pytest.raises(ValueError, match="missing"):
        scores_from_clusters([1, None], [1, 2])


def test_pairs_ordered_and_unordered() -> None:
    truth = [("a1", "b1"), ("a2", "b2")]
    linked = scores_from_pairs([("a1", "b1"), ("b2", "a2"), ("a1", "b1")], truth)
    assert linked == PairScores(1, 2, 2)
    dedup = scores_from_pairs([("b2", "a2"), ("x", "x")], truth, ordered=False)
    assert dedup == PairScores(1, 1, 2)


def test_run_measured_reports_child_peak_memory_and_exit_code(tmp_path) -> None:
    code = "b = bytearray(150 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('ok')"
    stats = run_measured([sys.executable, "-c", code], log_dir=tmp_path)
    assert stats.ok and stats.stdout.strip() == "ok"
    assert stats.peak_rss_mb > 140
    small = run_measured([sys.executable, "-c", "import sys; sys.exit(3)"], log_dir=tmp_path)
    assert small.returncode == 3 and small.peak_rss_mb < 100
    assert small.error_summary().startswith("exit 3")


def test_run_measured_missing_program_and_timeout(tmp_path) -> None:
    missing = run_measured(["/nonexistent/program"], log_dir=tmp_path)
    assert missing.returncode == 127 and "cannot start" in missing.stderr
    assert missing.error_summary().startswith("exit 127")
    slow = run_measured([sys.executable, "-c", "import time; time.sleep(30)"],
                        log_dir=tmp_path, timeout=0.5)
    assert slow.returncode == -9
