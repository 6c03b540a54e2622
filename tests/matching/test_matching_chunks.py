"""Comparing and scoring a chunk at a time gives exactly what one pass gives."""

import numpy as np
import pandas as pd

from matching.blocking import candidate_pairs
from matching.comparison import PairContext, compare_all, compare_pairs
from matching.pipeline import deduplicate
from matching.prepare import prepare_frame
from matching.scoring import score_pairs, score_vectors
from matching.settings import compile_settings


def test_chunked_compare_and_score_equal_one_pass(population: pd.DataFrame) -> None:
    settings = compile_settings()
    frame = prepare_frame(population.head(600))
    left, right = candidate_pairs(
        frame, settings.blocking, max_block_size=settings.max_block_size, window=settings.window
    )
    assert len(left) > 20
    whole = compare_all(settings.comparisons, PairContext(frame, left, right))
    chunked = compare_pairs(settings.comparisons, frame, left, right, chunk=7)
    assert np.array_equal(whole, chunked)

    model = deduplicate(population.head(600)).model
    weight, guarded, _ = score_vectors(model, PairContext(frame, left, right), whole)
    c_weight, c_guarded = score_pairs(model, frame, left, right, chunked, chunk=7)
    assert np.array_equal(weight, c_weight)
    assert np.array_equal(guarded, c_guarded)
