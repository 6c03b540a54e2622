"""``mpi load``: bulk-load one facility's export into the index, through the feed's matching.

The file is matched as a whole with the vectorised path of :mod:`matching`
(the same model, blocking rules and thresholds as the real-time feed), against
itself and against every active record already in the index:

1. read the CSV (:func:`mpi.batch.csvio.read_table`, line-numbered errors);
   the ``mrn`` column is the id in ``--domain``;
2. ids already loaded with the same demographics are skipped (a second load of
   the same file changes nothing); ids loaded with other demographics are
   updated one by one through :meth:`FeedService.apply_record
   <mpi.service.feed.FeedService.apply_record>` (the feed's A08 path);
3. the new records and the stored ones are blocked and scored together (pairs
   between two stored records are left out: their links are decided already);
   linked pairs are clustered without chaining (twins stay apart). A cluster
   joins the stored person it links to most strongly, or becomes a new person;
4. review-band pairs between records that end in different persons become
   review tasks; the records, blocking keys (the same keys the feed stores),
   persons, links and one audit entry per record are written in batches with
   :class:`~mpi.store.BulkLoader`, each batch in one transaction. Existing
   persons that gain records are announced with ITI-10; persons created by the
   load are not (an initial load is a population, not news).

Concurrent feed traffic waits for a batch's transaction (SQLite) but is not
matched against the load's not-yet-written records.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from matching.blocking import candidate_pairs
from matching.cluster import cluster_pairs
from matching.comparison import PairContext, compare_all
from matching.model import probability
from matching.prepare import PreparedFrame, prepare_frame
from matching.record import FIELDS, Record
from matching.scoring import explain_vector, score_vectors
from mpi.batch.csvio import CsvDataError, CsvUsageError, InvalidValues, read_table
from mpi.domain import (
    AuditEntry,
    IdentityDomain,
    LinkMethod,
    NewSourceRecord,
    SourceRecordRef,
)
from mpi.errors import UnknownDomain
from mpi.service.context import ServiceContext
from mpi.service.feed import FeedOutcome, FeedService
from mpi.service.keys import BlockKeys, block_keys, stored_frame
from mpi.service.notifications import queue_xref_change
from mpi.store import BulkLink, StoredDemographics, UnitOfWork
from mpi.store.review_bulk import BulkReview, bulk_mode, insert_review_tasks

__all__ = ["ID_COLUMN", "LoadSummary", "load_file"]

log = logging.getLogger(__name__)

ID_COLUMN = "mrn"
"""The CSV column holding each record's id in the loaded domain."""

Say = Callable[[str], None]
SUSPEND_INDEXES_MIN = 20_000
"""A load of at least this many new records that (at least) doubles the index writes its
rows without the secondary indexes and builds them once at the end (several times faster)."""
_FIELDS = tuple(f for f in FIELDS if f != "record_id")
_ACTOR = "load"


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load did.

    Attributes:
        records: rows in the file.
        new_records: rows registered now.
        unchanged: rows already loaded with the same demographics (skipped).
        updated: rows already loaded with other demographics (updated).
        persons_created: new enterprise persons.
        auto_links: new records that joined a person holding other records.
        reviews: review tasks opened.
        seconds: wall time.
        cpu_seconds: processor time of this process (what the load costs on an idle machine).
    """

    records: int
    new_records: int
    unchanged: int
    updated: int
    persons_created: int
    auto_links: int
    reviews: int
    seconds: float
    cpu_seconds: float = 0.0


@dataclass(slots=True)
class _Plan:
    """The decisions for the new records, in write order (clusters kept together)."""

    order: npt.NDArray[np.int64]  # positions into the new frame, grouped by person
    person: npt.NDArray[np.int64]  # per new record (write order): existing person code or -1-k
    score: npt.NDArray[np.float64]  # per new record (write order): link score
    keys: BlockKeys  # of the new records, by position in write order
    reviews: list[tuple[str, str, float, dict[str, Any]]]  # record ids, probability, fields
    new_persons: int


def load_file(
    ctx: ServiceContext,
    path: Path,
    domain: str,
    *,
    invalid: InvalidValues = InvalidValues.ERROR,
    batch_size: int = 50_000,
    say: Say = _quiet,
) -> LoadSummary:
    """Load one facility's CSV export into ``domain``.

    Raises:
        CsvUsageError: the file cannot be read or has no ``mrn`` column.
        CsvDataError: a row is wrong (empty or repeated mrn, bad value); lines listed.
        UnknownDomain: ``domain`` is not configured (or is the enterprise domain).
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    # Millions of small objects and no reference cycles: the cyclic collector would
    # only rescan them again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(ctx, path, domain, invalid, batch_size, say, started, cpu_started)
    finally:
        if collecting:
            gc.enable()


