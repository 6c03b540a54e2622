"""The store and its unit of work: one transaction, every repository, the caller commits.

Usage by a service::

    store = Store.open("sqlite:///mpi.db")          # engine + migrate to head
    with store.unit_of_work() as uow:
        record = uow.records.add(new)                 # DuplicateRecord: see below
        person = uow.persons.create()
        uow.links.link(record.ref, person.enterprise_id, score=1.0, method=LinkMethod.AUTO)
        uow.audit.append(AuditEntry(...))
        uow.commit()                                  # only now may the AA be sent
    # leaving the block without commit() rolls everything back

Concurrent registration of the same ``(domain, id)``: the unique constraint
lets only one insert win. The loser's ``records.add`` raises
:class:`~mpi.errors.DuplicateRecord` with its unit of work still usable (the
insert ran in a savepoint), so the service re-reads with ``records.get`` and
applies its message as an update. Other transient failures (SQLite busy past
the timeout, PostgreSQL serialization failure or deadlock) surface as
:class:`TransientStoreError`; :meth:`Store.run` retries a whole unit of work on
those (and on ``DuplicateRecord`` if the work lets it escape)::

    result = store.run(lambda uow: register(uow, message))   # commits on success
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mpi.errors import DuplicateRecord, StoreError
from mpi.store._base import Clock, Context, utc_now
from mpi.store.audit import AuditRepository
from mpi.store.blocking import BlockingKeyRepository
from mpi.store.bulk import BulkLoader
from mpi.store.db import SQLITE_BEGIN_OPTION, create_engine, migrate, session_factory
from mpi.store.domains import DomainRepository
from mpi.store.index_state import IndexStateRepository
from mpi.store.locks import LockRepository
from mpi.store.merges import MergeRepository
from mpi.store.messages import MessageLogRepository
from mpi.store.outbox import OutboxRepository
from mpi.store.persons import LinkRepository, PersonRepository
from mpi.store.records import RecordRepository
from mpi.store.relations import RelationshipRepository
from mpi.store.reviews import ReviewRepository
from mpi.store.tokens import TokenRepository

__all__ = ["Store", "TransientStoreError", "UnitOfWork"]

T = TypeVar("T")

# SQLSTATEs worth retrying on PostgreSQL: serialization_failure, deadlock_detected.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


class TransientStoreError(StoreError):
    """The database refused for now (lock timeout, serialization failure): run it again."""


class UnitOfWork:
    """One database transaction with every repository bound to it.

    Attributes:
        session: the SQLAlchemy session (for what no repository covers yet).
        clock: what "now" is for the rows it writes.
        domains, records, persons, links, blocking, reviews, audit, messages,
        outbox, merges, relations, bulk, locks, tokens: the repositories.
    """

    def __init__(self, session: Session, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock
        ctx = Context(session, clock)
        self.domains = DomainRepository(ctx)
        self.records = RecordRepository(ctx)
        self.persons = PersonRepository(ctx)
        self.links = LinkRepository(ctx)
        self.blocking = BlockingKeyRepository(ctx)
        self.reviews = ReviewRepository(ctx)
        self.audit = AuditRepository(ctx)
        self.messages = MessageLogRepository(ctx)
        self.outbox = OutboxRepository(ctx)
        self.merges = MergeRepository(ctx)
        self.relations = RelationshipRepository(ctx)
        self.bulk = BulkLoader(ctx)
        self.tokens = TokenRepository(ctx)
        self.locks = LockRepository(ctx)
        self.index_state = IndexStateRepository(ctx)
        self._committed = False

    def commit(self) -> None:
        """Make every change of this unit of work durable.

        Raises:
            TransientStoreError: the database refused for now; run the work again.
        """
        with _translated():
            self.session.commit()
        self._committed = True

    def rollback(self) -> None:
        """Discard every change (also done on leaving the block without commit)."""
        self.session.rollback()

    def flush(self) -> None:
        """Send pending changes to the database without committing (to see constraint errors)."""
        with _translated():
            self.session.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.session.rollback()
        finally:
            self.session.close()


class Store:
    """The database: an engine, session factories, and units of work on them."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._writer = session_factory(engine, write=True)
        self._reader = session_factory(engine, write=False)
        # Statement readers (PIX/PDQ): no transaction, so no BEGIN/ROLLBACK round trips.
        statements = (
            {"isolation_level": "AUTOCOMMIT"}
            if engine.dialect.name == "postgresql"
            else {SQLITE_BEGIN_OPTION: "NONE"}
        )
        self._statement_reader = sessionmaker(bind=engine.execution_options(**statements))

    @classmethod
    def open(cls, url: str | URL, *, upgrade: bool = True, clock: Clock = utc_now) -> Store:
        """Connect to ``url`` and (by default) migrate its schema to the newest revision.

        Raises:
            ConfigError: the URL is not a SQLite or PostgreSQL URL.
            StoreError: the database cannot be reached or migrated.
        """
        engine = create_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine, clock=clock)

    def unit_of_work(self, *, readonly: bool = False, snapshot: bool = True) -> UnitOfWork:
        """A new unit of work (use it in a ``with`` block; call ``commit()`` to keep changes).

        Args:
            readonly: for queries only; on SQLite it does not take the write lock,
                so it never waits for a writer (WAL readers see the last commit).
            snapshot: with ``readonly``, ``False`` lets each statement see the last
                commit on its own instead of one transaction's snapshot (no
                transaction at all: autocommit on PostgreSQL, no BEGIN on SQLite),
                which saves the BEGIN and ROLLBACK round trips of a query's few
                statements (PIX, PDQ).
        """
        if readonly and not snapshot:
            return UnitOfWork(self._statement_reader(), self.clock)
        factory = self._reader if readonly else self._writer
        return UnitOfWork(factory(), self.clock)

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` in a read-only unit of work without a snapshot (``unit_of_work(
        readonly=True, snapshot=False)``: the PIX and PDQ reads), once more on a fresh
        connection if the pooled one turned out to be dead (the database was restarted).

        Raises:
            TransientStoreError: the second attempt failed as well.
            StoreError: the database failed otherwise.
        """

        def once() -> T:
            with self.unit_of_work(readonly=True, snapshot=False) as uow, _translated():
                return work(uow)

        try:
            return once()
        except TransientStoreError:
            return once()

    def run(
        self, work: Callable[[UnitOfWork], T], *, attempts: int = 3, backoff: float = 0.05
    ) -> T:
        """Run ``work`` in a unit of work and commit, retrying transient failures.

        Args:
            work: does the reads and writes; must not commit itself and must be
                safe to run again (it sees a fresh transaction each time).
            attempts: how many times to try in all.
            backoff: seconds to wait before the second attempt, doubling after.

        Raises:
            TransientStoreError, DuplicateRecord: still failing after ``attempts``.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.unit_of_work() as uow, _translated():
                    result = work(uow)
                    uow.commit()
                    return result
            except (TransientStoreError, DuplicateRecord):
                if attempt == attempts:
                    raise
                time.sleep(backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as e:
        if _is_transient(e):
            raise TransientStoreError(f"database: transient failure, retry ({e.orig})") from e
        raise StoreError(f"database: {e.orig}") from e
    except DBAPIError as e:
        if _is_transient(e):
            raise TransientStoreError(f"database: transient failure, retry ({e.orig})") from e
        raise


def _is_transient(error: DBAPIError) -> bool:
    if error.connection_invalidated:
        return True  # a dead connection (database restarted): the pool gives a new one
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRY_SQLSTATES:
        return True
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text
