"""Blocking keys of many records at once, hashed as the store keeps them.

``mpi load`` writes the keys of a facility's export with these, and the index
rebuilds every record's keys with them when its blocking rules change
(:mod:`mpi.service.rekey`). The feed makes one record's keys with the scalar
matcher; a test pins that both give the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.prepare import PreparedFrame
from matching.record import FIELDS
from matching.settings import BlockingRule
from mpi.store import StoredDemographics
from mpi.store.blocking import hash_keys

__all__ = ["BlockKeys", "block_keys", "stored_frame"]

_FIELDS = tuple(f for f in FIELDS if f != "record_id")
_DENSE_LIMIT = 2**62  # combined value codes of a blocking rule stay below this


def stored_frame(stored: Sequence[StoredDemographics]) -> pd.DataFrame:
    """Stored records as the batch matcher reads them (``record_id`` is the record's ref)."""
    return pd.DataFrame(
        [(str(s.ref), *(getattr(s.demographics, f) for f in _FIELDS)) for s in stored],
        columns=["record_id", *_FIELDS],
    )


@dataclass(frozen=True, slots=True)
class BlockKeys:
    """Blocking keys of many records, hashed as stored (:func:`~mpi.store.blocking.hash_keys`):
    ``record[k]`` (a position) has the key hashed to ``key_hash[k]``.

    Sorted by record position, so the keys of a range of records are one slice.
    """

    record: npt.NDArray[np.int64]
    key_hash: npt.NDArray[np.int64]

    def of(self, position: int) -> list[int]:
        """The (hashed) keys of one record."""
        lo, hi = np.searchsorted(self.record, [position, position + 1])
        return [int(k) for k in self.key_hash[lo:hi]]

    def slice(self, start: int, end: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The (position, key hash) pairs of the records ``start <= position < end``."""
        lo, hi = np.searchsorted(self.record, [start, end])
        return self.record[lo:hi], self.key_hash[lo:hi]


def block_keys(prepared: PreparedFrame, rules: Sequence[BlockingRule]) -> BlockKeys:
    """Each record's blocking keys, as :meth:`ScalarMatcher.blocking_keys
    <matching.scalar.ScalarMatcher.blocking_keys>` gives them, hashed as the store keeps
    them. Per rule, the text of each distinct key is built and hashed once (records
    sharing a name and birth year share that key)."""
    n = len(prepared)
    factorized: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]] = {}

    def codes(column: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
        if column not in factorized:
            strings = prepared.strings(column)
            found, _ = pd.factorize(strings, use_na_sentinel=True)
            factorized[column] = (found.astype(np.int64), strings)
        return factorized[column]

    positions: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.int64]] = []
    for rule in rules:
        columns = [codes(c) for c in rule.columns]
        present = np.ones(n, dtype=bool)
        for found, _ in columns:
            present &= found >= 0  # missing values: no key
        rows = np.flatnonzero(present)
        if not len(rows):
            continue
        # One integer per distinct combination of the rule's values.
        combined = columns[0][0][rows]
        for found, _ in columns[1:]:
            width = int(found.max()) + 1
            if (int(combined.max()) + 1) * width >= _DENSE_LIMIT:  # renumber: stay in 64 bits
                combined = np.unique(combined, return_inverse=True)[1].ravel().astype(np.int64)
            combined = combined * width + found[rows]
        _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
        at = rows[first]
        parts = [strings[at].tolist() for _, strings in columns]
        prefix = rule.name + ":"
        texts = [prefix + "|".join(p) for p in zip(*parts, strict=True)]
        positions.append(rows.astype(np.int64))
        values.append(hash_keys(texts)[inverse.ravel()])
    if not positions:
        return BlockKeys(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    record = np.concatenate(positions)
    order = np.argsort(record, kind="stable")
    return BlockKeys(record[order], np.concatenate(values)[order])
