"""Expectation-maximisation for the Fellegi-Sunter model, on comparison patterns.

Millions of pairs collapse to a few thousand distinct comparison vectors
(patterns); EM runs on the patterns weighted by their counts, so an iteration
costs the same for a thousand pairs or a hundred million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["EmResult", "count_patterns", "expectation_maximisation"]

FloatArray = npt.NDArray[np.float64]
_FLOOR = 1e-6
_PSEUDO_COUNT = 1.0


def count_patterns(
    gamma: npt.NDArray[np.int8],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """Distinct rows of a comparison-vector matrix and how often each occurs."""
    if not len(gamma):
        return gamma[:0], np.zeros(0, dtype=np.int64)
    codes = np.zeros(len(gamma), dtype=np.int64)
    for k in range(gamma.shape[1]):
        codes = codes * 128 + gamma[:, k].astype(np.int64)
        if k % 7 == 6:  # re-factorise before the encoding could overflow int64
            codes = pd.factorize(codes)[0].astype(np.int64)
    inverse, uniques = pd.factorize(codes)
    counts = np.bincount(inverse, minlength=len(uniques)).astype(np.int64)
    first = np.zeros(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    return gamma[first], counts


@dataclass(frozen=True, slots=True)
class EmResult:
    """EM's estimates: m and u per comparison, the match share, and convergence."""

    m: tuple[FloatArray, ...]
    u: tuple[FloatArray, ...]
    match_share: float
    iterations: int
    converged: bool


def _level_probs(
    patterns: npt.NDArray[np.int8], weight: FloatArray, k: int, size: int, neutral: Sequence[int]
) -> FloatArray:
    sums = np.bincount(patterns[:, k], weights=weight, minlength=size).astype(np.float64)
    sums[list(neutral)] = 0.0
    # One pseudo-pair per level: a level EM never sees is rare, not impossible.
    sums += _PSEUDO_COUNT
    sums[list(neutral)] = 0.0
    probs = sums / sums.sum()
    probs = np.maximum(probs, _FLOOR)
    probs[list(neutral)] = 1.0
    return np.asarray(probs, dtype=np.float64)


def expectation_maximisation(
    patterns: npt.NDArray[np.int8],
    counts: npt.NDArray[np.int64],
    sizes: Sequence[int],
    neutral: Sequence[Sequence[int]],
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    match_share: float,
    *,
    fix_u: bool = False,
    max_iterations: int = 100,
    tolerance: float = 1e-5,
) -> EmResult:
    """Estimate m (and u unless fixed) and the share of matches among pairs.

    Args:
        patterns: distinct comparison vectors, shape (patterns, comparisons).
        counts: how many pairs have each pattern.
        sizes: levels per comparison.
        neutral: per comparison, the level indexes that carry no evidence (null).
        m, u: starting values per comparison and level.
        match_share: starting share of matches among the pairs.
        fix_u: keep u at its starting value (u from random pairs).
        max_iterations, tolerance: stop when no parameter moves by more than
            ``tolerance`` or after ``max_iterations``.
    """
    m_cur = [np.array(x, dtype=np.float64) for x in m]
    u_cur = [np.array(x, dtype=np.float64) for x in u]
    share = float(match_share)
    weights = counts.astype(np.float64)
    if weights.sum() <= 0:
        # No pairs to learn from (tiny or all-distinct input): keep the starting values.
        return EmResult(tuple(m_cur), tuple(u_cur), share, 0, False)
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported below)
        log_m = np.zeros(len(patterns))
        log_u = np.zeros(len(patterns))
        for k in range(len(sizes)):
            log_m += np.log(m_cur[k][patterns[:, k]])
            log_u += np.log(u_cur[k][patterns[:, k]])
        logit = np.log(share) - np.log1p(-share) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        w_match = weights * posterior
        w_non = weights * (1.0 - posterior)
        new_share = float(min(max(w_match.sum() / weights.sum(), 1e-9), 1 - 1e-9))
        new_m = [
            _level_probs(patterns, w_match, k, sizes[k], neutral[k]) for k in range(len(sizes))
        ]
        new_u = (
            u_cur
            if fix_u
            else [_level_probs(patterns, w_non, k, sizes[k], neutral[k]) for k in range(len(sizes))]
        )
        change = max(
            abs(new_share - share),
            max(float(np.abs(a - b).max()) for a, b in zip(new_m, m_cur, strict=True)),
            max(float(np.abs(a - b).max()) for a, b in zip(new_u, u_cur, strict=True)),
        )
        m_cur, u_cur, share = new_m, list(new_u), new_share
        if change < tolerance:
            converged = True
            break
    return EmResult(tuple(m_cur), tuple(u_cur), share, iterations, converged)
