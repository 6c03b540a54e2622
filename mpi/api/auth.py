"""Bearer-token authentication and role checks (reader < reviewer < admin).

Tokens come from ``[[api.token]]`` in the settings and from the database
(``uow.tokens``: e.g. the admin token ``mpi serve`` creates on first start;
revoked ones no longer count). Presented tokens are compared with every configured
token in constant time (:func:`hmac.compare_digest`, no early exit), so the
response time does not tell how much of a guess was right.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from mpi.domain import Role
from mpi.errors import AccessDenied
from mpi.service.context import ServiceContext

__all__ = ["Caller", "Forbidden", "Unauthenticated", "authenticate", "authorise"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's name (written to the audit trail) and its role."""

    name: str
    role: Role


class Unauthenticated(AccessDenied):
    """No token, or an unknown one (HTTP 401)."""


class Forbidden(AccessDenied):
    """A known token whose role does not allow the operation (HTTP 403)."""


def authenticate(context: ServiceContext, token: str | None) -> Caller:
    """The caller a presented bearer token stands for.

    Raises:
        Unauthenticated: no token, or one that is not configured.
    """
    if not token:
        raise Unauthenticated(
            "Authorization", "(missing)", "must be 'Bearer <token>' with an API token"
        )
    found: Caller | None = None
    presented = token.encode()
    for configured in context.settings.api.tokens:
        if hmac.compare_digest(presented, configured.token.encode()) and found is None:
            found = Caller(configured.name, configured.role)
    if found is None:
        found = _stored_token(context, token)
    if found is None:
        raise Unauthenticated("bearer token", "(hidden)", "is not a known API token")
    return found


def authorise(caller: Caller, needed: Role) -> Caller:
    """The caller if its role includes ``needed``.

    Raises:
        Forbidden: the role is below ``needed``.
    """
    if not caller.role.allows(needed):
        raise Forbidden(
            "role", caller.role.value, f"may not do this: the {needed.value} role is needed"
        )
    return caller


def _stored_token(context: ServiceContext, token: str) -> Caller | None:
    # Stored tokens are looked up by their SHA-256: an index hit reveals nothing of a near miss.
    with context.store.unit_of_work(readonly=True) as uow:
        stored = uow.tokens.find(token)
    return Caller(stored.name, stored.role) if stored is not None else None
