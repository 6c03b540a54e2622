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


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:  # path compression
            parent[x], x = root, int(parent[x])
        return root

    def roots(self) -> IntArray:
        return np.fromiter((self.find(i) for i in range(len(self.parent))), dtype=np.int64)


def _components(n: int, left: IntArray, right: IntArray) -> IntArray:
    uf = _UnionFind(n)
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = uf.find(a), uf.find(b)
        if ra != rb:
            uf.parent[rb] = ra
    return uf.roots()


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
    conflict = cannot_link & (comp[left] == comp[right])
    for c in np.unique(comp[left[conflict]]):
        in_comp = linked & (comp[left] == c)
        nodes = np.flatnonzero(comp == c).tolist()
        edges = list(
            zip(
                weight[in_comp].tolist(),
                left[in_comp].tolist(),
                right[in_comp].tolist(),
                strict=True,
            )
        )
        cannot: dict[int, set[int]] = {}
        for a, b in zip(
            left[conflict & (comp[left] == c)].tolist(),
            right[conflict & (comp[left] == c)].tolist(),
            strict=True,
        ):
            cannot.setdefault(a, set()).add(b)
            cannot.setdefault(b, set()).add(a)
        for node, r in _constrained(nodes, edges, cannot).items():
            # Sub-clusters keep a representative inside the component; offset by n
            # so they cannot collide with an unsplit component's root.
            comp[node] = r + n if r != c else c
    _, labels = np.unique(comp, return_inverse=True)
    order = np.full(labels.max(initial=-1) + 1, -1, dtype=np.int64)
    first_seen = np.unique(labels, return_index=True)[1]
    order[labels[np.sort(first_seen)]] = np.arange(len(first_seen))
    return order[labels].astype(np.int64)
