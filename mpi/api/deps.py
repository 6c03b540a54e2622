"""Dependencies of the routes (``Annotated`` aliases): services, the caller and its role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mpi.api.auth import Caller, authenticate, authorise
from mpi.domain import Role
from mpi.service.context import ServiceContext
from mpi.service.pdq import PdqService
from mpi.service.pix import DomainCache, PixService
from mpi.service.review import ReviewService
from mpi.service.stewardship import StewardshipService

__all__ = [
    "READER_REQUIRED",
    "Admin",
    "Context",
    "FeedStatus",
    "Reader",
    "Reviewer",
    "Services",
    "ServicesDep",
]


class FeedStatus(Protocol):
    """What ``/health`` and ``/metrics`` read of ``mpi serve``'s feed writer process."""

    @property
    def starts(self) -> int:
        """How many times a writer process started (more than one: it was restarted)."""
        ...

    def problem(self) -> str | None:
        """``None`` while the writer takes messages, else why it cannot now."""
        ...


@dataclass(frozen=True, slots=True)
class Services:
    """The services one app uses, built once in :func:`mpi.api.create_app`."""

    context: ServiceContext
    reviews: ReviewService
    stewardship: StewardshipService
    pix: PixService
    pdq: PdqService
    feed: FeedStatus | None = None

    @classmethod
    def build(cls, context: ServiceContext, feed: FeedStatus | None = None) -> Services:
        """Every service on one shared domain snapshot."""
        domains = DomainCache(context.store)
        return cls(
            context,
            ReviewService(context),
            StewardshipService(context),
            PixService(context, domains),
            PdqService(context, domains),
            feed,
        )


# Dependencies that do no I/O are async: FastAPI runs a sync dependency in a worker
# thread, and two thread hops per request cost more than the PIXm lookup itself.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _context(request: Request) -> ServiceContext:
    services: Services = request.app.state.services
    return services.context


ServicesDep = Annotated[Services, Depends(_services)]
Context = Annotated[ServiceContext, Depends(_context)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token of [[api.token]] (roles: reader < reviewer < admin).",
)


def _caller(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return authenticate(context, credentials.credentials if credentials else None)


def _require(role: Role) -> Any:  # FastAPI types Depends(...) as Any
    async def dependency(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        return authorise(caller, role)

    return Depends(dependency)


Reader = Annotated[Caller, _require(Role.READER)]
READER_REQUIRED = _require(Role.READER)
"""For a whole router: every route needs at least a reader's token."""
Reviewer = Annotated[Caller, _require(Role.REVIEWER)]
Admin = Annotated[Caller, _require(Role.ADMIN)]
