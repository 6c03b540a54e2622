"""Engines, sessions and schema migration.

SQLite is the embedded default, PostgreSQL (psycopg 3) the production database.
:func:`create_engine` sets both up the same way every time; :func:`migrate`
brings a database to the newest schema (``mpi serve`` calls it on start).

SQLite connections get ``journal_mode=WAL`` (readers do not block the writer),
``foreign_keys=ON``, ``synchronous=NORMAL`` (durable at checkpoints, fast
commits) and a busy timeout. pysqlite's own transaction handling is turned off
and the store issues ``BEGIN`` itself, so that a writing unit of work can start
with ``BEGIN IMMEDIATE``: it takes the write lock up front, waiting for it under
the busy timeout, instead of failing at its first write after a read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from mpi.errors import ConfigError, StoreError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SQLITE_BEGIN_OPTION",
    "alembic_config",
    "create_engine",
    "current_revision",
    "head_revision",
    "is_sqlite_file",
    "migrate",
    "normalise_url",
    "session_factory",
]

BUSY_TIMEOUT_MS = 10_000
SQLITE_BEGIN_OPTION = "mpi_sqlite_begin"
"""Execution option naming how a SQLite transaction begins: ``DEFERRED``, ``IMMEDIATE``,
or ``NONE`` (no transaction: every statement sees the last commit)."""

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgresql://`` means psycopg 3.

    Raises:
        ConfigError: not a URL, or neither SQLite nor PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError([f"database.url: {str(url)!r} must be a database URL"]) from e
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            [f"database.url: {parsed.render_as_string()!r} must be sqlite:// or postgresql://"]
        )
    return parsed


def is_sqlite_file(url: str | URL) -> bool:
    """Whether ``url`` is a SQLite database in a file: one that other connections and other
    processes open as the same database (not ``sqlite://``, ``:memory:`` or ``mode=memory``)."""
    parsed = make_url(url)
    return (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and parsed.query.get("mode") != "memory"
    )


def create_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for the index database, with the SQLite pragmas or PostgreSQL pool settings.

    Args:
        url: ``sqlite:///path.db``, ``sqlite://`` (in memory, one shared
            connection), or ``postgresql+psycopg://user@host:5432/db``.
        echo: log SQL.
        **kwargs: passed on to :func:`sqlalchemy.create_engine`.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo, kwargs)
    # Pre-ping: a connection that died with a database restart is replaced at checkout.
    # (Without it, Store.run and Store.read still retry a statement that finds its
    # connection dead; interleaved PIX runs at 1M persons showed no measurable gain
    # from saving the ping's round trip, so the cheaper safety stays.)
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, echo=echo, **kwargs)


def _sqlite_engine(url: URL, echo: bool, kwargs: dict[str, Any]) -> Engine:
    memory = not is_sqlite_file(url)
    connect_args = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    connect_args.update(kwargs.pop("connect_args", {}))
    if memory:
        # Every connection to :memory: is a new empty database: share one.
        kwargs.setdefault("poolclass", StaticPool)
    engine = sa.create_engine(url, echo=echo, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" listener below begins
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode != "NONE":  # NONE: each statement on its own (single-statement readers)
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def session_factory(engine: Engine, *, write: bool = True) -> sessionmaker[Session]:
    """Sessions on ``engine``; writing ones begin with ``BEGIN IMMEDIATE`` on SQLite.

    Sessions do not expire objects on commit (repositories return values, not rows)
    and never autoflush behind the caller's back less than needed: autoflush stays on.
    """
    bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE" if write else "DEFERRED"})
    return sessionmaker(bind=bind, expire_on_commit=False)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """The Alembic configuration of the packaged migrations (no ``alembic.ini`` needed).

    Args:
        connection: run the migrations on this connection (``env.py`` uses it).
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (default: the newest).

    Safe to call on every start: an up-to-date database is left alone.

    Args:
        engine_or_url: an engine from :func:`create_engine`, or a URL.
        revision: an Alembic revision id, or ``head``.

    Raises:
        StoreError: the database cannot be reached or a migration step failed.
    """
    engine = engine_or_url if isinstance(engine_or_url, Engine) else create_engine(engine_or_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    except SQLAlchemyError as e:
        url = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"database: {url!r} could not be migrated to {revision} ({e})") from e
    finally:
        if engine is not engine_or_url:
            engine.dispose()
