"""PIX: the cross-references of one identifier (ITI-9 over MLLP, ITI-83 PIXm over HTTP).

:class:`PixService` answers "which other ids does the person with this id
have?" in domain terms; the adapters turn the result and the errors into their
own answers (``RSP^K23``, a FHIR ``Parameters``). The cases of IHE ITI TF-2a
3.9.4.2.2.6, in the order they are checked:

======================================  =========================================
situation                               outcome
======================================  =========================================
the queried id's domain is unknown      :class:`~mpi.errors.UnknownSourceDomain`
                                        (case 4; HL7 ``QPD^1^3^1^4``)
a requested domain is unknown           :class:`~mpi.errors.UnknownRequestedDomains`
                                        listing each (case 5; ``QPD^1^4^<rep>``)
the id is not registered, or was        :class:`~mpi.errors.UnknownIdentifier`
subsumed by an A40 merge                (case 3; ``QPD^1^3^1^1``)
known, nothing in the requested         :class:`PixResult` with no identifiers
domains                                 (case 2, NF)
known, ids found                        :class:`PixResult` (cases 1 and 6)
======================================  =========================================

Decisions the TF leaves open (IHE-NOTES §9): the enterprise id is returned in
the enterprise domain like any other id (so an id whose person has no other
record still answers OK with the enterprise id when all domains are asked);
the queried id itself is left out unless ``settings.pix.return_queried_identifier``;
an id may also be queried in the enterprise domain (the enterprise id), and
an id carried in another record's PID-3 (a national id) is found through that
record when no record of its own exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from mpi.domain import IdentityDomain, PersonStatus, RecordStatus, SourceRecordRef
from mpi.errors import (
    UnknownDomain,
    UnknownIdentifier,
    UnknownRequestedDomains,
    UnknownSourceDomain,
)
from mpi.service.context import ServiceContext
from mpi.store import Store, UnitOfWork

__all__ = [
    "DomainCache",
    "DomainName",
    "PixIdentifier",
    "PixResult",
    "PixService",
]


@dataclass(frozen=True, slots=True)
class DomainName:
    """A domain as a request names it: namespace, OID, or both (CX.4 / a FHIR system).

    Attributes:
        namespace: HD.1 (``""``: not given).
        oid: HD.2 universal id (``""``: not given).
    """

    namespace: str = ""
    oid: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}&{self.oid}".strip("&") if self.oid else self.namespace


@dataclass(frozen=True, slots=True)
class PixIdentifier:
    """One cross-referenced id with its complete domain.

    Attributes:
        id: the id within the domain.
        domain: the registered domain (namespace, OID and type filled from the registry).
    """

    id: str
    domain: IdentityDomain

    @property
    def is_enterprise(self) -> bool:
        """Whether this is the MPI's own enterprise id."""
        return self.domain.enterprise


@dataclass(frozen=True, slots=True)
class PixResult:
    """The answer to a PIX query whose id is known.

    Attributes:
        source: the queried id with its domain completed from the registry.
        source_domain: that domain.
        enterprise_id: the person the id belongs to (``None``: the record is not linked yet).
        identifiers: the ids to return: the enterprise id first, then by domain
            and id; empty means NF (IHE case 2).
    """

    source: SourceRecordRef
    source_domain: IdentityDomain
    enterprise_id: str | None
    identifiers: tuple[PixIdentifier, ...]

    @property
    def found(self) -> bool:
        """Whether any id is returned (OK) or none (NF)."""
        return bool(self.identifiers)


class DomainCache:
    """A thread-safe snapshot of the stored identity domains, for queries.

    Domains change rarely (configuration sync at start, or first sight in
    development mode), so queries resolve them from memory; the snapshot is
    re-read when it is older than ``max_age`` seconds or when a name is not
    in it (so a domain registered a moment ago is never reported unknown).

    Args:
        store: the index.
        max_age: seconds a snapshot is trusted for names it contains.
    """

    def __init__(self, store: Store, *, max_age: float = 30.0) -> None:
        self._store = store
        self._max_age = max_age
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        self._by_namespace: dict[str, IdentityDomain] = {}
        self._by_oid: dict[str, IdentityDomain] = {}

    def refresh(self) -> None:
        """Re-read every domain now."""
        domains = self._store.read(lambda uow: uow.domains.all())
        by_ns = {d.namespace: d for d in domains}
        by_oid = {d.oid: d for d in domains if d.oid}
        with self._lock:
            self._by_namespace, self._by_oid = by_ns, by_oid
            self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._max_age:
            self.refresh()

    def get(self, namespace: str) -> IdentityDomain | None:
        """The domain with this namespace, or ``None``."""
        self._fresh()
        found = self._by_namespace.get(namespace)
        if found is None:
            self.refresh()
            found = self._by_namespace.get(namespace)
        return found

    def by_oid(self, oid: str) -> IdentityDomain | None:
        """The domain with this universal id, or ``None``."""
        self._fresh()
        found = self._by_oid.get(oid)
        if found is None:
            self.refresh()
            found = self._by_oid.get(oid)
        return found

    def resolve(self, name: DomainName) -> IdentityDomain:
        """The domain a request names by namespace, OID, or both (which must agree).

        Raises:
            UnknownDomain: nothing given, no such domain, or namespace and OID name
                different domains.
        """
        by_ns = self.get(name.namespace) if name.namespace else None
        by_oid = self.by_oid(name.oid) if name.oid else None
        if name.namespace and by_ns is None:
            raise UnknownDomain(name.namespace, "domain namespace")
        if name.oid and by_oid is None:
            raise UnknownDomain(name.oid, "domain OID")
        if by_ns is not None and by_oid is not None and by_ns != by_oid:
            raise UnknownDomain(str(name), rule="names two different domains")
        found = by_ns or by_oid
        if found is None:
            raise UnknownDomain("", rule="must give a namespace or an OID")
        return found

    def requested(self, names: Sequence[DomainName]) -> tuple[IdentityDomain, ...]:
        """Resolve requested result domains (empty: none asked, meaning all).

        Raises:
            UnknownRequestedDomains: every unknown one, with its position.
        """
        found: list[IdentityDomain] = []
        unknown: list[tuple[int, str]] = []
        for position, name in enumerate(names):
            try:
                found.append(self.resolve(name))
            except UnknownDomain:
                unknown.append((position, str(name)))
        if unknown:
            raise UnknownRequestedDomains(unknown)
        return tuple(dict.fromkeys(found))

    def enterprise(self) -> IdentityDomain:
        """The enterprise domain.

        Raises:
            UnknownDomain: it is not registered (the settings were never synced).
        """
        self._fresh()
        for domain in self._by_namespace.values():
            if domain.enterprise:
                return domain
        self.refresh()
        for domain in self._by_namespace.values():
            if domain.enterprise:
                return domain
        raise UnknownDomain("enterprise", rule="is not registered: sync the settings first")

    def require(self, namespace: str) -> IdentityDomain:
        """The domain of a stored record (registered, perhaps just now)."""
        found = self.get(namespace)
        return found if found is not None else IdentityDomain(namespace, None, None)


