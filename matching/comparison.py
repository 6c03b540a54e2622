"""Comparison levels: how alike two records are on one field, as an ordered level.

A :class:`Comparison` is an ordered list of :class:`Level` predicates between a
``null`` level (either side missing, weight 0) and an ``else`` level. The first
level whose predicate holds wins. Each level answers twice over the same
normalised values: :meth:`Level.scalar` for one pair of prepared records (the
real-time path) and :meth:`Level.vector` for millions of pairs at once (the
batch path). The two are written side by side so that they stay in step, and
a test checks that they agree pair for pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from matching.prepare import VOCABULARIES, Prepared, PreparedFrame, name_parts

__all__ = [
    "Comparison",
    "ComponentsEqual",
    "CrossEqual",
    "CrossSimilar",
    "Exact",
    "Initial",
    "Level",
    "PairContext",
    "Prefix",
    "SharedGroup",
    "SharedPart",
    "Similarity",
    "Transposed",
    "compare_all",
    "compare_pairs",
]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


class PairContext:
    """The pairs being compared in the batch path, with per-column caches.

    Attributes:
        frame: the prepared records.
        left, right: record positions of each pair's two sides.
    """

    def __init__(self, frame: PreparedFrame, left: IntArray, right: IntArray) -> None:
        self.frame = frame
        self.left = left
        self.right = right
        self._codes: dict[tuple[str, str], npt.NDArray[np.int32]] = {}
        self._similarity: dict[tuple[str, str], npt.NDArray[np.float64]] = {}

    def __len__(self) -> int:
        return len(self.left)

    def codes(self, column: str, side: str) -> npt.NDArray[np.int32]:
        """The column's codes on one side (``"l"`` or ``"r"``) of every pair."""
        key = (column, side)
        if key not in self._codes:
            index = self.left if side == "l" else self.right
            self._codes[key] = self.frame.codes[column][index]
        return self._codes[key]

    def similarity(self, column: str, metric: str, pos: IntArray) -> npt.NDArray[np.float64]:
        """A string metric between the two sides at positions ``pos``.

        Computed once per distinct pair of values: names repeat, so this is
        far fewer calls than pairs. Cached per column and metric; later
        calls must ask for a subset of the first call's positions, which
        holds because levels only ever narrow the undecided pairs.
        """
        key = (column, metric)
        cache = self._similarity.get(key)
        if cache is None:
            cache = np.full(len(self), np.nan)
            lc = self.codes(column, "l")[pos].astype(np.int64)
            rc = self.codes(column, "r")[pos].astype(np.int64)
            vocab = self.frame.vocab[VOCABULARIES[column]]
            pair_key = lc * (len(vocab) + 1) + rc
            inverse, uniques = pd.factorize(pair_key)
            ul = uniques // (len(vocab) + 1)
            ur = uniques % (len(vocab) + 1)
            scorer = _SCORERS[metric]
            values = cpdist(
                list(vocab[ul]),
                list(vocab[ur]),
                scorer=scorer,
                dtype=np.float64,
                workers=_workers(len(uniques)),
            )
            cache[pos] = np.asarray(values, dtype=np.float64)[inverse]
            self._similarity[key] = cache
        return cache[pos]


_SCORERS: dict[str, Any] = {"jw": JaroWinkler.similarity, "osa": OSA.distance}


def _scalar_metric(metric: str, a: str, b: str) -> float:
    if metric == "jw":
        return float(JaroWinkler.similarity(a, b))
    return float(OSA.distance(a, b))


class Level:
    """One comparison level: a label and a predicate on a pair."""

    label: str
    neutral: bool = False
    """A neutral level carries no evidence (weight 0) and is left out of EM."""

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        """Does the predicate hold for one pair (both sides known to be present)?"""
        raise NotImplementedError

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        """Does the predicate hold for the pairs at positions ``pos``?"""
        raise NotImplementedError


@dataclass(frozen=True)
class Exact(Level):
    """The column's normalised values are equal (optionally at a given length)."""

    column: str
    label: str = "exact"
    length: int | None = None

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        x, y = a[self.column], b[self.column]
        return x is not None and x == y and (self.length is None or len(x) == self.length)

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        lc = ctx.codes(self.column, "l")[pos]
        ok = (lc >= 0) & (lc == ctx.codes(self.column, "r")[pos])
        if self.length is not None:
            lengths = np.fromiter(
                (len(v) for v in ctx.frame.vocab[VOCABULARIES[self.column]]), dtype=np.int64
            )
            ok &= np.append(lengths, -1)[lc] == self.length
        return np.asarray(ok, dtype=np.bool_)


