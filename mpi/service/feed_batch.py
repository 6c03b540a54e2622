"""The feed's batched path: many new registrations decided and written together.

Under load the group-commit writer (:mod:`mpi.mllp.group_commit`) holds dozens of
ITI-8 messages at once. Most of them are plain registrations of ids the index has
never seen; :meth:`BatchRegistrar.apply` takes the longest run of those at the head
of the batch and does, for the whole run, what :class:`~mpi.service.feed.FeedService`
does for one message:

* one query for the message log (a re-delivery or a reused control id ends the
  run: the one-message path answers it) and one for the ids (an id already
  registered ends the run: that is an update);
* one candidate lookup for every message's keys
  (:meth:`~mpi.store.blocking.BlockingKeyRepository.candidate_pks_many`), one read
  of the candidates and of their persons;
* each message decided in arrival order by :func:`~mpi.service.linking.choose`,
  the same decision as the one-message path, against its stored candidates *and*
  the run's earlier records that share one of its keys (two registrations of one
  patient in one run end as one person, as they would one after the other);
* one bulk insert each of records, blocking keys, persons, links, audit entries
  and message-log rows (:class:`~mpi.store.BulkLoader`); review tasks, rare, one
  by one through the review repository.

What the run does not take goes through the one-message path, in order:
A40 merges, updates of registered ids, ids in trusted domains (deterministic
links), records naming their mother (PID-21), domain errors, replays. The
caller runs the registrar inside its unit of work and commits; the answers it
returns are the AA ACKs of the run, logged in the message log like every answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hl7.errors import Hl7Error
from hl7.messages import PatientFeed, Request
from mpi.domain import (
    AuditEntry,
    LinkMethod,
    NewSourceRecord,
    RecordStatus,
    SourceRecord,
    SourceRecordRef,
    SourceSystem,
)
from mpi.service.feed import (
    FeedService,
    actor_of,
    link_audit,
    record_snapshot,
    review_audit,
    sender_of,
)
from mpi.service.linking import (
    CANDIDATE_LIMIT,
    CANDIDATE_LIMIT_PER_KEY,
    Decision,
    choose,
    explanation,
    lock_names,
)
from mpi.service.notifications import queue_xref_changes
from mpi.service.registry import DomainRegistry, pid_json
from mpi.store import BulkLink, UnitOfWork
from mpi.store.blocking import choose_candidates, hash_keys, plan_hashes

__all__ = ["BatchRegistrar"]

VECTOR_PAIRS = 300
"""From this many candidate pairs in a run on, they are scored with the vectorised
comparisons; below, one by one with the scalar scorer. Measured at 1M persons (400
feed messages, ~33 candidates each, almost all distinct): the scalar scorer takes
~100 µs a pair (each candidate normalised on first read); the vectorised one, with
:func:`~matching.prepare.prepare_records`, ~10-20 ms a call and then ~30 µs a pair
(runs of 16: 1.5 against 3.3 ms a message). It already wins at ~100 pairs (runs of
3: 2.7 against 3.3 ms a message); 300 leaves a margin for the machine's noise."""
_NEW_PERSON = "\x00new:"
"""Prefix of a person the run creates (its number follows), until the run writes it."""


@dataclass(slots=True)
class _Registration:
    """One message of the run, resolved and prepared."""

    sender: SourceSystem
    control_id: str
    digest: str
    request: PatientFeed
    new: NewSourceRecord
    plan: list[tuple[str, int]]
    stored_hashes: list[int]


