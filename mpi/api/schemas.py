"""The JSON shapes of ``/api`` (request bodies and responses), and their mapping from domain values.

API schemas are neither ORM rows nor domain values: the functions ``*_out``
map the services' frozen dataclasses to these models at the edge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mpi.domain import AuditEntry, Link, PersonMerge, SourceRecord
from mpi.service.review import ReviewItem
from mpi.service.stewardship import (
    RULE_COMPLETE,
    RULE_RECENT,
    RULE_TRUSTED,
    PersonHistory,
    PersonView,
    UnlinkResult,
    UnmergeResult,
    record_json,
)

SURVIVORSHIP_RULES = (
    f"1. {RULE_TRUSTED}: a record of a trusted domain wins",
    f"2. {RULE_COMPLETE}: a more precise birth date, a full name over an initial",
    f"3. {RULE_RECENT}: the most recently updated record wins",
    "4. ties: the smallest domain and id",
)

_RECORD_EXAMPLE: dict[str, Any] = {
    "domain": "NORTHGEN",
    "id": "NG-1001",
    "enterprise_id": "E000000001",
    "status": "active",
    "demographics": {
        "given_name": "John",
        "family_name": "Smith",
        "birth_date": "19700412",
        "sex": "M",
        "city": "Springfield",
    },
    "identifiers": ["NATID|123-45-6789"],
    "updated_at": "2026-01-02T03:04:05Z",
}


class ErrorOut(BaseModel):
    """Every error of ``/api``."""

    detail: str = Field(examples=["review: 42 does not exist"])


class RecordOut(BaseModel):
    """A source record: its domain and id, its person and its demographics."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RECORD_EXAMPLE]})

    domain: str
    id: str
    enterprise_id: str | None
    status: Literal["active", "subsumed"]
    demographics: dict[str, str | None]
    identifiers: list[str]
    updated_at: datetime


class FieldExplanation(BaseModel):
    """One comparison of a pair: the level reached and its match weight (log2 m/u)."""

    level: str = Field(examples=["exact"])
    weight: float = Field(examples=[4.12])


class ReviewOut(BaseModel):
    """A review task: the pair, its match probability and the per-field explanation."""

    id: int = Field(examples=[7])
    score: float = Field(description="match probability", examples=[0.81])
    status: Literal["open", "decided"]
    left: RecordOut
    right: RecordOut
    fields: dict[str, FieldExplanation] = Field(
        examples=[{"family_name": {"level": "exact", "weight": 4.1}}]
    )
    created_at: datetime
    decision: Literal["match", "no-match"] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    merged_into: str | None = Field(
        None, description="after a match: the person both records now belong to"
    )


class ReviewListOut(BaseModel):
    """One page of review tasks, highest score first."""

    items: list[ReviewOut]
    total: int = Field(description="tasks matching the status filter", examples=[1])
    offset: int
    limit: int


class DecisionIn(BaseModel):
    """A reviewer's verdict on a pair."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"decision": "no-match", "reason": "twins: different given names"}]
        },
    )

    decision: Literal["match", "no-match"]
    reason: str | None = Field(None, max_length=2000)


class GoldenValueOut(BaseModel):
    """One golden field, the record it came from and the rule that chose it."""

    value: str
    source: dict[str, str] = Field(examples=[{"domain": "NORTHGEN", "id": "NG-1001"}])
    rule: str = Field(examples=[RULE_RECENT])


class LinkOut(BaseModel):
    """A record's link to its person."""

    domain: str
    id: str
    enterprise_id: str
    score: float
    method: Literal["auto", "identifier", "manual"]
    linked_at: datetime
    linked_by: str


class PersonOut(BaseModel):
    """A person's golden view, its source records and their links."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "E000000001",
                    "status": "active",
                    "merged_into": None,
                    "created_at": "2026-01-02T03:04:05Z",
                    "updated_at": "2026-01-02T03:04:05Z",
                    "golden": {
                        "family_name": {
                            "value": "Smith",
                            "source": {"domain": "NORTHGEN", "id": "NG-1001"},
                            "rule": RULE_RECENT,
                        }
                    },
                    "survivorship": list(SURVIVORSHIP_RULES),
                    "records": [_RECORD_EXAMPLE],
                    "links": [
                        {
                            "domain": "NORTHGEN",
                            "id": "NG-1001",
                            "enterprise_id": "E000000001",
                            "score": 1.0,
                            "method": "auto",
                            "linked_at": "2026-01-02T03:04:05Z",
                            "linked_by": "NG_ADT|NORTHGEN",
                        }
                    ],
                }
            ]
        }
    )

    enterprise_id: str
    status: Literal["active", "merged"]
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    golden: dict[str, GoldenValueOut]
    survivorship: list[str]
    records: list[RecordOut]
    links: list[LinkOut]


class MergeIn(BaseModel):
    """Which person to merge into the one named in the path."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"from": "E000000002", "reason": "same patient"}]},
    )

    from_: str = Field(alias="from", min_length=1, max_length=64)
    reason: str | None = Field(None, max_length=2000)


class UnmergeIn(BaseModel):
    """Why the last merge is undone (optional body)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "wrong merge"}]}
    )

    reason: str | None = Field(None, max_length=2000)


class UnlinkIn(BaseModel):
    """The record that leaves the person (for a person of its own)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"domain": "RIVERCL", "id": "RC-77", "reason": "not him"}]},
    )

    domain: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=256)
    reason: str | None = Field(None, max_length=2000)


