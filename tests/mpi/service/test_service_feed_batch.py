"""The feed's batched path: a run of registrations decided and written together must leave
the index exactly as the one-message path does, and leave everything else to that path."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import make_settings
from service_helpers import NG, RC, ack_fields, adt

from hl7.codec import decode
from hl7.messages import Request, parse_request
from mpi.domain import RecordQuery
from mpi.mllp import GroupCommitHandler
from mpi.serve import build_router
from mpi.service import ServiceContext, open_context
from mpi.service.feed import FeedHandler, FeedService
from mpi.service.feed_batch import BatchRegistrar
from mpi.store import Store

ADDRESS_B = "7 ELM AVENUE^^SHELBYVILLE^^62565^^H"

# Several persons: copies with typos across facilities, twins, a second family, a loner.
PEOPLE = [
    adt("A01", "B1", "NG-1^^^NORTHGEN^MR"),
    adt("A04", "B2", "RC-1^^^RIVERCL^MR", sender=RC),
    adt("A01", "B3", "NG-2^^^NORTHGEN^MR", "SMITH^JON^^^^^L"),
    adt(
        "A01",
        "B4",
        "NG-3^^^NORTHGEN^MR",
        "DOE^JANE^^^^^L",
        birth="19850101",
        sex="F",
        address=ADDRESS_B,
        phone="(217)555-0199^PRN^PH",
    ),
    adt(
        "A05",
        "B5",
        "RC-2^^^RIVERCL^MR",
        "DOE^JANE^^^^^L",
        sender=RC,
        birth="19850101",
        sex="F",
        address=ADDRESS_B,
        phone="",
    ),
    adt("A01", "B6", "NG-4^^^NORTHGEN^MR", "SMITH^JAMES^^^^^L"),  # a twin of NG-1
    adt(
        "A01",
        "B7",
        "RC-3^^^RIVERCL^MR",
        "BROWN^ALICE^^^^^L",
        sender=RC,
        birth="19900505",
        sex="F",
        address="",
        phone="",
    ),
    adt(
        "A08",
        "B8",
        "NG-5^^^NORTHGEN^MR",
        "BROWN^ALICE^^^^^L",
        birth="1990",
        sex="F",
        address="",
        phone="(217)555-0142^PRN^PH",
    ),
    adt(
        "A01",
        "B9",
        "NG-6^^^NORTHGEN^MR",
        "DOE^JANE^^^^^L",
        birth="19850110",
        sex="F",
        address=ADDRESS_B,
        phone="",
    ),
]


def parsed(raw: bytes) -> tuple[Request, bytes]:
    return parse_request(decode(raw)), raw


def snapshot(store: Store) -> dict[str, object]:
    """What the feed left: persons as sets of ids, links, reviews, audit, logged answers."""
    with store.unit_of_work(readonly=True) as uow:
        refs = sorted((r.ref for r in uow.records.search(RecordQuery(), limit=1000)), key=str)
        records = {ref: uow.records.require(ref) for ref in refs}
        groups: dict[str, set[str]] = {}
        for ref, record in records.items():
            assert record.enterprise_id is not None
            groups.setdefault(record.enterprise_id, set()).add(str(ref))
        links = {}
        for ref in refs:
            link = uow.links.get(ref)
            assert link is not None
            links[str(ref)] = (link.method.value, round(link.score, 9))
        reviews = {
            frozenset((str(t.left), str(t.right))): round(t.score, 9)
            for t in uow.reviews.list(None)
        }
        audit = Counter(e.action for e in uow.audit.list(limit=10_000))
        answers = {}
        for sender, cid in [(NG, f"B{n}") for n in range(1, 10)] + [
            (RC, f"B{n}") for n in range(1, 10)
        ]:
            entry = uow.messages.get(sender, cid)
            if entry is not None:
                answers[cid] = ack_fields(entry.response)
        keys = {str(ref): uow.blocking.keys_of(ref) for ref in refs}
        members = {eid: frozenset(g) for eid, g in groups.items()}
        # Who hears about whom (a run notifies each person once, in its state at commit).
        outbox = {(m.subscriber.application, members[m.enterprise_id]) for m in uow.outbox.list()}
    return {
        "persons": sorted(sorted(g) for g in groups.values()),
        "links": links,
        "reviews": reviews,
        "audit": audit,
        "answers": answers,
        "keys": keys,
        "outbox": outbox,
    }


@pytest.fixture
def reference(tmp_path: Path) -> dict[str, object]:
    """The state after feeding PEOPLE one message at a time (SQLite)."""
    settings = make_settings(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    ctx = open_context(settings)
    handler = FeedHandler(ctx)
    for raw in PEOPLE:
        assert ack_fields(handler.handle_bytes(raw))[0] == "AA"
    state = snapshot(ctx.store)
    ctx.store.dispose()
    return state


def test_a_run_leaves_the_index_as_one_message_at_a_time_does(
    ctx: ServiceContext, store: Store, reference: dict[str, object]
) -> None:
    registrar = BatchRegistrar(FeedService(ctx))
    with store.unit_of_work() as uow:
        answers = registrar.apply(uow, [parsed(raw) for raw in PEOPLE])
        uow.commit()
    assert [ack_fields(a) for a in answers] == [("AA", f"B{n}", "") for n in range(1, 10)]
    state = snapshot(store)
    assert state == reference
    # The run really decided something: copies joined, a person of their own for others.
    persons = state["persons"]
    assert ["NORTHGEN|NG-1", "NORTHGEN|NG-2", "RIVERCL|RC-1"] in persons  # type: ignore[operator]
    assert ["NORTHGEN|NG-4"] in persons  # type: ignore[operator]  # the twin stays apart


def test_a_run_finds_the_index_and_its_own_earlier_records(
    ctx: ServiceContext, store: Store
) -> None:
    handler = FeedHandler(ctx)
    assert ack_fields(handler.handle_bytes(PEOPLE[0]))[0] == "AA"
    registrar = BatchRegistrar(FeedService(ctx))
    with store.unit_of_work() as uow:
        answers = registrar.apply(uow, [parsed(PEOPLE[1]), parsed(PEOPLE[3]), parsed(PEOPLE[4])])
        uow.commit()
    assert len(answers) == 3
    state = snapshot(store)
    assert ["NORTHGEN|NG-1", "RIVERCL|RC-1"] in state["persons"]  # type: ignore[operator]
    assert ["NORTHGEN|NG-3", "RIVERCL|RC-2"] in state["persons"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("stopper", "why"),
    [
        (adt("A01", "S1", "NG-1^^^NORTHGEN^MR", "SMITH^JOHN^Q^^^^L"), "an update"),
        (adt("A01", "A1", "NG-9^^^NORTHGEN^MR"), "a reused control id"),
        (adt("A40", "S1", "NG-1^^^NORTHGEN^MR", mrg="NG-8^^^NORTHGEN^MR"), "a merge"),
        (adt("A01", "S1", "NG-7^^^NORTHGEN^MR", national_id="99^^^NATID"), "a trusted id"),
        (adt("A01", "S1", "NG-7^^^NORTHGEN^MR", mother_id="NG-1^^^NORTHGEN^MR"), "a mother"),
        (adt("A01", "S1", "XX-1^^^ELSEWHERE^MR"), "an unknown domain"),
        (adt("A01", "S2", "NG-2^^^NORTHGEN^MR"), "an id registered earlier in the run"),
    ],
)
def test_a_run_ends_before_what_the_one_message_path_must_do(
    ctx: ServiceContext, store: Store, stopper: bytes, why: str
) -> None:
    handler = FeedHandler(ctx)
    assert ack_fields(handler.handle_bytes(adt("A01", "A1", "NG-1^^^NORTHGEN^MR")))[0] == "AA"
    registrar = BatchRegistrar(FeedService(ctx))
    items = [parsed(adt("A01", "S0", "NG-2^^^NORTHGEN^MR")), parsed(stopper), parsed(PEOPLE[1])]
    with store.unit_of_work() as uow:
        answers = registrar.apply(uow, items)
        uow.commit()
    assert [ack_fields(a)[:2] for a in answers] == [("AA", "S0")], why


def test_nothing_to_take_is_an_empty_run(ctx: ServiceContext, store: Store) -> None:
    registrar = BatchRegistrar(FeedService(ctx))
    with store.unit_of_work() as uow:
        assert registrar.apply(uow, []) == []
        merge = adt("A40", "M1", "NG-1^^^NORTHGEN^MR", mrg="NG-8^^^NORTHGEN^MR")
        assert registrar.apply(uow, [parsed(merge), parsed(PEOPLE[0])]) == []


def test_the_writer_mixes_runs_and_single_messages_in_arrival_order(
    ctx: ServiceContext, store: Store
) -> None:
    messages = [
        PEOPLE[0],
        PEOPLE[1],
        adt("A01", "X1", "XX-1^^^ELSEWHERE^MR"),  # AE 204, alone
        PEOPLE[2],
        adt("A08", "X2", "NG-1^^^NORTHGEN^MR", "SMITH^JOHNNY^^^^^L"),  # an update, alone
        PEOPLE[3],
        PEOPLE[1],  # the same message again: the same answer, nothing changes
        PEOPLE[4],
    ]
    answers, group = route_queued(ctx, messages)
    assert [a[:2] for a in answers] == [
        ("AA", "B1"),
        ("AA", "B2"),
        ("AE", "X1"),
        ("AA", "B3"),
        ("AA", "X2"),
        ("AA", "B4"),
        ("AA", "B2"),
        ("AA", "B5"),
    ]
    assert group.stats.runs >= 1 and group.stats.run_messages >= 4
    state = snapshot(store)
    assert ["NORTHGEN|NG-1", "NORTHGEN|NG-2", "RIVERCL|RC-1"] in state["persons"]  # type: ignore[operator]
    assert state["audit"]["record.update"] == 1  # type: ignore[index]


def route_queued(
    ctx: ServiceContext, messages: list[bytes]
) -> tuple[list[tuple[str, str, str]], GroupCommitHandler]:
    """Route ``messages`` through ``mpi serve``'s feed writer, all queued behind the first
    (so that they are one batch), and return their ACK fields and the (closed) writer."""
    lock = threading.Lock()
    router, group = build_router(ctx, lock, feed_max_batch=64)
    assert isinstance(group, GroupCommitHandler)
    try:
        with ThreadPoolExecutor(len(messages)) as pool:
            lock.acquire()  # hold the writer so that everything queues up behind the first
            try:
                futures = [pool.submit(router.route, messages[0])]
                for n, raw in enumerate(messages[1:], start=1):
                    futures.append(pool.submit(router.route, raw))
                    _wait(lambda n=n: group._queue.qsize() >= n - 1)
            finally:  # also when they never queue up: the test then fails instead of hanging
                lock.release()
            answers = [ack_fields(f.result(timeout=30) or b"") for f in futures]
    finally:
        group.close()
    return answers, group


def _wait(predicate: object) -> None:
    import time

    deadline = time.monotonic() + 10
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the messages never queued up"
        time.sleep(0.002)


def test_a_failing_run_is_rolled_back_and_its_messages_go_one_by_one(
    ctx: ServiceContext, store: Store, reference: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    written = BatchRegistrar._write

    def fails_after_writing(self: BatchRegistrar, uow: object, *args: object) -> list[bytes]:
        written(self, uow, *args)  # type: ignore[arg-type]
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(BatchRegistrar, "_write", fails_after_writing)
    answers, group = route_queued(ctx, PEOPLE)
    assert answers == [("AA", f"B{n}", "") for n in range(1, 10)]
    assert group.stats.failed_runs >= 1 and group.stats.run_messages == 0
    assert snapshot(store) == reference  # nothing of the failed runs is left behind
