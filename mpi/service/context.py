"""What every service needs: settings, the store, the matcher and a clock.

Usage::

    ctx = open_context(load_settings(path))      # opens + migrates, syncs domains
    handler = FeedHandler(ctx)                    # mpi.service.feed
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from matching.defaults import default_model
from matching.model import Model
from matching.scalar import ScalarMatcher
from mpi.service.rekey import ensure_blocking_keys
from mpi.settings import Settings
from mpi.store import Store
from mpi.store._base import Clock, utc_now

__all__ = ["ServiceContext", "build_matcher", "open_context", "sync_domains"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """The shared state of the services of one process.

    Attributes:
        settings: the checked configuration.
        store: the index database.
        matcher: the real-time matcher with the configured thresholds.
        clock: the current time (UTC); tests pass a fixed one.
    """

    settings: Settings
    store: Store
    matcher: ScalarMatcher
    clock: Clock = utc_now


def build_matcher(settings: Settings, model: Model | None = None) -> ScalarMatcher:
    """A scalar matcher with the configured thresholds.

    Args:
        settings: gives ``matching.link_threshold`` and ``matching.review_threshold``.
        model: a trained model; the untrained default model if ``None``.
    """
    return ScalarMatcher(
        model if model is not None else default_model(),
        link_threshold=settings.matching.link_threshold,
        review_threshold=settings.matching.review_threshold,
    )


def sync_domains(store: Store, settings: Settings) -> None:
    """Make the stored identity domains agree with the configuration (enterprise included).

    Raises:
        Conflict: a configured OID is used by another stored domain.
    """
    store.run(lambda uow: uow.domains.sync(settings.identity_domains()))


def open_context(
    settings: Settings,
    *,
    store: Store | None = None,
    model_path: Path | None = None,
    clock: Clock = utc_now,
) -> ServiceContext:
    """Open the index of ``settings.database.url`` (creating or migrating its schema).

    Args:
        settings: the configuration.
        store: an already open store to use instead (tests).
        model_path: a model saved by ``mpi train``; if ``None``, ``[matching] model``
            of the configuration (relative to its file), else the default model.
        clock: the current time.

    If the stored blocking keys were made by other blocking rules (another release or
    model), every record's keys are rebuilt first (:mod:`mpi.service.rekey`).

    Raises:
        StoreError: the database cannot be reached or migrated.
        ModelFileError: ``model_path`` is not a readable model.
    """
    if model_path is None and settings.matching.model is not None:
        model_path = settings.matching.model
        if not model_path.is_absolute() and settings.source is not None:
            model_path = settings.source.parent / model_path
    model = Model.load(model_path) if model_path is not None else None
    matcher = build_matcher(settings, model)
    if store is None:
        store = Store.open(settings.database.url, clock=clock)
    sync_domains(store, settings)
    ensure_blocking_keys(store, matcher.model.settings.blocking, log.warning)
    return ServiceContext(settings, store, matcher, clock)