class MergeOut(BaseModel):
    """One merge of a person into another, with the links it moved."""

    id: int
    survivor: str
    subsumed: str
    merged_at: datetime
    merged_by: str
    reason: str | None
    undone_at: datetime | None
    undone_by: str | None
    moved: list[LinkOut]


class UnmergeOut(BaseModel):
    """Both persons after an unmerge, and the merge undone."""

    merge: MergeOut
    survivor: PersonOut
    restored: PersonOut


class UnlinkOut(BaseModel):
    """The person the record left, and the record's new person."""

    person: PersonOut
    new_person: PersonOut


class AuditOut(BaseModel):
    """One audit entry: who did what to which entity, when, before/after, why."""

    id: int
    at: datetime
    actor: str
    action: str = Field(examples=["person.merge"])
    entity_type: str = Field(examples=["person"])
    entity_id: str = Field(examples=["E000000001"])
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class AuditListOut(BaseModel):
    """One page of the audit trail, newest first."""

    items: list[AuditOut]
    total: int
    offset: int
    limit: int


class HistoryOut(BaseModel):
    """A person's merges and the audit entries about it and its records (newest first)."""

    enterprise_id: str
    status: Literal["active", "merged"]
    merged_into: str | None
    merges: list[MergeOut]
    events: list[AuditOut]


class HealthOut(BaseModel):
    """Liveness, the database check and, when ``mpi serve`` runs one, the feed writer process."""

    status: Literal["ok", "error"]
    database: str = Field(examples=["ok"])
    feed: str | None = Field(
        default=None,
        examples=["ok"],
        description="the ITI-8 feed writer process: ok, or why it cannot take messages now",
    )


# -- mapping -------------------------------------------------------------------------------------


def record_out(record: SourceRecord) -> RecordOut:
    """A source record as JSON."""
    return RecordOut(
        domain=record.ref.domain,
        id=record.ref.id,
        enterprise_id=record.enterprise_id,
        status=record.status.value,
        demographics=record_json(record),
        identifiers=[str(i) for i in record.identifiers],
        updated_at=record.updated_at,
    )


def review_out(item: ReviewItem) -> ReviewOut:
    """A review task as JSON."""
    task = item.task
    return ReviewOut(
        id=task.id,
        score=task.score,
        status=task.status.value,
        left=record_out(item.left),
        right=record_out(item.right),
        fields={k: FieldExplanation(**v) for k, v in task.fields.items()},
        created_at=task.created_at,
        decision=task.decision.value if task.decision else None,
        decided_by=task.decided_by,
        decided_at=task.decided_at,
        reason=task.reason,
        merged_into=item.merged_into,
    )


def link_out(link: Link) -> LinkOut:
    """A link as JSON."""
    return LinkOut(
        domain=link.record.domain,
        id=link.record.id,
        enterprise_id=link.enterprise_id,
        score=link.score,
        method=link.method.value,
        linked_at=link.linked_at,
        linked_by=link.linked_by,
    )


def person_out(view: PersonView) -> PersonOut:
    """A person's view as JSON."""
    p = view.person
    return PersonOut(
        enterprise_id=p.enterprise_id,
        status=p.status.value,
        merged_into=p.merged_into,
        created_at=p.created_at,
        updated_at=p.updated_at,
        golden={
            g.field: GoldenValueOut(
                value=g.value, source={"domain": g.source.domain, "id": g.source.id}, rule=g.rule
            )
            for g in view.golden
        },
        survivorship=list(SURVIVORSHIP_RULES),
        records=[record_out(r) for r in view.records],
        links=[link_out(link) for link in view.links],
    )


def merge_out(merge: PersonMerge) -> MergeOut:
    """A merge as JSON."""
    return MergeOut(
        id=merge.id,
        survivor=merge.survivor,
        subsumed=merge.subsumed,
        merged_at=merge.merged_at,
        merged_by=merge.merged_by,
        reason=merge.reason,
        undone_at=merge.undone_at,
        undone_by=merge.undone_by,
        moved=[link_out(link) for link in merge.moved],
    )


def audit_out(entry: AuditEntry) -> AuditOut:
    """An audit entry as JSON."""
    assert entry.id is not None and entry.at is not None
    return AuditOut(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        before=dict(entry.before) if entry.before is not None else None,
        after=dict(entry.after) if entry.after is not None else None,
        reason=entry.reason,
    )


def unmerge_out(result: UnmergeResult) -> UnmergeOut:
    """An unmerge result as JSON."""
    return UnmergeOut(
        merge=merge_out(result.merge),
        survivor=person_out(result.survivor),
        restored=person_out(result.restored),
    )


def unlink_out(result: UnlinkResult) -> UnlinkOut:
    """An unlink result as JSON."""
    return UnlinkOut(person=person_out(result.person), new_person=person_out(result.new_person))


def history_out(history: PersonHistory) -> HistoryOut:
    """A person's history as JSON."""
    p = history.person
    return HistoryOut(
        enterprise_id=p.enterprise_id,
        status=p.status.value,
        merged_into=p.merged_into,
        merges=[merge_out(m) for m in history.merges],
        events=[audit_out(e) for e in history.events],
    )