def _load(
    ctx: ServiceContext,
    path: Path,
    domain: str,
    invalid: InvalidValues,
    batch_size: int,
    say: Say,
    started: float,
    cpu_started: float,
) -> LoadSummary:
    say(f"reading {path}")
    table = read_table(path, None, invalid)
    for warning in table.warnings:
        say("warning: " + warning)
    mrns = _mrns(path, table.original, table.lines)
    _check_domain(ctx, domain)
    # A load killed while its indexes were dropped left them missing: back first.
    restored = ctx.store.run(lambda uow: uow.bulk.restore_indexes())
    if restored:
        say("restored indexes of an interrupted load: " + ", ".join(restored))
    frame = _frame(table.canonical, domain, mrns)
    del table  # the file as read: as large as the frame, not needed any more
    say(f"{len(frame):,} records read; looking up ids already in the index")
    with ctx.store.unit_of_work(readonly=True) as uow:
        # An index without active records has no records at all (a subsumed id always
        # has an active survivor in its domain): nothing to look up one by one.
        populated = _has_records(uow)
        known = uow.bulk.existing(domain, mrns) if populated else {}
        stored = _stored(uow) if populated else []
    changed, unchanged = _changed(frame, domain, known, stored)
    fresh = frame[~frame["mrn"].isin(known)].reset_index(drop=True) if known else frame
    outcome = FeedOutcome()
    if changed:
        say(f"updating {len(changed):,} records loaded before with other demographics")
        _update(ctx, domain, frame, changed, outcome)
    plan_reviews = 0
    persons_created = auto_links = 0
    if len(fresh):
        stored_now = [s for s in stored if s.ref.domain != domain or s.ref.id not in set(changed)]
        plan = _plan(ctx, fresh, stored_now, say)
        persons_created = plan.new_persons
        auto_links = len(fresh) - plan.new_persons
        plan_reviews = _write(ctx, domain, fresh, stored_now, plan, batch_size, say)
    summary = LoadSummary(
        records=len(frame),
        new_records=len(fresh),
        unchanged=unchanged,
        updated=len(changed),
        persons_created=persons_created + outcome.persons_created,
        auto_links=auto_links + outcome.links,
        reviews=plan_reviews + outcome.reviews,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
    )
    return summary


# -- input ----------------------------------------------------------------------------------------


def _check_domain(ctx: ServiceContext, namespace: str) -> None:
    def check(uow: UnitOfWork) -> None:
        domain = uow.domains.get(namespace)
        if domain is None and ctx.settings.accepts_any_domain:
            uow.domains.add(IdentityDomain(namespace, None, None))
            log.warning("no [[domain]] configured: registered identity domain %s", namespace)
            return
        if domain is None:
            raise UnknownDomain(namespace, "--domain")
        if domain.enterprise:
            raise UnknownDomain(
                namespace, "--domain", "is the enterprise domain: only the MPI assigns ids there"
            )

    ctx.store.run(check)


