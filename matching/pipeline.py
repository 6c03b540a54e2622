"""The batch path end to end: prepare, block, compare, train, score, cluster.

Used by ``mpi dedup`` and ``mpi link`` for whole exports. Each stage reports
progress through an optional callback so the CLI can show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.blocking import candidate_pairs
from matching.cluster import cluster_pairs
from matching.comparison import compare_pairs
from matching.model import Model, probability
from matching.prepare import PreparedFrame, prepare_frame
from matching.scoring import score_pairs
from matching.settings import MatchSettings, compile_settings
from matching.training import train

__all__ = ["DedupResult", "LinkResult", "Progress", "ScoredPairs", "deduplicate", "link"]

Progress = Callable[[str], None]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ScoredPairs:
    """Candidate pairs with their scores (positions into the prepared frame)."""

    left: IntArray
    right: IntArray
    weight: FloatArray
    probability: FloatArray
    guarded: npt.NDArray[np.bool_]
    gamma: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.left)


@dataclass(frozen=True)
class DedupResult:
    """A de-duplicated data set.

    Attributes:
        frame: the prepared records (``record_ids`` in input order).
        cluster: a cluster number per record; one cluster is one person.
        best_probability: per record, the highest match probability among the
            pairs that joined it to its cluster (NaN for a record on its own).
        pairs: every scored candidate pair.
        model: the model used (trained on the data unless one was given).
    """

    frame: PreparedFrame
    cluster: IntArray
    best_probability: FloatArray
    pairs: ScoredPairs
    model: Model


@dataclass(frozen=True)
class LinkResult:
    """Two data sets linked: the pairs at or above the link threshold."""

    frame: PreparedFrame
    sides: npt.NDArray[np.int8]
    pairs: ScoredPairs
    linked: npt.NDArray[np.bool_]
    model: Model


def _score(
    frame: PreparedFrame,
    settings: MatchSettings,
    model: Model | None,
    sides: npt.NDArray[np.int8] | None,
    seed: int,
    progress: Progress,
) -> tuple[ScoredPairs, Model]:
    progress(f"blocking {len(frame):,} records")
    left, right = candidate_pairs(
        frame,
        settings.blocking,
        max_block_size=settings.max_block_size,
        window=settings.window,
        sides=sides,
    )
    progress(f"comparing {len(left):,} candidate pairs")
    gamma = compare_pairs(settings.comparisons, frame, left, right)
    if model is None:
        progress("training: u from random pairs, m by EM")
        model = train(frame, settings, left, right, gamma, seed=seed, sides=sides)
    progress("scoring")
    weight, guarded = score_pairs(model, frame, left, right, gamma)
    prob = np.asarray(probability(weight), dtype=np.float64)
    return ScoredPairs(left, right, weight, prob, guarded, gamma), model


def deduplicate(
    frame: pd.DataFrame,
    *,
    link_threshold: float = 0.95,
    settings: MatchSettings | None = None,
    model: Model | None = None,
    seed: int = 0,
    progress: Progress = _quiet,
) -> DedupResult:
    """Find the records of one data set that belong to the same person.

    Args:
        frame: one row per record: ``record_id`` plus record fields as text,
            birth dates already digits.
        link_threshold: pairs at or above this match probability link.
        settings: compiled settings (the defaults if ``None``); ignored when
            a model is given (the model carries its own).
        model: a trained model; if ``None`` one is trained on ``frame``.
        seed: seeds training.
        progress: called with a line of text at each stage.
    """
    settings = model.settings if model is not None else (settings or compile_settings())
    progress(f"preparing {len(frame):,} records")
    prepared = prepare_frame(frame)
    pairs, model = _score(prepared, settings, model, None, seed, progress)
    linked = (pairs.probability >= link_threshold) & ~pairs.guarded
    cannot = pairs.guarded | (pairs.weight - model.prior_weight < 0)
    progress("clustering")
    cluster = cluster_pairs(len(prepared), pairs.left, pairs.right, pairs.weight, linked, cannot)
    best = np.full(len(prepared), np.nan)
    joined = linked & (cluster[pairs.left] == cluster[pairs.right])
    for side in (pairs.left, pairs.right):
        current = np.where(np.isnan(best[side[joined]]), -1.0, best[side[joined]])
        np.fmax.at(best, side[joined], np.maximum(current, pairs.probability[joined]))
    return DedupResult(prepared, cluster, best, pairs, model)


def link(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    link_threshold: float = 0.95,
    settings: MatchSettings | None = None,
    model: Model | None = None,
    seed: int = 0,
    progress: Progress = _quiet,
) -> LinkResult:
    """Link the records of two data sets that belong to the same person.

    Arguments as for :func:`deduplicate`; pairs are only formed across the two.
    """
    settings = model.settings if model is not None else (settings or compile_settings())
    both = pd.concat([left, right], ignore_index=True)
    sides = np.concatenate([np.zeros(len(left), np.int8), np.ones(len(right), np.int8)])
    progress(f"preparing {len(both):,} records")
    prepared = prepare_frame(both)
    pairs, model = _score(prepared, settings, model, sides, seed, progress)
    linked = (pairs.probability >= link_threshold) & ~pairs.guarded
    return LinkResult(prepared, sides, pairs, linked, model)
