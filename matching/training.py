"""Training a model without labels: u from random pairs, m by EM, term frequencies.

As in the best linkage engines, u (how often non-matches agree by chance) is
measured on pairs drawn at random, where matches are vanishingly rare; m (how
often matches agree) is estimated by EM over the blocked candidate pairs,
where matches are common enough to be found; the prior follows from EM's
share of matches among the candidates.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matching.comparison import PairContext, compare_all
from matching.em import count_patterns, expectation_maximisation
from matching.model import Model
from matching.prepare import PreparedFrame
from matching.settings import MatchSettings

__all__ = ["estimate_u", "random_pairs", "term_frequencies", "train"]

IntArray = npt.NDArray[np.int64]


def random_pairs(
    n: int, count: int, seed: int, sides: npt.NDArray[np.int8] | None = None
) -> tuple[IntArray, IntArray]:
    """Up to ``count`` distinct random pairs of distinct records (across sides if given)."""
    rng = np.random.default_rng(seed)
    if sides is None:
        left = rng.integers(0, n, size=count)
        right = rng.integers(0, n, size=count)
    else:
        first, second = np.flatnonzero(sides == 0), np.flatnonzero(sides == 1)
        left = first[rng.integers(0, len(first), size=count)]
        right = second[rng.integers(0, len(second), size=count)]
    keep = left != right
    return left[keep].astype(np.int64), right[keep].astype(np.int64)


def estimate_u(
    frame: PreparedFrame, settings: MatchSettings, left: IntArray, right: IntArray
) -> tuple[npt.NDArray[np.float64], ...]:
    """u per comparison and level, from pairs that are almost all non-matches."""
    gamma = compare_all(settings.comparisons, PairContext(frame, left, right))
    out = []
    for k, spec in enumerate(settings.comparisons):
        counts = np.bincount(gamma[:, k], minlength=spec.size).astype(np.float64)
        neutral = list(spec.neutral_levels())
        counts[neutral] = 0.0
        present = counts.sum()
        # A level never seen among random pairs is rare, not impossible.
        u = np.maximum(counts, 0.5) / max(present, 1.0)
        u[neutral] = 1.0
        out.append(u)
    return tuple(out)


def term_frequencies(
    frame: PreparedFrame, settings: MatchSettings
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Relative frequency of each value that occurs more than once, per tf comparison.

    A value seen once is as rare as the data can show: it gets the default
    frequency 1/n rather than a table entry, which keeps saved models small.
    """
    tables: dict[str, dict[str, float]] = {}
    defaults: dict[str, float] = {}
    for spec in settings.comparisons:
        if spec.tf_column is None:
            continue
        codes = frame.codes[spec.tf_column]
        codes = codes[codes >= 0]
        if not len(codes):
            continue
        counts = np.bincount(codes)
        vocab = frame.vocab_of(spec.tf_column)
        repeated = np.flatnonzero(counts > 1)
        tables[spec.name] = {str(vocab[c]): float(counts[c]) / len(codes) for c in repeated}
        defaults[spec.name] = 1.0 / len(codes)
    return tables, defaults


def _initial_m(size: int, neutral: tuple[int, ...]) -> npt.NDArray[np.float64]:
    m = np.array([0.0] + [0.9 * 0.5**k for k in range(size - 1)])
    m[-1] = 0.02
    m[list(neutral)] = 0.0
    m = m / m.sum()
    m[list(neutral)] = 1.0
    return np.asarray(m, dtype=np.float64)


def train(
    frame: PreparedFrame,
    settings: MatchSettings,
    left: IntArray,
    right: IntArray,
    gamma: npt.NDArray[np.int8],
    *,
    seed: int = 0,
    random_pair_count: int = 2_000_000,
    sides: npt.NDArray[np.int8] | None = None,
) -> Model:
    """Train a model on a data set and its blocked candidate pairs, without labels.

    Args:
        frame: the prepared records.
        settings: the compiled settings.
        left, right, gamma: the candidate pairs and their comparison vectors.
        seed: seeds the random pairs for u.
        random_pair_count: how many random pairs estimate u.
        sides: for linking, 0/1 per record (u from pairs across the sides).
    """
    n = len(frame)
    u_left, u_right = random_pairs(n, random_pair_count, seed, sides)
    u_random = estimate_u(frame, settings, u_left, u_right)
    patterns, counts = count_patterns(gamma)
    sizes = [c.size for c in settings.comparisons]
    neutral = [c.neutral_levels() for c in settings.comparisons]
    m0 = [_initial_m(size, nl) for size, nl in zip(sizes, neutral, strict=True)]
    pairs = max(len(left), 1)
    share0 = min(0.5, max(n / 2.0 / pairs, 1e-4))
    em = expectation_maximisation(patterns, counts, sizes, neutral, m0, u_random, share0)
    total_pairs = (
        n * (n - 1) / 2 if sides is None else float((sides == 0).sum()) * float((sides == 1).sum())
    )
    prior = min(max(em.match_share * len(left) / max(total_pairs, 1.0), 1e-12), 0.5)
    tf, tf_default = term_frequencies(frame, settings)
    return Model(
        settings=settings,
        m=em.m,
        u=u_random,
        prior=prior,
        tf=tf,
        tf_default=tf_default,
        trained_on={
            "records": n,
            "candidate_pairs": len(left),
            "random_pairs": len(u_left),
            "em_iterations": em.iterations,
            "em_converged": em.converged,
            "em_match_share": em.match_share,
        },
    )
