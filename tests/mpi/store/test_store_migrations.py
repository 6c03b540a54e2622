"""The packaged Alembic migrations build exactly the ORM's schema, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from mpi.store import create_engine, current_revision, head_revision, migrate
from mpi.store.blocking import hash_keys
from mpi.store.db import alembic_config
from mpi.store.models import Base


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrated_schema_equals_orm_metadata(engine: Engine) -> None:
    assert _diff(engine) == []


def test_migrate_creates_schema_and_is_idempotent(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        migrate(engine)  # a second start leaves an up-to-date database alone
        assert current_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_downgrade_to_base_then_upgrade_again(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_migrate_accepts_a_url(empty_db_url: str) -> None:
    migrate(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event"])
def test_audit_trail_is_append_only_in_the_database(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_event (at, actor, action, entity_type, entity_id) "
            "VALUES (CURRENT_TIMESTAMP, 'alice', 'person.merge', 'person', 'E000000001')"
        )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT actor FROM audit_event").scalar_one() == "alice"


def test_upgrade_to_0004_rehashes_stored_blocking_keys(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        migrate(engine, "0003")
        rows = [("fam:doe", 1), ("dob:1970", 1), ("fam:doe", 2), ("given:änne", 3)]
        rows += [(f"k{i}", 10 + i) for i in range(120)]
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO blocking_key (key, record_id) VALUES (:k, :r)"),
                [{"k": k, "r": r} for k, r in rows],
            )
        migrate(engine)
        with engine.connect() as conn:
            stored = set(
                conn.execute(sa.text("SELECT key_hash, record_id FROM blocking_key")).all()
            )
        hashes = hash_keys([k for k, _ in rows]).tolist()
        assert stored == {(h, r) for h, (_, r) in zip(hashes, rows, strict=True)}
        assert _diff(engine) == []
    finally:
        engine.dispose()
