"""Source records: register, update, look up, search, and subsume (A40)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    union,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.base import Executable

from matching.normalise import normalise_name
from matching.record import FIELDS, Record
from mpi.domain import (
    NewSourceRecord,
    PersonStatus,
    RecordQuery,
    RecordStatus,
    SourceRecord,
    SourceRecordRef,
    parse_enterprise_id,
)
from mpi.errors import DuplicateRecord, NotFound
from mpi.store._base import (
    Context,
    chunks,
    enterprise_id,
    is_unique_violation,
    placeholder,
)
from mpi.store.models import (
    Base,
    BlockingKey,
    IdentityDomainRow,
    LinkRow,
    PersonRow,
    RecordIdentifier,
    SourceRecordRow,
    UtcDateTime,
)

__all__ = [
    "DEMOGRAPHIC_COLUMNS",
    "SEARCH_KEY_COLUMNS",
    "CrossReferences",
    "RecordRepository",
    "RecordView",
    "fold_name",
    "record_columns",
]

DEMOGRAPHIC_COLUMNS: tuple[str, ...] = tuple(f for f in FIELDS if f != "record_id")
"""The matcher's fields, stored as columns of the same names."""

_SELECT_COLUMNS = (SourceRecordRow, IdentityDomainRow.namespace, LinkRow.person_id)


SEARCH_KEY_COLUMNS: tuple[str, ...] = ("family_key", "given_key")
"""Derived columns stored beside the demographics for indexed demographic search."""


def fold_name(name: str | None) -> str | None:
    """A name as searched: normalised as the matcher does (``Müller``, ``MUELLER`` → ``mueller``).

    The same fold as :func:`matching.normalise.normalise_name`, so a PDQ search and
    the matcher agree on which spellings are one name (case, accents, umlauts
    written ``ae/oe/ue``, ``ß`` as ``ss``, punctuation).
    """
    return normalise_name(name)


def record_columns(record: Record) -> dict[str, Any]:
    """The column values of a record's demographics, search keys included."""
    values: dict[str, Any] = {name: getattr(record, name) for name in DEMOGRAPHIC_COLUMNS}
    values["family_key"] = fold_name(record.family_name)
    values["given_key"] = fold_name(record.given_name)
    return values


def _xref_statement() -> Select[Any]:
    """A record's status and its person's active records (built once: statements are cached)."""
    own, own_domain = SourceRecordRow.__table__.alias("own"), IdentityDomainRow.__table__.alias()
    link, other_link = LinkRow.__table__.alias("l1"), LinkRow.__table__.alias("l2")
    other, other_domain = (
        SourceRecordRow.__table__.alias("other"),
        IdentityDomainRow.__table__.alias(),
    )
    active = RecordStatus.ACTIVE.value
    return (
        select(own.c.status, own.c.subsumed_by_id, link.c.person_id, other_domain.c.namespace,
               other.c.source_id)
        .select_from(own)
        .join(own_domain, own_domain.c.id == own.c.domain_id)
        .outerjoin(link, link.c.record_id == own.c.id)
        .outerjoin(other_link, other_link.c.person_id == link.c.person_id)
        .outerjoin(other, and_(other.c.id == other_link.c.record_id, other.c.status == active))
        .outerjoin(other_domain, other_domain.c.id == other.c.domain_id)
        .where(
            own_domain.c.namespace == bindparam("namespace"),
            own.c.source_id == bindparam("source_id"),
        )
    )  # fmt: skip


_XREF = _xref_statement()


_RECORDS = SourceRecordRow.__table__
_ACTIVE = RecordStatus.ACTIVE.value

