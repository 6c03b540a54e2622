"""A self-contained HTML report of a de-duplication or linkage run.

One file, no scripts, no external assets: charts are inline SVG, so the
report can be mailed or archived with the data it describes. It shows the
match-weight histogram with both thresholds, m and u per field and level,
the cluster-size distribution, and the pairs the model was least sure of
with their field-by-field explanations.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from matching.model import Model, weight_of
from matching.pipeline import ScoredPairs
from matching.prepare import PreparedFrame
from matching.scoring import FieldScore, explain_vector

__all__ = ["ReportInput", "render_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.pos{color:#176}.neg{color:#a22}
.bar{display:inline-block;height:10px;background:#5a8}.ubar{display:inline-block;height:10px;background:#c86}
.pair{margin:1em 0;padding:.5em 1em;border:1px solid #ddd;border-radius:6px}
.muted{color:#777}
"""


@dataclass(frozen=True)
class ReportInput:
    """What a report shows."""

    title: str
    source: str
    frame: PreparedFrame
    pairs: ScoredPairs
    model: Model
    link_threshold: float
    review_threshold: float
    cluster: npt.NDArray[np.int64] | None
    seconds: float


def _histogram_svg(
    weights: npt.NDArray[np.float64], thresholds: Sequence[tuple[str, float]]
) -> str:
    if not len(weights):
        return "<p class=muted>No candidate pairs.</p>"
    lo, hi = math.floor(float(weights.min())), math.ceil(float(weights.max()))
    if hi <= lo:
        hi = lo + 1
    bins = np.linspace(lo, hi, min(80, max(10, hi - lo)) + 1)
    counts, _ = np.histogram(weights, bins=bins)
    width, height, pad = 900, 260, 40
    peak = max(int(counts.max()), 1)
    bw = (width - 2 * pad) / len(counts)
    parts = [
        f'<svg width="{width}" height="{height + 40}" role="img" aria-label="match weight histogram">'
    ]
    for k, c in enumerate(counts):
        h = (height - pad) * math.log1p(c) / math.log1p(peak)
        x = pad + k * bw
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" fill="#5a8">'
            f"<title>{bins[k]:.1f} to {bins[k + 1]:.1f}: {c:,} pairs</title></rect>"
        )
    for label, prob in thresholds:
        w = weight_of(prob)
        x = pad + (w - lo) / (hi - lo) * (width - 2 * pad)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="10" y2="{height}" stroke="#a22" stroke-dasharray="4"/>'
        )
        parts.append(
            f'<text x="{x + 4:.1f}" y="22" fill="#a22" font-size="12">{html.escape(label)} {prob:g}</text>'
        )
    for tick in np.linspace(lo, hi, 9):
        x = pad + (tick - lo) / (hi - lo) * (width - 2 * pad)
        parts.append(
            f'<text x="{x:.1f}" y="{height + 16}" font-size="11" text-anchor="middle">{tick:.0f}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{height + 34}" font-size="12" text-anchor="middle">'
        "match weight (log2 odds); bar height on a log scale</text></svg>"
    )
    return "".join(parts)


