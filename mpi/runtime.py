"""Tuning of a long-running process (``mpi serve`` and its feed writer process)."""

from __future__ import annotations

import gc

__all__ = ["tune_garbage_collector"]


def tune_garbage_collector() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    What start-up built (settings, model, caches, the ORM's mappers) lives as long as
    the process: :func:`gc.freeze` moves it out of every future collection. Young
    objects are collected after 20,000 allocations instead of 700. Measured on the feed
    at 1M persons, in process: 89 -> 102 messages/s, p99 36 -> 28 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 1_000)
