"""The identity-domain registry: which assigning authorities exist, who may assign in them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mpi.domain import IdentityDomain, SourceSystem
from mpi.errors import Conflict, UnknownDomain
from mpi.store._base import Context, is_unique_violation
from mpi.store.models import DomainSource, IdentityDomainRow

__all__ = ["DomainRepository"]


class DomainRepository:
    """Identity domains, including the enterprise domain."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def sync(self, domains: Iterable[IdentityDomain]) -> None:
        """Make the stored domains agree with the configuration (insert or update by namespace).

        Domains that are stored but no longer configured are kept: records refer to them.

        Raises:
            Conflict: an OID is already used by another stored domain.
        """
        for domain in domains:
            row = self._row(domain.namespace)
            if row is None:
                self.add(domain)
                continue
            if domain.oid is not None and domain.oid != row.oid:
                self._check_oid_free(domain.oid, domain.namespace)
            row.oid, row.oid_type = domain.oid, domain.oid_type
            row.trusted, row.enterprise = domain.trusted, domain.enterprise
            self._ctx.session.execute(delete(DomainSource).where(DomainSource.domain_id == row.id))
            self._add_sources(row.id, domain.sources)
        self._ctx.session.flush()

    def add(self, domain: IdentityDomain) -> IdentityDomain:
        """Register a new domain (configured, or first seen in development mode).

        Raises:
            Conflict: the namespace or OID is already registered.
        """
        row = IdentityDomainRow(
            namespace=domain.namespace,
            oid=domain.oid,
            oid_type=domain.oid_type,
            trusted=domain.trusted,
            enterprise=domain.enterprise,
            created_at=self._ctx.clock(),
        )
        try:
            with self._ctx.savepoint():
                self._ctx.session.add(row)
                self._ctx.session.flush()
        except IntegrityError as e:
            if not is_unique_violation(e):
                raise
            raise Conflict(
                "domain",
                f"{domain.namespace} ({domain.oid})",
                "namespace or OID already registered",
            ) from e
        self._add_sources(row.id, domain.sources)
        self._ctx.session.flush()
        self._ctx.domain_ids[domain.namespace] = row.id
        return domain

    def get(self, namespace: str) -> IdentityDomain | None:
        """The domain with this namespace, or ``None``."""
        row = self._row(namespace)
        return self._value(row) if row is not None else None

    def by_oid(self, oid: str) -> IdentityDomain | None:
        """The domain with this universal id, or ``None``."""
        row = self._ctx.session.scalar(
            select(IdentityDomainRow).where(IdentityDomainRow.oid == oid)
        )
        return self._value(row) if row is not None else None

    def resolve(self, namespace: str | None, oid: str | None = None) -> IdentityDomain:
        """The domain a CX.4 names by namespace, by OID, or by both (which must agree).

        Raises:
            UnknownDomain: nothing given, no such domain, or namespace and OID name
                different domains.
        """
        by_ns = self.get(namespace) if namespace else None
        by_oid = self.by_oid(oid) if oid else None
        if namespace and by_ns is None:
            raise UnknownDomain(namespace, "domain namespace")
        if oid and by_oid is None:
            raise UnknownDomain(oid, "domain OID")
        if by_ns is not None and by_oid is not None and by_ns != by_oid:
            raise UnknownDomain(f"{namespace}&{oid}", rule="names two different domains")
        found = by_ns or by_oid
        if found is None:
            raise UnknownDomain("", rule="must give a namespace or an OID")
        return found

    def all(self) -> list[IdentityDomain]:
        """Every stored domain, the enterprise domain first, then by namespace."""
        rows = self._ctx.session.scalars(
            select(IdentityDomainRow).order_by(
                IdentityDomainRow.enterprise.desc(), IdentityDomainRow.namespace
            )
        )
        return [self._value(r) for r in rows]

    def enterprise(self) -> IdentityDomain:
        """The enterprise domain.

        Raises:
            UnknownDomain: none is stored yet (``sync`` the settings first).
        """
        row = self._ctx.session.scalar(
            select(IdentityDomainRow).where(IdentityDomainRow.enterprise.is_(True))
        )
        if row is None:
            raise UnknownDomain("enterprise", rule="is not registered: sync the settings first")
        return self._value(row)

    def _row(self, namespace: str) -> IdentityDomainRow | None:
        return self._ctx.session.scalar(
            select(IdentityDomainRow).where(IdentityDomainRow.namespace == namespace)
        )

    def _check_oid_free(self, oid: str, namespace: str) -> None:
        other = self.by_oid(oid)
        if other is not None and other.namespace != namespace:
            raise Conflict("domain OID", oid, f"is already used by domain {other.namespace}")

    def _add_sources(self, domain_id: int, sources: Iterable[SourceSystem]) -> None:
        for s in dict.fromkeys(sources):
            self._ctx.session.add(
                DomainSource(domain_id=domain_id, application=s.application, facility=s.facility)
            )

    def _value(self, row: IdentityDomainRow) -> IdentityDomain:
        sources = self._ctx.session.execute(
            select(DomainSource.application, DomainSource.facility)
            .where(DomainSource.domain_id == row.id)
            .order_by(DomainSource.id)
        )
        return IdentityDomain(
            namespace=row.namespace,
            oid=row.oid,
            oid_type=row.oid_type,
            trusted=row.trusted,
            sources=tuple(SourceSystem(a, f) for a, f in sources),
            enterprise=row.enterprise,
        )
