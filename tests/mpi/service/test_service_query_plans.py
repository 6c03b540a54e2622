"""Every statement the MLLP services run finds its rows through an index.

A realistic session on SQLite (registrations one by one and in a run, an update, a
merge, a re-delivery, PIX and PDQ queries, then what operators and the ITI-10
dispatcher read) is recorded, and no statement of it may scan a table that grows
(see :mod:`tests.mpi.query_plans`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
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
from tests.mpi.query_plans import record_statements, scans


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    ctx = open_context(make_settings(f"sqlite:///{tmp_path / 'plans.db'}"))
    yield ctx
    ctx.store.dispose()


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
