"""The real-time path: one incoming record against its candidates.

The service stores each record's blocking keys (:meth:`ScalarMatcher.blocking_keys`),
finds candidates by looking its keys up (:meth:`ScalarMatcher.lookup_keys`),
and scores them here. Levels, weights and guards are those of the batch path;
a test checks that both give the same score for the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from matching.blocking import lookup_keys, record_keys
from matching.model import Model
from matching.prepare import Prepared, prepare_record
from matching.record import Record
from matching.scoring import Band, PairScore, classify, score_pair

__all__ = ["ScalarMatcher"]

# Candidates come back for message after message (a family, a common name): their
# normalised values are kept rather than recomputed. Records are frozen values,
# and scoring only reads what it is given.
_prepared = lru_cache(maxsize=65_536)(prepare_record)


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

    def band(self, score: PairScore) -> Band:
        """What to do with a scored pair: link, review or nothing."""
        return classify(
            score.match_probability,
            score.guard is not None,
            self.link_threshold,
            self.review_threshold,
        )