@dataclass(frozen=True)
class SharedGroup(Level):
    """The two sides share a value among several columns (nickname groups)."""

    columns: tuple[str, ...]
    label: str = "variant"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        left = {a[c] for c in self.columns} - {None}
        return any(b[c] in left for c in self.columns if b[c] is not None)

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        ok = np.zeros(len(pos), dtype=bool)
        for cl in self.columns:
            lc = ctx.codes(cl, "l")[pos]
            for cr in self.columns:
                ok |= (lc >= 0) & (lc == ctx.codes(cr, "r")[pos])
        return ok


@dataclass(frozen=True)
class CrossEqual(Level):
    """Two columns are swapped between the sides (given ⇄ family name)."""

    first: str
    second: str
    label: str = "swapped"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        return (
            a[self.first] is not None
            and a[self.second] is not None
            and a[self.first] == b[self.second]
            and a[self.second] == b[self.first]
        )

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        l1, l2 = ctx.codes(self.first, "l")[pos], ctx.codes(self.second, "l")[pos]
        r1, r2 = ctx.codes(self.first, "r")[pos], ctx.codes(self.second, "r")[pos]
        return np.asarray((l1 >= 0) & (l2 >= 0) & (l1 == r2) & (l2 == r1), dtype=np.bool_)


@dataclass(frozen=True)
class CrossSimilar(Level):
    """Two columns swapped between the sides, each within a Jaro-Winkler threshold.

    For a swap with a typo besides (``james sebregts`` ~ ``sebretgs james``). The
    two columns must share a vocabulary (given and family names do).
    """

    first: str
    second: str
    threshold: float
    label: str = "swapped, close"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        values = (a[self.first], a[self.second], b[self.first], b[self.second])
        if any(v is None for v in values):
            return False
        a1, a2, b1, b2 = (str(v) for v in values)
        return (
            _scalar_metric("jw", a1, b2) >= self.threshold
            and _scalar_metric("jw", a2, b1) >= self.threshold
        )

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        l1, l2 = ctx.codes(self.first, "l")[pos], ctx.codes(self.second, "l")[pos]
        r1, r2 = ctx.codes(self.first, "r")[pos], ctx.codes(self.second, "r")[pos]
        ok = (l1 >= 0) & (l2 >= 0) & (r1 >= 0) & (r2 >= 0)
        vocab = ctx.frame.vocab[VOCABULARIES[self.first]]
        out = np.zeros(len(pos), dtype=bool)
        if ok.any():
            near = _code_similarity(vocab, l1[ok], r2[ok]) >= self.threshold
            near &= _code_similarity(vocab, l2[ok], r1[ok]) >= self.threshold
            out[ok] = near
        return out


