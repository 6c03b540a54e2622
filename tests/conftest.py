"""Database fixtures shared by every test that touches the store.

``db_url`` (and ``engine``, ``store`` on top of it) runs a test once on SQLite
and once on PostgreSQL, both migrated to the newest schema and empty:

* SQLite: a schema migrated once per session is copied into the test's own file.
* PostgreSQL: a throwaway database ``mpi_test_<random>`` is created through the
  ``postgres`` maintenance database, migrated once per session, emptied
  (``TRUNCATE ... RESTART IDENTITY``) before each test, and dropped at the end.
  The server is ``MPI_TEST_POSTGRES_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). If it cannot be
  reached the PostgreSQL cases are skipped locally, but fail when ``CI=true``.

``empty_db_url`` gives an unmigrated database of either kind (migration tests).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from mpi.store import Store, create_engine, migrate
from mpi.store.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "MPI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable: {reason}")


class _PostgresServer:
    """Creates and drops throwaway databases through the maintenance database."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.created: list[str] = []

    def create(self) -> str:
        name = f"mpi_test_{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[_PostgresServer | str]:
    """The server, or the reason it cannot be used (reported per test, not once)."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as e:
        admin.dispose()
        yield str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        return
    server = _PostgresServer(admin)
    try:
        yield server
    finally:
        server.drop_all()
        admin.dispose()


def _server(value: _PostgresServer | str) -> _PostgresServer:
    if isinstance(value, str):
        _postgres_unavailable(value)
        raise AssertionError("unreachable")
    return value


@pytest.fixture(scope="session")
def _postgres_migrated(_postgres_server: _PostgresServer | str) -> str | None:
    if isinstance(_postgres_server, str):
        return None
    url = _postgres_server.create()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _postgres_server: _PostgresServer | str,
    _postgres_migrated: str | None,
) -> str:
    """The URL of an empty database at the newest schema (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "mpi.db"
        shutil.copyfile(_sqlite_template, path)
        return f"sqlite:///{path}"
    _server(_postgres_server)
    assert _postgres_migrated is not None
    _truncate_all(_postgres_migrated)
    return _postgres_migrated


@pytest.fixture(params=BACKENDS)
def empty_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, _postgres_server: _PostgresServer | str
) -> str:
    """The URL of a database without any schema (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return _server(_postgres_server).create()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on :func:`db_url`, disposed after the test."""
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    """A :class:`~mpi.store.Store` on :func:`engine`."""
    return Store(engine)
