"""Group commit: one transaction per batch, a savepoint per message, order kept, AA only after commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from hl7.codec import decode
from hl7.messages import PatientFeed, Request, parse_request
from hl7.responses import build_ack
from mpi.mllp import GroupCommitHandler
from mpi.store import Store, UnitOfWork
from tests.mpi.mllp.doubles import adt, msa


def request(control_id: str) -> tuple[Request, bytes]:
    raw = adt(control_id)
    return parse_request(decode(raw)), raw


class PersonPerMessage:
    """Creates one person per message; ``FAIL*`` control ids fail after writing; records order."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.order: list[str] = []
        self.alone: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.persons: dict[str, str] = {}

    def apply(self, uow: UnitOfWork, request: Request, raw: bytes) -> bytes:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        cid = request.header.control_id
        eid = uow.persons.create().enterprise_id
        if cid.startswith("FAIL"):
            raise RuntimeError(f"{cid} fails after writing")
        self.order.append(cid)
        self.persons[cid] = eid
        return build_ack(request.header)

    def handle(self, request: Request, raw: bytes) -> bytes:
        cid = request.header.control_id
        self.alone.append(cid)
        self.order.append(cid)
        with self.store.unit_of_work() as uow:
            uow.persons.create()
            uow.commit()
        return build_ack(request.header)


def persons(store: Store) -> int:
    with store.unit_of_work(readonly=True) as uow:
        return uow.persons.count()


def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.005)


def queue_behind_first(
    group: GroupCommitHandler, applier: PersonPerMessage, pool: ThreadPoolExecutor, ids: list[str]
) -> list[Future[bytes]]:
    """Submit ids[0], wait until the writer is inside it, then queue the rest in order."""
    applier.gate.clear()
    futures = [pool.submit(group.handle, *request(ids[0]))]
    assert applier.entered.wait(10)
    for n, cid in enumerate(ids[1:], start=1):
        futures.append(pool.submit(group.handle, *request(cid)))
        wait_for(lambda n=n: group._queue.qsize() == n)
    applier.gate.set()
    return futures


def test_batches_commit_together_and_answer_in_order(store: Store) -> None:
    applier = PersonPerMessage(store)
    group = GroupCommitHandler(applier, store, max_batch=16)
    ids = [f"M{i:02d}" for i in range(9)]
    try:
        with ThreadPoolExecutor(9) as pool:
            answers = [f.result(10) for f in queue_behind_first(group, applier, pool, ids)]
    finally:
        group.close()
    assert [msa(a) for a in answers] == [("AA", cid) for cid in ids]
    assert (group.stats.batches, group.stats.largest_batch) == (2, 8)
    assert persons(store) == 9
    assert not applier.alone


def test_a_failing_message_is_rolled_back_and_goes_alone_in_order(store: Store) -> None:
    applier = PersonPerMessage(store)
    group = GroupCommitHandler(applier, store)
    ids = ["A0", "A1", "A2", "FAIL3", "A4"]
    try:
        with ThreadPoolExecutor(5) as pool:
            answers = [f.result(10) for f in queue_behind_first(group, applier, pool, ids)]
    finally:
        group.close()
    assert [msa(a) for a in answers] == [("AA", cid) for cid in ids]
    assert applier.alone == ["FAIL3"]
    assert applier.order == ids  # order kept around the message that went alone
    # FAIL3's write inside the batch was rolled back: one person per message.
    assert persons(store) == 5


def test_failed_commit_sends_every_message_alone(store: Store) -> None:
    class BrokenStore:
        def unit_of_work(self) -> UnitOfWork:
            raise RuntimeError("database down")

    applier = PersonPerMessage(store)
    group = GroupCommitHandler(applier, BrokenStore())  # type: ignore[arg-type]
    try:
        answers = [group.handle(*request(c)) for c in ("B1", "B2")]
    finally:
        group.close()
    assert [msa(a)[1] for a in answers] == ["B1", "B2"]
    assert applier.alone == ["B1", "B2"]
    assert group.stats.failed_batches == 2


def test_handle_after_close_is_refused(store: Store) -> None:
    group = GroupCommitHandler(PersonPerMessage(store), store)
    group.close()
    req = request("X1")
    assert isinstance(req[0], PatientFeed)
    with pytest.raises(RuntimeError, match="closed"):
        group.handle(*req)
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitHandler(PersonPerMessage(store), store, max_batch=0)
