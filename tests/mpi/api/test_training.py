"""``mpi train``: EM on the index plus reviewers' decisions, and the quality report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from api_helpers import RC, Feed
from typer.testing import CliRunner

from matching.defaults import default_model
from matching.model import Model
from mpi.cli import app
from mpi.domain import ReviewDecision, ReviewStatus
from mpi.errors import InvalidState
from mpi.service import ServiceContext
from mpi.service.review import ReviewService
from mpi.service.training import Quality, train_from_index

NAMES = ["SMITH^JOHN", "JONES^MARY", "BROWN^PETER", "TAYLOR^ANNE", "WILSON^DAVID", "CLARK^SUSAN"]


@pytest.fixture
def decided(feed: Feed, ctx: ServiceContext) -> list[ReviewDecision]:
    """Six review pairs (moved house, day/month transposed); four judged match, two no-match."""
    for k, name in enumerate(NAMES):
        birth = f"19{60 + k}{k + 1:02d}{k + 3:02d}"
        swapped = f"19{60 + k}{k + 3:02d}{k + 1:02d}"  # day and month transposed
        phone = f"(217)555-01{k:02d}^PRN^PH"
        home = f"{k + 1} HIGH STREET^^SPRINGFIELD^^627{k:02d}^^H"
        moved = f"{k + 1} OTHER ROAD^^SHELBYVILLE^^629{k:02d}^^H"
        feed(f"NG-{k}^^^NORTHGEN", f"{name}^^^^^L", birth=birth, phone=phone, address=home)
        feed(
            f"RC-{k}^^^RIVERCL", f"{name}^^^^^L", sender=RC, birth=swapped, address=moved, phone=""
        )
    service = ReviewService(ctx)
    tasks = service.list(ReviewStatus.OPEN).items
    assert len(tasks) == len(NAMES)
    verdicts = [ReviewDecision.MATCH] * 4 + [ReviewDecision.NO_MATCH] * 2
    for item, verdict in zip(tasks, verdicts, strict=True):
        service.decide(item.task.id, verdict, actor="bob")
    return verdicts


def test_quality_counts_are_those_of_the_scores(
    decided: list[ReviewDecision], ctx: ServiceContext
) -> None:
    report = train_from_index(ctx.store, ctx.settings, default_model())
    assert (report.labelled_matches, report.labelled_non_matches, report.skipped_labels) == (
        4,
        2,
        0,
    )
    assert report.records == 12 and report.candidate_pairs > 0
    link, review = report.before
    # The current model put every pair in the review band: none auto-linked, all reviewed.
    assert (link.true_positives, link.false_positives, link.false_negatives) == (0, 0, 4)
    assert link.precision is None and link.recall == 0.0
    assert (review.true_positives, review.false_positives, review.false_negatives) == (4, 2, 0)
    assert review.precision == pytest.approx(4 / 6) and review.recall == 1.0
    for q in report.after:
        assert q.true_positives + q.false_negatives == 4
        assert q.false_positives <= 2


def test_labelled_matches_pull_m_towards_their_levels(
    decided: list[ReviewDecision], ctx: ServiceContext
) -> None:
    plain = train_from_index(ctx.store, ctx.settings, default_model(), label_weight=0.0).model
    heavy = train_from_index(ctx.store, ctx.settings, default_model(), label_weight=1000.0).model
    names = [c.name for c in heavy.settings.comparisons]
    # The labelled matches all disagree on the street: its last level ("else") gains m.
    k = next(i for i, n in enumerate(names) if "street" in n or "address" in n)
    assert heavy.m[k][-1] > plain.m[k][-1]
    assert np.allclose([u.sum() for u in heavy.u], [u.sum() for u in plain.u])
    assert heavy.trained_on["labelled_matches"] == 4
    # Labels and EM are pooled: weight 1 moves m less than weight 1000 does.
    light = train_from_index(ctx.store, ctx.settings, default_model(), label_weight=1.0).model
    assert plain.m[k][-1] <= light.m[k][-1] <= heavy.m[k][-1]
    assert light.trained_on["expected_matches"] > 0


def test_quality_is_undefined_without_predictions_or_matches() -> None:
    q = Quality(0.95, 0, 0, 0)
    assert q.precision is None and q.recall is None
    assert Quality(0.5, 3, 1, 2).precision == 0.75 and Quality(0.5, 3, 1, 2).recall == 0.6


def test_an_empty_index_cannot_be_trained(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidState, match="needs at least 2 to train on"):
        train_from_index(ctx.store, ctx.settings, default_model())


def test_mpi_train_writes_a_model_and_prints_the_report(
    decided: list[ReviewDecision], db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "model.json"
    result = CliRunner().invoke(app, ["train", "--db", db_url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "labelled: 4 match / 2 no-match" in result.output
    lines = [
        line.split() for line in result.output.splitlines() if line.startswith(("current", "new"))
    ]
    assert [line[:2] for line in lines] == [
        ["current", "0.95"],
        ["current", "0.50"],
        ["new", "0.95"],
        ["new", "0.50"],
    ]
    assert lines[1][2:] == ["0.667", "1.000", "4", "2", "0"]
    assert Model.load(out).trained_on["labelled_matches"] == 4


def test_mpi_train_usage_errors_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "-o", str(tmp_path / "nowhere" / "m.json")])
    assert result.exit_code == 2
    assert "cannot write there" in result.output