def _mrns(path: Path, original: pd.DataFrame, lines: Sequence[int]) -> list[str]:
    if ID_COLUMN not in original.columns:
        raise CsvUsageError(
            f"{path}: needs an {ID_COLUMN!r} column (the id in the loaded domain); "
            f"columns: {', '.join(original.columns)}"
        )
    mrns = original[ID_COLUMN].astype(str).str.strip()
    empty = mrns.eq("").to_numpy()
    problems = [f"line {lines[i]}: {ID_COLUMN} is empty" for i in np.flatnonzero(empty).tolist()]
    repeated = mrns.duplicated(keep=False).to_numpy() & ~empty
    if repeated.any():
        first: dict[str, int] = {}
        for i in np.flatnonzero(repeated).tolist():
            value = str(mrns.iat[i])
            if value in first:
                problems.append(
                    f"line {lines[i]}: {ID_COLUMN} {value!r} already appears on line {first[value]}"
                )
            else:
                first[value] = lines[i]
    if problems:
        problems.sort(key=lambda p: int(p.split(":", 1)[0].split()[1]))
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CsvDataError(
            f"{path}: {len(problems)} bad {ID_COLUMN} values:\n  " + "\n  ".join(shown) + more
        )
    return [str(m) for m in mrns.tolist()]


def _frame(canonical: pd.DataFrame, domain: str, mrns: list[str]) -> pd.DataFrame:
    """``record_id`` (``domain|mrn``), ``mrn`` and the record fields; missing values are None."""
    n = len(mrns)
    columns: dict[str, Any] = {
        "record_id": np.array([f"{domain}|{m}" for m in mrns], dtype=object),
        "mrn": np.array(mrns, dtype=object),
    }
    for name in _FIELDS:
        if name not in canonical:
            columns[name] = np.full(n, None, dtype=object)
            continue
        values = canonical[name].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None  # NaN from pandas' own handling of blanks
        columns[name] = values
    return pd.DataFrame(columns)


def _has_records(uow: UnitOfWork) -> bool:
    return next(iter(uow.bulk.iter_active(batch_size=1)), None) is not None


def _stored(uow: UnitOfWork) -> list[StoredDemographics]:
    out: list[StoredDemographics] = []
    for batch in uow.bulk.iter_active(batch_size=20_000):
        out.extend(batch)
    return out


def _changed(
    frame: pd.DataFrame, domain: str, known: dict[str, int], stored: list[StoredDemographics]
) -> tuple[list[str], int]:
    """Which already loaded ids now come with other demographics; how many are unchanged."""
    if not known:
        return [], 0
    by_id = {s.ref.id: s for s in stored if s.ref.domain == domain}
    changed: list[str] = []
    unchanged = 0
    for row in frame[frame["mrn"].isin(known)].itertuples(index=False):
        mrn = str(row.mrn)
        s = by_id.get(mrn)
        if s is None:
            unchanged += 1  # known but no longer active (subsumed by an A40): left alone
            continue
        current = tuple(getattr(s.demographics, f) for f in _FIELDS)
        if current == tuple(getattr(row, f) for f in _FIELDS):
            unchanged += 1
        else:
            changed.append(mrn)
    return changed, unchanged


def _record(row: Any, record_id: str) -> Record:
    return Record(record_id, *(getattr(row, f) for f in _FIELDS))


def _update(
    ctx: ServiceContext, domain: str, frame: pd.DataFrame, changed: list[str], outcome: FeedOutcome
) -> None:
    """Apply changed rows one by one through the feed's update path (relinks auto links)."""
    service = FeedService(ctx)
    for row in frame[frame["mrn"].isin(set(changed))].itertuples(index=False):
        ref = SourceRecordRef(domain, str(row.mrn))
        record = _record(row, str(ref))

        def apply(uow: UnitOfWork, ref: SourceRecordRef = ref, record: Record = record) -> None:
            # The export has demographics only: the PID and carried ids a feed stored stay.
            stored = uow.records.require(ref)
            new = NewSourceRecord(ref, record, stored.pid, stored.identifiers)
            service.apply_record(uow, new, (), (), outcome, _ACTOR)

        ctx.store.run(apply)

    def notify(uow: UnitOfWork) -> None:
        for eid in sorted(outcome.notified):
            queue_xref_change(uow, ctx.settings, eid)

    ctx.store.run(notify)