_OWN_ID = (
    select(_RECORDS.c.id)
    .join(IdentityDomainRow.__table__, IdentityDomainRow.__table__.c.id == _RECORDS.c.domain_id)
    .where(
        IdentityDomainRow.__table__.c.namespace == bindparam("namespace"),
        _RECORDS.c.source_id == bindparam("value"),
        _RECORDS.c.status == _ACTIVE,
    )
)
_CARRIED_ID = (
    select(RecordIdentifier.__table__.c.record_id)
    .join(_RECORDS, _RECORDS.c.id == RecordIdentifier.__table__.c.record_id)
    .where(
        RecordIdentifier.__table__.c.namespace == bindparam("namespace"),
        RecordIdentifier.__table__.c.value == bindparam("value"),
        _RECORDS.c.status == _ACTIVE,
    )
)
_PERSON_REFS = (
    select(
        LinkRow.__table__.c.person_id, IdentityDomainRow.__table__.c.namespace, _RECORDS.c.source_id
    )
    .join(_RECORDS, _RECORDS.c.id == LinkRow.__table__.c.record_id)
    .join(IdentityDomainRow.__table__, IdentityDomainRow.__table__.c.id == _RECORDS.c.domain_id)
    .where(
        LinkRow.__table__.c.person_id.in_(bindparam("persons", expanding=True)),
        _RECORDS.c.status == _ACTIVE,
    )
    .order_by(IdentityDomainRow.__table__.c.namespace, _RECORDS.c.source_id)
)
_VIEWS = (
    select(
        _RECORDS.c.id,
        _RECORDS.c.source_id,
        _RECORDS.c.pid,
        *(_RECORDS.c[name] for name in DEMOGRAPHIC_COLUMNS),
        IdentityDomainRow.__table__.c.namespace,
        LinkRow.__table__.c.person_id,
    )
    .join(IdentityDomainRow.__table__, IdentityDomainRow.__table__.c.id == _RECORDS.c.domain_id)
    .outerjoin(LinkRow.__table__, LinkRow.__table__.c.record_id == _RECORDS.c.id)
)
_VIEWS_BY_PK = _VIEWS.where(
    _RECORDS.c.id.in_(bindparam("pks", expanding=True)), _RECORDS.c.status == _ACTIVE
)
_SEARCHES: dict[tuple[str, tuple[str, ...], bool], Select[Any]] = {}


def _search_statement(dialect: str, shape: tuple[str, ...], views: bool) -> Select[Any]:
    """The PDQ search statement for one shape of query (built once, then from the cache).

    ``views``: select the :class:`RecordView` columns (else only the key).
    """
    key = (dialect, shape, views)
    cached = _SEARCHES.get(key)
    if cached is not None:
        return cached
    c = _RECORDS.c
    where: list[ColumnElement[bool]] = [c.status == _ACTIVE]
    for name, column in (("family", c.family_key), ("given", c.given_key)):
        if name in shape:
            where.append(column == bindparam(name))
        elif f"{name}*" in shape:
            op = column.op("GLOB") if dialect == "sqlite" else column.like
            where.append(op(bindparam(name)))
    if "dob" in shape:
        where.append(c.birth_date == bindparam("dob"))
    if "dob-range" in shape:
        where += [c.birth_date >= bindparam("dob"), c.birth_date < bindparam("dob_end")]
    if "sex" in shape:
        where.append(c.sex == bindparam("sex"))
    if "domain" in shape:
        where.append(c.domain_id == bindparam("domain"))
    if "id-prefix" in shape:
        where.append(c.source_id.like(bindparam("id_prefix"), escape="/"))
    statement = (_VIEWS if views else select(c.id)).where(*where)
    if "within" in shape:
        statement = statement.where(c.id.in_(bindparam("within", expanding=True)))
    else:
        statement = statement.order_by(c.id).limit(bindparam("limit"))
    _SEARCHES[key] = statement
    return statement


@dataclass(frozen=True, slots=True)
class RecordView:
    """An active record as a query answer needs it: no timestamps, no carried ids.

    Attributes:
        pk, ref, enterprise_id, demographics: as in :class:`~mpi.domain.SourceRecord`.
        pid: the whole PID as stored (JSON).
    """

    pk: int
    ref: SourceRecordRef
    enterprise_id: str | None
    demographics: Record
    pid: Mapping[str, Any]


def _view(row: Any) -> RecordView:
    values = {name: row._mapping[name] for name in DEMOGRAPHIC_COLUMNS}
    ref = SourceRecordRef(row.namespace, row.source_id)
    return RecordView(
        pk=row.id,
        ref=ref,
        enterprise_id=enterprise_id(row.person_id) if row.person_id else None,
        demographics=Record(record_id=str(ref), **values),
        pid=row.pid if isinstance(row.pid, dict) else {},
    )


@dataclass(frozen=True, slots=True)
class CrossReferences:
    """What a PIX query needs about one identifier, read in one statement.

    Attributes:
        ref: the record looked up.
        status: active or subsumed.
        subsumed_by: the surviving record of an A40 merge (``status`` subsumed).
        enterprise_id: the person it is linked to (``None``: unlinked or subsumed).
        refs: the active records linked to that person, by domain and id (``ref``
            itself included when active).
    """

    ref: SourceRecordRef
    status: RecordStatus
    subsumed_by: SourceRecordRef | None
    enterprise_id: str | None
    refs: tuple[SourceRecordRef, ...]


