"""Blocking: which pairs of records are worth comparing at all.

A pair is a candidate when it shares the key of any rule. The scalar path
turns one record into key strings (which the store indexes); the vectorised
path generates every candidate pair of a data set. Both use the same rules.

Common names make huge blocks (``mueller`` + ``1970``): comparing all pairs of
such a block is quadratic. A block larger than ``max_block_size`` is searched
with a sorted window instead: its records are sorted by given name and birth
date and each is paired with its ``window`` neighbours, which keeps the pairs
that are likely matches while dropping the quadratic tail. The other rules
still find what the window misses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.prepare import Prepared, PreparedFrame
from matching.settings import BlockingRule

__all__ = [
    "KEY_FORMAT",
    "candidate_pairs",
    "lookup_keys",
    "lookup_plan",
    "record_keys",
    "rules_fingerprint",
]

KEY_FORMAT = 2
"""The version of how keys are made from records: raise it when a normaliser or a derived
column changes the values keys are made of (2: street name and house number columns)."""

IntArray = npt.NDArray[np.int64]


def record_keys(prepared: Prepared, rules: Sequence[BlockingRule]) -> list[str]:
    """The blocking keys of one record: ``rule:value|value`` for each rule it has values for.

    A ``cross`` rule yields the key of its columns in order; the swapped
    order is looked up by :func:`lookup_keys`.
    """
    keys = []
    for rule in rules:
        values = [prepared[c] for c in rule.columns]
        if all(v is not None for v in values):
            keys.append(_key(rule, [str(v) for v in values]))
    return keys


def lookup_keys(prepared: Prepared, rules: Sequence[BlockingRule]) -> list[str]:
    """The keys under which to look for candidates of one record.

    Like :func:`record_keys`, plus the reversed key of ``cross`` rules, so a
    record with given and family name swapped finds its twin.
    """
    keys = record_keys(prepared, rules)
    for rule in rules:
        if rule.cross:
            values = [prepared[c] for c in reversed(rule.columns)]
            if all(v is not None for v in values):
                keys.append(_key(rule, [str(v) for v in values]))
    return sorted(set(keys))


def lookup_plan(prepared: Prepared, rules: Sequence[BlockingRule]) -> list[tuple[str, int | None]]:
    """:func:`lookup_keys` with each key's largest searched block: its rule's
    ``max_block`` (``None``: no limit of its own). A store finding more records under
    a key than that skips the key, as :func:`candidate_pairs` skips the block."""
    by_rule = {rule.name: rule.max_block for rule in rules}
    return [(key, by_rule[key.split(":", 1)[0]]) for key in lookup_keys(prepared, rules)]


def rules_fingerprint(rules: Sequence[BlockingRule]) -> str:
    """A short text that changes whenever the keys of :func:`record_keys` would: the rules'
    names, columns and direction, and :data:`KEY_FORMAT`. Block limits are left out (they
    change which pairs are searched, not the keys)."""
    spec = [KEY_FORMAT, [[r.name, list(r.columns), r.cross] for r in rules]]
    return hashlib.sha256(json.dumps(spec).encode("utf-8")).hexdigest()[:32]


def _key(rule: BlockingRule, values: list[str]) -> str:
    return rule.name + ":" + "|".join(values)


def _rule_codes(frame: PreparedFrame, columns: Sequence[str]) -> IntArray:
    """One int code per record for the tuple of columns; -1 where any is missing."""
    key = np.zeros(len(frame), dtype=np.int64)
    missing = np.zeros(len(frame), dtype=bool)
    for column in columns:
        codes = frame.codes[column].astype(np.int64)
        missing |= codes < 0
        # Re-factorise after each step so the combined key never overflows.
        combined = key * (int(codes.max(initial=0)) + 2) + (codes + 1)
        key = pd.factorize(combined)[0].astype(np.int64)
    key[missing] = -1
    return key


def _pairs_in_groups(
    order: IntArray, starts: IntArray, sizes: IntArray
) -> tuple[IntArray, IntArray]:
    """All pairs within each group of ``order`` (groups given by start and size)."""
    empty = np.empty(0, dtype=np.int64)
    if not len(sizes):
        return empty, empty
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    partners = sizes[group_of] - within - 1  # members after this one in its group
    total = int(partners.sum())
    if total == 0:
        return empty, empty
    member_at = np.repeat(starts, sizes) + within  # each member's index into order
    left_idx = np.repeat(member_at, partners)
    offset = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners) + 1
    return order[left_idx], order[left_idx + offset]


def _window_pairs(
    order: IntArray, group: IntArray, sort_key: IntArray, window: int
) -> tuple[IntArray, IntArray]:
    """Sorted-neighbourhood pairs inside oversized groups."""
    resort = np.lexsort((sort_key, group))
    members, groups = order[resort], group[resort]
    lefts, rights = [], []
    for d in range(1, window + 1):
        same = groups[:-d] == groups[d:]
        lefts.append(members[:-d][same])
        rights.append(members[d:][same])
    return np.concatenate(lefts), np.concatenate(rights)


def _rule_pairs(
    frame: PreparedFrame, rule: BlockingRule, max_block: int, window: int, sort_key: IntArray
) -> tuple[IntArray, IntArray]:
    key = _rule_codes(frame, rule.columns)
    if rule.cross:
        # Symmetric key: records match when one's (a, b) equals the other's (b, a).
        first, second = rule.columns
        a = frame.codes[first].astype(np.int64)
        b = frame.codes[second].astype(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = pd.factorize(lo * (int(max(a.max(initial=0), b.max(initial=0))) + 2) + hi)[0]
        key = key.astype(np.int64)
        key[(a < 0) | (b < 0) | (a == b)] = -1
    present = np.nonzero(key >= 0)[0]
    order = present[np.argsort(key[present], kind="stable")]
    sorted_key = key[order]
    if not len(order):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    boundaries = np.flatnonzero(np.diff(sorted_key)) + 1
    starts = np.concatenate([[0], boundaries]).astype(np.int64)
    sizes = np.diff(np.concatenate([starts, [len(order)]])).astype(np.int64)
    limit = rule.max_block if rule.max_block is not None else max_block
    small = (sizes > 1) & (sizes <= limit)
    left, right = _pairs_in_groups(order, starts[small], sizes[small])
    big = sizes > limit
    if big.any() and rule.max_block is None:
        member_group = np.repeat(np.arange(len(sizes)), sizes)
        in_big = big[member_group]
        wl, wr = _window_pairs(order[in_big], member_group[in_big], sort_key[order[in_big]], window)
        left, right = np.concatenate([left, wl]), np.concatenate([right, wr])
    if rule.cross:
        # The symmetric key also pairs records with the same, unswapped names;
        # those are another rule's business. Keep the truly swapped pairs.
        one, two = (frame.codes[c] for c in rule.columns)
        crossed = (one[left] == two[right]) & (two[left] == one[right])
        left, right = left[crossed], right[crossed]
    return left, right


def _sorted_unique(values: IntArray) -> IntArray:
    """Distinct values, sorted (in place: faster than ``np.unique``'s hashing at this size)."""
    values.sort()
    if not len(values):
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def candidate_pairs(
    frame: PreparedFrame,
    rules: Sequence[BlockingRule],
    *,
    max_block_size: int,
    window: int,
    sides: npt.NDArray[np.int8] | None = None,
) -> tuple[IntArray, IntArray]:
    """Every distinct candidate pair of a data set, as (left, right) record positions.

    Args:
        frame: the prepared records.
        rules: blocking rules; a pair is a candidate if any rule pairs it.
        max_block_size: blocks larger than this are searched by a sorted window.
        window: neighbours each record is paired with in an oversized block.
        sides: for linking two data sets, 0 or 1 per record: only pairs
            across the two are kept, oriented left = side 0.

    Returns:
        Two int64 arrays with ``left < right`` (dedup) or ``sides[left] == 0``
        (link), sorted, without duplicates.
    """
    n = len(frame)
    # Within a big block, neighbours share given name and birth date first.
    sort_key = _rule_codes(frame, ["given_sdx"]) * (n + 1) + _rule_codes(frame, ["dob"])
    encoded = []
    for rule in rules:
        left, right = _rule_pairs(frame, rule, max_block_size, window, sort_key)
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        keep = lo != hi
        if sides is not None:
            keep &= sides[lo] != sides[hi]
        encoded.append(lo[keep] * n + hi[keep])
    if not encoded:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    pairs = _sorted_unique(np.concatenate(encoded))
    left, right = pairs // n, pairs % n
    if sides is not None:
        flip = sides[left] == 1
        left[flip], right[flip] = right[flip], left[flip].copy()
    return left.astype(np.int64), right.astype(np.int64)
