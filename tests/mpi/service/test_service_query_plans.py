"""Every statement the MLLP services run finds its rows through an index.

The feed, PIX and PDQ run the same few statements millions of times against tables
that only grow (records, keys, links, persons, the message log, the audit trail).
One statement that scans such a table is invisible in a short test and in a short
benchmark, and ruins a feed after weeks: the message log's replay check scanned the
whole log on every batch (Dec 2026). This test records every statement of a
realistic session on SQLite (registrations one by one and in a run, an update, a
merge, a re-delivery, PIX and PDQ queries) and asks SQLite for each one's plan.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import make_settings
from query_helpers import pdq_message, pix_message
from service_helpers import RC, ack_fields, adt

from hl7.codec import decode
from hl7.messages import parse_request
from mpi.domain import RecordQuery, SourceRecordRef
from mpi.serve import build_router
from mpi.service import ServiceContext, open_context
from mpi.service.feed import FeedService
from mpi.service.feed_batch import BatchRegistrar

GROWING = {
    "audit_event",
    "blocking_key",
    "enterprise_person",
    "link",
    "message_log",
    "mother_child",
    "outbox",
    "person_merge",
    "record_identifier",
    "review_task",
    "source_record",
}
"""The tables that grow with the feed (the others hold configuration: a few rows)."""

_SCAN = re.compile(r"\bSCAN (\w+)")


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    ctx = open_context(make_settings(f"sqlite:///{tmp_path / 'plans.db'}"))
    yield ctx
    ctx.store.dispose()


def record_statements(engine: sa.Engine) -> list[tuple[str, Any]]:
    """Every single-row-set statement executed on ``engine`` from now on (not bulk inserts)."""
    seen: list[tuple[str, Any]] = []

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    return seen


def scans(engine: sa.Engine, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Per statement that scans a growing table, its plan's lines that do."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for statement, parameters in dict.fromkeys(
            (s, tuple(p) if isinstance(p, list) else p) for s, p in statements
        ):
            plan = cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            bad = [row[-1] for row in plan if set(_SCAN.findall(row[-1])) & GROWING]
            if bad:
                found[" ".join(statement.split())] = bad
    return found


def test_no_statement_of_the_feed_pix_or_pdq_scans_a_growing_table(
    sqlite_ctx: ServiceContext,
) -> None:
    statements = record_statements(sqlite_ctx.store.engine)
    lock = threading.Lock()
    one, _ = build_router(sqlite_ctx, lock)
    batched, group = build_router(sqlite_ctx, lock, feed_max_batch=64)
    assert group is not None
    messages = [
        (one, adt("A01", "S1", "NG-1^^^NORTHGEN^MR")),
        (one, adt("A04", "S2", "RC-1^^^RIVERCL^MR", sender=RC)),
        (one, adt("A01", "S3", "NG-2^^^NORTHGEN^MR", "SMITH^JON^^^^^L")),
        (batched, adt("A01", "S4", "NG-3^^^NORTHGEN^MR", "DOE^JANE^^^^^L", sex="F")),
        (batched, adt("A08", "S5", "NG-1^^^NORTHGEN^MR", "SMITH^JOHNNY^^^^^L")),
        (batched, adt("A01", "S6", "NG-4^^^NORTHGEN^MR", national_id="99^^^NATID")),
        (batched, adt("A01", "S7", "NG-5^^^NORTHGEN^MR", mother_id="NG-3^^^NORTHGEN^MR")),
        (one, adt("A40", "S8", "NG-1^^^NORTHGEN^MR", mrg="NG-2^^^NORTHGEN^MR")),
        (one, adt("A01", "S1", "NG-1^^^NORTHGEN^MR")),  # a re-delivery
        (batched, adt("A01", "S4", "NG-3^^^NORTHGEN^MR", "DOE^JANE^^^^^L", sex="F")),
    ]
    run = [
        adt("A01", "R1", "NG-6^^^NORTHGEN^MR", "DOE^JANE^^^^^L", sex="F"),
        adt("A04", "R2", "RC-6^^^RIVERCL^MR", "DOE^JAYNE^^^^^L", sex="F", sender=RC),
        adt("A01", "R3", "NG-7^^^NORTHGEN^MR", "ROE^RICHARD^^^^^L"),
    ]
    try:
        for router, raw in messages:
            answer = router.route(raw)
            assert answer is not None and ack_fields(answer)[0] == "AA", ack_fields(answer or b"")
        with sqlite_ctx.store.unit_of_work() as uow:  # a run of several registrations
            registrar = BatchRegistrar(FeedService(sqlite_ctx))
            answers = registrar.apply(uow, [(parse_request(decode(raw)), raw) for raw in run])
            uow.commit()
        assert len(answers) == len(run)
        queries = [
            pix_message("NG-1^^^NORTHGEN"),
            pix_message("RC-1^^^RIVERCL", "^^^NORTHGEN"),
            pdq_message("@PID.5.1.1^SMITH~@PID.7.1^19700412"),
            pdq_message("@PID.3.1^NG-3~@PID.3.4.1^NORTHGEN"),
        ]
        for raw in queries:
            answer = one.route(raw)
            assert answer is not None
            assert decode(answer).segment("MSA").get(1) == "AA"  # type: ignore[union-attr]
    finally:
        group.close()
    assert statements, "nothing was recorded"
    assert scans(sqlite_ctx.store.engine, statements) == {}

    # What operators and the ITI-10 dispatcher read again and again, on the same index.
    statements.clear()
    ng1, ng3 = SourceRecordRef("NORTHGEN", "NG-1"), SourceRecordRef("NORTHGEN", "NG-3")
    with sqlite_ctx.store.unit_of_work(readonly=True) as uow:
        person = uow.records.require(ng1).enterprise_id
        assert person is not None
        uow.records.for_person(person)
        uow.links.for_person(person)
        uow.persons.resolve(person)
        uow.merges.history(person)
        uow.reviews.list()
        uow.reviews.for_record(ng3)
        uow.reviews.no_match_partners(ng3)
        uow.outbox.due()
        uow.audit.list(entity_type="record", entity_id=str(ng1))
        uow.records.search(RecordQuery(family_name="SMITH", birth_date="19700412"))
        uow.records.search(RecordQuery(identifier=ng3))
    assert statements, "nothing was recorded"
    assert scans(sqlite_ctx.store.engine, statements) == {}