class RecordRepository:
    """Source records, one per ``(domain, id)``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def add(self, new: NewSourceRecord) -> SourceRecord:
        """Register a record (not yet linked to a person).

        Raises:
            UnknownDomain: the record's domain is not registered.
            DuplicateRecord: the ``(domain, id)`` exists, perhaps just registered by
                another connection. The unit of work stays usable: re-read and update.
        """
        now = self._ctx.clock()
        row = SourceRecordRow(
            domain_id=self._ctx.domain_id(new.ref.domain),
            source_id=new.ref.id,
            status=RecordStatus.ACTIVE.value,
            pid=dict(new.pid),
            created_at=now,
            updated_at=now,
            **record_columns(new.demographics),
        )
        try:
            with self._ctx.savepoint():
                self._ctx.session.add(row)
                self._ctx.session.flush()
        except IntegrityError as e:
            if not is_unique_violation(e):
                raise
            raise DuplicateRecord(new.ref.domain, new.ref.id) from e
        carried = self._set_identifiers(row.id, new.identifiers)
        # Built from the flushed row: a new record has no link and is subsumed by none.
        return to_source_record(row, new.ref.domain, None, carried)

    def update(self, new: NewSourceRecord) -> SourceRecord:
        """Replace a record's demographics, PID and carried ids (ITI-8 A08); its link stays.

        Raises:
            NotFound: the record is not registered.
        """
        row = self._row_for_update(new.ref)
        for name, value in record_columns(new.demographics).items():
            setattr(row, name, value)
        row.pid = dict(new.pid)
        row.updated_at = self._ctx.clock()
        self._ctx.session.execute(
            delete(RecordIdentifier).where(RecordIdentifier.record_id == row.id)
        )
        self._set_identifiers(row.id, new.identifiers)
        return self._require_pk(row.id)

    def get(self, ref: SourceRecordRef, *, for_update: bool = False) -> SourceRecord | None:
        """The record, or ``None``; ``for_update`` locks its row until commit (PostgreSQL).

        Raises:
            UnknownDomain: the domain is not registered.
        """
        query = self._select().where(
            SourceRecordRow.domain_id == self._ctx.domain_id(ref.domain),
            SourceRecordRow.source_id == ref.id,
        )
        if for_update:
            query = query.with_for_update(of=SourceRecordRow)
        found = self._load(query)
        return found[0] if found else None

    def require(self, ref: SourceRecordRef, *, for_update: bool = False) -> SourceRecord:
        """Like :meth:`get`, but a missing record is an error.

        Raises:
            UnknownDomain: the domain is not registered.
            NotFound: the record is not registered.
        """
        found = self.get(ref, for_update=for_update)
        if found is None:
            raise NotFound("source record", str(ref), "is not registered")
        return found

    def by_pks(self, pks: Iterable[int]) -> list[SourceRecord]:
        """The records with these keys, in the order given (unknown keys are skipped)."""
        wanted = list(dict.fromkeys(pks))
        by_pk: dict[int, SourceRecord] = {}
        for chunk in chunks(wanted, 500):
            for record in self._load(self._select().where(SourceRecordRow.id.in_(chunk))):
                by_pk[record.pk] = record
        return [by_pk[pk] for pk in wanted if pk in by_pk]

    def existing_refs(self, refs: Iterable[SourceRecordRef]) -> set[SourceRecordRef]:
        """Which of these ids are registered (active or subsumed): one query per domain.

        Raises:
            UnknownDomain: a domain is not registered.
        """
        by_domain: dict[str, list[str]] = {}
        for ref in dict.fromkeys(refs):
            by_domain.setdefault(ref.domain, []).append(ref.id)
        return {
            SourceRecordRef(namespace, sid)
            for namespace, ids in by_domain.items()
            for sid in self.existing_ids(namespace, ids)
        }

    def existing_ids(self, domain: str, source_ids: Sequence[str]) -> dict[str, int]:
        """Which of these ids the domain already has (active or subsumed): id → record key.

        Raises:
            UnknownDomain: the domain is not registered.
        """
        domain_id = self._ctx.domain_id(domain)
        found: dict[str, int] = {}
        # The driver's own SQL: the feed asks once a batch, and SQLAlchemy's statement
        # work cost ten times the look-up (~140 against ~16 µs, Dec 2026).
        connection = self._ctx.driver_connection()
        mark = placeholder(connection.dialect.paramstyle)
        for chunk in chunks(list(dict.fromkeys(source_ids)), 500):
            rows = connection.exec_driver_sql(
                f"SELECT source_id, id FROM {SourceRecordRow.__tablename__}"
                f" WHERE domain_id = {mark} AND source_id IN ({', '.join([mark] * len(chunk))})",
                (domain_id, *chunk),
            ).all()
            found.update({sid: pk for sid, pk in rows})
        return found

    def match_views(self, pks: Iterable[int]) -> list[SourceRecord]:
        """The records with these keys, in the order given, as the matcher sees them.

        ``pid`` is empty, ``identifiers`` is ``()`` and ``subsumed_by`` is ``None``;
        use :meth:`by_pks` for the full records. See :meth:`match_views_and_persons`.
        """
        return self.match_views_and_persons(pks)[0]

    def match_views_and_persons(
        self, pks: Iterable[int]
    ) -> tuple[list[SourceRecord], frozenset[str]]:
        """:meth:`match_views`, and which of their persons are active (not merged away).

        One driver-level statement per 500 keys (the feed reads ~30 candidates a
        message): SQLAlchemy's statement and row processing cost twice the query
        (1.3 against 0.45 ms a message at 1M records, measured Dec 2026).
        """
        wanted = list(dict.fromkeys(pks))
        by_pk: dict[int, SourceRecord] = {}
        active_persons: set[str] = set()
        connection = self._ctx.driver_connection()
        dialect = connection.dialect
        to_utc = _timestamp_reader(dialect)
        active = RecordStatus.ACTIVE
        person_active = PersonStatus.ACTIVE.value
        for chunk in chunks(wanted, 500):
            sql, params = _match_sql(dialect.name, dialect.paramstyle, chunk)
            for row in connection.exec_driver_sql(sql, params).all():
                pk, source_id, status, created, updated, namespace, person, person_status = row[
                    :_MATCH_FIXED
                ]
                eid = enterprise_id(person) if person is not None else None
                if eid is not None and person_status == person_active:
                    active_persons.add(eid)
                by_pk[pk] = SourceRecord(
                    pk=pk,
                    ref=SourceRecordRef(namespace, source_id),
                    demographics=Record(f"{namespace}|{source_id}", *row[_MATCH_FIXED:]),
                    pid={},
                    status=active if status == active.value else RecordStatus(status),
                    enterprise_id=eid,
                    created_at=to_utc(created),
                    updated_at=to_utc(updated),
                )
        views = [by_pk[pk] for pk in wanted if pk in by_pk]
        return views, frozenset(active_persons)

    def for_person(self, enterprise_id_: str) -> list[SourceRecord]:
        """The records linked to a person, by domain and id.

        Raises:
            NotFound: no such person.
        """
        person = self._ctx.person_pk(enterprise_id_)
        query = (
            self._select()
            .where(LinkRow.person_id == person)
            .order_by(IdentityDomainRow.namespace, SourceRecordRow.source_id)
        )
        return self._load(query)

    def for_persons(self, enterprise_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
        """:meth:`for_person` for many persons in one query a few hundred: per enterprise id
        asked, its records by domain and id (a person without records, or no person, is left
        out)."""
        asked = {n: eid for eid in enterprise_ids if (n := parse_enterprise_id(eid)) is not None}
        out: dict[str, list[SourceRecord]] = {}
        for chunk in chunks(list(asked), 500):
            # From the links (the person index), sorted here: ordered by domain and id in SQL,
            # SQLite walked every record of each domain to skip the sort (1.2M at 1M persons).
            query = (
                select(*_SELECT_COLUMNS)
                .select_from(LinkRow)
                .join(SourceRecordRow, SourceRecordRow.id == LinkRow.record_id)
                .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
                .where(LinkRow.person_id.in_(chunk))
            )
            for record in self._load(query):
                number = parse_enterprise_id(record.enterprise_id or "")
                if number is not None and number in asked:
                    out.setdefault(asked[number], []).append(record)
        for records in out.values():
            records.sort(key=lambda r: (r.ref.domain, r.ref.id))
        return out

    def with_identifier(self, ref: SourceRecordRef) -> list[SourceRecord]:
        """Active records whose own id, or a carried id, is ``ref`` (deterministic linking).

        An unregistered domain is fine here: its ids can still be carried in PID-3.
        """
        query = self._select().where(
            SourceRecordRow.status == RecordStatus.ACTIVE.value,
            SourceRecordRow.id.in_(_records_with_identifier(ref)),
        )
        return self._load(query.order_by(SourceRecordRow.id))

    def cross_references(self, ref: SourceRecordRef) -> CrossReferences | None:
        """The record's status and its person's active records, in one indexed statement (PIX).

        Returns:
            ``None`` when no record has this domain and id (an unregistered domain
            included: the caller checks domains against its registry).
        """
        rows = self._core(_XREF, {"namespace": ref.domain, "source_id": ref.id}).all()
        if not rows:
            return None
        status, subsumed_pk, person_pk = rows[0][0], rows[0][1], rows[0][2]
        refs = sorted({SourceRecordRef(ns, sid) for *_, ns, sid in rows if ns is not None})
        subsumed_by = self._refs([subsumed_pk]).get(subsumed_pk) if subsumed_pk else None
        return CrossReferences(
            ref=ref,
            status=RecordStatus(status),
            subsumed_by=subsumed_by,
            enterprise_id=enterprise_id(person_pk) if person_pk is not None else None,
            refs=tuple(refs) if person_pk is not None else (),
        )

    def person_refs(self, enterprise_id_: str) -> list[SourceRecordRef]:
        """The active records linked to a person, by domain and id (one statement).

        Raises:
            NotFound: no such person.
        """
        person = self._ctx.person_pk(enterprise_id_)
        rows = self._ctx.session.execute(
            select(IdentityDomainRow.namespace, SourceRecordRow.source_id)
            .join(SourceRecordRow, SourceRecordRow.domain_id == IdentityDomainRow.id)
            .join(LinkRow, LinkRow.record_id == SourceRecordRow.id)
            .where(
                LinkRow.person_id == person,
                SourceRecordRow.status == RecordStatus.ACTIVE.value,
            )
            .order_by(IdentityDomainRow.namespace, SourceRecordRow.source_id)
        )
        return [SourceRecordRef(ns, sid) for ns, sid in rows]

    def refs_of_persons(self, enterprise_ids: Iterable[str]) -> dict[str, list[SourceRecordRef]]:
        """The active records of several persons at once, by domain and id (unknown ids: none)."""
        pks = {n: e for e in enterprise_ids if (n := parse_enterprise_id(e)) is not None}
        out: dict[str, list[SourceRecordRef]] = {e: [] for e in pks.values()}
        for chunk in chunks(sorted(pks), 500):
            rows = self._core(_PERSON_REFS, {"persons": list(chunk)})
            for person, ns, sid in rows:
                out[pks[person]].append(SourceRecordRef(ns, sid))
        return out

    def subsume(self, prior: SourceRecordRef, survivor: SourceRecordRef) -> SourceRecord:
        """Mark ``prior`` as subsumed by ``survivor`` (ITI-8 A40); drop its link and blocking keys.

        The prior id then no longer appears in PIX/PDQ answers or as a candidate.
        Moving links and notifying is the service's part.

        Raises:
            NotFound: either record is not registered.
        """
        survivor_pk = self._ctx.record_pk(survivor)
        row = self._row_for_update(prior)
        row.status = RecordStatus.SUBSUMED.value
        row.subsumed_by_id = survivor_pk
        row.updated_at = self._ctx.clock()
        self._ctx.session.execute(delete(LinkRow).where(LinkRow.record_id == row.id))
        self._ctx.session.execute(delete(BlockingKey).where(BlockingKey.record_id == row.id))
        return self._require_pk(row.id)

    def search(
        self, query: RecordQuery, *, offset: int = 0, limit: int = 100
    ) -> list[SourceRecord]:
        """Active records meeting every criterion, by family name, given name and key (PDQ)."""
        select_ = (
            self._select()
            .where(*self._criteria(query))
            .order_by(SourceRecordRow.family_key, SourceRecordRow.given_key, SourceRecordRow.id)
            .offset(offset)
            .limit(limit)
        )
        return self._load(select_)

    def search_pks(
        self,
        query: RecordQuery,
        *,
        within: Iterable[int] | None = None,
        domain: str | None = None,
        id_prefix: str | None = None,
        limit: int = 1000,
    ) -> list[int]:
        """Keys of the active records meeting every criterion (see :meth:`search_views`)."""
        rows = self._search(query, within, domain, id_prefix, limit, views=False)
        return [row.id for row in rows]

    def search_views(
        self,
        query: RecordQuery,
        *,
        within: Iterable[int] | None = None,
        domain: str | None = None,
        id_prefix: str | None = None,
        limit: int = 1000,
    ) -> list[RecordView]:
        """The active records meeting every criterion, in key order, at most ``limit``.

        Each criterion is served by an index: names by ``family_key``/``given_key``
        (exact or prefix), the birth date by range, the identifier by the
        ``(domain, id)`` unique key and the carried-id index (resolved first, so
        no OR across tables defeats the planner). ``within`` restricts the result
        to records already found by another index (a phone's blocking key, a
        mother's id); ``domain`` to the records of one domain, and ``id_prefix``
        (with ``domain``) to its ids starting so (a wildcard id search).
        Statements are built once per shape of query and then reused.

        Raises:
            UnknownDomain: ``domain`` is not registered.
        """
        rows = self._search(query, within, domain, id_prefix, limit, views=True)
        return [_view(row) for row in rows]

    def _search(
        self,
        query: RecordQuery,
        within: Iterable[int] | None,
        domain: str | None,
        id_prefix: str | None,
        limit: int,
        *,
        views: bool,
    ) -> list[Any]:
        shape: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        for name, value in (("family", query.family_name), ("given", query.given_name)):
            if value:
                folded = fold_name(value.rstrip("*")) or ""
                if value.endswith("*"):
                    shape.append(f"{name}*")
                    params[name] = folded + ("*" if self._dialect() == "sqlite" else "%")
                else:
                    shape.append(name)
                    params[name] = folded
        if query.birth_date:
            digits = query.birth_date
            if len(digits) >= 8 or not digits.isdigit():
                shape.append("dob")
                params["dob"] = digits
            else:
                shape.append("dob-range")
                params["dob"], params["dob_end"] = digits, str(int(digits) + 1).zfill(len(digits))
        if query.sex:
            shape.append("sex")
            params["sex"] = query.sex
        if domain is not None:
            shape.append("domain")
            params["domain"] = self._ctx.domain_id(domain)
            if id_prefix:
                shape.append("id-prefix")
                escaped = id_prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
                params["id_prefix"] = escaped + "%"
        allowed: list[int] | None = None if within is None else list(dict.fromkeys(within))
        if query.identifier is not None:
            by_id = set(self.identifier_pks(query.identifier))
            allowed = sorted(by_id) if allowed is None else [pk for pk in allowed if pk in by_id]
        if allowed is not None:
            shape.append("within")
        statement = _search_statement(self._dialect(), tuple(shape), views)
        if allowed is None:
            return list(self._core(statement, params))
        found: list[Any] = []
        for chunk in chunks(sorted(allowed), 500):
            found.extend(self._core(statement, {**params, "within": list(chunk)}))
        return sorted(found, key=lambda row: row.id)[:limit]

    def identifier_pks(self, ref: SourceRecordRef) -> list[int]:
        """Keys of the active records whose own id, or a carried id, is ``ref``."""
        params = {"namespace": ref.domain, "value": ref.id}
        own = self._core(_OWN_ID, params).scalars()
        carried = self._core(_CARRIED_ID, params).scalars()
        return sorted({*own, *carried})

    def views(self, pks: Iterable[int]) -> list[RecordView]:
        """The active records with these keys, light (one statement per 500), in the order given."""
        wanted = list(dict.fromkeys(pks))
        by_pk: dict[int, RecordView] = {}
        for chunk in chunks(wanted, 500):
            for row in self._core(_VIEWS_BY_PK, {"pks": list(chunk)}):
                by_pk[row.id] = _view(row)
        return [by_pk[pk] for pk in wanted if pk in by_pk]

    def _core(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        """Run a prebuilt Core statement on the unit of work's connection, past the ORM layer.

        The query paths (PIX, PDQ) read plain columns; skipping the ORM's
        statement handling halves their Python cost per statement. Returns the
        ``CursorResult`` (typed ``Any``: typed rows would need a cast per call).
        """
        return self._ctx.session.connection().execute(statement, params)

    def _dialect(self) -> str:
        return self._ctx.session.get_bind().dialect.name

    def count(self, query: RecordQuery) -> int:
        """How many active records :meth:`search` would find in all."""
        counted = (
            select(func.count())
            .select_from(SourceRecordRow)
            .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
            .where(*self._criteria(query))
        )
        return int(self._ctx.session.scalar(counted) or 0)

    # -- helpers ---------------------------------------------------------------------------------

    def _criteria(self, q: RecordQuery) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [SourceRecordRow.status == RecordStatus.ACTIVE.value]
        for column, value in (
            (SourceRecordRow.family_key, q.family_name),
            (SourceRecordRow.given_key, q.given_name),
        ):
            if value:
                folded = fold_name(value.rstrip("*")) or ""
                if value.endswith("*"):
                    where.append(self._prefix(column, folded))
                else:
                    where.append(column == folded)
        if q.birth_date:
            where.append(_birth_date_criterion(q.birth_date))
        if q.sex:
            where.append(SourceRecordRow.sex == q.sex)
        if q.identifier is not None:
            where.append(SourceRecordRow.id.in_(_records_with_identifier(q.identifier)))
        return where

    def _prefix(self, column: Any, prefix: str) -> ColumnElement[bool]:
        """``column`` starts with ``prefix``, served by the column's index on both databases.

        Search keys hold only ``[a-z -]`` (see :func:`fold_name`), so neither
        pattern needs escaping: SQLite's GLOB is case-sensitive and so can use
        the plain index; PostgreSQL's LIKE uses the ``varchar_pattern_ops`` one.
        """
        if not prefix:
            return column.is_not(None)  # type: ignore[no-any-return]
        if self._ctx.session.get_bind().dialect.name == "sqlite":
            return column.op("GLOB")(prefix + "*")  # type: ignore[no-any-return]
        return column.like(prefix + "%")  # type: ignore[no-any-return]

    def _select(self) -> Select[Any, Any, Any]:
        return (
            select(*_SELECT_COLUMNS)
            .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
            .outerjoin(LinkRow, LinkRow.record_id == SourceRecordRow.id)
        )

    def _load(self, query: Select[Any, Any, Any]) -> list[SourceRecord]:
        rows = self._ctx.session.execute(query).all()
        pks = [row.id for row, _, _ in rows]
        carried = self._identifiers(pks)
        subsumed = self._refs([r.subsumed_by_id for r, _, _ in rows if r.subsumed_by_id])
        return [
            to_source_record(
                row,
                namespace,
                person,
                carried.get(row.id, ()),
                subsumed.get(row.subsumed_by_id) if row.subsumed_by_id else None,
            )
            for row, namespace, person in rows
        ]

    def _identifiers(self, pks: Sequence[int]) -> dict[int, tuple[SourceRecordRef, ...]]:
        out: dict[int, list[SourceRecordRef]] = {}
        for chunk in chunks(list(pks), 500):
            rows = self._ctx.session.execute(
                select(
                    RecordIdentifier.record_id, RecordIdentifier.namespace, RecordIdentifier.value
                )
                .where(RecordIdentifier.record_id.in_(chunk))
                .order_by(RecordIdentifier.namespace, RecordIdentifier.value)
            )
            for pk, ns, value in rows:
                out.setdefault(pk, []).append(SourceRecordRef(ns, value))
        return {pk: tuple(refs) for pk, refs in out.items()}

    def _refs(self, pks: Sequence[int]) -> dict[int, SourceRecordRef]:
        if not pks:
            return {}
        rows = self._ctx.session.execute(
            select(SourceRecordRow.id, IdentityDomainRow.namespace, SourceRecordRow.source_id)
            .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
            .where(SourceRecordRow.id.in_(pks))
        )
        return {pk: SourceRecordRef(ns, sid) for pk, ns, sid in rows}

    def _row_for_update(self, ref: SourceRecordRef) -> SourceRecordRow:
        pk = self._ctx.record_pk(ref)
        row = self._ctx.session.scalar(
            select(SourceRecordRow).where(SourceRecordRow.id == pk).with_for_update()
        )
        assert row is not None
        return row

    def _require_pk(self, pk: int) -> SourceRecord:
        self._ctx.session.flush()
        found = self.by_pks([pk])
        assert found, pk
        return found[0]

    def _set_identifiers(
        self, pk: int, identifiers: Iterable[SourceRecordRef]
    ) -> tuple[SourceRecordRef, ...]:
        """Store the carried ids (one Core insert); returns them in :meth:`_identifiers` order."""
        carried = tuple(sorted(dict.fromkeys(identifiers), key=lambda r: (r.domain, r.id)))
        if carried:
            self._ctx.session.execute(
                insert(Base.metadata.tables[RecordIdentifier.__tablename__]),
                [{"record_id": pk, "namespace": r.domain, "value": r.id} for r in carried],
            )
        return carried


_MATCH_FIXED = 8
"""Columns before the demographics in :func:`_match_sql`."""


_MATCH_HEAD = (
    "SELECT r.id, r.source_id, r.status, r.created_at, r.updated_at, d.namespace,"
    " l.person_id, p.status, "
    + ", ".join(f"r.{name}" for name in DEMOGRAPHIC_COLUMNS)
    + f" FROM {SourceRecordRow.__tablename__} r"
    f" JOIN {IdentityDomainRow.__tablename__} d ON d.id = r.domain_id"
    f" LEFT JOIN {LinkRow.__tablename__} l ON l.record_id = r.id"
    f" LEFT JOIN {PersonRow.__tablename__} p ON p.id = l.person_id"
)
"""The select of :meth:`RecordRepository.match_views_and_persons` up to its condition."""


def _match_sql(dialect: str, paramstyle: str, pks: Sequence[int]) -> tuple[str, Any]:
    """The driver's SQL and parameters of :meth:`RecordRepository.match_views_and_persons`."""
    if dialect == "postgresql":
        return f"{_MATCH_HEAD} WHERE r.id = ANY(%s::bigint[])", (list(pks),)
    mark = placeholder(paramstyle)
    return f"{_MATCH_HEAD} WHERE r.id IN ({', '.join([mark] * len(pks))})", tuple(pks)


@lru_cache(maxsize=8)
def _timestamp_reader(dialect: Dialect) -> Callable[[Any], datetime]:
    """Driver timestamps as :class:`~mpi.store.models.UtcDateTime` reads them (its own
    result processing), remembered per value: records written together (a feed run, a
    load batch) share their timestamps."""
    process = UtcDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None
    # Never None: both columns are NOT NULL.
    return cast(Callable[[Any], datetime], lru_cache(maxsize=4096)(process))


def _records_with_identifier(ref: SourceRecordRef) -> CompoundSelect[tuple[int]]:
    """The keys of the records whose own id, or a carried id, is ``ref``.

    Two index look-ups joined by ``UNION``: the same condition written as ``own id
    OR key IN (carried)`` made SQLite and PostgreSQL scan every record (1.07 s against
    0.4 ms on SQLite at 1.2M records, Dec 2026; a test checks the plans)."""
    own = (
        select(SourceRecordRow.id)
        .join(IdentityDomainRow, IdentityDomainRow.id == SourceRecordRow.domain_id)
        .where(IdentityDomainRow.namespace == ref.domain, SourceRecordRow.source_id == ref.id)
    )
    carried = select(RecordIdentifier.record_id).where(
        RecordIdentifier.namespace == ref.domain, RecordIdentifier.value == ref.id
    )
    return union(own, carried)


def _birth_date_criterion(digits: str) -> ColumnElement[bool]:
    """Equal at day precision; else the stored date lies within the year or month given.

    A range rather than LIKE, so both databases use the birth-date index.
    """
    if len(digits) >= 8 or not digits.isdigit():
        return SourceRecordRow.birth_date == digits
    upper = str(int(digits) + 1).zfill(len(digits))
    return and_(SourceRecordRow.birth_date >= digits, SourceRecordRow.birth_date < upper)


def to_source_record(
    row: SourceRecordRow,
    namespace: str,
    person_pk: int | None,
    identifiers: tuple[SourceRecordRef, ...] = (),
    subsumed_by: SourceRecordRef | None = None,
) -> SourceRecord:
    """Map a row (and its domain's namespace and linked person's key) to a domain value."""
    ref = SourceRecordRef(namespace, row.source_id)
    values = {name: getattr(row, name) for name in DEMOGRAPHIC_COLUMNS}
    return SourceRecord(
        pk=row.id,
        ref=ref,
        demographics=Record(record_id=str(ref), **values),
        pid=_frozen_json(row.pid),
        status=RecordStatus(row.status),
        enterprise_id=enterprise_id(person_pk) if person_pk is not None else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        subsumed_by=subsumed_by,
        identifiers=identifiers,
    )


def _frozen_json(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A copy, so a caller mutating the PID cannot change the session's row behind its back.
    return dict(value)
