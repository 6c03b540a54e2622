"""The database tables, as SQLAlchemy 2.0 typed ORM classes.

These rows never leave :mod:`mpi.store`: repositories map them to the values of
:mod:`mpi.domain`. Enumerations are stored as short strings (the enum's value)
so the schema is the same on SQLite and PostgreSQL and adding a member needs
no migration. Times are stored in UTC (:class:`UtcDateTime`).

Every change here needs an Alembic revision in ``mpi/migrations/versions``;
``tests/mpi/store/test_store_migrations.py`` fails while the two differ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiTokenRow",
    "AuditEvent",
    "Base",
    "BlockingKey",
    "DomainSource",
    "IdentityDomainRow",
    "IndexStateRow",
    "LinkRow",
    "MessageLog",
    "MotherChild",
    "OutboxRow",
    "PersonMergeRow",
    "PersonRow",
    "RecordIdentifier",
    "ReviewTaskRow",
    "SourceRecordRow",
    "UtcDateTime",
]

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite keeps naive text, so add the zone back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp: {value!r} must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names that are the same on every database."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class IdentityDomainRow(Base):
    """An assigning authority (CX.4); ``enterprise`` marks the MPI's own."""

    __tablename__ = "identity_domain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), unique=True)
    oid: Mapped[str | None] = mapped_column(String(128), unique=True)
    oid_type: Mapped[str | None] = mapped_column(String(16))
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    enterprise: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class DomainSource(Base):
    """A sending application + facility allowed to assign ids in a domain."""

    __tablename__ = "domain_source"
    __table_args__ = (UniqueConstraint("domain_id", "application", "facility"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("identity_domain.id", ondelete="CASCADE"))
    application: Mapped[str] = mapped_column(String(180))
    facility: Mapped[str] = mapped_column(String(180))


class PersonRow(Base):
    """An enterprise person; its enterprise id is formatted from ``id``.

    ``outbox_seq`` is the last ITI-10 sequence number handed out for the person:
    bumping it with an UPDATE locks the row, so numbers are dense and ordered.
    """

    __tablename__ = "enterprise_person"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise_person.id"))
    outbox_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SourceRecordRow(Base):
    """One source system's record of a patient: the full PID plus the matcher's fields.

    ``family_key`` / ``given_key`` are the names normalised as the matcher does
    (:func:`matching.normalise.normalise_name`: ``Müller`` → ``mueller``), for
    demographic search (PDQ).
    """

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("domain_id", "source_id"),
        # varchar_pattern_ops: PostgreSQL serves prefix searches (``MOO*``) from the index
        # whatever the database's collation; equality uses it too.
        Index(
            "ix_source_record_family_key",
            "family_key",
            "given_key",
            postgresql_ops={
                "family_key": "varchar_pattern_ops",
                "given_key": "varchar_pattern_ops",
            },
        ),
        Index(
            "ix_source_record_given_key",
            "given_key",
            postgresql_ops={"given_key": "varchar_pattern_ops"},
        ),
        Index("ix_source_record_birth_date", "birth_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("identity_domain.id"))
    source_id: Mapped[str] = mapped_column(String(199))
    status: Mapped[str] = mapped_column(String(16))
    subsumed_by_id: Mapped[int | None] = mapped_column(ForeignKey("source_record.id"))
    given_name: Mapped[str | None] = mapped_column(String(200))
    middle_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[str | None] = mapped_column(String(8))
    sex: Mapped[str | None] = mapped_column(String(1))
    street: Mapped[str | None] = mapped_column(String(400))
    city: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(100))
    national_id: Mapped[str | None] = mapped_column(String(100))
    mother_maiden_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    family_key: Mapped[str | None] = mapped_column(String(200))
    given_key: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RecordIdentifier(Base):
    """Another domain's id carried in a source record's PID-3 (e.g. a national id)."""

    __tablename__ = "record_identifier"
    __table_args__ = (Index("ix_record_identifier_value", "namespace", "value"),)

    record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(199), primary_key=True)


class LinkRow(Base):
    """The current link of a source record to its person (at most one per record)."""

    __tablename__ = "link"

    record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("enterprise_person.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime]
    linked_by: Mapped[str] = mapped_column(String(200))


class BlockingKey(Base):
    """A record's blocking key, stored as its 64-bit hash (:func:`mpi.store.blocking.hash_keys`).

    The primary key is ``(record_id, key_hash)``: new records have the highest keys,
    so their keys are appended (on SQLite the table is ``WITHOUT ROWID``: the
    primary key *is* the table). Lookups by key go through ``ix_blocking_key_key_hash``
    (newest records first within a key). A hash collision only adds candidates,
    which the matcher scores anyway. ``record_id`` has no foreign key on purpose:
    this is a derived index that the repositories rebuild with the record, with
    several rows per record, and the per-row foreign-key check was most of the
    cost of a bulk load on PostgreSQL.
    """

    __tablename__ = "blocking_key"
    __table_args__ = (
        Index("ix_blocking_key_key_hash", "key_hash", "record_id"),
        {"sqlite_with_rowid": False},
    )

    record_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ReviewTaskRow(Base):
    """A pair for a person to decide; ``left_id < right_id`` so each pair has one row."""

    __tablename__ = "review_task"
    __table_args__ = (
        UniqueConstraint("left_id", "right_id"),
        Index("ix_review_task_status_score", "status", "score"),
        Index("ix_review_task_right_id", "right_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    left_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    right_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    fields: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuditEvent(Base):
    """One line of the audit trail. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(400))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)


class MessageLog(Base):
    """An answered HL7 message: re-delivery gets the stored answer and changes nothing."""

    __tablename__ = "message_log"
    __table_args__ = (UniqueConstraint("sender_application", "sender_facility", "control_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender_application: Mapped[str] = mapped_column(String(180))
    sender_facility: Mapped[str] = mapped_column(String(180))
    control_id: Mapped[str] = mapped_column(String(199))
    digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class OutboxRow(Base):
    """An ITI-10 notification to deliver to one subscriber."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("subscriber_application", "subscriber_facility", "person_id", "sequence"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_application: Mapped[str] = mapped_column(String(180))
    subscriber_facility: Mapped[str] = mapped_column(String(180))
    person_id: Mapped[int] = mapped_column(ForeignKey("enterprise_person.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class PersonMergeRow(Base):
    """A merge of ``subsumed`` into ``survivor``; ``moved``: the subsumed links as they were."""

    __tablename__ = "person_merge"
    __table_args__ = (
        Index("ix_person_merge_survivor_id", "survivor_id"),
        Index("ix_person_merge_subsumed_id", "subsumed_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("enterprise_person.id"))
    subsumed_id: Mapped[int] = mapped_column(ForeignKey("enterprise_person.id"))
    merged_at: Mapped[datetime]
    merged_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    moved: Mapped[dict[str, Any]]
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(200))


class MotherChild(Base):
    """A child's source record names its mother's source record (PID-21, newborn feeds)."""

    __tablename__ = "mother_child"
    __table_args__ = (Index("ix_mother_child_child_id", "child_id"),)

    mother_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]


class ApiTokenRow(Base):
    """A bearer token of the HTTP API created at run time; only its SHA-256 digest is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class IndexStateRow(Base):
    """A fact about how the index was built, by name (e.g. which blocking rules made its keys)."""

    __tablename__ = "index_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime]