def _cluster_svg(cluster: npt.NDArray[np.int64]) -> str:
    sizes = np.bincount(np.bincount(cluster))[1:]
    rows = []
    peak = max(int(sizes.max()), 1) if len(sizes) else 1
    for size, count in enumerate(sizes, start=1):
        if count:
            bar = 400 * math.log1p(count) / math.log1p(peak)
            rows.append(
                f"<tr><td class=num>{size}</td><td class=num>{count:,}</td>"
                f'<td><span class=bar style="width:{bar:.0f}px"></span></td></tr>'
            )
    return (
        "<table><tr><th>records per person</th><th>persons</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _parameters(model: Model) -> str:
    weights = model.weights()
    out = [
        "<table><tr><th>field</th><th>level</th><th>m</th><th>u</th><th>weight (bits)</th><th></th></tr>"
    ]
    for k, spec in enumerate(model.settings.comparisons):
        for level in range(1, spec.size):
            if level in spec.neutral_levels():
                continue
            m, u, w = float(model.m[k][level]), float(model.u[k][level]), float(weights[k][level])
            cls = "pos" if w >= 0 else "neg"
            out.append(
                f"<tr><td>{html.escape(spec.name) if level == 1 else ''}</td>"
                f"<td>{html.escape(spec.labels[level])}</td><td class=num>{m:.4f}</td>"
                f"<td class=num>{u:.5f}</td><td class='num {cls}'>{w:+.2f}</td>"
                f'<td><span class=bar style="width:{m * 150:.0f}px"></span>'
                f'<span class=ubar style="width:{u * 150:.0f}px"></span></td></tr>'
            )
    out.append(
        "</table><p class=muted>Green bar m (agreement among matches), orange bar u (among non-matches).</p>"
    )
    return "".join(out)


def _explanation(fields: Sequence[FieldScore]) -> str:
    cells = "".join(
        f"<tr><td>{html.escape(f.comparison)}</td><td>{html.escape(f.level)}</td>"
        f"<td class='num {'pos' if f.weight >= 0 else 'neg'}'>{f.weight:+.2f}</td></tr>"
        for f in fields
        if f.level != "null"
    )
    return f"<table><tr><th>field</th><th>level</th><th>weight</th></tr>{cells}</table>"


def _uncertain(inp: ReportInput, count: int = 10) -> str:
    pairs = inp.pairs
    if not len(pairs):
        return "<p class=muted>No candidate pairs.</p>"
    # Most uncertain: nearest to even odds, where the model is least sure.
    order = np.argsort(np.abs(pairs.weight))[:count]
    ids = inp.frame.record_ids
    blocks = []
    tf_columns = [spec.tf_column for spec in inp.model.settings.comparisons]
    for k in order:
        a, b = int(pairs.left[k]), int(pairs.right[k])
        tf_values = [None if c is None else _value(inp.frame, c, a) for c in tf_columns]
        fields = explain_vector(inp.model, pairs.gamma[k].tolist(), tf_values)
        guard = " · guarded: never auto-linked" if pairs.guarded[k] else ""
        shown = ", ".join(
            f"{html.escape(str(_value(inp.frame, c, a)))} / {html.escape(str(_value(inp.frame, c, b)))}"
            for c in ("given", "family", "dob")
        )
        blocks.append(
            f"<div class=pair><b>{html.escape(str(ids[a]))}</b> ~ <b>{html.escape(str(ids[b]))}</b>: "
            f"probability {pairs.probability[k]:.3f}, weight {pairs.weight[k]:+.2f}{guard}"
            f"<div class=muted>{shown}</div>{_explanation(fields)}</div>"
        )
    return "".join(blocks)


def _value(frame: PreparedFrame, column: str, row: int) -> str | None:
    code = int(frame.codes[column][row])
    return None if code < 0 else str(frame.vocab_of(column)[code])


def render_report(inp: ReportInput) -> str:
    """The report as one HTML document."""
    pairs = inp.pairs
    linked = int(((pairs.probability >= inp.link_threshold) & ~pairs.guarded).sum())
    review = int(
        (
            (pairs.probability >= inp.review_threshold)
            & ~((pairs.probability >= inp.link_threshold) & ~pairs.guarded)
        ).sum()
    )
    summary = [
        ("source", inp.source),
        ("records", f"{len(inp.frame):,}"),
        ("candidate pairs", f"{len(pairs):,}"),
        (f"pairs linked (≥ {inp.link_threshold:g})", f"{linked:,}"),
        (f"pairs to review (≥ {inp.review_threshold:g})", f"{review:,}"),
        ("guarded pairs (never auto-linked)", f"{int(pairs.guarded.sum()):,}"),
        ("prior (two random records match)", f"{inp.model.prior:.3g}"),
        ("run time", f"{inp.seconds:.1f} s"),
    ]
    if inp.cluster is not None:
        summary.insert(4, ("persons (clusters)", f"{int(inp.cluster.max(initial=-1)) + 1:,}"))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary
    )
    thresholds = [("review", inp.review_threshold), ("link", inp.link_threshold)]
    clusters = (
        f"<h2>Cluster sizes</h2>{_cluster_svg(inp.cluster)}" if inp.cluster is not None else ""
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(inp.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(inp.title)}</h1>"
        f"<p class=muted>{stamp}</p><table>{rows}</table>"
        f"<h2>Match weights of candidate pairs</h2>{_histogram_svg(pairs.weight, thresholds)}"
        f"<h2>Model parameters: m and u per field and level</h2>{_parameters(inp.model)}"
        f"{clusters}<h2>The ten most uncertain pairs</h2>{_uncertain(inp)}</body></html>"
    )
