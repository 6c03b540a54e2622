"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Every table of the index, plus triggers that keep the audit trail append-only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: {verb} refused'); END"""
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=400), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_entity", "audit_event", ["entity_type", "entity_id"])

    op.create_table(
        "enterprise_person",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into_id", BIG_ID, nullable=True),
        sa.Column("outbox_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["enterprise_person.id"],
            name=op.f("fk_enterprise_person_merged_into_id_enterprise_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_person")),
    )
    op.create_table(
        "identity_domain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("oid", sa.String(length=128), nullable=True),
        sa.Column("oid_type", sa.String(length=16), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("enterprise", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_domain")),
        sa.UniqueConstraint("namespace", name=op.f("uq_identity_domain_namespace")),
        sa.UniqueConstraint("oid", name=op.f("uq_identity_domain_oid")),
    )
    op.create_table(
        "message_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sender_application", sa.String(length=180), nullable=False),
        sa.Column("sender_facility", sa.String(length=180), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_log")),
        sa.UniqueConstraint(
            "sender_application",
            "sender_facility",
            "control_id",
            name=op.f("uq_message_log_sender_application_sender_facility_control_id"),
        ),
    )
    op.create_table(
        "domain_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("application", sa.String(length=180), nullable=False),
        sa.Column("facility", sa.String(length=180), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["identity_domain.id"],
            name=op.f("fk_domain_source_domain_id_identity_domain"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_source")),
        sa.UniqueConstraint(
            "domain_id",
            "application",
            "facility",
            name=op.f("uq_domain_source_domain_id_application_facility"),
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subscriber_application", sa.String(length=180), nullable=False),
        sa.Column("subscriber_facility", sa.String(length=180), nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["enterprise_person.id"],
            name=op.f("fk_outbox_person_id_enterprise_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "subscriber_application",
            "subscriber_facility",
            "person_id",
            "sequence",
            name=op.f("uq_outbox_subscriber_application_subscriber_facility_person_id_sequence"),
        ),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])

    op.create_table(
        "person_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", BIG_ID, nullable=False),
        sa.Column("subsumed_id", BIG_ID, nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["subsumed_id"],
            ["enterprise_person.id"],
            name=op.f("fk_person_merge_subsumed_id_enterprise_person"),
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["enterprise_person.id"],
            name=op.f("fk_person_merge_survivor_id_enterprise_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merge")),
    )
    op.create_index("ix_person_merge_subsumed_id", "person_merge", ["subsumed_id"])
    op.create_index("ix_person_merge_survivor_id", "person_merge", ["survivor_id"])

    op.create_table(
        "source_record",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=199), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subsumed_by_id", BIG_ID, nullable=True),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("middle_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.String(length=8), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("street", sa.String(length=400), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("postcode", sa.String(length=40), nullable=True),
        sa.Column("phone", sa.String(length=100), nullable=True),
        sa.Column("national_id", sa.String(length=100), nullable=True),
        sa.Column("mother_maiden_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("family_key", sa.String(length=200), nullable=True),
        sa.Column("given_key", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["identity_domain.id"],
            name=op.f("fk_source_record_domain_id_identity_domain"),
        ),
        sa.ForeignKeyConstraint(
            ["subsumed_by_id"],
            ["source_record.id"],
            name=op.f("fk_source_record_subsumed_by_id_source_record"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_record")),
        sa.UniqueConstraint(
            "domain_id", "source_id", name=op.f("uq_source_record_domain_id_source_id")
        ),
    )
    op.create_index("ix_source_record_birth_date", "source_record", ["birth_date"])
    op.create_index("ix_source_record_family_key", "source_record", ["family_key", "given_key"])

    op.create_table(
        "blocking_key",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.PrimaryKeyConstraint("key", "record_id", name=op.f("pk_blocking_key")),
    )
    op.create_index("ix_blocking_key_record_id", "blocking_key", ["record_id"])

    op.create_table(
        "link",
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["enterprise_person.id"],
            name=op.f("fk_link_person_id_enterprise_person"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_link_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_link")),
    )
    op.create_index("ix_link_person_id", "link", ["person_id"])

    op.create_table(
        "mother_child",
        sa.Column("mother_id", BIG_ID, nullable=False),
        sa.Column("child_id", BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["source_record.id"],
            name=op.f("fk_mother_child_child_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mother_id"],
            ["source_record.id"],
            name=op.f("fk_mother_child_mother_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mother_id", "child_id", name=op.f("pk_mother_child")),
    )
    op.create_index("ix_mother_child_child_id", "mother_child", ["child_id"])

    op.create_table(
        "record_identifier",
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=199), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_record_identifier_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "record_id", "namespace", "value", name=op.f("pk_record_identifier")
        ),
    )
    op.create_index("ix_record_identifier_value", "record_identifier", ["namespace", "value"])

    op.create_table(
        "review_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("left_id", BIG_ID, nullable=False),
        sa.Column("right_id", BIG_ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["left_id"],
            ["source_record.id"],
            name=op.f("fk_review_task_left_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["right_id"],
            ["source_record.id"],
            name=op.f("fk_review_task_right_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_task")),
        sa.UniqueConstraint("left_id", "right_id", name=op.f("uq_review_task_left_id_right_id")),
    )
    op.create_index("ix_review_task_right_id", "review_task", ["right_id"])
    op.create_index("ix_review_task_status_score", "review_task", ["status", "score"])

    _create_audit_triggers()


def _create_audit_triggers() -> None:
    dialect = op.get_context().dialect.name
    for statement in _POSTGRES_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    op.drop_index("ix_review_task_status_score", table_name="review_task")
    op.drop_index("ix_review_task_right_id", table_name="review_task")

    op.drop_table("review_task")
    op.drop_index("ix_record_identifier_value", table_name="record_identifier")

    op.drop_table("record_identifier")
    op.drop_index("ix_mother_child_child_id", table_name="mother_child")

    op.drop_table("mother_child")
    op.drop_index("ix_link_person_id", table_name="link")

    op.drop_table("link")
    op.drop_index("ix_blocking_key_record_id", table_name="blocking_key")

    op.drop_table("blocking_key")
    op.drop_index("ix_source_record_family_key", table_name="source_record")
    op.drop_index("ix_source_record_birth_date", table_name="source_record")

    op.drop_table("source_record")
    op.drop_index("ix_person_merge_survivor_id", table_name="person_merge")
    op.drop_index("ix_person_merge_subsumed_id", table_name="person_merge")

    op.drop_table("person_merge")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")

    op.drop_table("outbox")
    op.drop_table("domain_source")
    op.drop_table("message_log")
    op.drop_table("identity_domain")
    op.drop_table("enterprise_person")
    op.drop_index("ix_audit_event_entity", table_name="audit_event")
    op.drop_index("ix_audit_event_at", table_name="audit_event")

    op.drop_table("audit_event")
