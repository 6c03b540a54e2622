"""Bearer tokens of the HTTP API that are created at run time (not listed in the configuration).

Only a token's SHA-256 digest is stored; the clear token is returned once, by
:meth:`TokenRepository.create`. Tokens are random (256 bits), so an unsalted
digest is enough: there is nothing to guess from it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from mpi.domain import Role
from mpi.errors import NotFound
from mpi.store._base import Context
from mpi.store.models import ApiTokenRow

__all__ = ["StoredToken", "TokenRepository", "token_digest"]


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A stored token's identity (never the token itself).

    Attributes:
        id: its key.
        name: who it is for (the audit trail's actor).
        role: what it may do.
        created_at: when it was made.
        revoked_at: when it was withdrawn, if it was.
    """

    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


def token_digest(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRepository:
    """API tokens created at run time."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def count(self, *, active_only: bool = True) -> int:
        """How many tokens exist (by default: not revoked)."""
        query = select(func.count()).select_from(ApiTokenRow)
        if active_only:
            query = query.where(ApiTokenRow.revoked_at.is_(None))
        return int(self._ctx.session.scalar(query) or 0)

    def create(self, name: str, role: Role) -> str:
        """Make a new token and return it in clear (the only time it is ever visible).

        Args:
            name: who it is for, e.g. ``"admin"``.
            role: what it may do.
        """
        if not name.strip():
            raise ValueError(f"token name: {name!r} must not be empty")
        token = secrets.token_urlsafe(32)
        row = ApiTokenRow(
            name=name,
            role=role.value,
            token_sha256=token_digest(token),
            created_at=self._ctx.clock(),
        )
        self._ctx.session.add(row)
        self._ctx.session.flush()
        return token

    def find(self, token: str) -> StoredToken | None:
        """The active token matching a presented bearer token, or ``None``."""
        row = self._ctx.session.scalar(
            select(ApiTokenRow).where(
                ApiTokenRow.token_sha256 == token_digest(token),
                ApiTokenRow.revoked_at.is_(None),
            )
        )
        return _to_token(row) if row is not None else None

    def list(self) -> list[StoredToken]:
        """Every token, oldest first (revoked ones included)."""
        rows = self._ctx.session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))
        return [_to_token(r) for r in rows]

    def revoke(self, token_id: int) -> StoredToken:
        """Withdraw a token (it stays listed, with ``revoked_at``).

        Raises:
            NotFound: no such token.
        """
        row = self._ctx.session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFound("api token", token_id)
        if row.revoked_at is None:
            row.revoked_at = self._ctx.clock()
            self._ctx.session.flush()
        return _to_token(row)


def _to_token(row: ApiTokenRow) -> StoredToken:
    return StoredToken(row.id, row.name, Role(row.role), row.created_at, row.revoked_at)
