"""Alembic environment of the packaged migrations.

Run programmatically through :func:`mpi.store.db.migrate`, which hands over an
open connection in ``config.attributes["connection"]``. For development with
the ``alembic`` command, set ``sqlalchemy.url`` (``-x url=...`` is not used) or
``MPI_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context

from mpi.store.db import create_engine
from mpi.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("MPI_DATABASE_URL")
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the connection handed over by ``migrate()``, or on a new one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "MPI_DATABASE_URL", "sqlite:///mpi.db"
    )
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
