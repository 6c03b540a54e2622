"""The identity-domain rules of the feed: which id in PID-3 is the record's own, and may the
sender assign it.

Decisions (IHE ITI-8, see IHE-NOTES.md §2):

* A CX.4 given by namespace, by OID, or both is completed from the registry
  (both must then name the same domain). An empty CX.4 is filled with the one
  domain the sender is the configured source of.
* The record's own id is the first PID-3 repetition in a domain the sender may
  assign ids in (a domain listing the sender among its sources, else a domain
  without sources). The enterprise domain is never a source's own domain.
* No such repetition: the first one names an unknown domain, or a domain the
  sender does not own: ``AE`` with ``ERR PID^1^3^<rep>^4`` and code 204.
* The other repetitions (and a PID-19 national id that carries its domain) are
  kept as carried ids, resolved to the registry's namespace where the domain
  is known; ids in unknown domains are carried as sent (a national id
  namespace nobody configured still helps to find the record).
* With no ``[[domain]]`` configured every domain is accepted: an unknown one is
  registered when first seen, with a logged warning (development default).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from hl7.errors import ErrorLocation, UnknownKeyError
from hl7.model import AssigningAuthority, Identifier, PatientDemographics
from mpi.domain import IdentityDomain, SourceRecordRef, SourceSystem
from mpi.errors import Conflict, UnknownDomain
from mpi.settings import Settings
from mpi.store import UnitOfWork

__all__ = ["DomainCache", "DomainRegistry", "ResolvedPatient", "pid_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResolvedPatient:
    """A PID whose identifiers were checked against the registry.

    Attributes:
        ref: the record's own id (domain namespace + id).
        patient: the PID with every resolvable CX.4 completed.
        identifiers: the carried ids (other PID-3 repetitions, PID-19 with a domain).
        trusted: the ids (own or carried) in trusted domains, for deterministic links.
        mothers: PID-21 ids (an empty CX.4 means the record's own domain).
    """

    ref: SourceRecordRef
    patient: PatientDemographics
    identifiers: tuple[SourceRecordRef, ...]
    trusted: tuple[SourceRecordRef, ...]
    mothers: tuple[SourceRecordRef, ...]


class DomainRegistry:
    """Domain checks for one message, inside the unit of work that processes it.

    Args:
        uow: the unit of work (auto-registration in development mode writes to it).
        settings: ``accepts_any_domain`` decides whether unknown domains are registered.
        sender: MSH-3/MSH-4 of the message.
        known_domains: the stored domains as read earlier (a cache, see
            :class:`DomainCache`); read from the store when ``None``.

    Attributes:
        registered: the domains this message registered (development mode).
    """

    def __init__(
        self,
        uow: UnitOfWork,
        settings: Settings,
        sender: SourceSystem,
        known_domains: Mapping[str, IdentityDomain] | None = None,
    ) -> None:
        self._uow = uow
        self._settings = settings
        self._sender = sender
        if known_domains is None:
            known_domains = {d.namespace: d for d in uow.domains.all()}
        self._domains = dict(known_domains)
        self._by_oid = {d.oid: d for d in self._domains.values() if d.oid}
        self.registered: list[IdentityDomain] = []

    def resolve_patient(
        self, patient: PatientDemographics, pid_sequence: int = 1
    ) -> ResolvedPatient:
        """Find the record's own id and resolve the other ids of a PID.

        Raises:
            UnknownKeyError: no PID-3 repetition is an id the sender may assign
                (unknown domain, a domain owned by another source, no CX.4 to fill).
        """
        own_index, own_domain = self._own(patient, pid_sequence)
        completed: list[Identifier] = []
        carried: list[SourceRecordRef] = []
        for i, cx in enumerate(patient.identifiers):
            if i == own_index:
                completed.append(_with_domain(cx, own_domain))
                continue
            domain = self.known(cx.authority)
            completed.append(_with_domain(cx, domain) if domain is not None else cx)
            ref = self._carried_ref(cx, domain)
            if ref is not None:
                carried.append(ref)
        national = patient.national_id
        if national is not None and not national.authority.is_empty:
            domain = self.known(national.authority)
            ref = self._carried_ref(national, domain)
            if ref is not None:
                carried.append(ref)
        own_cx = patient.identifiers[own_index]
        ref = SourceRecordRef(own_domain.namespace, own_cx.id)
        carried = [c for c in dict.fromkeys(carried) if c != ref]
        trusted = [r for r in (ref, *carried) if self._trusted(r.domain)]
        mothers = tuple(
            SourceRecordRef(d.namespace, cx.id)
            for cx in patient.mother_identifiers
            if cx.id
            and (d := own_domain if cx.authority.is_empty else self.known(cx.authority)) is not None
        )
        resolved = replace(patient, identifiers=tuple(completed))
        return ResolvedPatient(ref, resolved, tuple(carried), tuple(trusted), mothers)

    def resolve_prior(
        self, cx: Identifier, survivor: SourceRecordRef, location: ErrorLocation
    ) -> SourceRecordRef:
        """The subsumed id of an A40 (MRG-1): in the survivor's domain; empty CX.4 means that one.

        Raises:
            UnknownKeyError: the domain is unknown or not the survivor's.
        """
        if cx.authority.is_empty:
            return SourceRecordRef(survivor.domain, cx.id)
        domain = self._lookup(cx.authority, location, register=False)
        if domain.namespace != survivor.domain:
            raise UnknownKeyError(
                "MRG-1.4",
                str(cx.authority),
                f"must be the surviving id's domain {survivor.domain} (A40 merges within a domain)",
                location=location,
            )
        return SourceRecordRef(domain.namespace, cx.id)

    def known(self, authority: AssigningAuthority) -> IdentityDomain | None:
        """The registered domain a (possibly partial) CX.4 names, or ``None``."""
        if authority.is_empty:
            return None
        cached = self._cached(authority)
        if cached is not None:
            return cached
        try:
            found = self._uow.domains.resolve(
                authority.namespace or None, authority.universal_id or None
            )
        except UnknownDomain:
            return None
        self._domains[found.namespace] = found
        return found

    # -- helpers ---------------------------------------------------------------------------------

    def _cached(self, authority: AssigningAuthority) -> IdentityDomain | None:
        by_ns = self._domains.get(authority.namespace) if authority.namespace else None
        by_oid = self._by_oid.get(authority.universal_id) if authority.universal_id else None
        if authority.namespace and authority.universal_id:
            return by_ns if by_ns is not None and by_ns == by_oid else None
        return by_ns or by_oid

    def _own(self, patient: PatientDemographics, seq: int) -> tuple[int, IdentityDomain]:
        first_error: UnknownKeyError | None = None
        for i, cx in enumerate(patient.identifiers):
            location = ErrorLocation("PID", seq, 3, i + 1, 4)
            try:
                domain = self._domain_for(cx, location, register=first_error is None and i == 0)
            except UnknownKeyError as e:
                first_error = first_error or e
                continue
            if domain.enterprise or not domain.accepts_from(self._sender):
                first_error = first_error or self._not_owner(domain, cx, location)
                continue
            if cx.id:
                return i, domain
        assert first_error is not None or not patient.identifiers
        raise first_error or UnknownKeyError(
            "PID-3", "", "must hold an id", location=ErrorLocation("PID", seq, 3)
        )

    def _domain_for(
        self, cx: Identifier, location: ErrorLocation, *, register: bool
    ) -> IdentityDomain:
        if not cx.authority.is_empty:
            return self._lookup(cx.authority, location, register=register)
        owned = [
            d for d in self._domains.values() if not d.enterprise and self._sender in d.sources
        ]
        if len(owned) == 1:
            return owned[0]
        raise UnknownKeyError(
            "PID-3.4",
            "",
            f"(assigning authority) is required: sender {_name(self._sender)} is not the source "
            "of exactly one configured domain, so it cannot be filled in",
            location=location,
        )

    def _lookup(
        self, authority: AssigningAuthority, location: ErrorLocation, *, register: bool
    ) -> IdentityDomain:
        found = self.known(authority)
        if found is not None:
            return found
        if register and self._settings.accepts_any_domain:
            return self._register(authority, location)
        raise UnknownKeyError(
            "PID-3.4" if location.segment == "PID" else f"{location.segment}-{location.field}.4",
            str(authority),
            "is not a known identity domain (unknown namespace or OID)",
            location=location,
        )

    def _register(self, authority: AssigningAuthority, location: ErrorLocation) -> IdentityDomain:
        namespace = authority.namespace or authority.universal_id
        oid = authority.universal_id or None
        domain = IdentityDomain(
            namespace, oid, (authority.universal_id_type or "ISO") if oid else None
        )
        try:
            self._uow.domains.add(domain)
        except Conflict as e:
            found = self.known(authority)  # registered meanwhile by another connection
            if found is None:
                raise UnknownKeyError(
                    "PID-3.4", str(authority), f"cannot be registered ({e})", location=location
                ) from e
            return found
        log.warning(
            "no [[domain]] configured: registered identity domain %s (OID %s) first sent by %s",
            namespace,
            oid or "-",
            _name(self._sender),
        )
        self._domains[namespace] = domain
        self.registered.append(domain)
        return domain

    def _not_owner(
        self, domain: IdentityDomain, cx: Identifier, location: ErrorLocation
    ) -> UnknownKeyError:
        if domain.enterprise:
            rule = "is the enterprise domain: only the MPI assigns ids there"
        else:
            owners = ", ".join(_name(s) for s in domain.sources)
            rule = (
                f"is not a domain sender {_name(self._sender)} may assign ids in "
                f"(its source: {owners})"
            )
        return UnknownKeyError("PID-3.4", domain.namespace, rule, location=location)

    def _carried_ref(self, cx: Identifier, domain: IdentityDomain | None) -> SourceRecordRef | None:
        if not cx.id or cx.authority.is_empty:
            return None
        if domain is not None:
            return None if domain.enterprise else SourceRecordRef(domain.namespace, cx.id)
        return SourceRecordRef(cx.authority.namespace or cx.authority.universal_id, cx.id)

    def _trusted(self, namespace: str) -> bool:
        domain = self._domains.get(namespace)
        return domain is not None and domain.trusted


class DomainCache:
    """The stored identity domains, read once and re-read after a domain was registered.

    Domains change only when the settings are synced (at start) or when a message
    registers one in development mode; the feed calls :meth:`invalidate` then.
    Safe to share between threads (a snapshot is replaced, never changed).
    """

    def __init__(self) -> None:
        self._snapshot: Mapping[str, IdentityDomain] | None = None

    def get(self, uow: UnitOfWork) -> Mapping[str, IdentityDomain]:
        """The domains by namespace (read through ``uow`` when not cached)."""
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = {d.namespace: d for d in uow.domains.all()}
            self._snapshot = snapshot
        return snapshot

    def invalidate(self) -> None:
        """Forget the snapshot (a domain was registered)."""
        self._snapshot = None


def _with_domain(cx: Identifier, domain: IdentityDomain) -> Identifier:
    authority = AssigningAuthority(domain.namespace, domain.oid or "", domain.oid_type or "")
    return replace(cx, authority=authority)


def _name(system: SourceSystem) -> str:
    return f"{system.application}/{system.facility}"


def pid_json(patient: PatientDemographics) -> dict[str, Any]:
    """The whole PID as JSON for the store (every name, address, phone, id...)."""
    return asdict(patient)
