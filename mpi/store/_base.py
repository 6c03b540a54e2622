"""What every repository shares: the session, the clock, and key lookups by natural id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mpi.domain import SourceRecordRef, format_enterprise_id, parse_enterprise_id
from mpi.errors import NotFound, UnknownDomain
from mpi.store.models import IdentityDomainRow, PersonRow, SourceRecordRow

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    """``items`` in slices of ``size`` (statements with a bounded number of parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def placeholder(paramstyle: str) -> str:
    """The driver's positional parameter mark: ``?`` (SQLite) or ``%s`` (psycopg)."""
    return "?" if paramstyle == "qmark" else "%s"


@dataclass(slots=True)
class Context:
    """One unit of work's session and clock, plus a cache of domain ids.

    The cache lives as long as the unit of work, so a rolled-back domain
    registration cannot leave a stale id behind.
    """

    session: Session
    clock: Clock = utc_now
    domain_ids: dict[str, int] = field(default_factory=dict)

    def domain_id(self, namespace: str) -> int:
        """The key of a registered domain.

        Raises:
            UnknownDomain: no domain has this namespace.
        """
        cached = self.domain_ids.get(namespace)
        if cached is not None:
            return cached
        # The driver's own SQL: SQLAlchemy's statement work cost ~100 µs, the look-up ~15
        # (once per unit of work and domain: once a message when the feed is quiet).
        connection = self.driver_connection()  # a domain registered here must be seen
        mark = placeholder(connection.dialect.paramstyle)
        found = connection.exec_driver_sql(
            f"SELECT id FROM {IdentityDomainRow.__tablename__} WHERE namespace = {mark}",
            (namespace,),
        ).scalar()
        if found is None:
            raise UnknownDomain(namespace)
        self.domain_ids[namespace] = int(found)
        return int(found)

    def driver_connection(self) -> Connection:
        """The unit of work's connection, for statements in the driver's own SQL (or Core
        without ORM row processing), after the session's pending rows are flushed: such
        statements bypass the session's autoflush, and must still see them."""
        self.session.flush()
        return self.session.connection()

    def record_pk(self, ref: SourceRecordRef) -> int:
        """The key of a stored source record.

        Raises:
            UnknownDomain: the domain is not registered.
            NotFound: the domain has no record with this id.
        """
        pk = self.session.scalar(
            select(SourceRecordRow.id).where(
                SourceRecordRow.domain_id == self.domain_id(ref.domain),
                SourceRecordRow.source_id == ref.id,
            )
        )
        if pk is None:
            raise NotFound("source record", str(ref), "is not registered")
        return pk

    def person_pk(self, enterprise_id: str, *, for_update: bool = False) -> int:
        """The key of a person, optionally locking its row until commit.

        Raises:
            NotFound: no person has this enterprise id.
        """
        number = parse_enterprise_id(enterprise_id)
        query = select(PersonRow.id).where(PersonRow.id == number)
        if for_update:
            query = query.with_for_update()
        pk = self.session.scalar(query) if number is not None else None
        if pk is None:
            raise NotFound("person", enterprise_id, "is not an enterprise id of this index")
        return pk

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a statement that may break a unique rule without spoiling the unit of work.

        On PostgreSQL a failed statement aborts the whole transaction; inside a
        savepoint only the savepoint is lost and the caller can go on (re-read,
        update instead).
        """
        with self.session.begin_nested():
            yield


def enterprise_id(pk: int) -> str:
    """The enterprise id of a person row's key."""
    return format_enterprise_id(pk)


def is_unique_violation(error: IntegrityError) -> bool:
    """Whether an integrity error is a duplicate key (not a foreign key or NOT NULL failure)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(error.orig)
