"""``mpi train``: re-estimate the matching model from the index and reviewers' decisions.

Steps:

1. Every active source record of the index is read (a batch at a time) and
   prepared for the vectorised path.
2. Unsupervised training as for a batch run (:func:`matching.training.train`):
   u from random pairs, m by EM over the blocked candidate pairs, the prior,
   term frequencies.
3. The decided review tasks are labelled pairs (``match`` / ``no-match``).
   The ``match`` pairs re-estimate m together with EM: for each comparison,
   m = (EM's expected matches × EM's m + the labelled matches' level counts)
   / (EM's expected matches + labelled matches) - one M-step of semi-supervised
   EM in which a reviewer's verdict is certain. A ``label_weight`` above 1
   counts each reviewed pair as that many pairs. u stays as measured on random
   pairs: reviewed ``no-match`` pairs are the hardest near-misses, not a sample
   of non-matches, and would bias u.
4. Both the current and the new model score every labelled pair; precision and
   recall at the configured thresholds are reported for each: at the link
   threshold (the pair would be auto-linked) and at the review threshold (it
   would at least be reviewed).

Labelled pairs whose records are no longer active (merged away by A40) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.blocking import candidate_pairs
from matching.comparison import PairContext, compare_all
from matching.model import Model
from matching.prepare import prepare_frame
from matching.record import Record
from matching.scalar import ScalarMatcher
from matching.training import train
from mpi.domain import ReviewDecision, ReviewStatus, ReviewTask, SourceRecordRef
from mpi.errors import InvalidState
from mpi.settings import Settings
from mpi.store import Store

__all__ = ["LabelledPair", "Quality", "TrainingReport", "labelled_pairs", "train_from_index"]

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class LabelledPair:
    """A reviewer's decision on two records."""

    left: SourceRecordRef
    right: SourceRecordRef
    match: bool


@dataclass(frozen=True, slots=True)
class Quality:
    """Precision and recall of a model on the labelled pairs at one threshold.

    ``None`` where undefined (no predicted matches for precision, no labelled
    matches for recall).
    """

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP)."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN)."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else None


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """What ``mpi train`` did and how both models do on the labelled pairs.

    Attributes:
        records: active records trained on.
        candidate_pairs: blocked pairs EM saw.
        labelled_matches, labelled_non_matches: decided review pairs used.
        skipped_labels: decided pairs whose records are no longer active.
        before, after: quality of the current and the new model, at the link
            threshold and at the review threshold.
    """

    model: Model
    records: int
    candidate_pairs: int
    labelled_matches: int
    labelled_non_matches: int
    skipped_labels: int
    before: tuple[Quality, Quality]
    after: tuple[Quality, Quality]


def labelled_pairs(store: Store, *, page: int = 1000) -> Iterator[LabelledPair]:
    """Every decided review task as a labelled pair."""
    offset = 0
    while True:
        with store.unit_of_work(readonly=True) as uow:
            tasks: list[ReviewTask] = uow.reviews.list(
                ReviewStatus.DECIDED, offset=offset, limit=page
            )
        for task in tasks:
            yield LabelledPair(task.left, task.right, task.decision is ReviewDecision.MATCH)
        if len(tasks) < page:
            return
        offset += page


def _records(store: Store) -> dict[SourceRecordRef, Record]:
    out: dict[SourceRecordRef, Record] = {}
    with store.unit_of_work(readonly=True) as uow:
        for batch in uow.bulk.iter_active():
            for stored in batch:
                out[stored.ref] = stored.demographics.with_id(str(stored.ref))
    return out


