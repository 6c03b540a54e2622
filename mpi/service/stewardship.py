"""Data stewardship of enterprise persons: golden view, merge, unmerge, unlink, history, audit.

Every change runs in one unit of work that also appends the audit entries
(who, when, what, before/after snapshots, reason) and queues the ITI-10
notifications of every person whose cross-reference set changed
(:func:`~mpi.service.notifications.queue_xref_change`), so a change and its
notification are committed together or not at all.

An unlink (and a reviewer's ``no-match`` on two records of one person) is
remembered as decided ``no-match`` pairs between the record and those it
leaves, so a later update (A08) of either does not join them again.

Golden view (survivorship). The person's best value of each demographic field
is chosen among its **active** source records that have the field, by these
rules, in order:

1. **most trusted source**: a record of a trusted domain (``trusted = true``,
   e.g. a national registry) beats any other;
2. **most complete**: a more complete value beats a less complete one; for
   ``birth_date`` more precision wins (``19700412`` over ``197004`` over
   ``1970``), for names a full name beats an initial (``John`` over ``J.``),
   otherwise every non-empty value is equally complete;
3. **most recent**: the most recently updated record wins;
4. ties are broken by domain and id, so the view is deterministic.

Each golden value names the record it came from and the rule that decided it
(``only source`` when one record has the field, else the first rule above that
told the candidates apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from matching.record import Record
from mpi.domain import (
    AuditEntry,
    Link,
    LinkMethod,
    Person,
    PersonMerge,
    PersonStatus,
    RecordStatus,
    ReviewDecision,
    SourceRecord,
    SourceRecordRef,
)
from mpi.errors import InvalidState, NotFound
from mpi.service.context import ServiceContext
from mpi.service.linking import explanation
from mpi.service.notifications import queue_xref_change
from mpi.store import UnitOfWork

__all__ = [
    "GOLDEN_FIELDS",
    "RULE_COMPLETE",
    "RULE_ONLY",
    "RULE_RECENT",
    "RULE_TIE",
    "RULE_TRUSTED",
    "AuditPage",
    "GoldenValue",
    "PersonHistory",
    "PersonView",
    "StewardshipService",
    "UnlinkResult",
    "UnmergeResult",
    "detach_record",
    "golden_record",
    "merge_persons",
    "person_view",
    "record_json",
]

GOLDEN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Record) if f.name != "record_id")
"""The demographic fields of the golden view."""

RULE_ONLY = "only source"
RULE_TRUSTED = "most trusted source"
RULE_COMPLETE = "most complete"
RULE_RECENT = "most recent"
RULE_TIE = "tie (domain and id)"


@dataclass(frozen=True, slots=True)
class GoldenValue:
    """One field of the golden view and where it came from.

    Attributes:
        field: the demographic field (a :class:`~matching.record.Record` attribute).
        value: the chosen value.
        source: the record it was taken from.
        rule: the survivorship rule that chose it (see the module docstring).
    """

    field: str
    value: str
    source: SourceRecordRef
    rule: str


@dataclass(frozen=True, slots=True)
class PersonView:
    """A person with its golden view, source records and links."""

    person: Person
    golden: tuple[GoldenValue, ...]
    records: tuple[SourceRecord, ...]
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class UnmergeResult:
    """The two persons after an unmerge, and the merge that was undone."""

    merge: PersonMerge
    survivor: PersonView
    restored: PersonView


@dataclass(frozen=True, slots=True)
class UnlinkResult:
    """The person a record left, and the new person it now forms alone."""

    person: PersonView
    new_person: PersonView


@dataclass(frozen=True, slots=True)
class PersonHistory:
    """Everything that happened to a person: merges and audit entries (newest first)."""

    person: Person
    merges: tuple[PersonMerge, ...]
    events: tuple[AuditEntry, ...]


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of the audit trail and the number of matching entries."""

    items: tuple[AuditEntry, ...]
    total: int


def _completeness(name: str, value: str) -> int:
    if name == "birth_date":
        return len(value)
    if name in ("given_name", "middle_name", "family_name"):
        return 0 if len(value.strip(". ")) <= 1 else 1
    return 1


def golden_record(
    records: Sequence[SourceRecord], trusted_domains: frozenset[str]
) -> tuple[GoldenValue, ...]:
    """The golden view of a person's records by the survivorship rules of this module.

    Args:
        records: the person's records (subsumed ones are ignored).
        trusted_domains: namespaces of trusted domains.
    """
    active = [r for r in records if r.status is RecordStatus.ACTIVE]
    out: list[GoldenValue] = []
    for name in GOLDEN_FIELDS:
        candidates = [(r, getattr(r.demographics, name)) for r in active]
        present = [(r, v) for r, v in candidates if v]
        if not present:
            continue
        keys = [
            (
                r.ref.domain in trusted_domains,
                _completeness(name, v),
                r.updated_at,
                _descending(r.ref),
            )
            for r, v in present
        ]
        order = sorted(range(len(present)), key=lambda i: keys[i], reverse=True)
        best = order[0]
        rule = RULE_ONLY if len(present) == 1 else _deciding_rule(keys, best, order[1])
        record, value = present[best]
        out.append(GoldenValue(name, value, record.ref, rule))
    return tuple(out)


