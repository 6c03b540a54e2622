"""index state

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``index_state`` holds named facts about how the index was built. The first is
``blocking_rules``: the fingerprint of the blocking rules that made the stored
keys, so that an index whose rules changed (a new release, another model) has
its keys rebuilt instead of silently missing candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "index_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_index_state")),
    )


def downgrade() -> None:
    op.drop_table("index_state")
