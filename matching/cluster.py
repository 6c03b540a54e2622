"""Clustering linked pairs into persons, without chaining different people together.

Plain connected components chain: A links to B, B to C, and A and C (twins,
junior and senior) end up as one person although their own comparison says
otherwise. Here links are merged strongest first, and a merge is refused when
it would put two records into one cluster whose own pair is a *cannot-link*:
a guarded pair (the twin and junior/senior signatures) or a pair whose
evidence speaks against a match. Components without any cannot-link pair
inside (nearly all of them) are taken as they are, so the careful merge runs
only where it matters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cluster_pairs"]

IntArray = npt.NDArray[np.int64]


def _components(n: int, left: IntArray, right: IntArray) -> IntArray:
    """Connected components: each record's label is the smallest record in its component.

    Vectorised label propagation with pointer jumping: a handful of passes over
    the edges even for a million records.
    """
    labels = np.arange(n, dtype=np.int64)
    if not len(left):
        return labels
    while True:
        low = np.minimum(labels[left], labels[right])
        new = labels.copy()
        np.minimum.at(new, left, low)
        np.minimum.at(new, right, low)
        while True:  # pointer jumping: point every record at its label's label
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return labels
        labels = new


def _groups(keys: IntArray, values: IntArray) -> dict[int, IntArray]:
    """``values`` grouped by ``keys``."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    return {
        int(chunk_keys[0]): chunk
        for chunk_keys, chunk in zip(np.split(keys, cuts), np.split(values, cuts), strict=True)
        if len(chunk)
    }


def _constrained(
    nodes: list[int], edges: list[tuple[float, int, int]], cannot: dict[int, set[int]]
) -> dict[int, int]:
    """Greedy strongest-first merging that never joins a cannot-link pair."""
    root = {v: v for v in nodes}
    members = {v: {v} for v in nodes}
    blocked = {v: set(cannot.get(v, ())) for v in nodes}

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    for _, a, b in sorted(edges, reverse=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        if members[rb] & blocked[ra]:
            continue
        root[rb] = ra
        members[ra] |= members.pop(rb)
        blocked[ra] |= blocked.pop(rb)
    return {v: find(v) for v in nodes}


def cluster_pairs(
    n: int,
    left: IntArray,
    right: IntArray,
    weight: npt.NDArray[np.float64],
    linked: npt.NDArray[np.bool_],
    cannot_link: npt.NDArray[np.bool_],
) -> IntArray:
    """Cluster ``n`` records from scored pairs.

    Args:
        n: number of records.
        left, right: the scored pairs.
        weight: each pair's match weight (stronger links merge first).
        linked: pairs strong enough to link.
        cannot_link: pairs that must not end in one cluster.

    Returns:
        A cluster number per record, numbered 0.. in order of first appearance.
    """
    link_l, link_r = left[linked], right[linked]
    comp = _components(n, link_l, link_r)
    conflicts = np.flatnonzero(cannot_link & (comp[left] == comp[right]))
    if len(conflicts):
        troubled = np.zeros(n, dtype=bool)
        troubled[comp[left[conflicts]]] = True
        inside = np.flatnonzero(linked & troubled[comp[left]])
        edges_by = _groups(comp[left[inside]], inside)
        cannot_by = _groups(comp[left[conflicts]], conflicts)
        nodes_by = _groups(comp[troubled[comp]], np.flatnonzero(troubled[comp]))
        for c, pairs in cannot_by.items():
            edges = edges_by[c]
            cannot: dict[int, set[int]] = {}
            for a, b in zip(left[pairs].tolist(), right[pairs].tolist(), strict=True):
                cannot.setdefault(a, set()).add(b)
                cannot.setdefault(b, set()).add(a)
            ends = (left[edges].tolist(), right[edges].tolist())
            weighted = list(zip(weight[edges].tolist(), *ends, strict=True))
            for node, r in _constrained(nodes_by[c].tolist(), weighted, cannot).items():
                # Sub-clusters keep a representative inside the component; offset by n
                # so they cannot collide with an unsplit component's root.
                comp[node] = r + n if r != c else c
    _, labels = np.unique(comp, return_inverse=True)
    order = np.full(labels.max(initial=-1) + 1, -1, dtype=np.int64)
    first_seen = np.unique(labels, return_index=True)[1]
    order[labels[np.sort(first_seen)]] = np.arange(len(first_seen))
    return order[labels].astype(np.int64)
