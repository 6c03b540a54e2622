"""MLLP handlers of the queries: ITI-9 ``QBP^Q23`` and ITI-21 ``QBP^Q22`` / ``QCN^J01``.

The router (:mod:`mpi.mllp`) decodes and parses; these handlers call the
domain services (:mod:`mpi.service.pix`, :mod:`mpi.service.pdq`) and write the
answer, errors included, so that each IHE case gets exactly its MSA/QAK/ERR
(see IHE-NOTES §3 and §5). They are synchronous and thread-safe: the router
runs them in a thread pool.

PDQ continuation (ITI-21 Continuation option): when a query matches more
persons than RCP-2 allows, the first increment is answered and the rest is
kept **in memory** under a random DSC pointer, bound to the query tag, the
sender (MSH-3/MSH-4) and the QPD. The consumer re-sends the same query with
``DSC|<pointer>|I`` to get the next increment; the last one has no DSC.
A chain expires ``chain_ttl`` seconds after its last use, at most
``max_chains`` are kept (the least recently used is dropped first), and
``QCN^J01`` with the query tag drops the sender's chains of that tag. A
pointer that is unknown, expired, or used with another query or sender is
answered AE with ERR ``DSC^1^1^1`` / 204. Chains do not survive a restart
and are not shared between processes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hl7.errors import (
    ErrorLocation,
    Hl7Error,
    InternalError,
    UnknownKeyError,
    UnsupportedMessageTypeError,
)
from hl7.messages import PixQuery, Request
from hl7.model import AssigningAuthority, Identifier
from hl7.responses import build_pix_response
from mpi.domain import IdentityDomain
from mpi.errors import (
    MpiError,
    UnknownIdentifier,
    UnknownRequestedDomains,
    UnknownSourceDomain,
)
from mpi.service.context import ServiceContext
from mpi.service.pix import DomainName, PixIdentifier, PixService

__all__ = [
    "PixQueryHandler",
    "domain_names",
    "pix_identifiers",
]

log = logging.getLogger(__name__)

_ID_TYPE = "PI"  # patient internal identifier (Table 0203), as IHE's examples write it


def domain_names(authorities: Sequence[AssigningAuthority]) -> tuple[DomainName, ...]:
    """Requested domains (QPD-4 / QPD-8 repetitions) as the services take them."""
    return tuple(DomainName(a.namespace, a.universal_id) for a in authorities)


def _authority(domain: IdentityDomain) -> AssigningAuthority:
    if domain.oid:
        return AssigningAuthority(domain.namespace, domain.oid, domain.oid_type or "ISO")
    return AssigningAuthority(domain.namespace)


def pix_identifiers(ids: Sequence[PixIdentifier]) -> tuple[Identifier, ...]:
    """PID-3 repetitions: each id with its complete CX.4 (namespace, OID, ``ISO``)."""
    return tuple(Identifier(i.id, _authority(i.domain), _ID_TYPE) for i in ids)


class _Answering:
    """MSH-3/MSH-4 of every answer come from the settings (ROUTER.md)."""

    def __init__(self, context: ServiceContext) -> None:
        server = context.settings.server
        self._application = server.receiving_application
        self._facility = server.receiving_facility


class PixQueryHandler(_Answering):
    """``QBP^Q23`` → ``RSP^K23`` (ITI-9).

    Args:
        context: the services' context.
        service: the PIX service to use (one is made on ``context`` if ``None``).
    """

    def __init__(self, context: ServiceContext, service: PixService | None = None) -> None:
        super().__init__(context)
        self.service = service if service is not None else PixService(context)

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Answer one PIX query; every outcome is an ``RSP^K23`` with the QPD echoed."""
        if not isinstance(request, PixQuery):
            raise _wrong_request(request, "QBP^Q23")
        error: Hl7Error | None = None
        ids: tuple[Identifier, ...] = ()
        try:
            result = self.service.query(
                request.identifier.id,
                DomainName(
                    request.identifier.authority.namespace,
                    request.identifier.authority.universal_id,
                ),
                domain_names(request.domains),
            )
            ids = pix_identifiers(result.identifiers)
        except MpiError as e:
            error = pix_error(e, request)
        return build_pix_response(
            request.header,
            request.qpd,
            ids,
            error,
            application=self._application,
            facility=self._facility,
        )


def pix_error(error: MpiError, request: PixQuery) -> Hl7Error:
    """The HL7 error of a PIX service error, located as IHE's cases 3-5 require."""
    if isinstance(error, UnknownSourceDomain):
        return UnknownKeyError(
            "QPD-3.4",
            str(request.identifier.authority),
            error.rule,
            location=ErrorLocation("QPD", 1, 3, 1, 4),
        )
    if isinstance(error, UnknownRequestedDomains):
        return UnknownKeyError(
            "QPD-4",
            ", ".join(error.values),
            error.rule,
            location=[request.domain_location(p) for p in error.positions],
        )
    if isinstance(error, UnknownIdentifier):
        return UnknownKeyError(
            "QPD-3.1", str(error.value), error.rule, location=ErrorLocation("QPD", 1, 3, 1, 1)
        )
    return _internal(error)


def _internal(error: Exception) -> Hl7Error:
    log.error("query failed: %s", error, exc_info=error)
    return InternalError("", None, f"the query could not be processed: {error}")


def _wrong_request(request: Request, expected: str) -> Hl7Error:
    h = request.header
    return UnsupportedMessageTypeError(
        "MSH-9",
        f"{h.message_code}^{h.trigger_event}",
        f"is not handled here (expected {expected})",
        location=ErrorLocation("MSH", 1, 9),
    )
