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

from matching.blocking import candidate_pairs
from matching.comparison import compare_pairs
from matching.em import count_patterns, expectation_maximisation
from matching.model import Model
from matching.prepare import PreparedFrame
from matching.settings import BlockingRule, MatchSettings

__all__ = ["estimate_u", "random_pairs", "term_frequencies", "train", "training_pairs"]

# Loose rules whose pairs join the candidates for EM only (never scored). Tight
# blocking leaves EM few non-matches but those that agree on what the rules
# demanded (names, date parts): EM then reads "street differs" as a sign of a
# non-match and "given name differs" as common among matches. Pairs that share
# only a name sound or a birth year restore the everyday non-match.
LOOSE_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("loose_names", ("given_sdx", "family_sdx")),
    BlockingRule("loose_given_year", ("given_sdx", "dob_y")),
    BlockingRule("loose_given_street", ("given_init", "street")),
)
# About this many records are sampled for EM: enough for stable estimates, few
# enough that the training pairs stay around a million at any data size.
TRAINING_SAMPLE = 200_000

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
    gamma = compare_pairs(settings.comparisons, frame, left, right)
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


def _training_sample(frame: PreparedFrame, seed: int) -> IntArray:
    """Records EM learns from: all of a small data set, else a share chosen by key.

    Records are chosen by the hash of their family name's sound or of their
    birth date, so a matching pair is kept whole unless it disagrees on both,
    and a sample of a big data set looks like a small data set in full.
    """
    n = len(frame)
    share = int(np.ceil(2 * n / TRAINING_SAMPLE))
    if share <= 1:
        return np.arange(n, dtype=np.int64)
    salt = seed % share
    keep = np.zeros(n, dtype=bool)
    for column in ("family_sdx", "dob"):
        codes = frame.codes[column].astype(np.int64)
        keep |= (codes >= 0) & ((codes * 2654435761 + salt) % share == 0)
    return np.flatnonzero(keep).astype(np.int64)


def training_pairs(
    frame: PreparedFrame,
    left: IntArray,
    right: IntArray,
    *,
    seed: int,
    sides: npt.NDArray[np.int8] | None = None,
) -> tuple[npt.NDArray[np.bool_], IntArray, IntArray]:
    """The pairs EM learns from: candidates among a sample of records, plus loose pairs.

    Returns:
        which candidates are used, and the loose pairs (left, right).
    """
    n = len(frame)
    sample = _training_sample(frame, seed)
    chosen = np.zeros(n, dtype=bool)
    chosen[sample] = True
    inside = chosen[left] & chosen[right]
    c_left, c_right = left[inside], right[inside]
    sub = frame.take(sample)
    sub_sides = None if sides is None else sides[sample]
    a, b = candidate_pairs(sub, LOOSE_RULES, max_block_size=400, window=40, sides=sub_sides)
    a, b = sample[a], sample[b]
    known = np.minimum(c_left, c_right) * n + np.maximum(c_left, c_right)
    fresh = ~np.isin(np.minimum(a, b) * n + np.maximum(a, b), known)
    return inside, a[fresh], b[fresh]


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
    used, x_left, x_right = training_pairs(frame, left, right, seed=seed, sides=sides)
    c_gamma = gamma[used]
    x_gamma = compare_pairs(settings.comparisons, frame, x_left, x_right)
    patterns, counts = count_patterns(np.concatenate([c_gamma, x_gamma]))
    sizes = [c.size for c in settings.comparisons]
    neutral = [c.neutral_levels() for c in settings.comparisons]
    m0 = [_initial_m(size, nl) for size, nl in zip(sizes, neutral, strict=True)]
    pairs = max(len(c_gamma) + len(x_left), 1)
    share0 = min(0.5, max(n / 2.0 / pairs, 1e-4))
    em = expectation_maximisation(patterns, counts, sizes, neutral, m0, u_random, share0)
    total_pairs = (
        n * (n - 1) / 2 if sides is None else float((sides == 0).sum()) * float((sides == 1).sum())
    )
    # The prior: matches expected among the candidates (the loose pairs are a
    # sample and hold few), over all pairs.
    expected = float(_posterior(gamma, em.m, em.u, em.match_share).sum())
    prior = min(max(expected / max(total_pairs, 1.0), 1e-12), 0.5)
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
            "em_candidate_pairs": len(c_gamma),
            "em_loose_pairs": len(x_left),
            "random_pairs": len(u_left),
            "em_iterations": em.iterations,
            "em_converged": em.converged,
            "em_match_share": em.match_share,
        },
    )


def _posterior(
    gamma: npt.NDArray[np.int8],
    m: tuple[npt.NDArray[np.float64], ...],
    u: tuple[npt.NDArray[np.float64], ...],
    share: float,
) -> npt.NDArray[np.float64]:
    """Each pair's probability of being a match under EM's estimates."""
    patterns, counts = count_patterns(gamma)
    logit = np.full(len(patterns), np.log(share) - np.log1p(-share))
    for k in range(patterns.shape[1] if len(patterns) else 0):
        logit += np.log(m[k][patterns[:, k]]) - np.log(u[k][patterns[:, k]])
    return np.asarray(counts / (1.0 + np.exp(-np.clip(logit, -700, 700))), dtype=np.float64)