class PixService:
    """The cross-reference query, shared by the MLLP and HTTP adapters.

    Args:
        context: settings (``pix.return_queried_identifier``) and the store.
        registry: a shared domain snapshot (one is made if ``None``).
    """

    def __init__(self, context: ServiceContext, registry: DomainCache | None = None) -> None:
        self._context = context
        self.registry = registry if registry is not None else DomainCache(context.store)

    def query(
        self, identifier: str, domain: DomainName, requested: Sequence[DomainName] = ()
    ) -> PixResult:
        """The other ids of the person that ``identifier`` in ``domain`` belongs to.

        Args:
            identifier: the id (CX.1).
            domain: its domain as given (namespace and/or OID; completed here).
            requested: the domains to return ids of (empty: all).

        Returns:
            The result; no identifiers means NF.

        Raises:
            UnknownSourceDomain: ``domain`` is not registered (case 4).
            UnknownRequestedDomains: a requested domain is not (case 5).
            UnknownIdentifier: no active record has this id (case 3).
        """
        try:
            source_domain = self.registry.resolve(domain)
        except UnknownDomain as e:
            raise UnknownSourceDomain(e.value, e.rule) from e
        wanted = self.registry.requested(requested)
        source = SourceRecordRef(source_domain.namespace, identifier)
        if source_domain.enterprise:
            enterprise_id, refs = self._context.store.read(
                lambda uow: _by_enterprise_id(uow, identifier, source_domain)
            )
        else:
            enterprise_id, refs = self._context.store.read(lambda uow: _by_record(uow, source))
        return PixResult(
            source=source,
            source_domain=source_domain,
            enterprise_id=enterprise_id,
            identifiers=self._select(source, enterprise_id, refs, wanted),
        )

    def _select(
        self,
        source: SourceRecordRef,
        enterprise_id: str | None,
        refs: Sequence[SourceRecordRef],
        wanted: Sequence[IdentityDomain],
    ) -> tuple[PixIdentifier, ...]:
        keep_source = self._context.settings.pix.return_queried_identifier
        namespaces = {d.namespace for d in wanted}
        out: list[PixIdentifier] = []
        if enterprise_id is not None:
            enterprise = self.registry.enterprise()
            all_refs = [SourceRecordRef(enterprise.namespace, enterprise_id), *refs]
        else:
            all_refs = list(refs)
        for ref in dict.fromkeys(all_refs):
            if ref == source and not keep_source:
                continue
            if namespaces and ref.domain not in namespaces:
                continue
            out.append(PixIdentifier(ref.id, self.registry.require(ref.domain)))
        return tuple(out)


def _by_record(
    uow: UnitOfWork, source: SourceRecordRef
) -> tuple[str | None, list[SourceRecordRef]]:
    xref = uow.records.cross_references(source)
    if xref is None:
        return _by_carried_identifier(uow, source)
    if xref.status is not RecordStatus.ACTIVE:
        subsumed_by = str(xref.subsumed_by) if xref.subsumed_by else "another record"
        raise UnknownIdentifier(source.domain, source.id, subsumed_by=subsumed_by)
    return xref.enterprise_id, list(xref.refs)


def _by_carried_identifier(
    uow: UnitOfWork, source: SourceRecordRef
) -> tuple[str | None, list[SourceRecordRef]]:
    """An id no record of its own has, carried in other records' PID-3 (a national id)."""
    carriers = uow.records.with_identifier(source)
    persons = {r.enterprise_id for r in carriers if r.enterprise_id is not None}
    if len(persons) != 1:
        # Unknown, or carried by several persons: no single answer is right.
        raise UnknownIdentifier(source.domain, source.id)
    enterprise_id = persons.pop()
    return enterprise_id, uow.records.person_refs(enterprise_id)


def _by_enterprise_id(
    uow: UnitOfWork, identifier: str, domain: IdentityDomain
) -> tuple[str | None, list[SourceRecordRef]]:
    person = uow.persons.get(identifier)
    if person is None:
        raise UnknownIdentifier(domain.namespace, identifier)
    if person.status is not PersonStatus.ACTIVE:
        survivor = f"{domain.namespace}|{person.merged_into}" if person.merged_into else None
        raise UnknownIdentifier(domain.namespace, identifier, subsumed_by=survivor)
    return person.enterprise_id, uow.records.person_refs(person.enterprise_id)
