"""ITI-8 Patient Identity Feed: register (A01/A04/A05), update (A08), merge (A40).

Entry point for the network layer::

    handler = FeedHandler(ctx)                  # ctx from mpi.service.open_context
    ack = handler.handle(request, raw)   # request = hl7.messages.parse_request(decode(raw))
    ack = handler.handle_bytes(raw)      # or let it decode and parse too

Both are synchronous (the listener runs them in a thread pool) and never raise:
every outcome is an original-mode ``ACK`` (MSH-3/4 = the configured
``[server]`` names):

* ``AA``: the change (record, blocking keys, links, review tasks, audit, ITI-10
  outbox, message log) was committed in ONE unit of work before the ACK was built
  and returned; a failing commit gives ``AR 207`` and nothing is stored.
* ``AE 204`` at ``PID^1^3^<rep>^4``: unknown domain, or a domain the sender may
  not assign ids in; ``AE 204`` at ``MRG^1^1^1^1``: unknown or already subsumed
  prior id (A40); nothing is stored.
* ``AE 205`` at ``MSH^1^10``: the control id was already used by a different
  message from the same sender. The same message again gets the stored answer
  and changes nothing (idempotent re-delivery).
* ``AR 200/201``: not an ITI-8 message type or event (the parser's errors keep
  their code, location and AE/AR, e.g. ``AE 101`` for a missing PID-5).
* ``AR 207``: the database failed.

Behaviour decided where the TF leaves it open: A01/A04/A05 for a registered id
update it (as A08); A08 for an unknown id registers it; A40 registers the
surviving id from its PID if it is new; records linked along with the subsumed
id stay with its person, which is merged into the survivor's person.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from hl7.codec import decode
from hl7.errors import (
    DuplicateKeyError,
    ErrorLocation,
    Hl7Error,
    InternalError,
    UnknownKeyError,
    UnsupportedEventError,
    UnsupportedMessageTypeError,
)
from hl7.messages import (
    MergeGroup,
    MessageHeader,
    PatientFeed,
    PatientMerge,
    Request,
    parse_request,
    peek_header,
)
from hl7.model import AssigningAuthority, Identifier
from hl7.responses import build_ack
from matching.record import Record
from mpi.domain import (
    AuditEntry,
    LinkMethod,
    NewSourceRecord,
    RecordStatus,
    ReviewTask,
    SourceRecord,
    SourceRecordRef,
    SourceSystem,
)
from mpi.errors import Conflict, MpiError, NotFound
from mpi.service.context import ServiceContext
from mpi.service.linking import Decision, decide, explanation, lock_names
from mpi.service.notifications import queue_xref_change
from mpi.service.registry import DomainCache, DomainRegistry, ResolvedPatient, pid_json
from mpi.store import UnitOfWork

__all__ = [
    "FeedHandler",
    "FeedOutcome",
    "FeedService",
    "actor_of",
    "link_audit",
    "record_snapshot",
    "review_audit",
    "sender_of",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeedOutcome:
    """What one message changed (for tests, logs and the load summary).

    Attributes:
        created: records registered.
        updated: records updated.
        persons_created: new enterprise persons.
        links: records linked to an existing person (auto or by identifier).
        reviews: review tasks opened.
        moved: records whose link moved to another person (A08, A40).
        notified: persons whose cross-references changed (ITI-10 queued).
        replayed: the message was answered before; nothing changed.
    """

    created: int = 0
    updated: int = 0
    persons_created: int = 0
    links: int = 0
    reviews: int = 0
    moved: int = 0
    notified: set[str] = field(default_factory=set)
    replayed: bool = False


class _Replay(Exception):
    """The message was answered already (raised to leave the unit of work unchanged)."""

    def __init__(self, response: bytes) -> None:
        self.response = response


class FeedService:
    """The ITI-8 operations on the index, each inside a caller's unit of work.

    Args:
        ctx: settings, store, matcher, clock.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.domains = DomainCache()

    # -- one message ---------------------------------------------------------------------------

    def process(
        self, uow: UnitOfWork, request: PatientFeed | PatientMerge, digest: str
    ) -> tuple[bytes, FeedOutcome]:
        """Apply the message and log its AA (the caller commits, then sends the answer).

        Raises:
            Hl7Error: the message is refused; roll back.
            _Replay: answered before.
        """
        h = request.header
        sender = sender_of(h)
        seen = uow.messages.get(sender, h.control_id)
        if seen is not None:
            if seen.digest == digest:
                raise _Replay(seen.response)
            raise DuplicateKeyError(
                "MSH-10",
                h.control_id,
                "was already used by another message from this sender",
                location=ErrorLocation("MSH", 1, 10),
            )
        outcome = FeedOutcome()
        registry = DomainRegistry(uow, self.ctx.settings, sender, self.domains.get(uow))
        if isinstance(request, PatientMerge):
            for group in request.groups:
                for rep, prior in enumerate(group.subsumed_identifiers, start=1):
                    self.merge(uow, registry, group, rep, prior, outcome, sender)
        else:
            resolved = registry.resolve_patient(request.patient)
            self.register_or_update(uow, resolved, outcome, actor_of(sender))
        if registry.registered:
            # Re-read after this commit; a rolled-back registration leaves no trace.
            self.domains.invalidate()
        for enterprise_id in sorted(outcome.notified):
            queue_xref_change(uow, self.ctx.settings, enterprise_id)
        response = self.ack(h)
        try:
            uow.messages.record(sender, h.control_id, digest, response)
        except Conflict:
            # The same message on another connection, committed first: answer as it was.
            raise _Retry() from None
        return response, outcome

    # -- register / update -------------------------------------------------------------------

    def register_or_update(
        self, uow: UnitOfWork, resolved: ResolvedPatient, outcome: FeedOutcome, actor: str
    ) -> SourceRecord:
        """Register the record or update it, then (re)decide its person."""
        ref = resolved.ref
        demographics = resolved.patient.to_record(str(ref))
        new = NewSourceRecord(ref, demographics, pid_json(resolved.patient), resolved.identifiers)
        return self.apply_record(uow, new, resolved.trusted, resolved.mothers, outcome, actor)

    def apply_record(
        self,
        uow: UnitOfWork,
        new: NewSourceRecord,
        trusted: tuple[SourceRecordRef, ...],
        mothers: tuple[SourceRecordRef, ...],
        outcome: FeedOutcome,
        actor: str,
    ) -> SourceRecord:
        """Register or update one source record and (re)decide its person (serialised by locks).

        Args:
            uow: the unit of work (the caller commits).
            new: the record as it should be stored.
            trusted: its ids in trusted domains (deterministic links).
            mothers: its mother's records (linked when registered).
            outcome: counts to update.
            actor: who is doing it, for the audit trail.

        Raises:
            UnknownKeyError: the id was subsumed by another (A40).
        """
        ref, demographics = new.ref, new.demographics
        keys = self.ctx.matcher.lookup_keys(demographics)
        uow.locks.acquire(lock_names(keys, [*trusted, ref]))
        existing = uow.records.get(ref, for_update=True)
        if existing is not None and existing.status is RecordStatus.SUBSUMED:
            raise UnknownKeyError(
                "PID-3",
                str(ref),
                f"was merged into {existing.subsumed_by} (A40): send the surviving id",
                location=ErrorLocation("PID", 1, 3, 1, 1),
            )
        if existing is None:
            record = uow.records.add(new)
            outcome.created += 1
            self._audit(uow, actor, "record.register", "record", str(ref), None, _snapshot(record))
        else:
            record = uow.records.update(new)
            outcome.updated += 1
            self._audit(
                uow,
                actor,
                "record.update",
                "record",
                str(ref),
                _snapshot(existing),
                _snapshot(record),
            )
        uow.blocking.replace(ref, self.ctx.matcher.blocking_keys(demographics))
        self._mothers(uow, ref, mothers, actor)
        self._link(uow, record, trusted, existing is not None, outcome, actor)
        return record

    def _link(
        self,
        uow: UnitOfWork,
        record: SourceRecord,
        trusted: tuple[SourceRecordRef, ...],
        known: bool,
        outcome: FeedOutcome,
        actor: str,
    ) -> None:
        current = uow.links.get(record.ref) if known else None
        if current is not None and current.method is LinkMethod.MANUAL:
            return  # a person decided: only a person may move it
        decision = decide(uow, self.ctx.matcher, record, trusted, known=known)
        if current is not None:
            here = uow.persons.resolve(current.enterprise_id).enterprise_id
            if here in decision.linkable:
                return  # still belongs where it is
            if decision.enterprise_id is None and uow.persons.record_count(here) <= 1:
                self._reviews(uow, record, decision, outcome, actor)
                return  # alone in its person already: nothing to move
        target = decision.enterprise_id
        if target is None:
            target = uow.persons.create().enterprise_id
            outcome.persons_created += 1
            self._audit(
                uow, actor, "person.create", "person", target, None, {"record": str(record.ref)}
            )
            method, score = LinkMethod.AUTO, 1.0
        else:
            outcome.links += 1
            assert decision.method is not None
            method, score = decision.method, decision.score
        link = uow.links.link(record.ref, target, score=score, method=method, by=actor)
        after = link_audit(target, method, score, decision.via)
        before = None
        if current is not None:
            before = {"enterprise_id": current.enterprise_id, "method": current.method.value}
            outcome.moved += 1
            outcome.notified.add(current.enterprise_id)
        self._audit(
            uow,
            actor,
            "link.move" if before else "link.create",
            "record",
            str(link.record),
            before,
            after,
        )
        outcome.notified.add(target)
        self._reviews(uow, record, decision, outcome, actor)

    def _reviews(
        self,
        uow: UnitOfWork,
        record: SourceRecord,
        decision: Decision,
        outcome: FeedOutcome,
        actor: str,
    ) -> None:
        for candidate, score in decision.reviews:
            task = uow.reviews.propose(
                record.ref, candidate.ref, score.match_probability, explanation(score)
            )
            if task is not None:
                outcome.reviews += 1
                uow.audit.append(review_audit(actor, task))

    def _mothers(
        self,
        uow: UnitOfWork,
        child: SourceRecordRef,
        mothers: tuple[SourceRecordRef, ...],
        actor: str,
    ) -> None:
        for mother in mothers:
            try:
                found = uow.records.get(mother)
            except NotFound:  # an unregistered domain
                continue
            if found is None or found.ref == child or mother in uow.relations.mothers_of(child):
                continue
            uow.relations.add_mother(child, mother)
            self._audit(
                uow, actor, "relation.mother", "record", str(child), None, {"mother": str(mother)}
            )

    # -- merge (A40) ---------------------------------------------------------------------------

    def merge(
        self,
        uow: UnitOfWork,
        registry: DomainRegistry,
        group: MergeGroup,
        repetition: int,
        prior_cx: Identifier,
        outcome: FeedOutcome,
        sender: SourceSystem,
    ) -> None:
        """Subsume one MRG-1 id (``repetition``) into the PID-3 id; their persons become one."""
        actor = actor_of(sender)
        resolved = registry.resolve_patient(group.patient, group.pid_sequence)
        location = ErrorLocation("MRG", group.mrg_sequence, 1, repetition, 1)
        prior_ref = registry.resolve_prior(
            prior_cx, resolved.ref, ErrorLocation("MRG", group.mrg_sequence, 1, repetition, 4)
        )
        uow.locks.acquire([f"record:{prior_ref}", f"record:{resolved.ref}"])
        prior = uow.records.get(prior_ref, for_update=True)
        if prior is None or prior.status is not RecordStatus.ACTIVE or prior_ref == resolved.ref:
            rule = "is not a registered active id (unknown, or already merged)"
            if prior_ref == resolved.ref:
                rule = "must differ from the surviving id in PID-3"
            raise UnknownKeyError("MRG-1", str(prior_ref), rule, location=location)
        survivor = uow.records.get(resolved.ref, for_update=True)
        if survivor is None or survivor.status is not RecordStatus.ACTIVE:
            if survivor is not None:
                raise UnknownKeyError(
                    "PID-3",
                    str(resolved.ref),
                    "was itself merged into another id",
                    location=ErrorLocation("PID", group.pid_sequence, 3, 1, 1),
                )
            survivor = self.register_or_update(uow, resolved, outcome, actor)
        survivor_person = uow.links.get(resolved.ref)
        assert survivor_person is not None
        survivor_eid = uow.persons.resolve(survivor_person.enterprise_id).enterprise_id
        old_eid = prior.enterprise_id
        uow.records.subsume(prior_ref, resolved.ref)
        self._audit(
            uow,
            actor,
            "record.subsume",
            "record",
            str(prior_ref),
            {"enterprise_id": old_eid, "status": "active"},
            {"subsumed_by": str(resolved.ref), "status": "subsumed"},
        )
        outcome.notified.add(survivor_eid)
        if old_eid is None:
            return
        old_eid = uow.persons.resolve(old_eid).enterprise_id
        if old_eid != survivor_eid:
            outcome.notified.add(old_eid)
            if uow.links.for_person(old_eid):
                uow.merges.merge(
                    survivor_eid,
                    old_eid,
                    by=actor,
                    reason=f"ITI-8 A40: {prior_ref} -> {resolved.ref}",
                )
                outcome.moved += 1
                self._audit(
                    uow, actor, "person.merge", "person", survivor_eid, None, {"merged": old_eid}
                )

    # -- helpers -------------------------------------------------------------------------------

    def ack(self, header: MessageHeader, error: Hl7Error | None = None) -> bytes:
        """The original-mode ACK of a message (AA without ``error``)."""
        server = self.ctx.settings.server
        return build_ack(
            header,
            error,
            application=server.receiving_application,
            facility=server.receiving_facility,
            now=self.ctx.clock(),
        )

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        uow.audit.append(AuditEntry(actor, action, entity_type, entity_id, before, after))


