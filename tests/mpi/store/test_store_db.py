"""Engines: SQLite pragmas, URL handling, the in-memory database."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpi.errors import ConfigError, StoreError
from mpi.store import Store, create_engine, migrate
from mpi.store.db import BUSY_TIMEOUT_MS, is_sqlite_file, normalise_url


def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": BUSY_TIMEOUT_MS}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///file:shared?mode=memory&uri=true"])
def test_in_memory_database_is_shared_by_the_store(url: str) -> None:
    store = Store.open(url)
    try:
        with store.unit_of_work() as uow:
            uow.persons.create()
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.persons.get("E000000001") is not None
    finally:
        store.dispose()


def test_urls() -> None:
    assert normalise_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///mpi.db").drivername == "sqlite"
    with pytest.raises(ConfigError, match="must be sqlite:// or postgresql://"):
        create_engine("mysql://u@h/db")
    with pytest.raises(ConfigError, match="must be a database URL"):
        create_engine("not a url")


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:////var/lib/mpi/mpi.db", True),
        ("sqlite:///mpi.db", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("sqlite:///file:feed?mode=memory&cache=shared&uri=true", False),
        ("postgresql+psycopg://postgres@127.0.0.1/mpi", False),
    ],
)
def test_which_urls_are_sqlite_files(url: str, file: bool) -> None:
    # The engine's pool, the WAL checkpointer, the writers' lock and the feed writer process follow it.
    assert is_sqlite_file(url) is file


def test_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="could not be migrated"):
        migrate(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def _kill_other_connections(url: object) -> None:
    """Terminate every other session on the database (what a server restart does)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    admin = sa.create_engine(url, poolclass=NullPool)  # type: ignore[call-overload]
    try:
        with admin.connect() as conn:
            killed = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar()
        assert killed
    finally:
        admin.dispose()


def test_connections_killed_by_a_database_restart_cost_no_failed_unit_of_work(
    store: Store,
) -> None:
    # Pooled connections that died with the server are replaced (pinged at checkout;
    # a statement that still finds its connection dead is tried again on a fresh one).
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a server restart only happens to PostgreSQL")
    assert store.read(lambda uow: uow.domains.all()) == []  # leaves a pooled connection
    _kill_other_connections(store.engine.url)
    assert store.read(lambda uow: uow.domains.all()) == []
    assert store.run(lambda uow: uow.domains.all()) == []
    _kill_other_connections(store.engine.url)
    assert store.run(lambda uow: uow.domains.all()) == []
