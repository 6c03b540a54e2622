"""The application's domain values: what services, adapters and the store exchange.

These are plain frozen dataclasses and enums. ORM rows (:mod:`mpi.store.models`)
and API schemas are different things, mapped to and from these at the edges, so
a column rename never leaks into a service and an API field never leaks into
the database.

Identifiers: source records are named by :class:`SourceRecordRef` (namespace of
the identity domain + id in that domain); enterprise persons by their
enterprise id, a string the MPI assigns in its own (enterprise) domain, see
:func:`format_enterprise_id`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from matching.record import Record
from matching.scoring import Band

__all__ = [
    "AuditEntry",
    "Band",
    "IdentityDomain",
    "Link",
    "LinkMethod",
    "MessageLogEntry",
    "NewSourceRecord",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "PersonMerge",
    "PersonStatus",
    "RecordQuery",
    "RecordStatus",
    "ReviewDecision",
    "ReviewStatus",
    "ReviewTask",
    "Role",
    "SourceRecord",
    "SourceRecordRef",
    "SourceSystem",
    "format_enterprise_id",
    "parse_enterprise_id",
]

JsonObject = Mapping[str, Any]
"""A JSON object as decoded (``json.loads``): the PID, an explanation, an audit snapshot."""


class LinkMethod(enum.Enum):
    """How a source record came to be linked to its person."""

    AUTO = "auto"  # the matcher's score reached the link threshold
    IDENTIFIER = "identifier"  # a shared id of a trusted domain (a national id)
    MANUAL = "manual"  # a reviewer's decision or a steward's merge/unlink


class ReviewStatus(enum.Enum):
    """Whether a review task still waits for a person."""

    OPEN = "open"
    DECIDED = "decided"


class ReviewDecision(enum.Enum):
    """A reviewer's verdict on a pair (the API spells them ``match`` / ``no-match``)."""

    MATCH = "match"
    NO_MATCH = "no-match"


class PersonStatus(enum.Enum):
    """An enterprise person is active, or was merged into another (and may be unmerged)."""

    ACTIVE = "active"
    MERGED = "merged"


class RecordStatus(enum.Enum):
    """A source record is active, or its id was subsumed by another id (ITI-8 A40)."""

    ACTIVE = "active"
    SUBSUMED = "subsumed"


class OutboxStatus(enum.Enum):
    """Delivery state of one ITI-10 notification."""

    PENDING = "pending"  # to be sent (again) at next_attempt_at
    SENT = "sent"  # handed to the subscriber, its ACK not yet recorded
    ACKED = "acked"  # the subscriber answered AA
    FAILED = "failed"  # given up after too many attempts, or the subscriber rejected it


