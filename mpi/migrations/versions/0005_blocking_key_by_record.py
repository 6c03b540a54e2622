"""blocking keys by record

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

``blocking_key``'s primary key becomes ``(record_id, key_hash)`` and the lookup
goes through a new index ``(key_hash, record_id)`` (instead of the other way
round). New records have the highest keys, so writing their keys appends to
the table instead of touching pages all over it; a bulk load drops the lookup
index and builds it once at the end. Rows are copied unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuild(primary: tuple[str, str], index: tuple[str, list[str]]) -> None:
    op.rename_table("blocking_key", "blocking_key_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX pk_blocking_key RENAME TO pk_blocking_key_old")
    op.create_table(
        "blocking_key",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", _BIG_ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint(*primary, name=op.f("pk_blocking_key")),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO blocking_key ({', '.join(primary)}) "
        f"SELECT {', '.join(primary)} FROM blocking_key_old ORDER BY {', '.join(primary)}"
    )
    op.drop_table("blocking_key_old")
    op.create_index(index[0], "blocking_key", index[1])


def upgrade() -> None:
    op.drop_index("ix_blocking_key_record_id", table_name="blocking_key")
    _rebuild(("record_id", "key_hash"), ("ix_blocking_key_key_hash", ["key_hash", "record_id"]))


def downgrade() -> None:
    op.drop_index("ix_blocking_key_key_hash", table_name="blocking_key")
    _rebuild(("key_hash", "record_id"), ("ix_blocking_key_record_id", ["record_id"]))
