"""Concurrent feeds of one patient on several connections end as ONE person (both backends)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from service_helpers import RC, ack_fields, adt

from mpi.domain import RecordQuery
from mpi.service import ServiceContext
from mpi.service.feed import FeedHandler

ROUNDS = 3
PER_SOURCE = 3


def _feed_at_once(handler: FeedHandler, messages: list[bytes]) -> list[bytes]:
    barrier = threading.Barrier(len(messages))

    def send(raw: bytes) -> bytes:
        barrier.wait()
        return handler.handle_bytes(raw)

    with ThreadPoolExecutor(len(messages)) as pool:
        return list(pool.map(send, messages))


def test_simultaneous_registrations_of_one_patient_make_one_person(ctx: ServiceContext) -> None:
    handler = FeedHandler(ctx)
    for round_ in range(ROUNDS):
        name = f"TESTER{round_}^PAT^^^^^L"
        messages = [
            adt(
                "A01",
                f"N{round_}-{i}",
                f"NG-{round_}-{i}^^^NORTHGEN",
                name,
                birth=f"198{round_}0101",
            )
            for i in range(PER_SOURCE)
        ] + [
            adt(
                "A04",
                f"R{round_}-{i}",
                f"RC-{round_}-{i}^^^RIVERCL",
                name,
                sender=RC,
                birth=f"198{round_}0101",
            )
            for i in range(PER_SOURCE)
        ]
        answers = _feed_at_once(handler, messages)
        assert [ack_fields(a)[0] for a in answers] == ["AA"] * len(messages)
    with ctx.store.unit_of_work(readonly=True) as uow:
        records = uow.records.search(RecordQuery(), limit=1000)
    assert len(records) == ROUNDS * PER_SOURCE * 2
    persons: dict[str, set[str]] = {}
    for r in records:
        assert r.enterprise_id is not None
        persons.setdefault(r.demographics.family_name or "", set()).add(r.enterprise_id)
    assert {family: len(eids) for family, eids in persons.items()} == {
        f"TESTER{i}": 1 for i in range(ROUNDS)
    }


def test_the_same_message_on_two_connections_is_applied_once(ctx: ServiceContext) -> None:
    handler = FeedHandler(ctx)
    raw = adt("A01", "SAME-1", "NG-9^^^NORTHGEN")
    answers = _feed_at_once(handler, [raw] * 4)
    assert len(set(answers)) == 1 and ack_fields(answers[0])[0] == "AA"
    with ctx.store.unit_of_work(readonly=True) as uow:
        assert uow.records.count(RecordQuery()) == 1
        assert uow.audit.count(action="record.register") == 1
