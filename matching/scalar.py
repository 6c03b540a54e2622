"""The real-time path: one incoming record against its candidates.

The service stores each record's blocking keys (:meth:`ScalarMatcher.blocking_keys`),
finds candidates by looking its keys up (:meth:`ScalarMatcher.lookup_keys`),
and scores them here. Levels, weights and guards are those of the batch path;
a test checks that both give the same score for the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from matching.blocking import lookup_keys, lookup_plan, record_keys
from matching.comparison import compare_pairs
from matching.model import Model, probability, weight_of
from matching.prepare import (
    LazyPrepared,
    NormalisedMemo,
    Prepared,
    prepare_record,
    prepare_records,
)
from matching.record import Record
from matching.scoring import (
    Band,
    BoundedScorer,
    PairScore,
    active_guards,
    classify,
    explain_vector,
    guard_of,
    score_pair,
    score_pairs,
)

__all__ = ["ScalarMatcher"]

# Candidates come back for message after message (a family, a common name): their
# normalised values are kept rather than recomputed, each column when first read.
# Records are frozen values, and scoring only reads what it is given.
_prepared = lru_cache(maxsize=65_536)(LazyPrepared)


class ScalarMatcher:
    """Scores one record against candidates with a trained model.

    Args:
        model: the model (see :func:`matching.defaults.default_model` when
            there is no trained one yet).
        link_threshold: match probability at or above which a pair links.
        review_threshold: match probability at or above which a pair is reviewed.
    """

    def __init__(
        self, model: Model, link_threshold: float = 0.95, review_threshold: float = 0.5
    ) -> None:
        self.model = model
        self.link_threshold = link_threshold
        self.review_threshold = review_threshold
        # A hair below the band's floor: band() decides on the probability, never dropped here.
        self._bounded = BoundedScorer(model, weight_of(review_threshold) - 1e-9)
        self._guards = active_guards(model)
        self._memo = NormalisedMemo()

    def prepare(self, record: Record) -> Prepared:
        """Normalise a record once, to score it against many candidates."""
        return prepare_record(record)

    def blocking_keys(self, record: Record | Prepared) -> list[str]:
        """The keys to store for a record so that others can find it."""
        prepared = record if isinstance(record, dict) else prepare_record(record)
        return record_keys(prepared, self.model.settings.blocking)

    def lookup_keys(self, record: Record | Prepared) -> list[str]:
        """The keys under which to look for a record's candidates."""
        prepared = record if isinstance(record, dict) else prepare_record(record)
        return lookup_keys(prepared, self.model.settings.blocking)

    def lookup_plan(self, record: Record | Prepared) -> list[tuple[str, int]]:
        """The lookup keys, each with the largest block searched under it: its rule's
        ``max_block``, else the global ``max_block_size``. (The batch path searches a
        bigger block with a sorted window, which needs the whole block; online, such a
        key is left to the narrower ones: measured on 640 feed messages at 1M records,
        no pair reaching the review band was lost, and 39% fewer candidates were scored.)"""
        prepared = record if isinstance(record, dict) else prepare_record(record)
        default = self.model.settings.max_block_size
        return [
            (key, default if block is None else block)
            for key, block in lookup_plan(prepared, self.model.settings.blocking)
        ]

    def score(self, record: Record, candidates: Iterable[Record]) -> list[PairScore]:
        """Score ``record`` against each candidate, best first."""
        left = prepare_record(record)
        scores = [
            score_pair(self.model, left, _prepared(c), record.record_id, c.record_id)
            for c in candidates
            if c.record_id != record.record_id
        ]
        scores.sort(key=lambda s: s.match_weight, reverse=True)
        return scores

    def score_for_decision(
        self, record: Record, candidates: Iterable[Record]
    ) -> tuple[list[PairScore], frozenset[str]]:
        """What deciding ``record``'s person needs: the candidates that reach the review
        band (best first, scored as :meth:`score` scores them) and the ids of every
        guarded candidate, in or out of the band. Candidates that cannot reach the band
        are dropped after the first comparisons show it (:class:`BoundedScorer`)."""
        others = (
            (_prepared(c), c.record_id) for c in candidates if c.record_id != record.record_id
        )
        scores, guarded = [], []
        for right_id, score, is_guarded in self._bounded.score_many(
            prepare_record(record), record.record_id, others
        ):
            if score is not None:
                scores.append(score)
            if is_guarded:
                guarded.append(right_id)
        scores.sort(key=lambda s: s.match_weight, reverse=True)
        return scores, frozenset(guarded)

    def score_groups(
        self,
        records: Sequence[Record],
        candidates: Sequence[Record],
        groups: Sequence[Sequence[int]],
    ) -> list[tuple[list[PairScore], frozenset[str]]]:
        """:meth:`score_for_decision` for many records at once, vectorised.

        Record ``i`` is scored against ``candidates[k]`` for each ``k`` in ``groups[i]``
        (a candidate may appear in several groups, and be one of ``records``). All pairs
        are normalised and compared in one pass of the batch path's comparisons, which
        give the levels, weights and guards of :func:`score_pair`; per record the result
        is what :meth:`score_for_decision` returns for it (equal up to float rounding).
        """
        if len(groups) != len(records):
            raise ValueError(
                f"groups: {len(groups)} groups for {len(records)} records (one each is the rule)"
            )
        n = len(records)
        sizes = [len(g) for g in groups]
        if not sum(sizes):
            return [([], frozenset()) for _ in records]
        prepared = prepare_records([*records, *candidates], self._memo)
        left = np.repeat(np.arange(n, dtype=np.int64), sizes)
        right = n + np.fromiter((k for g in groups for k in g), dtype=np.int64, count=sum(sizes))
        ids = prepared.record_ids
        same = ids[left] == ids[right]
        if same.any():
            left, right = left[~same], right[~same]
        comparisons = self.model.settings.comparisons
        gamma = compare_pairs(comparisons, prepared, left, right)
        weight, guarded = score_pairs(self.model, prepared, left, right, gamma)
        out: list[tuple[list[PairScore], list[str]]] = [([], []) for _ in records]
        for k in np.flatnonzero(guarded).tolist():
            out[int(left[k])][1].append(str(ids[right[k]]))
        kept = np.flatnonzero(weight >= self._bounded.min_weight)
        if len(kept):
            tf_columns = [
                prepared.strings(spec.tf_column)
                if spec.tf_column is not None and self.model.tf.get(spec.name)
                else None
                for spec in comparisons
            ]
            prob = probability(weight[kept])
            for k, p in zip(kept.tolist(), prob.tolist(), strict=True):
                a = int(left[k])
                levels = gamma[k]
                fields = explain_vector(
                    self.model, levels, [c[a] if c is not None else None for c in tf_columns]
                )
                guard = guard_of(self.model, levels.tolist(), self._guards)
                total = float(weight[k])
                out[a][0].append(
                    PairScore(str(ids[a]), str(ids[right[k]]), total, p, fields, guard)
                )
        results = []
        for scores, guarded_ids in out:
            scores.sort(key=lambda s: s.match_weight, reverse=True)
            results.append((scores, frozenset(guarded_ids)))
        return results

    def band(self, score: PairScore) -> Band:
        """What to do with a scored pair: link, review or nothing."""
        return classify(
            score.match_probability,
            score.guard is not None,
            self.link_threshold,
            self.review_threshold,
        )
