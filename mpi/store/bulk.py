"""The bulk path for ``mpi load``: batches of rows written with ``COPY`` or executemany.

It bypasses the ORM (no per-row objects, no RETURNING: keys are reserved up
front) but runs on the unit of work's own connection and transaction, so a load
batch commits or rolls back as one. Typical use, per batch of a few thousand rows::

    known = uow.bulk.existing("NORTHGEN", [r.ref.id for r in batch])   # idempotent reload
    new = [r for r in batch if r.ref.id not in known]
    pks = uow.bulk.insert_records(new)
    uow.bulk.insert_blocking_keys((pk, k) for pk, r in zip(pks, new) for k in keys(r))
    # or, hashed and vectorised: uow.bulk.insert_key_hashes(record_pks, hash_keys(key_texts))
    persons = uow.bulk.create_persons(n)
    uow.bulk.insert_links([BulkLink(pk, eid, 1.0, LinkMethod.AUTO), ...])
    uow.commit()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain, islice, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import JSON, Index, func, inspect, select, text

from matching.record import Record
from mpi.domain import (
    AuditEntry,
    LinkMethod,
    NewSourceRecord,
    PersonStatus,
    RecordStatus,
    SourceRecordRef,
    format_enterprise_id,
    parse_enterprise_id,
)
from mpi.errors import NotFound
from mpi.store._base import Context
from mpi.store.blocking import hash_keys
from mpi.store.models import (
    AuditEvent,
    Base,
    BlockingKey,
    IdentityDomainRow,
    LinkRow,
    PersonRow,
    RecordIdentifier,
    SourceRecordRow,
    UtcDateTime,
)
from mpi.store.records import (
    DEMOGRAPHIC_COLUMNS,
    SEARCH_KEY_COLUMNS,
    RecordRepository,
    fold_name,
    record_columns,
)

__all__ = ["LOAD_INDEXES", "BulkLink", "BulkLoader", "StoredDemographics"]

_CHUNK = 5000
_ROWS_PER_INSERT = 500
_SQLITE_MAX_PARAMS = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
_ANALYZE_MIN_ROWS = 2_000
_ANALYZED = ("source_record", "blocking_key", "link", "enterprise_person", "record_identifier")


LOAD_INDEXES = (
    "ix_blocking_key_key_hash",
    "ix_source_record_birth_date",
    "ix_source_record_family_key",
    "ix_source_record_given_key",
    "ix_link_person_id",
)
"""Secondary indexes :meth:`BulkLoader.drop_load_indexes` suspends during a large load
(never a primary key or a unique constraint: the load's own checks need those)."""


def _load_indexes() -> list[Index]:
    models = (BlockingKey, SourceRecordRow, LinkRow)
    tables = [Base.metadata.tables[m.__tablename__] for m in models]
    by_name = {str(ix.name): ix for table in tables for ix in table.indexes}
    return [by_name[name] for name in LOAD_INDEXES]


@dataclass(frozen=True, slots=True)
class BulkLink:
    """A link to insert: record key, person, score and method."""

    record_pk: int
    enterprise_id: str
    score: float
    method: LinkMethod


@dataclass(frozen=True, slots=True)
class StoredDemographics:
    """An active record as the batch matcher needs it: key, name, person and fields."""

    pk: int
    ref: SourceRecordRef
    enterprise_id: str | None
    demographics: Record


class BulkLoader:
    """Batch inserts and scans; every method works on many rows per statement."""

    def __init__(self, ctx: Context, *, by: str = "system") -> None:
        self._ctx = ctx
        self._by = by

    def existing(self, domain: str, source_ids: Sequence[str]) -> dict[str, int]:
        """Which of these ids the domain already has: id → record key.

        Raises:
            UnknownDomain: the domain is not registered.
        """
        self._refresh_statistics()
        return RecordRepository(self._ctx).existing_ids(domain, source_ids)

    def insert_records(self, records: Sequence[NewSourceRecord]) -> list[int]:
        """Insert new records (unlinked) and their carried ids; returns their keys in order.

        Raises:
            UnknownDomain: a record's domain is not registered.
            StoreError: a ``(domain, id)`` exists already (check with :meth:`existing`
                first); the unit of work is then spoiled and must be rolled back.
        """
        now = self._ctx.clock()
        pks = self._allocate_ids(SourceRecordRow, len(records))
        columns = ["id", "domain_id", "source_id", "status", "pid", "created_at", "updated_at"]
        columns += [*DEMOGRAPHIC_COLUMNS, *SEARCH_KEY_COLUMNS]
        active = RecordStatus.ACTIVE.value

        def rows() -> Iterator[tuple[Any, ...]]:
            for pk, r in zip(pks, records, strict=True):
                values = record_columns(r.demographics)
                head = (
                    pk,
                    self._ctx.domain_id(r.ref.domain),
                    r.ref.id,
                    active,
                    dict(r.pid),
                    now,
                    now,
                )
                yield head + tuple(values[c] for c in columns[7:])

        self._write(SourceRecordRow, columns, rows())
        carried = (
            (pk, ref.domain, ref.id)
            for pk, r in zip(pks, records, strict=True)
            for ref in dict.fromkeys(r.identifiers)
        )
        self._write(RecordIdentifier, ["record_id", "namespace", "value"], carried)
        return pks

    def insert_record_columns(
        self,
        domain: str,
        source_ids: Sequence[str],
        demographics: Mapping[str, Sequence[str | None]],
    ) -> list[int]:
        """Insert new records of one domain given column-wise, without PID or carried ids
        (what a loaded export has); returns their keys in order. The same rows as
        :meth:`insert_records` writes, without a Python object per record.

        ``demographics`` maps record fields (:data:`~mpi.store.records.DEMOGRAPHIC_COLUMNS`)
        to one value per record; a missing field is empty.

        Raises:
            UnknownDomain: the domain is not registered.
            StoreError: a ``(domain, id)`` exists already (see :meth:`insert_records`).
        """
        n = len(source_ids)
        if n == 0:
            return []
        unknown = set(demographics) - set(DEMOGRAPHIC_COLUMNS)
        if unknown:
            raise ValueError(f"insert_record_columns: not record fields: {sorted(unknown)}")
        domain_id = self._ctx.domain_id(domain)
        now = self._ctx.clock()
        pks = self._allocate_ids(SourceRecordRow, n)
        head = ["id", "domain_id", "source_id", "status", "pid", "created_at", "updated_at"]
        columns = [*head, *DEMOGRAPHIC_COLUMNS, *SEARCH_KEY_COLUMNS]
        values: list[Any] = [pks, domain_id, source_ids, RecordStatus.ACTIVE.value, {}, now, now]
        empty = [None] * n
        values += [demographics.get(c, empty) for c in DEMOGRAPHIC_COLUMNS]
        values += [_fold_all(demographics.get("family_name", empty))]
        values += [_fold_all(demographics.get("given_name", empty))]
        # Bind conversions (JSON, timestamps) once per constant, per value otherwise.
        for i, convert in self._converters(SourceRecordRow.__table__, columns):
            values[i] = convert(values[i]) if i in (4, 5, 6) else [convert(v) for v in values[i]]
        for i in (1, 3, 4, 5, 6):
            values[i] = repeat(values[i], n)
        self._write_plain("source_record", columns, zip(*values, strict=True))
        return pks

    def insert_blocking_keys(self, rows: Iterable[tuple[int, str]]) -> int:
        """Insert ``(record key, blocking key)`` pairs; returns how many were new per record."""
        pairs = list(rows)
        return self.insert_key_hashes(
            np.array([pk for pk, _ in pairs], dtype=np.int64),
            hash_keys([key for _, key in pairs]),
        )

    def insert_key_hashes(
        self, record_pks: npt.NDArray[np.int64], hashes: npt.NDArray[np.int64]
    ) -> int:
        """Insert blocking keys already hashed (:func:`~mpi.store.blocking.hash_keys`), one
        per ``(record key, hash)``; repeats within the call are dropped. Returns the count.

        The rows go in primary-key order (record, then hash): the keys of new records
        (the highest record keys) are appended to the table.
        """
        if not len(record_pks):
            return 0
        order = np.lexsort((hashes, record_pks))
        h, r = hashes[order], record_pks[order]
        keep = np.ones(len(h), dtype=bool)
        keep[1:] = (h[1:] != h[:-1]) | (r[1:] != r[:-1])
        h, r = h[keep], r[keep]
        rows = zip(r.tolist(), h.tolist(), strict=True)
        self._write_plain("blocking_key", ["record_id", "key_hash"], rows)
        return len(h)

    def create_persons(self, count: int) -> list[str]:
        """Create ``count`` active persons; returns their enterprise ids in creation order."""
        now = self._ctx.clock()
        pks = self._allocate_ids(PersonRow, count)
        active = PersonStatus.ACTIVE.value
        self._write(
            PersonRow,
            ["id", "status", "outbox_seq", "created_at", "updated_at"],
            ((pk, active, 0, now, now) for pk in pks),
        )
        return [format_enterprise_id(pk) for pk in pks]

    def insert_links(self, links: Iterable[BulkLink]) -> int:
        """Insert links of records that have none yet; returns the count.

        Raises:
            NotFound: an enterprise id is malformed.
        """
        now = self._ctx.clock()

        def rows() -> Iterator[tuple[Any, ...]]:
            for link in links:
                person = parse_enterprise_id(link.enterprise_id)
                if person is None:
                    raise NotFound("person", link.enterprise_id, "is not an enterprise id")
                yield (link.record_pk, person, link.score, link.method.value, now, self._by)

        columns = ["record_id", "person_id", "score", "method", "linked_at", "linked_by"]
        return self._write(LinkRow, columns, rows())

    def insert_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Append many audit entries at once; returns the count."""
        now = self._ctx.clock()
        columns = ["at", "actor", "action", "entity_type", "entity_id", "before", "after", "reason"]
        return self._write(
            AuditEvent,
            columns,
            (
                (
                    e.at or now,
                    e.actor,
                    e.action,
                    e.entity_type,
                    e.entity_id,
                    dict(e.before) if e.before is not None else None,
                    dict(e.after) if e.after is not None else None,
                    e.reason,
                )
                for e in entries
            ),
        )

    def count_active(self) -> int:
        """How many active records the index holds."""
        return int(
            self._ctx.session.scalar(
                select(func.count())
                .select_from(SourceRecordRow)
                .where(SourceRecordRow.status == RecordStatus.ACTIVE.value)
            )
            or 0
        )

    def drop_load_indexes(self, names: Sequence[str] = LOAD_INDEXES) -> list[str]:
        """Drop the secondary indexes a load maintains row by row (:data:`LOAD_INDEXES`, or
        those of them in ``names``);
        returns their names. Recreate them with :meth:`restore_indexes`.

        For a load that at least doubles the index: building an index once over the
        whole table is several times faster than inserting into it row by row. Until
        they are back, lookups by record key, birth date or name scan their tables
        (correct, but slow), so the loader restores them in a ``finally``, and
        :meth:`restore_indexes` also runs at the start of every load (a killed load).
        """
        connection = self._ctx.session.connection()
        dropped = []
        for index in _load_indexes():
            if index.name not in names:
                continue
            index.drop(connection, checkfirst=True)
            dropped.append(str(index.name))
        return dropped

    def restore_indexes(self) -> list[str]:
        """Create any of :data:`LOAD_INDEXES` that is missing; returns the created ones."""
        connection = self._ctx.session.connection()
        existing = {
            (table, ix["name"])
            for table in {str(ix.table.name) for ix in _load_indexes()}  # type: ignore[union-attr]
            for ix in inspect(connection).get_indexes(table)
        }
        created = []
        for index in _load_indexes():
            if (str(index.table.name), index.name) not in existing:  # type: ignore[union-attr]
                index.create(connection)
                created.append(str(index.name))
        return created

    def iter_active(self, *, batch_size: int = 10_000) -> Iterator[list[StoredDemographics]]:
        """Every active record's demographics and person, in key order, a batch at a time.

        For matching a load against the whole index with the vectorised path.
        """
        columns = [getattr(SourceRecordRow, c) for c in DEMOGRAPHIC_COLUMNS]
        after = 0
        while True:
            rows = self._ctx.session.execute(
                select(
                    SourceRecordRow.id,
                    IdentityDomainRow.namespace,
                    SourceRecordRow.source_id,
                    LinkRow.person_id,
                    *columns,
                )
                .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
                .outerjoin(LinkRow, LinkRow.record_id == SourceRecordRow.id)
                .where(
                    SourceRecordRow.status == RecordStatus.ACTIVE.value,
                    SourceRecordRow.id > after,
                )
                .order_by(SourceRecordRow.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            yield [_stored(row) for row in rows]
            after = rows[-1][0]

    def _refresh_statistics(self) -> None:
        """ANALYZE the growing tables on PostgreSQL once they changed by half since the last time.

        A load grows the tables faster than autovacuum re-analyzes them; with
        stale statistics the planner scans ``source_record`` for every lookup and
        a load slows down quadratically.
        """
        if self._dialect != "postgresql":
            return
        changed, rows = self._ctx.session.execute(
            text(
                "SELECT n_mod_since_analyze, reltuples FROM pg_stat_user_tables s "
                "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'source_record'"
            )
        ).one()
        if changed > max(_ANALYZE_MIN_ROWS, 0.3 * max(rows, 0)):
            self._ctx.session.execute(text(f"ANALYZE {', '.join(_ANALYZED)}"))

    def _allocate_ids(self, model: type[Any], count: int) -> list[int]:
        """Reserve ``count`` keys so rows can be written without RETURNING.

        PostgreSQL: from the column's own sequence (as an ordinary insert would).
        SQLite: above the current maximum; safe because a writing unit of work
        holds the database's write lock from its first statement (BEGIN IMMEDIATE).
        """
        if count == 0:
            return []
        table = model.__table__.name
        session = self._ctx.session
        if self._dialect == "postgresql":
            seq = f"pg_get_serial_sequence('{table}', 'id')"
            rows = session.execute(
                text(f"SELECT nextval({seq}) FROM generate_series(1, :n)"), {"n": count}
            )
            return sorted(int(pk) for (pk,) in rows)
        top = session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
        return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))

    def _write(
        self, model: type[Any], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> int:
        """Write rows (tuples in ``columns`` order) in chunks: COPY on PostgreSQL, executemany
        on SQLite, both on the unit of work's own connection and transaction."""
        table = model.__table__
        convert = self._converters(table, columns)
        connection = self._ctx.session.connection()
        raw = connection.connection.driver_connection
        assert raw is not None
        names = ", ".join(f'"{c}"' for c in columns)
        total = 0
        it = iter(rows)
        while chunk := list(islice(it, _CHUNK)):
            prepared: list[Any] = chunk
            if convert:
                prepared = [list(row) for row in chunk]
                for row in prepared:
                    for i, f in convert:
                        row[i] = f(row[i])
            if self._dialect == "postgresql":
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
                ):
                    for row in prepared:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cur = raw.cursor()
                try:
                    cur.executemany(
                        f"INSERT INTO {table.name} ({names}) VALUES ({marks})", prepared
                    )
                finally:
                    cur.close()
            total += len(chunk)
        return total

    def _write_plain(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        """Write rows whose values need no conversion (numbers, text), all in one go.

        SQLite: several rows per ``INSERT`` (one statement step per row is most of
        the cost of a narrow row); PostgreSQL: ``COPY``.
        """
        raw = self._ctx.session.connection().connection.driver_connection
        assert raw is not None
        names = ", ".join(f'"{c}"' for c in columns)
        if self._dialect == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        one = "(" + ", ".join("?" for _ in columns) + ")"
        per = max(1, min(_ROWS_PER_INSERT, _SQLITE_MAX_PARAMS // len(columns)))
        single = f"INSERT INTO {table} ({names}) VALUES {one}"
        multi = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([one] * per)
        cur = raw.cursor()
        try:
            it = iter(rows)
            while chunk := list(islice(it, per * 200)):
                full = len(chunk) // per * per
                groups = (
                    tuple(chain.from_iterable(chunk[i : i + per])) for i in range(0, full, per)
                )
                cur.executemany(multi, groups)
                if full < len(chunk):
                    cur.executemany(single, chunk[full:])
        finally:
            cur.close()

    def _converters(
        self, table: Any, columns: Sequence[str]
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        """The columns whose Python values need converting, with the function that does it."""
        dialect = self._ctx.session.get_bind().dialect
        out: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(columns):
            column_type = table.c[name].type
            if isinstance(column_type, JSON):
                out.append((i, _json_text))
            elif isinstance(column_type, UtcDateTime):
                # Every row of a batch carries the same few timestamps: convert each once.
                when: Callable[[Any], Any] | None = _aware_utc
                if self._dialect == "sqlite":
                    when = column_type.dialect_impl(dialect).bind_processor(dialect)
                assert when is not None
                out.append((i, lru_cache(maxsize=64)(when)))
            elif self._dialect == "sqlite":
                # SQLAlchemy's own bind processing, so values read back the same way.
                process = column_type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    out.append((i, process))
        return out

    @property
    def _dialect(self) -> str:
        return str(self._ctx.session.get_bind().dialect.name)


def _fold_all(names: Sequence[str | None]) -> list[str | None]:
    """:func:`~mpi.store.records.fold_name` of many names, each distinct name folded once."""
    folded = {name: fold_name(name) for name in set(names)}
    return [folded[name] for name in names]


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"timestamp: {value!r} must be timezone-aware")
    return value.astimezone(UTC)


def _stored(row: Any) -> StoredDemographics:
    pk, namespace, source_id, person = row[0], row[1], row[2], row[3]
    ref = SourceRecordRef(namespace, source_id)
    values = dict(zip(DEMOGRAPHIC_COLUMNS, row[4:], strict=True))
    return StoredDemographics(
        pk=pk,
        ref=ref,
        enterprise_id=format_enterprise_id(person) if person is not None else None,
        demographics=Record(record_id=str(ref), **values),
    )
