"""Scoring pairs with a trained model, in bulk or one at a time, with explanations.

The match weight of a pair is the prior's log2 odds plus, per comparison, the
weight log2(m/u) of the level the pair reached (adjusted by term frequency on
exact name agreement). A pair that hits a guard keeps its score but is flagged:
it may be reviewed, never linked automatically.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.comparison import CHUNK, IntArray, PairContext, compare_all
from matching.model import Model, probability
from matching.prepare import VOCABULARIES, Prepared, PreparedFrame
from matching.settings import Guard

__all__ = [
    "Band",
    "BoundedScorer",
    "FieldScore",
    "PairScore",
    "active_guards",
    "classify",
    "guard_of",
    "score_pair",
    "score_pairs",
    "score_vectors",
]


class Band(enum.Enum):
    """What to do with a pair: link it, have a person review it, or leave it."""

    LINK = "link"
    REVIEW = "review"
    NO_LINK = "no-link"


def classify(
    probability_: float, guarded: bool, link_threshold: float, review_threshold: float
) -> Band:
    """The band of a pair; a guarded pair is reviewed at best."""
    if probability_ >= link_threshold and not guarded:
        return Band.LINK
    if probability_ >= review_threshold:
        return Band.REVIEW
    return Band.NO_LINK


@dataclass(frozen=True, slots=True)
class FieldScore:
    """One comparison's part in a score: the level reached and its weight (bits)."""

    comparison: str
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class PairScore:
    """A scored pair with its field-by-field explanation.

    Attributes:
        left_id, right_id: the two records.
        match_weight: log2 odds of a match, prior included.
        match_probability: the same as a probability.
        fields: each comparison's level and weight.
        guard: why the pair may not be auto-linked, or ``None``.
    """

    left_id: str
    right_id: str
    match_weight: float
    match_probability: float
    fields: tuple[FieldScore, ...]
    guard: str | None = None


def active_guards(model: Model) -> tuple[Guard, ...]:
    """The guards that hold for this model.

    A guard holds only where the disagreement it names is rare among true
    matches (m at most the guard's ``max_m``): in data whose duplicates often
    carry a wholly different given name, that difference is no sign of twins.
    """
    return tuple(
        g
        for g in model.settings.guards
        if float(model.m[g.comparison][list(g.levels)].sum()) <= g.max_m
    )


