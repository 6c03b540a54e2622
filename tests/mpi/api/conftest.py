"""API test fixtures: a service context on each database, the app, and an ITI-8 feed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import RC, Feed, TestClient, adt, api_settings, msa

from mpi.api import create_app
from mpi.service import ServiceContext, open_context
from mpi.service.feed import FeedHandler
from mpi.settings import Settings
from mpi.store import Store


@pytest.fixture
def settings(db_url: str) -> Settings:
    return api_settings(db_url)


@pytest.fixture
def ctx(store: Store, settings: Settings) -> ServiceContext:
    return open_context(settings, store=store)


@pytest.fixture
def client(ctx: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=True) as c:
        yield c


@pytest.fixture
def feed(ctx: ServiceContext) -> Feed:
    """Send one ITI-8 message through the real feed service; it must be accepted."""
    handler = FeedHandler(ctx)
    counter = iter(range(1, 10_000))

    def send(pid3: str, name: str = "SMITH^JOHN^^^^^L", **kw: object) -> None:
        ack = handler.handle_bytes(adt(f"M{next(counter)}", pid3, name, **kw))  # type: ignore[arg-type]
        assert msa(ack) == "AA", ack

    return send


@pytest.fixture
def review_pair(feed: Feed) -> None:
    """NG-1 and RC-1: one John Smith at two addresses, a pair in the review band."""
    feed("NG-1^^^NORTHGEN")
    feed(
        "RC-1^^^RIVERCL",
        sender=RC,
        address="99 OTHER ROAD^^SHELBYVILLE^^62999^^H",
        phone="",
    )