class Role(enum.Enum):
    """What an API token may do; each role includes the ones before it."""

    READER = "reader"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may do."""
        order = (Role.READER, Role.REVIEWER, Role.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class SourceSystem:
    """A sending (or receiving) system: MSH-3/MSH-4, or MSH-5/MSH-6."""

    application: str
    facility: str


@dataclass(frozen=True, slots=True)
class IdentityDomain:
    """An assigning authority whose ids the MPI cross-references (CX.4).

    Attributes:
        namespace: HD.1, e.g. ``NORTHGEN``; unique.
        oid: HD.2 universal id, e.g. ``2.999.10.1``; unique when present.
        oid_type: HD.3, normally ``ISO``.
        trusted: a shared id in this domain links records deterministically.
        sources: the systems allowed to assign ids in this domain (empty: any).
        enterprise: this is the domain of the MPI's own enterprise ids.
    """

    namespace: str
    oid: str | None = None
    oid_type: str | None = "ISO"
    trusted: bool = False
    sources: tuple[SourceSystem, ...] = ()
    enterprise: bool = False

    def accepts_from(self, sender: SourceSystem) -> bool:
        """Whether ``sender`` may assign ids here (any sender if no sources are listed)."""
        return not self.sources or sender in self.sources


@dataclass(frozen=True, slots=True, order=True)
class SourceRecordRef:
    """A source record's identity: the domain's namespace and the id assigned in it."""

    domain: str
    id: str

    def __str__(self) -> str:
        return f"{self.domain}|{self.id}"


_ENTERPRISE_ID = re.compile(r"^E(\d{9,})$")


def format_enterprise_id(number: int) -> str:
    """The enterprise id of a person's serial number: ``E`` and at least nine digits.

    The number comes from an autoincrement key, which both databases hand out
    safely under concurrency, so no id is ever issued twice.
    """
    if number < 1:
        raise ValueError(f"enterprise number: {number!r} must be positive")
    return f"E{number:09d}"


def parse_enterprise_id(enterprise_id: str) -> int | None:
    """The serial number in an enterprise id, or ``None`` if it is not one."""
    m = _ENTERPRISE_ID.match(enterprise_id)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class NewSourceRecord:
    """What registering (or updating) a source record needs.

    Attributes:
        ref: domain and id.
        demographics: the matcher's canonical fields; its ``record_id`` is ignored
            (the store names records ``domain|id``).
        pid: the whole PID as JSON (every name, address, phone, mother's
            identifier, multiple-birth order, language, marital status, other
            domains' ids ...); the store keeps it as given.
        identifiers: the other domains' ids in PID-3 (a national id, an old MRN),
            indexed so that :meth:`~mpi.store.records.RecordRepository.with_identifier`
            finds the record by them.
    """

    ref: SourceRecordRef
    demographics: Record
    pid: JsonObject = field(default_factory=dict)
    identifiers: tuple[SourceRecordRef, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A stored source record.

    Attributes:
        pk: the store's key; stable, usable with the bulk and candidate methods.
        ref: domain and id.
        demographics: canonical fields, ``record_id`` = ``str(ref)``.
        pid: the whole PID as stored.
        status: active, or subsumed by another id (A40).
        enterprise_id: the person it is linked to (``None`` only while unlinked).
        subsumed_by: the surviving record when status is subsumed.
        identifiers: the other domains' ids it carries.
    """

    pk: int
    ref: SourceRecordRef
    demographics: Record
    pid: JsonObject
    status: RecordStatus
    enterprise_id: str | None
    created_at: datetime
    updated_at: datetime
    subsumed_by: SourceRecordRef | None = None
    identifiers: tuple[SourceRecordRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Person:
    """An enterprise person: the MPI's identity for one human."""

    enterprise_id: str
    status: PersonStatus
    created_at: datetime
    updated_at: datetime
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A source record's current link to its person.

    Attributes:
        score: the match probability that justified the link (1.0 for a
            manual or identifier link unless the caller says otherwise).
        linked_by: the user, or ``system`` for the matcher.
    """

    record: SourceRecordRef
    enterprise_id: str
    score: float
    method: LinkMethod
    linked_at: datetime
    linked_by: str


@dataclass(frozen=True, slots=True)
class ReviewTask:
    """A pair of source records the matcher could not decide.

    Attributes:
        fields: the per-field explanation (level and weight of each comparison) as JSON.
        decision, decided_by, decided_at, reason: set once decided.
    """

    id: int
    left: SourceRecordRef
    right: SourceRecordRef
    score: float
    fields: JsonObject
    status: ReviewStatus
    created_at: datetime
    decision: ReviewDecision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only audit trail.

    Attributes:
        actor: a user or token name, ``system`` for the matcher, ``SENDER|FACILITY`` for a feed.
        action: e.g. ``record.register``, ``link.create``, ``person.merge``, ``review.decide``.
        entity_type, entity_id: what changed (``person`` + enterprise id, ``record`` + ``NS|id``).
        before, after: JSON snapshots (``None`` for a creation / deletion).
    """

    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: JsonObject | None = None
    after: JsonObject | None = None
    reason: str | None = None
    id: int | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageLogEntry:
    """An HL7 message already answered: the answer is replayed on re-delivery.

    Attributes:
        digest: a hash of the request, to tell a true re-delivery from a
            different message that reuses a control id.
    """

    sender: SourceSystem
    control_id: str
    digest: str
    response: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One ITI-10 notification waiting for (or done with) delivery.

    Attributes:
        sequence: increases per person, so a subscriber gets a person's
            updates in the order they happened.
    """

    id: int
    subscriber: SourceSystem
    enterprise_id: str
    payload: bytes
    sequence: int
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonMerge:
    """One merge of a person into another, with what unmerge needs to undo it.

    Attributes:
        moved: the links the subsumed person had before the merge, exactly.
        undone_at, undone_by: set once unmerged.
    """

    id: int
    survivor: str
    subsumed: str
    merged_at: datetime
    merged_by: str
    moved: tuple[Link, ...]
    reason: str | None = None
    undone_at: datetime | None = None
    undone_by: str | None = None


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Demographic search criteria (PDQ); every given criterion must hold.

    ``family_name`` and ``given_name`` match case- and accent-insensitively;
    a trailing ``*`` makes them prefix searches. ``birth_date`` is digits
    (``YYYYMMDD``; fewer digits match a year or month); ``identifier`` is a
    domain + id, the record's own or one it carries. Subsumed records never match.
    """

    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    identifier: SourceRecordRef | None = None