class _Retry(Exception):
    """Another connection logged the same message first: read its answer."""


class FeedHandler:
    """The MLLP adapter of the feed: request in, ACK bytes out, never raising.

    Args:
        ctx: the service context.
        attempts: how often a unit of work is tried on transient database failures.
    """

    def __init__(self, ctx: ServiceContext, *, attempts: int = 5) -> None:
        self.ctx = ctx
        self.service = FeedService(ctx)
        self.attempts = attempts
        self.last_outcome: FeedOutcome | None = None

    def handle_bytes(self, raw: bytes) -> bytes:
        """Decode, parse and handle one message (an MLLP frame's payload)."""
        try:
            request = parse_request(decode(raw))
        except Hl7Error as e:
            header = peek_header(raw)
            if header is None:
                header = _EMPTY_HEADER
            return self.service.ack(header, e)
        return self.handle(request, raw)

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Handle a parsed ITI-8 request; ``raw`` is its bytes (for the idempotency digest)."""
        if not isinstance(request, PatientFeed | PatientMerge):
            return self.service.ack(request.header, _not_feed(request.header))
        digest = hashlib.sha256(raw).hexdigest()
        for _ in range(2):
            try:
                response, outcome = self.ctx.store.run(
                    lambda uow: self.service.process(uow, request, digest), attempts=self.attempts
                )
            except _Replay as e:
                self.last_outcome = FeedOutcome(replayed=True)
                return e.response
            except _Retry:
                continue
            except Hl7Error as e:
                return self._refused(request.header, e)
            except MpiError as e:
                log.exception(
                    "ITI-8 %s from %s refused",
                    request.header.control_id,
                    actor_of(sender_of(request.header)),
                )
                return self._refused(request.header, _as_hl7(e))
            except Exception as e:  # an answer is owed whatever failed
                log.exception("ITI-8 %s failed", request.header.control_id)
                error = InternalError(
                    "", None, f"the message could not be processed ({type(e).__name__})"
                )
                return self.service.ack(request.header, error)
            self.last_outcome = outcome
            return response
        error = InternalError(
            "", None, "the message could not be processed (concurrent re-delivery)"
        )
        return self.service.ack(request.header, error)

    def _refused(self, header: MessageHeader, error: Hl7Error) -> bytes:
        log.info("ITI-8 %s refused: %s", header.control_id, error)
        self.last_outcome = FeedOutcome()
        return self.service.ack(header, error)


def _not_feed(header: MessageHeader) -> Hl7Error:
    if header.message_code != "ADT":
        return UnsupportedMessageTypeError(
            "MSH-9.1",
            header.message_code,
            "must be ADT for the patient identity feed",
            location=ErrorLocation("MSH", 1, 9, 1, 1),
        )
    return UnsupportedEventError(
        "MSH-9.2",
        header.trigger_event,
        "must be A01, A04, A05, A08 or A40 for the patient identity feed",
        location=ErrorLocation("MSH", 1, 9, 1, 2),
    )


def _as_hl7(error: MpiError) -> Hl7Error:
    if isinstance(error, NotFound):
        return UnknownKeyError("", None, str(error))
    return InternalError("", None, str(error))


def sender_of(h: MessageHeader) -> SourceSystem:
    """The sending system of a message (MSH-3, MSH-4 namespaces)."""
    return SourceSystem(h.sending_application.namespace, h.sending_facility.namespace)


def actor_of(sender: SourceSystem) -> str:
    """How the audit trail names a sending system."""
    return f"{sender.application}|{sender.facility}"


def _snapshot(record: SourceRecord) -> dict[str, Any]:
    return record_snapshot(record.demographics, record.identifiers)


def record_snapshot(demographics: Record, identifiers: Iterable[SourceRecordRef]) -> dict[str, Any]:
    """The audit trail's view of a record: its fields and the ids it carries (as stored)."""
    values = asdict(demographics)
    del values["record_id"]
    values["identifiers"] = [str(i) for i in identifiers]
    return values


def link_audit(
    target: str, method: LinkMethod, score: float, via: SourceRecordRef | None
) -> dict[str, Any]:
    """The audit trail's ``after`` of a link made by the feed."""
    return {
        "enterprise_id": target,
        "method": method.value,
        "score": score,
        "via": str(via) if via else None,
    }


def review_audit(actor: str, task: ReviewTask) -> AuditEntry:
    """The audit entry of a review task the feed opened."""
    return AuditEntry(
        actor,
        "review.propose",
        "review",
        str(task.id),
        None,
        {"left": str(task.left), "right": str(task.right), "score": task.score},
    )


_EMPTY_HEADER = MessageHeader(
    AssigningAuthority(),
    AssigningAuthority(),
    AssigningAuthority(),
    AssigningAuthority(),
    timestamp="",
    message_code="ACK",
    trigger_event="",
    structure="",
    control_id="",
    processing_id="P",
    version="2.5",
)
