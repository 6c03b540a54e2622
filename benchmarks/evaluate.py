"""Pairwise accuracy of a matcher's output against known truth, and process metering.

Two views of the same measure (pairwise precision / recall / F1):

* ``scores_from_clusters`` for de-duplication: every pair of records placed in one
  predicted cluster is a predicted match.  Pairs are counted from the contingency table
  of (predicted cluster, true person): TP = sum C(n_ij, 2), predicted = sum C(n_i, 2),
  true = sum C(n_j, 2).  No pair is ever enumerated, so a 100,000-record cluster costs
  nothing extra.
* ``scores_from_pairs`` for linkage: a list of predicted (left, right) pairs against the
  true pairs.

``run_measured`` runs a command as a child process and reports its wall time and its
own peak resident memory.  The peak is ``ru_maxrss`` from ``os.wait4`` on exactly that
command (the largest RSS of the command or of any descendant it waited for), read by a
tiny launcher process (``_rusage_launcher.py``) so that neither the harness's own size
nor an earlier engine's peak leaks into the figure, as it would with
``getrusage(RUSAGE_CHILDREN)`` or a direct ``wait4`` on a child of a large parent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_LAUNCHER = Path(__file__).with_name("_rusage_launcher.py")

__all__ = [
    "PairScores",
    "RunStats",
    "pairs_in_clusters",
    "run_measured",
    "scores_from_clusters",
    "scores_from_counts",
    "scores_from_pairs",
]


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pairwise confusion counts and the measures derived from them."""

    true_positives: int
    predicted_pairs: int
    true_pairs: int

    @property
    def false_positives(self) -> int:
        return self.predicted_pairs - self.true_positives

    @property
    def false_negatives(self) -> int:
        return self.true_pairs - self.true_positives

    @property
    def precision(self) -> float:
        # No predicted pairs means no wrong claims: precision 1 by convention.
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _choose2(counts: np.ndarray) -> int:
    n = counts.astype(np.int64)
    return int((n * (n - 1) // 2).sum())


def scores_from_counts(contingency: pd.Series) -> PairScores:
    """Scores from contingency counts indexed by (predicted cluster, true cluster)."""
    predicted = contingency.groupby(level=0).sum().to_numpy()
    true = contingency.groupby(level=1).sum().to_numpy()
    return PairScores(_choose2(contingency.to_numpy()), _choose2(predicted), _choose2(true))


def scores_from_clusters(predicted: Sequence[object] | pd.Series | np.ndarray,
                         truth: Sequence[object] | pd.Series | np.ndarray) -> PairScores:
    """Pairwise scores of a clustering against true entity labels.

    Args:
        predicted: predicted cluster label of each record (any hashable values).
        truth: true entity label of each record, aligned with ``predicted``.

    Returns:
        The pairwise counts; precision, recall and F1 are properties.

    Raises:
        ValueError: if the two sequences differ in length or contain missing labels.
    """
    pred = pd.Series(np.asarray(predicted, dtype=object))
    true = pd.Series(np.asarray(truth, dtype=object))
    if len(pred) != len(true):
        raise ValueError(f"predicted has {len(pred)} labels but truth has {len(true)}: "
                         "they must be aligned record by record")
    if pred.isna().any() or true.isna().any():
        raise ValueError("cluster labels must not be missing: give each unmatched record "
                         "a cluster of its own")
    # factorize first: grouping on two int columns is far cheaper than on objects
    frame = pd.DataFrame({"p": pd.factorize(pred)[0], "t": pd.factorize(true)[0]})
    return scores_from_counts(frame.groupby(["p", "t"]).size())


def cluster_labels_for(record_ids: Iterable[object],
                       clusters: Mapping[object, object]) -> list[object]:
    """Cluster label per record id; records missing from ``clusters`` become singletons."""
    return [clusters.get(rid, ("__singleton__", rid)) for rid in record_ids]


def pairs_in_clusters(record_ids: Sequence[object],
                      labels: Sequence[object]) -> set[tuple[object, object]]:
    """All unordered record pairs implied by a labelling (for small data and tests)."""
    groups: dict[object, list[object]] = {}
    for rid, label in zip(record_ids, labels, strict=True):
        groups.setdefault(label, []).append(rid)
    out: set[tuple[object, object]] = set()
    for members in groups.values():
        members = sorted(members, key=str)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                out.add((a, b))
    return out


def _pair_set(pairs: Iterable[tuple[object, object]], ordered: bool) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for a, b in pairs:
        x, y = str(a), str(b)
        if x == y:
            continue
        out.add((x, y) if ordered or x < y else (y, x))
    return out


def scores_from_pairs(predicted: Iterable[tuple[object, object]],
                      truth: Iterable[tuple[object, object]], *,
                      ordered: bool = True) -> PairScores:
    """Pairwise scores of predicted links against true links.

    Args:
        predicted: predicted (left_id, right_id) pairs; duplicates count once.
        truth: the true pairs.
        ordered: True for linkage of two files (left and right ids are distinct name
            spaces, so (a, b) and (b, a) differ); False for pairs within one file.

    Returns:
        The pairwise counts; precision, recall and F1 are properties.
    """
    pred = _pair_set(predicted, ordered)
    true = _pair_set(truth, ordered)
    return PairScores(len(pred & true), len(pred), len(true))


@dataclass(frozen=True, slots=True)
class RunStats:
    """Outcome of one measured child process."""

    command: tuple[str, ...]
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_summary(self, limit: int = 300) -> str:
        """The last lines of stderr (or stdout), shortened for a table cell."""
        text = (self.stderr or self.stdout).strip()
        tail = " | ".join(text.splitlines()[-3:])
        return (f"exit {self.returncode}: " + tail)[:limit]


def run_measured(command: Sequence[str], *, cwd: str | Path | None = None,
                 env: Mapping[str, str] | None = None, log_dir: str | Path | None = None,
                 timeout: float | None = None) -> RunStats:
    """Run ``command`` and measure its wall time and own peak RSS.

    The command runs under ``_rusage_launcher.py``, which forks it from a small process
    and reads its ``rusage`` with ``os.wait4`` (see that module for why).  Output goes
    to files (never pipes, which could fill up and stall the child).

    Args:
        command: argv of the child.
        cwd: working directory.
        env: environment (defaults to this process's).
        log_dir: where stdout/stderr files go (a temporary directory by default).
        timeout: seconds after which the child's whole process group is killed
            (returncode -9).

    Returns:
        The exit code, seconds, peak resident set size in MiB and captured output.
    """
    log_root = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="bench-run-"))
    log_root.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_root / "stdout.txt", log_root / "stderr.txt"
    result_path = log_root / "rusage.json"
    result_path.unlink(missing_ok=True)
    argv = [sys.executable, str(_LAUNCHER), str(result_path), *command]
    start = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env else None, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command with it
            proc.wait()
    wall = time.perf_counter() - start
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if not result_path.exists():  # killed (timeout) or the launcher itself failed
        return RunStats(tuple(command), -9 if proc.returncode < 0 else proc.returncode, wall,
                        0.0, stdout, stderr)
    result = json.loads(result_path.read_text())
    # Linux reports ru_maxrss in KiB (macOS in bytes)
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return RunStats(tuple(command), int(result["returncode"]), float(result["seconds"]),
                    result["maxrss_kib"] / divisor, stdout, stderr)
