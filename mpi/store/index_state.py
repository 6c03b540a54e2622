"""Named facts about how the index was built (``index_state``): read, and set."""

from __future__ import annotations

from mpi.store._base import Context
from mpi.store.models import IndexStateRow

__all__ = ["IndexStateRepository"]


class IndexStateRepository:
    """``name -> value`` facts of the index (e.g. the fingerprint of its blocking rules)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, name: str) -> str | None:
        """The value of ``name``, or ``None`` if it was never set."""
        row = self._ctx.session.get(IndexStateRow, name)
        return None if row is None else row.value

    def set(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` (created or replaced)."""
        row = self._ctx.session.get(IndexStateRow, name)
        if row is None:
            self._ctx.session.add(
                IndexStateRow(name=name, value=value, updated_at=self._ctx.clock())
            )
        else:
            row.value = value
            row.updated_at = self._ctx.clock()