# -- matching -------------------------------------------------------------------------------------


def _plan(
    ctx: ServiceContext, fresh: pd.DataFrame, stored: list[StoredDemographics], say: Say
) -> _Plan:
    model = ctx.matcher.model
    settings = model.settings
    n_stored = len(stored)
    both = pd.concat([stored_frame(stored), fresh[["record_id", *_FIELDS]]], ignore_index=True)
    say(f"preparing {len(fresh):,} new and {n_stored:,} stored records")
    prepared = prepare_frame(both)
    n = len(prepared)
    is_new = np.arange(n) >= n_stored
    say("blocking")
    left, right = candidate_pairs(
        prepared, settings.blocking, max_block_size=settings.max_block_size, window=settings.window
    )
    keep = is_new[left] | is_new[right]
    left, right = left[keep], right[keep]
    say(f"scoring {len(left):,} candidate pairs")
    pair_ctx = PairContext(prepared, left, right)
    gamma = compare_all(settings.comparisons, pair_ctx)
    weight, guarded, _ = score_vectors(model, pair_ctx, gamma)
    del pair_ctx  # its per-column caches are the largest arrays of a big load
    prob = np.asarray(probability(weight), dtype=np.float64)
    linked = (prob >= ctx.matcher.link_threshold) & ~guarded
    cannot = guarded | (weight - model.prior_weight < 0)
    say("clustering")
    cluster = cluster_pairs(n, left, right, weight, linked, cannot)
    person_code = np.full(n, -1, dtype=np.int64)
    eids = sorted({s.enterprise_id for s in stored if s.enterprise_id is not None})
    code_of = {eid: i for i, eid in enumerate(eids)}
    for i, s in enumerate(stored):
        if s.enterprise_id is not None:
            person_code[i] = code_of[s.enterprise_id]
    cluster_person = _cluster_persons(cluster, person_code, left, right, weight, linked)
    new_positions = np.flatnonzero(is_new)
    new_clusters = cluster[new_positions]
    assigned = cluster_person[new_clusters]
    # Clusters without a stored person become new persons, numbered -1, -2, ...
    orphan = np.unique(new_clusters[assigned < 0])
    orphan_code = {c: -1 - k for k, c in enumerate(orphan.tolist())}
    codes = np.where(
        assigned >= 0, assigned, np.array([orphan_code.get(c, 0) for c in new_clusters.tolist()])
    )
    best = _best_probability(n, left, right, prob, linked & (cluster[left] == cluster[right]))
    order = np.argsort(codes, kind="stable")
    reviews = _reviews(
        model,
        prepared,
        left,
        right,
        prob,
        gamma,
        cluster,
        cluster_person,
        ctx.matcher.review_threshold,
    )
    say(f"{len(orphan):,} new persons, {len(reviews):,} pairs for review")
    keys = block_keys(prepared.take(new_positions[order]), settings.blocking)
    return _Plan(
        order=order.astype(np.int64),
        person=codes[order].astype(np.int64),
        score=np.nan_to_num(best[new_positions][order], nan=1.0),
        keys=keys,
        reviews=reviews,
        new_persons=len(orphan),
    )


