"""Service test fixtures: settings with two facilities, a national-id domain and a subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mpi.domain import SourceSystem
from mpi.service import ServiceContext, open_context
from mpi.settings import (
    DomainSettings,
    EnterpriseSettings,
    Settings,
    SubscriberSettings,
)
from mpi.store import Store

NG = SourceSystem("NG_ADT", "NORTHGEN")
RC = SourceSystem("RC_ADT", "RIVERCL")


def make_settings(db_url: str = "sqlite://", **overrides: object) -> Settings:
    """The test configuration (two facilities, a trusted national-id domain, one subscriber)."""
    values: dict[str, object] = {
        "enterprise": EnterpriseSettings("MPI", "2.999.1"),
        "domains": (
            DomainSettings("NORTHGEN", "2.999.10.1", sources=(NG,)),
            DomainSettings("RIVERCL", "2.999.10.2", sources=(RC,)),
            DomainSettings("NATID", "2.999.99", trusted=True),
        ),
        "subscribers": (
            SubscriberSettings("HIE_PORTAL", "CITYHIE", "127.0.0.1", 3100, ("NORTHGEN", "MPI")),
            SubscriberSettings("RC_PIX", "RIVERCL", "127.0.0.1", 3101, ("RIVERCL",)),
        ),
    }
    values.update(overrides)
    from mpi.settings import DatabaseSettings

    values.setdefault("database", DatabaseSettings(db_url))
    return Settings(**values)  # type: ignore[arg-type]


def fixed_clock() -> datetime:
    return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def ctx(store: Store, settings: Settings) -> Iterator[ServiceContext]:
    yield open_context(settings, store=store)
