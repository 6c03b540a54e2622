"""Training a model without labels: u from random pairs, m by EM, term frequencies.

As in the best linkage engines, u (how often non-matches agree by chance) is
measured on pairs drawn at random, where matches are vanishingly rare; m (how
often matches agree) is estimated by EM with u held fixed, in sessions of pairs
blocked by one rule each (see ``SESSIONS``), where matches are common enough to
be found; the prior follows from the matches found among the pairs that share a
birth date (or, without birth dates, from the share among the candidates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.blocking import candidate_pairs
from matching.comparison import compare_pairs
from matching.em import count_patterns, expectation_maximisation
from matching.model import Model
from matching.prepare import DERIVED, PreparedFrame
from matching.settings import BlockingRule, MatchSettings

__all__ = ["estimate_u", "random_pairs", "term_frequencies", "train"]

# Training sessions, as in Splink: m is estimated by EM with u held at its
# random-pair values, on pairs blocked by one rule at a time; the comparisons
# that read a session's blocking columns learn nothing there (their agreement
# was forced) and take their m from the other session. Holding u fixed stops EM
# from splitting the pairs along some other line (households, common names).
SESSIONS: tuple[BlockingRule, ...] = (
    BlockingRule("train_dob", ("dob",), max_block=100),
    BlockingRule("train_names", ("given_sdx", "family_sdx"), max_block=100),
)
SESSION_PAIRS = 1_000_000
"""Pairs sampled per session at most: enough for stable estimates at any size."""

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


def _base_columns(columns: tuple[str, ...]) -> set[str]:
    return {DERIVED[c][0] if c in DERIVED else c for c in columns}


@dataclass(frozen=True)
class _Session:
    rule: BlockingRule
    learns: list[bool]
    m: tuple[npt.NDArray[np.float64], ...]
    matches: float  # matches expected among all the pairs the rule blocks


def _session_m(
    frame: PreparedFrame,
    settings: MatchSettings,
    rule: BlockingRule,
    u: tuple[npt.NDArray[np.float64], ...],
    rng: np.random.Generator,
    sides: npt.NDArray[np.int8] | None,
) -> _Session | None:
    """m from one session: which comparisons learned, and the estimates (None: no pairs)."""
    # The rule's own max_block applies (larger blocks are skipped, no window).
    assert rule.max_block is not None
    left, right = candidate_pairs(
        frame, [rule], max_block_size=rule.max_block, window=0, sides=sides
    )
    blocked_pairs = len(left)
    if len(left) > SESSION_PAIRS:
        pick = np.sort(rng.choice(len(left), size=SESSION_PAIRS, replace=False))
        left, right = left[pick], right[pick]
    if len(left) < 100:
        return None
    gamma = compare_pairs(settings.comparisons, frame, left, right)
    blocked = _base_columns(rule.columns)
    learns = [not (set(c.present) & blocked) for c in settings.comparisons]
    for k, learn in enumerate(learns):
        if not learn:
            gamma[:, k] = 0  # the null level: no evidence either way
    patterns, counts = count_patterns(gamma)
    sizes = [c.size for c in settings.comparisons]
    neutral = [c.neutral_levels() for c in settings.comparisons]
    m0 = [_initial_m(size, nl) for size, nl in zip(sizes, neutral, strict=True)]
    share0 = min(0.5, max(len(frame) / 2.0 / len(left), 1e-3))
    em = expectation_maximisation(patterns, counts, sizes, neutral, m0, u, share0, fix_u=True)
    return _Session(rule, learns, em.m, em.match_share * blocked_pairs)


def _combined_m(
    sessions: list[_Session], settings: MatchSettings
) -> tuple[npt.NDArray[np.float64], ...]:
    """Per comparison, the mean m of the sessions that could learn it."""
    out = []
    for k, spec in enumerate(settings.comparisons):
        learned = [s.m[k] for s in sessions if s.learns[k]]
        if learned:
            out.append(np.mean(learned, axis=0))
        else:
            out.append(_initial_m(spec.size, spec.neutral_levels()))
    return tuple(out)


def _matches_from_birth_dates(
    sessions: list[_Session], settings: MatchSettings, m: tuple[npt.NDArray[np.float64], ...]
) -> float | None:
    """Matches in the whole data set: those sharing a birth date over the share that do.

    The pairs with the same birth date are few enough to count and, u held at
    its random value, EM finds the matches among them reliably; the names
    session tells how many matches agree on the birth date.
    """
    for session in sessions:
        if _base_columns(session.rule.columns) != {"dob"}:
            continue
        for k, spec in enumerate(settings.comparisons):
            if set(spec.present) == {"dob"} and "exact" in spec.labels:
                agree = float(m[k][spec.labels.index("exact")])
                if agree > 0.2:
                    return session.matches / agree
    return None


def _match_share(
    gamma: npt.NDArray[np.int8],
    m: tuple[npt.NDArray[np.float64], ...],
    u: tuple[npt.NDArray[np.float64], ...],
    start: float,
) -> float:
    """The share of matches among ``gamma``'s pairs, m and u held fixed (EM on the share only)."""
    patterns, counts = count_patterns(gamma)
    if not len(patterns):
        return start
    log_ratio = np.zeros(len(patterns))
    for k in range(patterns.shape[1]):
        log_ratio += np.log(m[k][patterns[:, k]]) - np.log(u[k][patterns[:, k]])
    share = min(max(start, 1e-9), 1 - 1e-9)
    for _ in range(200):
        logit = np.log(share) - np.log1p(-share) + log_ratio
        posterior = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        new = float(min(max((counts * posterior).sum() / counts.sum(), 1e-9), 1 - 1e-9))
        if abs(new - share) < 1e-9:
            return new
        share = new
    return share


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
    rng = np.random.default_rng(seed + 1)
    sessions = [
        found
        for rule in SESSIONS
        if (found := _session_m(frame, settings, rule, u_random, rng, sides)) is not None
    ]
    m = _combined_m(sessions, settings)
    total_pairs = (
        n * (n - 1) / 2 if sides is None else float((sides == 0).sum()) * float((sides == 1).sum())
    )
    # The prior: matches expected in the data, over all pairs.
    expected = _matches_from_birth_dates(sessions, settings, m)
    if expected is None:  # no birth dates: EM on the share among the candidates
        start = min(0.5, max(n / 2.0 / max(len(gamma), 1), 1e-4))
        expected = _match_share(gamma, m, u_random, start) * len(gamma)
    prior = min(max(expected / max(total_pairs, 1.0), 1e-12), 0.5)
    tf, tf_default = term_frequencies(frame, settings)
    return Model(
        settings=settings,
        m=m,
        u=u_random,
        prior=prior,
        tf=tf,
        tf_default=tf_default,
        trained_on={
            "records": n,
            "candidate_pairs": len(left),
            "sessions": len(sessions),
            "expected_matches": expected,
        },
    )
