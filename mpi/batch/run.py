"""Running ``mpi dedup`` and ``mpi link``: read, match, write, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.model import Model
from matching.pipeline import ScoredPairs, deduplicate, link
from matching.prepare import PreparedFrame
from mpi.batch.csvio import CsvDataError, InputTable, InvalidValues, read_table
from mpi.batch.report import ReportInput, render_report

__all__ = ["BatchOptions", "DedupSummary", "LinkSummary", "run_dedup", "run_link"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class BatchOptions:
    """Options shared by ``dedup`` and ``link``."""

    link_threshold: float = 0.95
    review_threshold: float = 0.5
    mapping: dict[str, str] | None = None
    invalid: InvalidValues = InvalidValues.ERROR
    report: Path | None = None
    model_in: Path | None = None
    model_out: Path | None = None
    seed: int = 0


@dataclass(frozen=True)
class DedupSummary:
    """What ``mpi dedup`` did."""

    records: int
    persons: int
    candidate_pairs: int
    linked_pairs: int
    review_pairs: int
    seconds: float


@dataclass(frozen=True)
class LinkSummary:
    """What ``mpi link`` did."""

    left_records: int
    right_records: int
    candidate_pairs: int
    linked_pairs: int
    seconds: float


def _read(path: Path, options: BatchOptions, say: Say) -> InputTable:
    say(f"reading {path}")
    table = read_table(path, options.mapping, options.invalid)
    for warning in table.warnings:
        say("warning: " + warning)
    return table


def _model(options: BatchOptions) -> Model | None:
    return Model.load(options.model_in) if options.model_in else None


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.to_csv(path, index=False)
    except OSError as e:
        raise CsvDataError(f"{path}: cannot write the output ({e.strerror})") from e


def run_dedup(source: Path, output: Path, options: BatchOptions, say: Say) -> DedupSummary:
    """De-duplicate one CSV export into ``output`` (every row once, with its cluster)."""
    started = time.perf_counter()
    table = _read(source, options, say)
    result = deduplicate(
        table.canonical,
        link_threshold=options.link_threshold,
        model=_model(options),
        seed=options.seed,
        progress=say,
    )
    say(f"writing {output}")
    out = table.original.copy()
    if table.id_column is None:
        out.insert(0, "record_id", table.canonical["record_id"].to_numpy())
    out["cluster_id"] = result.cluster + 1
    best = result.best_probability
    out["match_probability"] = np.where(
        np.isnan(best), "", np.char.mod("%.6f", np.nan_to_num(best))
    )
    _write_csv(out, output)
    if options.model_out:
        result.model.save(options.model_out)
    pairs = result.pairs
    linked = (pairs.probability >= options.link_threshold) & ~pairs.guarded
    review = (pairs.probability >= options.review_threshold) & ~linked
    seconds = time.perf_counter() - started
    if options.report:
        _report(
            options,
            "De-duplication report",
            str(source),
            result.frame,
            pairs,
            result.model,
            result.cluster,
            seconds,
            say,
        )
    return DedupSummary(
        records=len(out),
        persons=int(result.cluster.max(initial=-1)) + 1,
        candidate_pairs=len(pairs),
        linked_pairs=int(linked.sum()),
        review_pairs=int(review.sum()),
        seconds=seconds,
    )


def run_link(left: Path, right: Path, output: Path, options: BatchOptions, say: Say) -> LinkSummary:
    """Link two CSV exports; write ``left_id,right_id,match_probability`` per linked pair."""
    started = time.perf_counter()
    a = _read(left, options, say)
    b = _read(right, options, say)
    result = link(
        a.canonical,
        b.canonical,
        link_threshold=options.link_threshold,
        model=_model(options),
        seed=options.seed,
        progress=say,
    )
    pairs = result.pairs
    keep = result.linked
    ids = result.frame.record_ids
    order = np.argsort(-pairs.probability[keep], kind="stable")
    out = pd.DataFrame(
        {
            "left_id": ids[pairs.left[keep]][order],
            "right_id": ids[pairs.right[keep]][order],
            "match_probability": np.char.mod("%.6f", pairs.probability[keep][order]),
        }
    )
    say(f"writing {output}")
    _write_csv(out, output)
    if options.model_out:
        result.model.save(options.model_out)
    seconds = time.perf_counter() - started
    if options.report:
        _report(
            options,
            "Linkage report",
            f"{left} ⇄ {right}",
            result.frame,
            pairs,
            result.model,
            None,
            seconds,
            say,
        )
    return LinkSummary(len(a.canonical), len(b.canonical), len(pairs), int(keep.sum()), seconds)


def _report(
    options: BatchOptions,
    title: str,
    source: str,
    frame: PreparedFrame,
    pairs: ScoredPairs,
    model: Model,
    cluster: npt.NDArray[np.int64] | None,
    seconds: float,
    say: Say,
) -> None:
    assert options.report is not None
    say(f"writing report {options.report}")
    text = render_report(
        ReportInput(
            title,
            source,
            frame,
            pairs,
            model,
            options.link_threshold,
            options.review_threshold,
            cluster,
            seconds,
        )
    )
    try:
        options.report.write_text(text, "utf-8")
    except OSError as e:
        raise CsvDataError(f"{options.report}: cannot write the report ({e.strerror})") from e
