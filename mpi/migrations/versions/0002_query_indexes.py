"""query indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

PIX/PDQ search: ``family_key`` / ``given_key`` now hold the matcher's name
normalisation (``Müller`` → ``mueller`` instead of ``muller``), so stored rows
are re-folded here; an index on ``given_key`` serves given-name-only searches;
on PostgreSQL both name indexes use ``varchar_pattern_ops`` so prefix searches
(``MOO*``) use them whatever the database collation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from matching.normalise import normalise_name

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000
_PATTERN = {"family_key": "varchar_pattern_ops", "given_key": "varchar_pattern_ops"}


def _refold() -> None:
    conn = op.get_bind()
    records = sa.table(
        "source_record",
        sa.column("id", sa.Integer),
        sa.column("family_name", sa.String),
        sa.column("given_name", sa.String),
        sa.column("family_key", sa.String),
        sa.column("given_key", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(records.c.id, records.c.family_name, records.c.given_name)
            .where(records.c.id > last)
            .order_by(records.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            sa.update(records)
            .where(records.c.id == sa.bindparam("pk"))
            .values(family_key=sa.bindparam("fk"), given_key=sa.bindparam("gk")),
            [
                {"pk": pk, "fk": normalise_name(family), "gk": normalise_name(given)}
                for pk, family, given in rows
            ],
        )
        last = rows[-1][0]


def upgrade() -> None:
    _refold()
    op.drop_index("ix_source_record_family_key", table_name="source_record")
    op.create_index(
        "ix_source_record_family_key",
        "source_record",
        ["family_key", "given_key"],
        postgresql_ops=_PATTERN,
    )
    op.create_index(
        "ix_source_record_given_key",
        "source_record",
        ["given_key"],
        postgresql_ops={"given_key": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_source_record_given_key", table_name="source_record")
    op.drop_index("ix_source_record_family_key", table_name="source_record")
    op.create_index("ix_source_record_family_key", "source_record", ["family_key", "given_key"])