def train_from_index(
    store: Store,
    settings: Settings,
    current: Model,
    *,
    seed: int = 0,
    label_weight: float = 1.0,
    say: Say = _quiet,
) -> TrainingReport:
    """Train a new model on the index and the reviewers' decisions (see the module doc).

    Args:
        store: the index.
        settings: the configured thresholds.
        current: the model in use (its comparison settings are kept).
        seed: seeds the random pairs.
        label_weight: how many pairs one reviewed pair counts as.
        say: progress lines.
    """
    say("reading the index")
    records = _records(store)
    labels = list(labelled_pairs(store))
    if len(records) < 2:
        raise InvalidState(
            "index", f"{len(records)} active records", "needs at least 2 to train on"
        )
    usable = [p for p in labels if p.left in records and p.right in records]
    say(f"{len(records):,} active records, {len(usable):,} labelled pairs")
    refs = list(records)
    frame = prepare_frame(
        pd.DataFrame([asdict(records[r]) for r in refs], columns=list(asdict(Record("x"))))
    )
    spec = current.settings
    left, right = candidate_pairs(
        frame, spec.blocking, max_block_size=spec.max_block_size, window=spec.window
    )
    say(f"EM over {len(left):,} candidate pairs")
    gamma = compare_all(spec.comparisons, PairContext(frame, left, right))
    # u needs many random pairs on a big index, but a few per possible pair on a small one.
    random_pairs = int(min(2_000_000, max(10_000, 10 * len(refs) ** 2)))
    model = train(frame, spec, left, right, gamma, seed=seed, random_pair_count=random_pairs)
    position = {ref: k for k, ref in enumerate(refs)}
    matches = [p for p in usable if p.match]
    if matches:
        a = np.array([position[p.left] for p in matches], dtype=np.int64)
        b = np.array([position[p.right] for p in matches], dtype=np.int64)
        labelled_gamma = compare_all(spec.comparisons, PairContext(frame, a, b))
        model = _with_labels(model, labelled_gamma, label_weight)
    model = replace(
        model,
        trained_on={
            **model.trained_on,
            "labelled_matches": len(matches),
            "labelled_non_matches": len(usable) - len(matches),
            "label_weight": label_weight,
        },
    )
    say("evaluating on the labelled pairs")
    return TrainingReport(
        model=model,
        records=len(records),
        candidate_pairs=len(left),
        labelled_matches=len(matches),
        labelled_non_matches=len(usable) - len(matches),
        skipped_labels=len(labels) - len(usable),
        before=_quality(current, settings, usable, records),
        after=_quality(model, settings, usable, records),
    )


def _with_labels(model: Model, gamma: npt.NDArray[np.int8], weight: float) -> Model:
    """m re-estimated with the labelled matches' level counts (see the module doc)."""
    notes = model.trained_on
    if "expected_matches" in notes:  # matches EM expects in the data
        expected = float(notes["expected_matches"])
    else:  # older trainers: EM's match share among the pairs it saw
        em_pairs = float(notes.get("em_candidate_pairs", 0)) + float(notes.get("em_loose_pairs", 0))
        expected = float(notes.get("em_match_share", 0.0)) * em_pairs
    m_new = []
    for k, spec in enumerate(model.settings.comparisons):
        neutral = list(spec.neutral_levels())
        counts = np.bincount(gamma[:, k], minlength=spec.size).astype(np.float64) * weight
        counts[neutral] = 0.0
        informative = counts.sum()
        if informative <= 0:
            m_new.append(model.m[k])
            continue
        m = model.m[k].copy()
        m[neutral] = 0.0
        m = (expected * m + counts) / (expected + informative)
        m = np.maximum(m, 1e-6)
        m[neutral] = 0.0
        m = m / m.sum()
        m[neutral] = 1.0
        m_new.append(m)
    return replace(model, m=tuple(m_new))


def _quality(
    model: Model,
    settings: Settings,
    pairs: list[LabelledPair],
    records: dict[SourceRecordRef, Record],
) -> tuple[Quality, Quality]:
    thresholds = settings.matching
    matcher = ScalarMatcher(model, thresholds.link_threshold, thresholds.review_threshold)
    scored = [
        (matcher.score(records[p.left], [records[p.right]])[0].match_probability, p.match)
        for p in pairs
    ]
    out = []
    for threshold in (thresholds.link_threshold, thresholds.review_threshold):
        tp = sum(1 for prob, match in scored if match and prob >= threshold)
        fp = sum(1 for prob, match in scored if not match and prob >= threshold)
        fn = sum(1 for prob, match in scored if match and prob < threshold)
        out.append(Quality(threshold, tp, fp, fn))
    return out[0], out[1]
