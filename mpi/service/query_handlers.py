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
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hl7.errors import (
    DataTypeError,
    ErrorLocation,
    Hl7Error,
    InternalError,
    MissingFieldError,
    TableValueError,
    UnknownKeyError,
    UnsupportedMessageTypeError,
)
from hl7.messages import PdqCancel, PdqQuery, PixQuery, Request
from hl7.model import AssigningAuthority, Identifier
from hl7.responses import PdqMatch, build_ack, build_pdq_response, build_pix_response
from mpi.domain import IdentityDomain
from mpi.errors import (
    InvalidQuery,
    MpiError,
    UnknownIdentifier,
    UnknownRequestedDomains,
    UnknownSourceDomain,
)
from mpi.service.context import ServiceContext
from mpi.service.pdq import PdqHit, PdqService, criteria_from_parameters
from mpi.service.pix import DomainName, PixIdentifier, PixService

__all__ = [
    "ContinuationStore",
    "PdqQueryHandler",
    "PixQueryHandler",
    "domain_names",
    "pdq_error",
    "pix_error",
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


# -- ITI-21 ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Chain:
    key: tuple[str, str, str]  # query tag, sender application, sender facility
    hits: list[PdqHit]
    total: int
    touched: float


class ContinuationStore:
    """PDQ continuation chains in memory: bounded, expiring, thread-safe (see the module doc).

    Args:
        ttl: seconds a chain lives after its last use.
        max_chains: the most chains kept; the least recently used goes first.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        ttl: float = 600.0,
        max_chains: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_chains = max_chains
        self._clock = clock
        self._lock = threading.Lock()
        self._chains: OrderedDict[str, _Chain] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._chains)

    def start(self, key: tuple[str, str, str], hits: list[PdqHit], total: int) -> str:
        """Keep ``hits`` (the rest of an answer) and return the pointer to ask for them."""
        pointer = secrets.token_hex(8)
        with self._lock:
            self._expire()
            self._chains[pointer] = _Chain(key, hits, total, self._clock())
            while len(self._chains) > self.max_chains:
                self._chains.popitem(last=False)
        return pointer

    def take(self, pointer: str, key: tuple[str, str, str]) -> _Chain | None:
        """The chain behind ``pointer`` if it belongs to ``key``; it is removed (used once)."""
        with self._lock:
            self._expire()
            chain = self._chains.get(pointer)
            if chain is None or chain.key != key:
                return None
            del self._chains[pointer]
            return chain

    def cancel(self, tag: str, application: str, facility: str) -> int:
        """Drop every chain of this query tag and sender; how many there were."""
        key = (tag, application, facility)
        with self._lock:
            doomed = [p for p, c in self._chains.items() if c.key == key]
            for pointer in doomed:
                del self._chains[pointer]
            return len(doomed)

    def _expire(self) -> None:
        limit = self._clock() - self.ttl
        while self._chains:
            pointer, chain = next(iter(self._chains.items()))
            if chain.touched >= limit:
                break
            del self._chains[pointer]


class PdqQueryHandler(_Answering):
    """``QBP^Q22`` → ``RSP^K22`` and ``QCN^J01`` → ``ACK^J01`` (ITI-21, Continuation option).

    Args:
        context: the services' context.
        service: the PDQ service (one is made on ``context`` if ``None``).
        chains: where continuation chains live (a fresh in-memory one if ``None``).
    """

    def __init__(
        self,
        context: ServiceContext,
        service: PdqService | None = None,
        chains: ContinuationStore | None = None,
    ) -> None:
        super().__init__(context)
        self.service = service if service is not None else PdqService(context)
        self.chains = chains if chains is not None else ContinuationStore()

    def handle(self, request: Request, raw: bytes) -> bytes:
        """Answer a PDQ query (first or next increment) or a cancel."""
        if isinstance(request, PdqCancel):
            h = request.header
            self.chains.cancel(
                request.query_tag, str(h.sending_application), str(h.sending_facility)
            )
            return build_ack(h, application=self._application, facility=self._facility)
        if not isinstance(request, PdqQuery):
            raise _wrong_request(request, "QBP^Q22 or QCN^J01")
        try:
            return self._answer(request)
        except MpiError as e:
            return self._respond(request, error=pdq_error(e, request))
        except Hl7Error as e:
            return self._respond(request, error=e)

    def _answer(self, request: PdqQuery) -> bytes:
        h = request.header
        key = (request.query_tag, str(h.sending_application), str(h.sending_facility))
        if request.continuation is not None:
            chain = self.chains.take(request.continuation, key)
            if chain is None:
                raise UnknownKeyError(
                    "DSC-1",
                    request.continuation,
                    "is not a pointer of a continued query of this tag and sender "
                    "(unknown, expired, cancelled or already used)",
                    location=ErrorLocation("DSC", 1, 1, 1),
                )
            hits, total = chain.hits, chain.total
        else:
            criteria = criteria_from_parameters(request.parameters)
            hits = self.service.search(
                criteria, domain_names(request.domains), min_score=_min_score(request)
            )
            total = len(hits)
        page, rest = (
            (hits, [])
            if request.limit is None
            else (
                hits[: request.limit],
                hits[request.limit :],
            )
        )
        pointer = self.chains.start(key, rest, total) if rest else None
        matches = [PdqMatch(m.patient, m.score) for m in self.service.load(page)]
        return self._respond(
            request, matches, remaining=len(rest), total=total, continuation=pointer
        )

    def _respond(
        self,
        request: PdqQuery,
        matches: Sequence[PdqMatch] = (),
        *,
        error: Hl7Error | None = None,
        remaining: int = 0,
        total: int | None = None,
        continuation: str | None = None,
    ) -> bytes:
        return build_pdq_response(
            request.header,
            request.qpd,
            matches,
            error,
            remaining=remaining,
            total=total,
            continuation=continuation,
            application=self._application,
            facility=self._facility,
        )


def _min_score(request: PdqQuery) -> float | None:
    """QPD-4 (search confidence threshold): a probability, or a percentage above 1."""
    text = request.qpd.get(4).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise DataTypeError(
            "QPD-4",
            text,
            "(confidence threshold) must be a number from 0 to 1, or a percentage",
            location=ErrorLocation("QPD", 1, 4),
        )
    return value / 100 if value > 1 else value


def pdq_error(error: MpiError, request: PdqQuery) -> Hl7Error:
    """The HL7 error of a PDQ service error.

    Unknown QPD-8 domains: 204 at each ``QPD^1^8^<rep>``; an unknown domain of an
    identifier criterion: 204 at its ``QPD^1^3^<rep>``; a malformed criterion 102,
    an unsupported one 103, a query too broad 101 (at the criterion, else ``QPD^1^3``).
    """
    if isinstance(error, UnknownRequestedDomains):
        return UnknownKeyError(
            "QPD-8",
            ", ".join(error.values),
            error.rule,
            location=[request.domain_location(p) for p in error.positions],
        )
    if isinstance(error, UnknownSourceDomain):
        return UnknownKeyError(
            "QPD-3",
            str(error.value),
            error.rule,
            location=request.parameter_location(error.position)
            if error.position is not None
            else ErrorLocation("QPD", 1, 3),
        )
    if isinstance(error, InvalidQuery):
        location = (
            request.parameter_location(error.position)
            if error.position is not None
            else ErrorLocation("QPD", 1, 3)
        )
        kind: type[Hl7Error] = {
            "malformed": DataTypeError,
            "unsupported": TableValueError,
        }.get(error.kind, MissingFieldError)
        return kind(error.field, error.value, error.rule, location=location)
    return _internal(error)