class BatchRegistrar:
    """Registers a run of new records in one go; see the module docstring.

    Args:
        service: the feed service (context, domain cache, ACK building).
    """

    def __init__(self, service: FeedService) -> None:
        self.service = service
        self.ctx = service.ctx

    def apply(self, uow: UnitOfWork, items: Sequence[tuple[Request, bytes]]) -> list[bytes]:
        """Register the longest leading run of plain new registrations in ``items``.

        Runs inside the caller's unit of work and does not commit.

        Returns:
            The answers (AA ACKs) of the messages taken, in order: the first
            ``len(answers)`` items. Zero when the first item is not one.
        """
        run = self._prepare(uow, items)
        if not run:
            return []
        uow.flush()
        uow.locks.acquire(
            name for r in run for name in lock_names((key for key, _ in r.plan), [r.new.ref])
        )
        run = self._unseen(uow, run)
        if not run:
            return []
        decisions, targets, created = self._decide(uow, run)
        return self._write(uow, run, decisions, targets, created)

    # -- which messages ------------------------------------------------------------------------

    def _prepare(
        self, uow: UnitOfWork, items: Sequence[tuple[Request, bytes]]
    ) -> list[_Registration]:
        """The leading messages that are registrations with nothing special about them."""
        matcher = self.ctx.matcher
        registries: dict[SourceSystem, DomainRegistry] = {}
        domains = self.service.domains.get(uow)
        run: list[_Registration] = []
        refs: set[SourceRecordRef] = set()
        controls: set[tuple[SourceSystem, str]] = set()
        for request, raw in items:
            if not isinstance(request, PatientFeed):
                break
            sender = sender_of(request.header)
            registry = registries.get(sender)
            if registry is None:
                registry = DomainRegistry(uow, self.ctx.settings, sender, domains)
                registries[sender] = registry
            try:
                resolved = registry.resolve_patient(request.patient)
            except Hl7Error:
                break
            if registry.registered:
                break  # a new domain (development mode): the one-message path registers it
            ref = resolved.ref
            control = (sender, request.header.control_id)
            if resolved.trusted or resolved.mothers or ref in refs or control in controls:
                break
            refs.add(ref)
            controls.add(control)
            demographics = resolved.patient.to_record(str(ref))
            prepared = matcher.prepare(demographics)
            plan = matcher.lookup_plan(prepared)
            run.append(
                _Registration(
                    sender=sender,
                    control_id=request.header.control_id,
                    digest=hashlib.sha256(raw).hexdigest(),
                    request=request,
                    new=NewSourceRecord(
                        ref, demographics, pid_json(resolved.patient), resolved.identifiers
                    ),
                    plan=plan,
                    stored_hashes=list(
                        dict.fromkeys(hash_keys(matcher.blocking_keys(prepared)).tolist())
                    ),
                )
            )
        return run

    def _unseen(self, uow: UnitOfWork, run: list[_Registration]) -> list[_Registration]:
        """The run up to the first message already logged or id already registered."""
        logged = uow.messages.logged([(r.sender, r.control_id) for r in run])
        known = uow.records.existing_refs([r.new.ref for r in run])
        for n, r in enumerate(run):
            if (r.sender, r.control_id) in logged or r.new.ref in known:
                return run[:n]
        return run

    # -- deciding ------------------------------------------------------------------------------

    def _decide(
        self, uow: UnitOfWork, run: list[_Registration]
    ) -> tuple[list[Decision], list[str], int]:
        """Each message's decision, its person (``_NEW_PERSON<k>`` for the k-th the run
        creates) and how many persons the run creates."""
        matcher = self.ctx.matcher
        keys, fetch = plan_hashes([r.plan for r in run])
        stored = uow.blocking.key_groups(fetch, CANDIDATE_LIMIT_PER_KEY)
        now = uow.clock()
        targets: list[str] = []
        by_key: dict[int, list[int]] = {}  # stored key hash -> the run's records, newest first
        decisions: list[Decision] = []
        created = 0
        groups: list[list[int]] = []  # per message, its candidates (pks; the run's: -1-n)
        for n, r in enumerate(run):
            # The run's earlier records are newer than any stored one: first in their groups.
            mine = {
                h: [*by_key.get(h, ()), *stored.get(h, ())][:CANDIDATE_LIMIT_PER_KEY]
                for h, _ in keys[n]
            }
            groups.append(choose_candidates(keys[n], mine, CANDIDATE_LIMIT))
            for h in r.stored_hashes:
                by_key.setdefault(h, []).insert(0, -1 - n)
        wanted = list(dict.fromkeys(pk for group in groups for pk in group if pk >= 0))
        found, active = uow.records.match_views_and_persons(wanted)
        views = {
            v.pk: v
            for v in found
            if v.enterprise_id is not None and v.status is RecordStatus.ACTIVE
        }
        # Persons merged away stand for their survivors (most are not: no query).
        persons = {eid: eid for eid in active}
        persons.update(
            uow.persons.resolve_many(
                {
                    v.enterprise_id
                    for v in views.values()
                    if v.enterprise_id is not None and v.enterprise_id not in active
                }
            )
        )

        def person_of(candidate: SourceRecord) -> str:
            # The run's own new persons are not stored yet: they stand for themselves.
            eid = candidate.enterprise_id
            assert eid is not None
            return persons.get(eid, eid)

        # Every pair scored at once (the scores do not depend on the decisions) ...
        order = {pk: k for k, pk in enumerate(views)}
        for n in range(len(run)):
            order[-1 - n] = len(order)
        records = [r.new.demographics for r in run]
        everyone = [v.demographics for v in views.values()] + records  # in ``order``
        index = [[order[pk] for pk in group if pk in order] for group in groups]
        if sum(map(len, index)) >= VECTOR_PAIRS:
            scores = matcher.score_groups(records, everyone, index)
        else:  # few pairs: the scalar scorer has no fixed cost per call
            scores = [
                matcher.score_for_decision(record, [everyone[k] for k in mine])
                for record, mine in zip(records, index, strict=True)
            ]
        # ... then the decisions in arrival order: a record's person may be the run's own.
        for n, r in enumerate(run):
            candidates = [views[pk] for pk in groups[n] if pk in views]
            scored, guarded = scores[n]
            decision = choose(matcher, candidates, scored, guarded, person_of)
            person = decision.enterprise_id
            if person is None:
                person = f"{_NEW_PERSON}{created}"
                created += 1
            decisions.append(decision)
            targets.append(person)
            views[-1 - n] = SourceRecord(
                pk=-1 - n,
                ref=r.new.ref,
                demographics=r.new.demographics,
                pid={},
                status=RecordStatus.ACTIVE,
                enterprise_id=person,
                created_at=now,
                updated_at=now,
            )
        return decisions, targets, created

    # -- writing -------------------------------------------------------------------------------

    def _write(
        self,
        uow: UnitOfWork,
        run: list[_Registration],
        decisions: list[Decision],
        targets: list[str],
        created: int,
    ) -> list[bytes]:
        bulk = uow.bulk
        pks = bulk.insert_records([r.new for r in run])
        counts = [len(r.stored_hashes) for r in run]
        bulk.insert_key_hashes(
            np.repeat(np.asarray(pks, dtype=np.int64), counts),
            np.asarray([h for r in run for h in r.stored_hashes], dtype=np.int64),
        )
        fresh = bulk.create_persons(created)
        resolved = [
            fresh[int(t[len(_NEW_PERSON) :])] if t.startswith(_NEW_PERSON) else t for t in targets
        ]
        # How each record is linked: a person of its own is an automatic link of score 1.
        made = [
            (LinkMethod.AUTO, 1.0)
            if d.enterprise_id is None
            else (d.method or LinkMethod.AUTO, d.score)
            for d in decisions
        ]
        bulk.insert_links(
            BulkLink(pk, eid, score, method)
            for pk, eid, (method, score) in zip(pks, resolved, made, strict=True)
        )
        entries: list[AuditEntry] = []
        for r, eid, d, (method, score) in zip(run, resolved, decisions, made, strict=True):
            actor, ref = actor_of(r.sender), str(r.new.ref)
            carried = sorted(dict.fromkeys(r.new.identifiers), key=lambda i: (i.domain, i.id))
            snapshot = record_snapshot(r.new.demographics, carried)  # as the store returns them
            entries.append(AuditEntry(actor, "record.register", "record", ref, None, snapshot))
            if d.enterprise_id is None:
                entries.append(
                    AuditEntry(actor, "person.create", "person", eid, None, {"record": ref})
                )
            after = link_audit(eid, method, score, d.via)
            entries.append(AuditEntry(actor, "link.create", "record", ref, None, after))
        bulk.insert_audit(entries)
        for r, d in zip(run, decisions, strict=True):
            for candidate, pair in d.reviews:
                task = uow.reviews.propose(
                    r.new.ref, candidate.ref, pair.match_probability, explanation(pair)
                )
                if task is not None:
                    uow.audit.append(review_audit(actor_of(r.sender), task))
        # Once per person whose ids changed, in its state at commit (one after the other,
        # the messages would each have sent the state of their moment).
        queue_xref_changes(uow, self.ctx.settings, sorted(set(resolved)))
        answers = [self.service.ack(r.request.header) for r in run]
        uow.messages.record_many(
            [
                (r.sender, r.control_id, r.digest, answer)
                for r, answer in zip(run, answers, strict=True)
            ]
        )
        return answers