def _descending(ref: SourceRecordRef) -> tuple[tuple[int, ...], tuple[int, ...]]:
    # Sorting is reversed for the rules; invert code points so the smallest ref wins ties.
    return tuple(-ord(c) for c in ref.domain), tuple(-ord(c) for c in ref.id)


def _deciding_rule(keys: list[tuple[bool, int, datetime, Any]], best: int, runner_up: int) -> str:
    """The first rule on which the winner beats the closest competitor."""
    for position, rule in enumerate((RULE_TRUSTED, RULE_COMPLETE, RULE_RECENT)):
        if keys[best][position] != keys[runner_up][position]:
            return rule
    return RULE_TIE


class StewardshipService:
    """Person-level operations of data stewards (the HTTP API's ``/api/persons``).

    Args:
        ctx: settings, store and clock.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- reads ---------------------------------------------------------------------------------

    def view(self, enterprise_id: str) -> PersonView:
        """The person's golden view, source records and links.

        Raises:
            NotFound: no person has this enterprise id.
        """
        with self.ctx.store.unit_of_work(readonly=True) as uow:
            return person_view(uow, enterprise_id)

    def history(self, enterprise_id: str, *, limit: int = 500) -> PersonHistory:
        """The person's merges and the audit entries about it and its current records.

        Raises:
            NotFound: no person has this enterprise id.
        """
        with self.ctx.store.unit_of_work(readonly=True) as uow:
            person = uow.persons.require(enterprise_id)
            merges = uow.merges.history(enterprise_id)
            events = list(
                uow.audit.list(entity_type="person", entity_id=enterprise_id, limit=limit)
            )
            for link in uow.links.for_person(enterprise_id):
                events += uow.audit.list(
                    entity_type="record", entity_id=str(link.record), limit=limit
                )
            events.sort(key=lambda e: e.id or 0, reverse=True)
            return PersonHistory(person, tuple(merges), tuple(events[:limit]))

    def audit(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> AuditPage:
        """A page of the audit trail (newest first) with every given filter applied."""
        with self.ctx.store.unit_of_work(readonly=True) as uow:
            filters: dict[str, Any] = {
                "entity_type": entity_type,
                "entity_id": entity_id,
                "action": action,
                "since": since,
            }
            items = uow.audit.list(**filters, offset=offset, limit=limit)
            return AuditPage(tuple(items), uow.audit.count(**filters))

    # -- changes -------------------------------------------------------------------------------

    def merge(
        self, survivor: str, subsumed: str, *, actor: str, reason: str | None = None
    ) -> PersonView:
        """Merge ``subsumed`` into ``survivor``: all its records move; unmerge can undo it.

        Raises:
            NotFound: either person does not exist.
            InvalidState: the same person, or either is already merged.
        """

        def work(uow: UnitOfWork) -> PersonView:
            merge_persons(uow, self.ctx, survivor, subsumed, actor=actor, reason=reason)
            return person_view(uow, survivor)

        return self.ctx.store.run(work)

    def unmerge(self, survivor: str, *, actor: str, reason: str | None = None) -> UnmergeResult:
        """Undo the last merge into ``survivor``: both persons and their links as they were.

        Raises:
            NotFound: no such person.
            InvalidState: nothing to undo, or the survivor was itself merged since.
        """

        def work(uow: UnitOfWork) -> UnmergeResult:
            before = _refs(uow, survivor)
            merge = uow.merges.unmerge(survivor, by=actor)
            restored = merge.subsumed
            snapshot_after = {"records": _refs(uow, survivor), "restored": restored}
            _audit(
                uow,
                actor,
                "person.unmerge",
                survivor,
                {"records": before, "merge": merge.id},
                snapshot_after,
                reason,
            )
            _audit(
                uow,
                actor,
                "person.restore",
                restored,
                {"status": PersonStatus.MERGED.value, "merged_into": survivor},
                {"status": PersonStatus.ACTIVE.value, "records": _refs(uow, restored)},
                reason,
            )
            queue_xref_change(uow, self.ctx.settings, survivor)
            queue_xref_change(uow, self.ctx.settings, restored)
            return UnmergeResult(merge, person_view(uow, survivor), person_view(uow, restored))

        return self.ctx.store.run(work)

    def unlink(
        self,
        enterprise_id: str,
        ref: SourceRecordRef,
        *,
        actor: str,
        reason: str | None = None,
    ) -> UnlinkResult:
        """Take a record out of the person: it becomes a person of its own (a manual link).

        Raises:
            NotFound: no such person, or the record is not linked to it.
            InvalidState: the person is merged, or the record is its only one.
        """

        def work(uow: UnitOfWork) -> UnlinkResult:
            new_eid = detach_record(uow, self.ctx, enterprise_id, ref, actor=actor, reason=reason)
            return UnlinkResult(person_view(uow, enterprise_id), person_view(uow, new_eid))

        return self.ctx.store.run(work)


# -- building blocks shared with the review service --------------------------------------------


def person_view(uow: UnitOfWork, enterprise_id: str) -> PersonView:
    """The person's view inside ``uow``.

    Raises:
        NotFound: no person has this enterprise id.
    """
    person = uow.persons.require(enterprise_id)
    records = uow.records.for_person(enterprise_id)
    links = uow.links.for_person(enterprise_id)
    trusted = frozenset(d.namespace for d in uow.domains.all() if d.trusted)
    return PersonView(person, golden_record(records, trusted), tuple(records), tuple(links))


def merge_persons(
    uow: UnitOfWork,
    ctx: ServiceContext,
    survivor: str,
    subsumed: str,
    *,
    actor: str,
    reason: str | None,
) -> PersonMerge:
    """Merge two persons with audit and ITI-10, inside ``uow``."""
    before = {
        "records": _refs(uow, survivor),
        "from": subsumed,
        "from_records": _refs(uow, subsumed),
    }
    merge = uow.merges.merge(survivor, subsumed, by=actor, reason=reason)
    after = {"records": _refs(uow, survivor), "merge": merge.id}
    _audit(uow, actor, "person.merge", survivor, before, after, reason)
    _audit(
        uow,
        actor,
        "person.merged",
        subsumed,
        {"status": PersonStatus.ACTIVE.value, "records": before["from_records"]},
        {"status": PersonStatus.MERGED.value, "merged_into": survivor},
        reason,
    )
    queue_xref_change(uow, ctx.settings, survivor)
    return merge


def detach_record(
    uow: UnitOfWork,
    ctx: ServiceContext,
    enterprise_id: str,
    ref: SourceRecordRef,
    *,
    actor: str,
    reason: str | None,
) -> str:
    """Move ``ref`` out of the person into a new person of its own; returns the new enterprise id.

    Raises:
        NotFound: no such person, or the record is not linked to it.
        InvalidState: the person is merged, or the record is its only one.
    """
    person = uow.persons.require(enterprise_id, for_update=True)
    if person.status is not PersonStatus.ACTIVE:
        raise InvalidState(
            "person", enterprise_id, f"is merged into {person.merged_into}: use that person"
        )
    link = uow.links.get(ref)
    if link is None or link.enterprise_id != enterprise_id:
        raise NotFound("source record", str(ref), f"is not linked to person {enterprise_id}")
    if uow.persons.record_count(enterprise_id) <= 1:
        raise InvalidState(
            "source record", str(ref), f"is the only record of {enterprise_id}: nothing to unlink"
        )
    new = uow.persons.create().enterprise_id
    _audit(uow, actor, "person.create", new, None, {"record": str(ref)}, reason)
    uow.links.link(ref, new, score=1.0, method=LinkMethod.MANUAL, by=actor)
    uow.audit.append(
        AuditEntry(
            actor,
            "link.move",
            "record",
            str(ref),
            {"enterprise_id": enterprise_id, "method": link.method.value, "score": link.score},
            {"enterprise_id": new, "method": LinkMethod.MANUAL.value, "score": 1.0},
            reason,
        )
    )
    _audit(
        uow,
        actor,
        "person.unlink",
        enterprise_id,
        {"records": [*_refs(uow, enterprise_id), str(ref)]},
        {"records": _refs(uow, enterprise_id), "new_person": new},
        reason,
    )
    _remember_apart(uow, ctx, ref, enterprise_id, actor=actor, reason=reason)
    queue_xref_change(uow, ctx.settings, enterprise_id)
    queue_xref_change(uow, ctx.settings, new)
    return new


def _remember_apart(
    uow: UnitOfWork,
    ctx: ServiceContext,
    ref: SourceRecordRef,
    enterprise_id: str,
    *,
    actor: str,
    reason: str | None,
) -> None:
    """Record "not the same patient" between ``ref`` and the records left in the person.

    Without it the matcher would join them again on the next update (A08) of a
    record left behind. Stored as decided ``no-match`` review tasks: the matcher
    skips such pairs, they are never proposed again, and ``mpi train`` learns
    from them.
    """
    moved = uow.records.require(ref)
    for other in uow.records.for_person(enterprise_id):
        score = ctx.matcher.score(moved.demographics, [other.demographics])[0]
        task = uow.reviews.propose(ref, other.ref, score.match_probability, explanation(score))
        if task is not None:
            uow.reviews.decide(
                task.id,
                ReviewDecision.NO_MATCH,
                by=actor,
                reason=f"unlink from {enterprise_id}" + (f": {reason}" if reason else ""),
            )


def record_json(record: SourceRecord) -> dict[str, Any]:
    """A record's demographics as JSON (the fields the matcher compares)."""
    values = asdict(record.demographics)
    del values["record_id"]
    return values


def _refs(uow: UnitOfWork, enterprise_id: str) -> list[str]:
    return [str(link.record) for link in uow.links.for_person(enterprise_id)]


def _audit(
    uow: UnitOfWork,
    actor: str,
    action: str,
    enterprise_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
) -> None:
    uow.audit.append(AuditEntry(actor, action, "person", enterprise_id, before, after, reason))
