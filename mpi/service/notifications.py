"""ITI-10 PIX update notifications, queued in the outbox of the change's own transaction.

Every service that changes a person's cross-reference set (a record linked,
unlinked, subsumed, persons merged or unmerged) calls :func:`queue_xref_change`
for that person before committing. The notifier (:mod:`mpi.notify`) sends what
was committed; a rolled-back change leaves nothing queued.

Who gets what (IHE ITI TF-2a 3.10): a subscriber gets an ``ADT^A31`` only if the
person has at least one id in the subscriber's domains of interest; PID-3 then
holds exactly those ids (of active records; subsumed ids are gone) and the
enterprise id when the subscriber lists the enterprise namespace. PID-5 is the
name of the person's most recently updated record (or the IHE pseudonym).
"""

from __future__ import annotations

from collections.abc import Iterable

from hl7.model import AssigningAuthority, Identifier, PatientDemographics, PersonName
from hl7.responses import build_a31
from matching.record import Record
from mpi.domain import IdentityDomain, PersonStatus, RecordStatus, SourceRecord, SourceSystem
from mpi.settings import Settings, SubscriberSettings
from mpi.store import UnitOfWork

__all__ = ["queue_xref_change", "queue_xref_changes", "subscriber_identifiers"]


def queue_xref_change(uow: UnitOfWork, settings: Settings, enterprise_id: str) -> None:
    """Queue one ``ADT^A31`` per interested subscriber for the person, in ``uow``'s transaction.

    A person that does not exist or was merged away gets nothing (its survivor is
    notified by the merge itself).

    Args:
        uow: the unit of work making the change (not committed here).
        settings: subscribers, enterprise domain and MSH-3/MSH-4 of the notifications.
        enterprise_id: the person whose cross-references changed.
    """
    queue_xref_changes(uow, settings, [enterprise_id])


def queue_xref_changes(uow: UnitOfWork, settings: Settings, enterprise_ids: Iterable[str]) -> None:
    """:func:`queue_xref_change` for several persons (the feed's runs), in that order, with one
    read of the persons, one of their records and one write of the outbox for all of them
    (one by one, a run of 16 registrations spent a fifth of its time here)."""
    if not settings.subscribers:
        return
    persons = list(dict.fromkeys(enterprise_ids))
    found = uow.persons.get_many(persons)
    active = [
        e for e in persons if (p := found.get(e)) is not None and p.status is PersonStatus.ACTIVE
    ]
    records_of = {
        eid: [r for r in records if r.status is RecordStatus.ACTIVE]
        for eid, records in uow.records.for_persons(active).items()
    }
    domains = _domains(
        uow, settings, {r.ref.domain for records in records_of.values() for r in records}
    )
    changes: list[tuple[str, dict[SourceSystem, bytes]]] = []
    for enterprise_id in active:
        records = records_of.get(enterprise_id, [])
        names = _names(records)
        payloads: dict[SourceSystem, bytes] = {}
        for sub in settings.subscribers:
            ids = subscriber_identifiers(sub, settings, enterprise_id, records, domains)
            if not ids:
                continue
            payloads[sub.system] = build_a31(
                PatientDemographics(identifiers=ids, names=names),
                sending_application=settings.server.receiving_application,
                sending_facility=settings.server.receiving_facility,
                receiving_application=sub.application,
                receiving_facility=sub.facility,
            )
        changes.append((enterprise_id, payloads))
    uow.outbox.enqueue_many(changes)


def subscriber_identifiers(
    subscriber: SubscriberSettings,
    settings: Settings,
    enterprise_id: str,
    records: list[SourceRecord],
    domains: dict[str, IdentityDomain],
) -> tuple[Identifier, ...]:
    """PID-3 for one subscriber: its domains' ids among ``records`` (+ the enterprise id)."""
    wanted = set(subscriber.domains)
    ids: list[Identifier] = []
    enterprise = settings.enterprise
    if enterprise.namespace in wanted:
        authority = AssigningAuthority(enterprise.namespace, enterprise.oid, enterprise.oid_type)
        ids.append(Identifier(enterprise_id, authority, "PI"))
    for record in sorted(records, key=lambda r: r.ref):
        if record.ref.domain not in wanted or record.ref.domain == enterprise.namespace:
            continue
        ids.append(Identifier(record.ref.id, _authority(record.ref.domain, domains), "PI"))
    return tuple(ids)


def _domains(
    uow: UnitOfWork, settings: Settings, namespaces: set[str]
) -> dict[str, IdentityDomain]:
    """The domains of these namespaces: configured ones from the settings, others stored."""
    known = {d.namespace: d for d in settings.identity_domains()}
    for namespace in namespaces - known.keys():
        stored = uow.domains.get(namespace)
        if stored is not None:
            known[namespace] = stored
    return known


def _authority(namespace: str, domains: dict[str, IdentityDomain]) -> AssigningAuthority:
    domain = domains.get(namespace)
    if domain is None or domain.oid is None:
        return AssigningAuthority(namespace)
    return AssigningAuthority(namespace, domain.oid, domain.oid_type or "")


def _names(records: list[SourceRecord]) -> tuple[PersonName, ...]:
    if not records:
        return ()
    latest = max(records, key=lambda r: (r.updated_at, r.pk)).demographics
    name = _person_name(latest)
    return (name,) if not name.is_empty else ()


def _person_name(record: Record) -> PersonName:
    return PersonName(
        family=record.family_name or "",
        given=record.given_name or "",
        middle=record.middle_name or "",
        name_type="L",
    )