def _code_similarity(
    vocab: npt.NDArray[np.object_], left: npt.NDArray[np.int32], right: npt.NDArray[np.int32]
) -> npt.NDArray[np.float64]:
    """Jaro-Winkler between vocabulary entries, once per distinct pair of codes."""
    width = len(vocab) + 1
    inverse, uniques = pd.factorize(left.astype(np.int64) * width + right.astype(np.int64))
    values = cpdist(
        list(vocab[uniques // width]),
        list(vocab[uniques % width]),
        scorer=JaroWinkler.similarity,
        dtype=np.float64,
        workers=_workers(len(uniques)),
    )
    return np.asarray(values, dtype=np.float64)[inverse]


_PARALLEL_FROM = 2_000
"""Pairs from which a string metric is computed on all cores: starting the threads costs
~0.2 ms a call (the feed's small runs make dozens of calls), which 2,000 pairs repay."""


def _workers(pairs: int) -> int:
    """rapidfuzz's ``workers`` for this many pairs: all cores (-1) or the calling thread."""
    return -1 if pairs >= _PARALLEL_FROM else 1


@dataclass(frozen=True)
class Neutral(Level):
    """A wrapped level that carries no evidence of its own (weight 0)."""

    inner: Level
    label: str = "neutral"
    neutral: bool = True

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        return self.inner.scalar(a, b)

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        return self.inner.vector(ctx, pos)


@dataclass(frozen=True)
class SharedPart(Level):
    """Multi-part names share a significant part (``mueller-schmidt`` ~ ``schmidt``)."""

    column: str
    label: str = "part"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        x, y = a[self.column], b[self.column]
        if x is None or y is None or (_single(x) and _single(y)):
            return False
        return bool(name_parts(x) & name_parts(y))

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        vocab = ctx.frame.vocab[VOCABULARIES[self.column]]
        multi = np.append(np.array([not _single(v) for v in vocab], dtype=bool), False)
        lc, rc = ctx.codes(self.column, "l")[pos], ctx.codes(self.column, "r")[pos]
        ok = np.zeros(len(pos), dtype=bool)
        candidates = np.nonzero((lc >= 0) & (rc >= 0) & (multi[lc] | multi[rc]))[0]
        for k in candidates:  # few: only pairs where one side has several parts
            ok[k] = bool(name_parts(vocab[lc[k]]) & name_parts(vocab[rc[k]]))
        return ok


def _single(value: str) -> bool:
    return "-" not in value and " " not in value


@dataclass(frozen=True)
class Similarity(Level):
    """A string metric within a bound: Jaro-Winkler ``>=`` or edit distance ``<=``."""

    column: str
    metric: str  # "jw" (similarity, higher is closer) or "osa" (distance)
    threshold: float
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            name = (
                f"jw>={self.threshold:g}" if self.metric == "jw" else f"edits<={self.threshold:g}"
            )
            object.__setattr__(self, "label", name)

    def _holds(self, value: npt.NDArray[np.float64]) -> BoolArray:
        if self.metric == "jw":
            return np.asarray(value >= self.threshold)
        return np.asarray(value <= self.threshold)

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        x, y = a[self.column], b[self.column]
        if x is None or y is None:
            return False
        value = _scalar_metric(self.metric, x, y)  # a float64, as the vector path compares
        return value >= self.threshold if self.metric == "jw" else value <= self.threshold

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        lc, rc = ctx.codes(self.column, "l")[pos], ctx.codes(self.column, "r")[pos]
        present = (lc >= 0) & (rc >= 0)
        ok = np.zeros(len(pos), dtype=bool)
        inner = pos[present]
        if len(inner):
            ok[present] = self._holds(ctx.similarity(self.column, self.metric, inner))
        return ok


@dataclass(frozen=True)
class Prefix(Level):
    """One value is a proper prefix of the other, or both are equal but short.

    For birth dates at different precision: ``1990`` ~ ``19900412``.
    """

    column: str
    full_length: int
    label: str = "partial"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        x, y = a[self.column], b[self.column]
        if x is None or y is None:
            return False
        if len(x) == len(y):
            return x == y and len(x) < self.full_length
        short, long_ = (x, y) if len(x) < len(y) else (y, x)
        return long_.startswith(short)

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        vocab = ctx.frame.vocab[VOCABULARIES[self.column]]
        lengths = np.append(np.fromiter((len(v) for v in vocab), dtype=np.int64), 0)
        lc, rc = ctx.codes(self.column, "l")[pos], ctx.codes(self.column, "r")[pos]
        ll, rl = lengths[lc], lengths[rc]
        ok = np.zeros(len(pos), dtype=bool)
        # Only pairs where a side is shorter than a full value can be partial.
        for k in np.nonzero(
            (lc >= 0) & (rc >= 0) & ((ll < self.full_length) | (rl < self.full_length))
        )[0]:
            ok[k] = self.scalar({self.column: vocab[lc[k]]}, {self.column: vocab[rc[k]]})
        return ok


@dataclass(frozen=True)
class Initial(Level):
    """One side is a lone initial and it agrees with the other side's first letter."""

    column: str
    initial_column: str
    label: str = "initial"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        x, y = a[self.column], b[self.column]
        if x is None or y is None or min(len(x), len(y)) != 1:
            return False
        return a[self.initial_column] == b[self.initial_column]

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        vocab = ctx.frame.vocab[VOCABULARIES[self.column]]
        short = np.append(np.fromiter((len(v) == 1 for v in vocab), dtype=bool), False)
        lc, rc = ctx.codes(self.column, "l")[pos], ctx.codes(self.column, "r")[pos]
        li = ctx.codes(self.initial_column, "l")[pos]
        ri = ctx.codes(self.initial_column, "r")[pos]
        ok = (lc >= 0) & (rc >= 0) & (short[lc] | short[rc]) & (li >= 0) & (li == ri)
        return np.asarray(ok, dtype=np.bool_)


@dataclass(frozen=True)
class Transposed(Level):
    """Day and month are swapped (and differ), the year agrees."""

    year: str
    month: str
    day: str
    label: str = "day/month swapped"

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        return (
            a[self.day] is not None
            and b[self.day] is not None
            and a[self.year] == b[self.year]
            and a[self.month] == b[self.day]
            and a[self.day] == b[self.month]
            and a[self.month] != a[self.day]
        )

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        ly, lm, ld = (ctx.codes(c, "l")[pos] for c in (self.year, self.month, self.day))
        ry, rm, rd = (ctx.codes(c, "r")[pos] for c in (self.year, self.month, self.day))
        ok = (ld >= 0) & (rd >= 0) & (ly == ry) & (lm == rd) & (ld == rm) & (lm != ld)
        return np.asarray(ok, dtype=np.bool_)


@dataclass(frozen=True)
class ComponentsEqual(Level):
    """At least ``count`` of the given columns agree (present on both sides)."""

    columns: tuple[str, ...]
    count: int
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"{self.count} of {len(self.columns)} parts")

    def scalar(self, a: Prepared, b: Prepared) -> bool:
        agree = sum(1 for c in self.columns if a[c] is not None and a[c] == b[c])
        return agree >= self.count

    def vector(self, ctx: PairContext, pos: IntArray) -> BoolArray:
        agree = np.zeros(len(pos), dtype=np.int64)
        for c in self.columns:
            lc = ctx.codes(c, "l")[pos]
            agree += (lc >= 0) & (lc == ctx.codes(c, "r")[pos])
        return np.asarray(agree >= self.count)


@dataclass(frozen=True)
class Comparison:
    """One field's comparison: ``null``, the levels in order, then ``else``.

    Attributes:
        name: the comparison's name (usually the record field it compares).
        present: columns that must be present on both sides, else ``null``.
        levels: the levels between ``null`` and ``else``, best first.
        tf_column: when set, the ``exact`` level's weight is adjusted by the
            frequency of the agreeing value (term frequency).
    """

    name: str
    present: tuple[str, ...]
    levels: tuple[Level, ...]
    tf_column: str | None = None
    labels: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        labels = ("null", *(lv.label for lv in self.levels), "else")
        object.__setattr__(self, "labels", labels)

    @property
    def size(self) -> int:
        """Number of levels, ``null`` and ``else`` included."""
        return len(self.levels) + 2

    def neutral_levels(self) -> tuple[int, ...]:
        """Indexes of levels that carry no evidence (``null`` and neutral ones)."""
        return (0, *(k + 1 for k, lv in enumerate(self.levels) if lv.neutral))

    def compare(self, a: Prepared, b: Prepared) -> int:
        """The level index of one pair (0 = null)."""
        if any(a[c] is None or b[c] is None for c in self.present):
            return 0
        for k, level in enumerate(self.levels):
            if level.scalar(a, b):
                return k + 1
        return len(self.levels) + 1

    def compare_vector(self, ctx: PairContext) -> npt.NDArray[np.int8]:
        """The level index of every pair in ``ctx``."""
        result = np.full(len(ctx), len(self.levels) + 1, dtype=np.int8)
        null = np.zeros(len(ctx), dtype=bool)
        for c in self.present:
            null |= (ctx.codes(c, "l") < 0) | (ctx.codes(c, "r") < 0)
        result[null] = 0
        pos = np.nonzero(~null)[0]
        for k, level in enumerate(self.levels):
            if not len(pos):
                break
            hit = level.vector(ctx, pos)
            result[pos[hit]] = k + 1
            pos = pos[~hit]
        return result


def compare_all(comparisons: Sequence[Comparison], ctx: PairContext) -> npt.NDArray[np.int8]:
    """The comparison vectors of every pair: shape (pairs, comparisons)."""
    out = np.empty((len(ctx), len(comparisons)), dtype=np.int8)
    for k, comparison in enumerate(comparisons):
        out[:, k] = comparison.compare_vector(ctx)
    return out


CHUNK = 1_000_000
"""Pairs compared at once: a context caches codes and similarities per pair for
every column it touches (~40 bytes a pair each), so millions of pairs are
compared a chunk at a time to keep memory flat."""


def compare_pairs(
    comparisons: Sequence[Comparison],
    frame: PreparedFrame,
    left: IntArray,
    right: IntArray,
    *,
    chunk: int = CHUNK,
) -> npt.NDArray[np.int8]:
    """:func:`compare_all` over any number of pairs, a chunk at a time."""
    out = np.empty((len(left), len(comparisons)), dtype=np.int8)
    for start in range(0, len(left), chunk):
        stop = start + chunk
        ctx = PairContext(frame, left[start:stop], right[start:stop])
        out[start:stop] = compare_all(comparisons, ctx)
    return out
