"""The real-time path: one incoming record against its candidates.

The service stores each record's blocking keys (:meth:`ScalarMatcher.blocking_keys`),
finds candidates by looking its keys up (:meth:`ScalarMatcher.lookup_keys`),
and scores them here. Levels, weights and guards are those of the batch path;
a test checks that both give the same score for the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from matching.blocking import lookup_keys, lookup_plan, record_keys
from matching.model import Model, weight_of
from matching.prepare import LazyPrepared, Prepared, prepare_record
from matching.record import Record
from matching.scoring import Band, BoundedScorer, PairScore, classify, score_pair

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

    def lookup_plan(self, record: Record | Prepared) -> list[tuple[str, int | None]]:
        """The lookup keys, each with the largest block its rule searches (or ``None``)."""
        prepared = record if isinstance(record, dict) else prepare_record(record)
        return lookup_plan(prepared, self.model.settings.blocking)

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

    def band(self, score: PairScore) -> Band:
        """What to do with a scored pair: link, review or nothing."""
        return classify(
            score.match_probability,
            score.guard is not None,
            self.link_threshold,
            self.review_threshold,
        )