def _tf_by_code(model: Model, k: int, vocab: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    adj = np.fromiter(
        (model.tf_adjustment(k, v) for v in vocab), dtype=np.float64, count=len(vocab)
    )
    return np.append(adj, 0.0)


def score_vectors(
    model: Model, ctx: PairContext, gamma: npt.NDArray[np.int8] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
    """Score every pair of ``ctx``.

    Returns:
        (match weights, guarded flags, comparison vectors).
    """
    comparisons = model.settings.comparisons
    if gamma is None:
        gamma = compare_all(comparisons, ctx)
    total = np.full(len(ctx), model.prior_weight, dtype=np.float64)
    for k, (spec, w) in enumerate(zip(comparisons, model.weights(), strict=True)):
        total += w[gamma[:, k]]
        if spec.tf_column is not None and model.tf.get(spec.name):
            exact = np.nonzero(gamma[:, k] == 1)[0]
            if len(exact):
                vocab = ctx.frame.vocab[VOCABULARIES[spec.tf_column]]
                table = _tf_by_code(model, k, vocab)
                total[exact] += table[ctx.codes(spec.tf_column, "l")[exact]]
    guarded = np.zeros(len(ctx), dtype=bool)
    for guard in active_guards(model):
        hit = np.isin(gamma[:, guard.comparison], list(guard.levels))
        for comparison, levels in guard.unless:
            hit &= ~np.isin(gamma[:, comparison], list(levels))
        guarded |= hit
    return total, guarded, gamma


def score_pairs(
    model: Model,
    frame: PreparedFrame,
    left: IntArray,
    right: IntArray,
    gamma: npt.NDArray[np.int8],
    *,
    chunk: int = CHUNK,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """:func:`score_vectors` over any number of compared pairs, a chunk at a time.

    Returns:
        (match weights, guarded flags).
    """
    weight = np.empty(len(left), dtype=np.float64)
    guarded = np.empty(len(left), dtype=bool)
    for start in range(0, len(left), chunk):
        stop = start + chunk
        ctx = PairContext(frame, left[start:stop], right[start:stop])
        weight[start:stop], guarded[start:stop], _ = score_vectors(model, ctx, gamma[start:stop])
    return weight, guarded


def score_pair(model: Model, a: Prepared, b: Prepared, left_id: str, right_id: str) -> PairScore:
    """Score one pair of prepared records, field by field (the real-time path)."""
    comparisons = model.settings.comparisons
    weights = model.weights()
    total = model.prior_weight
    fields = []
    levels = []
    for k, spec in enumerate(comparisons):
        level = spec.compare(a, b)
        levels.append(level)
        w = float(weights[k][level])
        if level == 1 and spec.tf_column is not None and model.tf.get(spec.name):
            w += model.tf_adjustment(k, a[spec.tf_column])
        total += w
        fields.append(FieldScore(spec.name, spec.labels[level], w))
    guard = guard_of(model, levels)
    return PairScore(left_id, right_id, total, float(probability(total)), tuple(fields), guard)


def guard_of(
    model: Model, levels: Sequence[int], guards: Sequence[Guard] | None = None
) -> str | None:
    """Why a pair with these comparison levels may not be auto-linked, or ``None``.

    ``guards``: :func:`active_guards` of the model, if already at hand.
    """
    for g in active_guards(model) if guards is None else guards:
        if levels[g.comparison] in g.levels and not any(levels[c] in lv for c, lv in g.unless):
            return g.reason
    return None


class BoundedScorer:
    """Scores one record against many candidates, dropping those that cannot reach a weight.

    Comparisons run with the guards' first (so every pair's guard is known), then
    the rest by how much weight they can take away, the most telling disagreements
    first. After each, if the weight so far plus the most the remaining comparisons
    could add (their best level, with the record's term-frequency bonus) is below
    the minimum, the candidate is dropped: most candidates of a blocking lookup
    share a key and little else, and are dropped after two or three comparisons
    (and, prepared lazily, without normalising their other fields). A kept pair
    gets exactly :func:`score_pair`'s score.

    Args:
        model: the model.
        min_weight: pairs below this match weight are not wanted (the review band's floor).
    """

    def __init__(self, model: Model, min_weight: float) -> None:
        self.model = model
        self.min_weight = min_weight
        self._guards = active_guards(model)
        self._weights = model.weights()
        self._max = [float(w.max()) for w in self._weights]
        guarded: list[int] = []
        for g in self._guards:
            for k in (g.comparison, *(c for c, _ in g.unless)):
                if k not in guarded:
                    guarded.append(k)
        rest = sorted(
            (k for k in range(len(self._weights)) if k not in guarded),
            key=lambda k: self._max[k] - float(self._weights[k].min()),
            reverse=True,
        )
        self.order = (*guarded, *rest)
        self._guard_count = len(guarded)
        self._tf = tuple(
            spec.tf_column if spec.tf_column is not None and model.tf.get(spec.name) else None
            for spec in model.settings.comparisons
        )

    def score(
        self, a: Prepared, b: Prepared, left_id: str, right_id: str
    ) -> tuple[PairScore | None, bool]:
        """Score one pair.

        Returns:
            (the score, or ``None`` if it stays below ``min_weight``; whether the pair is
            guarded, known for every pair).
        """
        return self._score(a, b, left_id, right_id, self._bounds(a))

    def score_many(
        self, a: Prepared, left_id: str, candidates: Iterable[tuple[Prepared, str]]
    ) -> Iterator[tuple[str, PairScore | None, bool]]:
        """:meth:`score` for ``a`` against each ``(prepared, id)``: ``(id, score, guarded)``."""
        bounds = self._bounds(a)
        for b, right_id in candidates:
            yield (right_id, *self._score(a, b, left_id, right_id, bounds))

    def _bounds(self, a: Prepared) -> tuple[list[float], list[float], float]:
        """``a``'s term-frequency bonus per comparison, the most each could add (nothing
        where ``a`` lacks its fields: null), and the sum of those."""
        model, weights = self.model, self._weights
        bonus = [
            model.tf_adjustment(k, a[column]) if column is not None else 0.0
            for k, column in enumerate(self._tf)
        ]
        best = [
            0.0
            if any(a[c] is None for c in spec.present)
            else max(self._max[k], float(weights[k][1]) + bonus[k])
            for k, spec in enumerate(model.settings.comparisons)
        ]
        return bonus, best, sum(best)

    def _score(
        self,
        a: Prepared,
        b: Prepared,
        left_id: str,
        right_id: str,
        bounds: tuple[list[float], list[float], float],
    ) -> tuple[PairScore | None, bool]:
        model, weights, comparisons = self.model, self._weights, self.model.settings.comparisons
        bonus, best, remaining = bounds
        partial = model.prior_weight
        levels = [0] * len(comparisons)
        for n, k in enumerate(self.order, start=1):
            level = comparisons[k].compare(a, b)
            levels[k] = level
            partial += float(weights[k][level]) + (bonus[k] if level == 1 else 0.0)
            remaining -= best[k]
            # (A hair of slack: the partial sums add in another order than the total.)
            if n >= self._guard_count and partial + remaining < self.min_weight - 1e-9:
                return None, guard_of(model, levels, self._guards) is not None
        fields = []
        total = model.prior_weight  # summed in the settings' order, as score_pair does
        for k, spec in enumerate(comparisons):
            w = float(weights[k][levels[k]]) + (bonus[k] if levels[k] == 1 else 0.0)
            total += w
            fields.append(FieldScore(spec.name, spec.labels[levels[k]], w))
        guard = guard_of(model, levels, self._guards)
        score = PairScore(left_id, right_id, total, float(probability(total)), tuple(fields), guard)
        return (score if total >= self.min_weight else None), guard is not None


def explain_vector(
    model: Model, gamma_row: Sequence[int], tf_values: Sequence[str | None]
) -> tuple[FieldScore, ...]:
    """The field scores of one comparison vector from the batch path."""
    weights = model.weights()
    out = []
    for k, spec in enumerate(model.settings.comparisons):
        level = int(gamma_row[k])
        w = float(weights[k][level])
        if level == 1 and spec.tf_column is not None:
            w += model.tf_adjustment(k, tf_values[k])
        out.append(FieldScore(spec.name, spec.labels[level], w))
    return tuple(out)
