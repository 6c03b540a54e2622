"""Training, scoring on both paths, saving and loading, settings validation, clustering."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.cluster import cluster_pairs
from matching.comparison import PairContext
from matching.defaults import default_model
from matching.errors import ModelFileError, SettingsError
from matching.model import Model
from matching.pipeline import deduplicate
from matching.prepare import prepare_record
from matching.record import Record
from matching.scalar import ScalarMatcher
from matching.scoring import Band, BoundedScorer, score_pair, score_vectors
from matching.settings import compile_settings, default_settings


@pytest.fixture(scope="module")
def result(population: pd.DataFrame):  # type: ignore[no-untyped-def]
    return deduplicate(population.drop(columns=["person"]), seed=3)


def _pairs_from_clusters(labels: np.ndarray) -> set[tuple[int, int]]:
    out = set()
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        out |= {(int(a), int(b)) for k, a in enumerate(idx) for b in idx[k + 1 :]}
    return out


def test_unsupervised_dedup_finds_the_planted_persons(population: pd.DataFrame, result) -> None:  # type: ignore[no-untyped-def]
    truth = _pairs_from_clusters(population["person"].to_numpy())
    found = _pairs_from_clusters(result.cluster)
    tp = len(truth & found)
    precision, recall = tp / len(found), tp / len(truth)
    assert precision > 0.97 and recall > 0.9, (precision, recall)


def test_scalar_scores_equal_batch_scores(population: pd.DataFrame, result) -> None:  # type: ignore[no-untyped-def]
    pairs = result.pairs
    records = population.drop(columns=["person"]).to_dict("records")
    matcher = ScalarMatcher(result.model)
    for k in range(0, len(pairs), max(1, len(pairs) // 200)):
        a, b = dict(records[pairs.left[k]]), dict(records[pairs.right[k]])
        ra = Record.from_mapping(str(a.pop("record_id")), a)
        rb = Record.from_mapping(str(b.pop("record_id")), b)
        (score,) = matcher.score(ra, [rb])
        assert score.match_weight == pytest.approx(pairs.weight[k], abs=1e-9)
        assert (score.guard is not None) == bool(pairs.guarded[k])


@pytest.mark.parametrize("review_threshold", [0.5, 0.05, 0.999])
def test_bounded_scoring_keeps_exactly_the_pairs_in_the_band_and_every_guard(
    population: pd.DataFrame,
    result,  # type: ignore[no-untyped-def]
    review_threshold: float,
) -> None:
    records = [
        Record.from_mapping(str(r.pop("record_id")), r)
        for r in population.drop(columns=["person"]).to_dict("records")
    ]
    matcher = ScalarMatcher(result.model, review_threshold=review_threshold)
    by_left: dict[int, list[int]] = {}
    for left, right in zip(result.pairs.left.tolist(), result.pairs.right.tolist(), strict=True):
        by_left.setdefault(left, []).append(right)
    checked = 0
    for left, rights in list(by_left.items())[:300]:
        candidates = [records[r] for r in rights] + records[left + 1 : left + 30]  # and strangers
        full = matcher.score(records[left], candidates)
        kept, guarded = matcher.score_for_decision(records[left], candidates)
        in_band = [s for s in full if matcher.band(s) is not Band.NO_LINK]
        assert [(s.right_id, s.match_weight, s.fields, s.guard) for s in in_band] == [
            (s.right_id, s.match_weight, s.fields, s.guard)
            for s in kept
            if matcher.band(s) is not Band.NO_LINK
        ]
        assert guarded == {s.right_id for s in full if s.guard is not None}
        checked += len(full)
    assert checked > 3000


def test_scoring_groups_at_once_equals_scoring_each_record(
    population: pd.DataFrame,
    result,  # type: ignore[no-untyped-def]
) -> None:
    records = [
        Record.from_mapping(str(r.pop("record_id")), r)
        for r in population.drop(columns=["person"]).to_dict("records")
    ]
    matcher = ScalarMatcher(result.model)
    by_left: dict[int, list[int]] = {}
    for left, right in zip(result.pairs.left.tolist(), result.pairs.right.tolist(), strict=True):
        by_left.setdefault(left, []).append(right)
    lefts = list(by_left)[:400]
    # Candidates: the blocked partners, some strangers, and (scored out) the record itself.
    groups = [by_left[a] + list(range(a + 1, a + 20)) + [a] for a in lefts]
    groups = [[k for k in g if k < len(records)] for g in groups]
    together = matcher.score_groups([records[a] for a in lefts], records, groups)
    twice = ScalarMatcher(result.model).score_groups([records[a] for a in lefts], records, groups)
    assert [(s, g) for s, g in together] == [(s, g) for s, g in twice]  # memo changes nothing
    compared = 0
    for a, group, (scores, guarded) in zip(lefts, groups, together, strict=True):
        alone, alone_guarded = matcher.score_for_decision(records[a], [records[k] for k in group])
        assert guarded == alone_guarded
        assert [(s.left_id, s.right_id, s.fields, s.guard) for s in scores] == [
            (s.left_id, s.right_id, s.fields, s.guard) for s in alone
        ]
        assert [s.match_weight for s in scores] == pytest.approx(
            [s.match_weight for s in alone], abs=1e-9
        )
        compared += len(alone)
    assert compared > 250  # pairs in the review band or above, compared field by field


def test_scoring_groups_needs_a_group_per_record(result) -> None:  # type: ignore[no-untyped-def]
    record = Record("a", given_name="Anna")
    with pytest.raises(ValueError, match="one each"):
        ScalarMatcher(result.model).score_groups([record], [record], [])
    assert ScalarMatcher(result.model).score_groups([record], [], [[]]) == [([], frozenset())]


def test_bounded_scorer_keeps_a_pair_exactly_when_it_reaches_the_minimum(
    population: pd.DataFrame,
    result,  # type: ignore[no-untyped-def]
) -> None:
    records = population.drop(columns=["person"]).to_dict("records")
    prepared = [prepare_record(Record.from_mapping(str(r["record_id"]), r)) for r in records]
    pairs = result.pairs
    for k in range(0, len(pairs), max(1, len(pairs) // 300)):
        a, b = prepared[pairs.left[k]], prepared[pairs.right[k]]
        full = score_pair(result.model, a, b, "a", "b")
        at = BoundedScorer(result.model, full.match_weight).score(a, b, "a", "b")
        assert at[0] == full and at[1] == (full.guard is not None)
        above = BoundedScorer(result.model, full.match_weight + 1e-9).score(a, b, "a", "b")
        assert above == (None, full.guard is not None)


def test_model_round_trips_through_a_file(tmp_path: Path, result) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.json"
    result.model.save(path)
    loaded = Model.load(path)
    ctx = PairContext(result.frame, result.pairs.left, result.pairs.right)
    weight, guarded, _ = score_vectors(loaded, ctx)
    np.testing.assert_allclose(weight, result.pairs.weight)
    np.testing.assert_array_equal(guarded, result.pairs.guarded)


def test_bad_model_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text("{not json")
    with pytest.raises(ModelFileError, match=r"model\.json"):
        Model.load(path)
    with pytest.raises(ModelFileError, match=r"no such file|cannot read"):
        Model.load(tmp_path / "missing.json")


def test_settings_report_every_problem_at_once() -> None:
    raw = default_settings()
    raw["comparisons"][0]["levels"][0]["type"] = "nonsense"
    raw["blocking"][0]["columns"] = ["no_such_column"]
    raw["guards"][0]["levels"] = ["no such level"]
    raw["max_block_size"] = -1
    with pytest.raises(SettingsError) as info:
        compile_settings(raw)
    assert len(info.value.problems) == 4, info.value.problems


def test_twins_are_not_linked_automatically() -> None:
    matcher = ScalarMatcher(default_model())
    anna = Record(
        "a",
        given_name="Anna",
        family_name="Weiß",
        birth_date="20010304",
        sex="F",
        street="Lindenweg 4",
        city="Köln",
        postcode="50667",
    )
    lena = Record(
        "b",
        given_name="Lena",
        family_name="Weiss",
        birth_date="20010304",
        sex="F",
        street="Lindenweg 4",
        city="Koeln",
        postcode="50667",
    )
    (score,) = matcher.score(anna, [lena])
    assert score.guard is not None
    assert matcher.band(score) is not Band.LINK
    same = Record(
        "c",
        given_name="Anna",
        family_name="Weiss",
        birth_date="20010304",
        sex="F",
        street="Lindenweg 4",
        city="Koeln",
        postcode="50667",
    )
    (score,) = matcher.score(anna, [same])
    assert matcher.band(score) is Band.LINK


def test_junior_and_senior_are_not_linked_automatically() -> None:
    matcher = ScalarMatcher(default_model())
    senior = Record(
        "s",
        given_name="Robert",
        family_name="Becker",
        birth_date="19550101",
        sex="M",
        street="Hauptstr. 1",
        city="Bonn",
        postcode="53111",
    )
    junior = Record(
        "j",
        given_name="Robert",
        family_name="Becker",
        birth_date="19850612",
        sex="M",
        street="Hauptstr. 1",
        city="Bonn",
        postcode="53111",
    )
    (score,) = matcher.score(senior, [junior])
    assert matcher.band(score) is not Band.LINK


def test_a_weak_link_does_not_chain_two_people() -> None:
    # 0-1 strong, 1-2 strong-ish, but 0-2 is a cannot-link pair (twins): 2 must stay apart from 0.
    left = np.array([0, 1, 0])
    right = np.array([1, 2, 2])
    weight = np.array([30.0, 12.0, -5.0])
    linked = np.array([True, True, False])
    cannot = np.array([False, False, True])
    labels = cluster_pairs(3, left, right, weight, linked, cannot)
    assert labels[0] == labels[1] != labels[2]


def test_unconflicted_components_stay_whole() -> None:
    left, right = np.array([0, 1, 3]), np.array([1, 2, 4])
    labels = cluster_pairs(5, left, right, np.ones(3), np.ones(3, bool), np.zeros(3, bool))
    assert labels.tolist() == [0, 0, 0, 1, 1]


def test_prepare_record_matches_record_fields() -> None:
    prepared = prepare_record(Record("x", given_name="Bob", family_name="Groß"))
    assert (
        prepared["given"] == "bob"
        and prepared["family"] == "gross"
        and prepared["given_g1"] == "robert"
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    edges=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=60),
)
def test_components_equal_a_plain_union_find(n: int, edges: list[tuple[int, int]]) -> None:
    from matching.cluster import _components

    edges = [(a % n, b % n) for a, b in edges]
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    got = _components(n, left, right)
    expected = [min(v for v in range(n) if find(v) == find(u)) for u in range(n)]
    assert got.tolist() == expected