def _cluster_persons(
    cluster: npt.NDArray[np.int64],
    person_code: npt.NDArray[np.int64],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    weight: npt.NDArray[np.float64],
    linked: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """Per cluster, the stored person it links to most strongly (-1: none)."""
    out = np.full(int(cluster.max(initial=-1)) + 1, -1, dtype=np.int64)
    inside = linked & (cluster[left] == cluster[right])
    frames = []
    for a, b in ((left, right), (right, left)):
        hit = inside & (person_code[b] >= 0) & (person_code[a] < 0)
        frames.append(
            pd.DataFrame(
                {"cluster": cluster[a[hit]], "person": person_code[b[hit]], "weight": weight[hit]}
            )
        )
    links = pd.concat(frames, ignore_index=True)
    if len(links):
        best = links.sort_values("weight", ascending=False).drop_duplicates("cluster")
        out[best["cluster"].to_numpy()] = best["person"].to_numpy()
    return out


def _best_probability(
    n: int,
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    prob: npt.NDArray[np.float64],
    joined: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    best = np.full(n, -1.0)
    for side in (left, right):
        np.maximum.at(best, side[joined], prob[joined])
    best[best < 0] = np.nan
    return best


def _reviews(
    model: Any,
    prepared: PreparedFrame,
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    prob: npt.NDArray[np.float64],
    gamma: npt.NDArray[np.int8],
    cluster: npt.NDArray[np.int64],
    cluster_person: npt.NDArray[np.int64],
    review_threshold: float,
) -> list[tuple[str, str, float, dict[str, Any]]]:
    apart = cluster[left] != cluster[right]
    # Two clusters joining the same stored person are one person after all.
    same_person = (cluster_person[cluster[left]] >= 0) & (
        cluster_person[cluster[left]] == cluster_person[cluster[right]]
    )
    candidates = np.flatnonzero((prob >= review_threshold) & apart & ~same_person)
    ids = prepared.record_ids
    specs = model.settings.comparisons
    tf_columns = [prepared.strings(s.tf_column) if s.tf_column else None for s in specs]
    out = []
    for k in candidates.tolist():
        a, b = int(left[k]), int(right[k])
        tf_values = [col[a] if col is not None else None for col in tf_columns]
        fields = explain_vector(model, gamma[k], tf_values)
        explanation = {
            f.comparison: {"level": f.level, "weight": round(f.weight, 4)} for f in fields
        }
        out.append((str(ids[a]), str(ids[b]), float(prob[k]), explanation))
    return out


# -- writing --------------------------------------------------------------------------------------


def _key_rows(
    keys: BlockKeys, start: int, end: int, todo: list[int], pks: list[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(record keys, key hashes)`` of a batch's records that are written now."""
    pk_of = np.full(end - start, -1, dtype=np.int64)
    pk_of[np.asarray(todo, dtype=np.int64) - start] = pks
    positions, hashes = keys.slice(start, end)
    record_pks = pk_of[positions - start]
    keep = record_pks >= 0
    return record_pks[keep], hashes[keep]


def _batches(plan: _Plan, size: int) -> Iterator[tuple[int, int]]:
    """Write ranges that never split a person's records (its links are written together)."""
    start, total = 0, len(plan.order)
    while start < total:
        end = min(start + size, total)
        while end < total and plan.person[end] == plan.person[end - 1]:
            end += 1
        yield start, end
        start = end


def _write(
    ctx: ServiceContext,
    domain: str,
    fresh: pd.DataFrame,
    stored: list[StoredDemographics],
    plan: _Plan,
    batch_size: int,
    say: Say,
) -> int:
    eids = sorted({s.enterprise_id for s in stored if s.enterprise_id is not None})
    ordered = fresh.iloc[plan.order]
    mrns = [str(m) for m in ordered["mrn"].tolist()]
    columns = {f: ordered[f].tolist() for f in _FIELDS}
    del ordered
    pks: dict[str, int] = {str(s.ref): s.pk for s in stored}
    touched: set[str] = set()
    suspend = len(mrns) >= max(SUSPEND_INDEXES_MIN, len(stored))
    with bulk_mode(ctx.store):
        if suspend:
            say("dropping secondary indexes for the load")
            ctx.store.run(lambda uow: uow.bulk.drop_load_indexes())
        try:
            for start, end in _batches(plan, batch_size):

                def work(uow: UnitOfWork, start: int = start, end: int = end) -> _Written:
                    return _write_batch(uow, domain, mrns, columns, plan, eids, start, end)

                written = ctx.store.run(work)
                touched |= written.touched
                pks.update(written.pks)
                say(f"written {end:,} / {len(mrns):,} records")
        finally:
            if suspend:
                say("building the secondary indexes")
                ctx.store.run(lambda uow: uow.bulk.restore_indexes())
    reviews = 0
    if plan.reviews:
        say(f"opening {len(plan.reviews):,} review tasks")
        tasks = [
            BulkReview(pks[a], pks[b], score, fields)
            for a, b, score, fields in plan.reviews
            if a in pks and b in pks
        ]
        reviews = ctx.store.run(lambda uow: insert_review_tasks(uow, tasks))
    if touched and ctx.settings.subscribers:
        say(f"queueing ITI-10 for {len(touched):,} existing persons")

        def notify(uow: UnitOfWork) -> None:
            for eid in sorted(touched):
                queue_xref_change(uow, ctx.settings, eid)

        ctx.store.run(notify)
    return reviews


@dataclass(frozen=True, slots=True)
class _Written:
    touched: set[str]  # existing persons that gained records
    pks: dict[str, int]  # record id -> key of the records written


def _write_batch(
    uow: UnitOfWork,
    domain: str,
    mrns: list[str],
    columns: dict[str, list[Any]],
    plan: _Plan,
    eids: list[str],
    start: int,
    end: int,
) -> _Written:
    # Another process may have loaded some of these ids meanwhile: skip those.
    known = uow.bulk.existing(domain, mrns[start:end])
    todo = [i for i in range(start, end) if mrns[i] not in known]
    if not todo:
        return _Written(set(), {})
    if len(todo) == end - start:
        ids, fields = mrns[start:end], {f: values[start:end] for f, values in columns.items()}
    else:
        ids, fields = [mrns[i] for i in todo], {f: [v[i] for i in todo] for f, v in columns.items()}
    pks = uow.bulk.insert_record_columns(domain, ids, fields)
    uow.bulk.insert_key_hashes(*_key_rows(plan.keys, start, end, todo, pks))
    codes = plan.person[todo]
    orphans = sorted({int(c) for c in codes if c < 0}, reverse=True)
    created = dict(zip(orphans, uow.bulk.create_persons(len(orphans)), strict=True))
    targets = [eids[c] if c >= 0 else created[c] for c in codes.tolist()]
    uow.bulk.insert_links(
        BulkLink(pk, eid, float(plan.score[i]), LinkMethod.AUTO)
        for pk, eid, i in zip(pks, targets, todo, strict=True)
    )
    joined = [(eid, i) for eid, i, c in zip(targets, todo, codes, strict=True) if c >= 0]
    # One entry per record that joined a person already in the index (someone else's
    # cross-references changed); the records of new persons are audited per batch.
    uow.bulk.insert_audit(
        AuditEntry(
            _ACTOR,
            "record.load",
            "record",
            f"{domain}|{mrns[i]}",
            None,
            {"enterprise_id": eid, "method": LinkMethod.AUTO.value, "score": float(plan.score[i])},
        )
        for eid, i in joined
    )
    uow.audit.append(
        AuditEntry(
            _ACTOR,
            "load.batch",
            "domain",
            domain,
            None,
            {
                "records": len(todo),
                "first": mrns[todo[0]],
                "last": mrns[todo[-1]],
                "persons_created": len(orphans),
                "joined_existing": len(joined),
            },
        )
    )
    return _Written(
        {eids[int(c)] for c in codes if c >= 0},
        {f"{domain}|{mrns[i]}": pk for pk, i in zip(pks, todo, strict=True)},
    )
