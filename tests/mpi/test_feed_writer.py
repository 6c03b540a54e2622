"""The feed's writer in a process of its own: answers after commit, dies safely, stops with serve."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hl7.codec import decode
from hl7.messages import parse_request
from mpi import feed_writer
from mpi.api import create_app
from mpi.domain import SourceRecordRef
from mpi.feed_writer import FeedWriterError, FeedWriterProcess
from mpi.mllp import Router
from mpi.service.context import open_context
from mpi.settings import Settings, load_settings
from mpi.store import Store
from tests.mpi.api.api_helpers import TestClient
from tests.mpi.test_serve import adt, free_port, msa, start_serve


def settings_for(db_url: str) -> Settings:
    return load_settings(None, overrides={"database.url": db_url}, environ={})


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def opened(db_url: str) -> Iterator[Settings]:
    """The configuration of a migrated index (as ``mpi serve`` has it before the child starts)."""
    settings = settings_for(db_url)
    context = open_context(settings)
    context.store.dispose()
    yield settings


def test_answers_after_commit_and_replays_a_redelivery(opened: Settings) -> None:
    writer = FeedWriterProcess(opened, max_batch=8)
    try:
        raw = adt("FW-1", "NG-101")
        answer = writer.handle(parse_request(decode(raw)), raw)
        assert msa(answer) == ("AA", "FW-1")
        # Committed when answered: another connection sees the record at once.
        store = Store.open(opened.database.url, upgrade=False)
        try:
            with store.unit_of_work(readonly=True) as uow:
                record = uow.records.require(SourceRecordRef("NORTHGEN", "NG-101"))
                assert record.enterprise_id is not None
                persons = uow.persons.count()
        finally:
            store.dispose()
        # The same message again: the same answer, nothing changed.
        assert writer.handle(parse_request(decode(raw)), raw) == answer
        store = Store.open(opened.database.url, upgrade=False)
        try:
            with store.unit_of_work(readonly=True) as uow:
                assert uow.persons.count() == persons
        finally:
            store.dispose()
        pid = writer.pid
        assert pid is not None and pid != os.getpid()
    finally:
        writer.close()
    assert not alive(pid)
    with pytest.raises(FeedWriterError, match="not running"):
        writer.handle(parse_request(decode(raw)), raw)


def test_a_child_that_dies_fails_what_it_holds_and_is_replaced(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'mpi.db'}")
    open_context(settings).store.dispose()
    writer = FeedWriterProcess(settings, max_batch=8)
    try:
        first = writer.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # it holds the next message without answering it
        raw = adt("FW-2", "NG-102")
        outcome: list[BaseException | bytes] = []

        def send() -> None:
            try:
                outcome.append(writer.handle(parse_request(decode(raw)), raw))
            except BaseException as e:
                outcome.append(e)

        sender = threading.Thread(target=send)
        sender.start()
        wait_for(lambda: len(writer._pending) == 1, "the message to reach the child")
        os.kill(first, signal.SIGKILL)
        sender.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], FeedWriterError)
        assert "before answering; send the message again" in str(outcome[0])
        # A new child takes over; the message sent again is registered.
        wait_for(lambda: writer.starts == 2 and writer.pid not in (None, first), "a new child")
        assert msa(writer.handle(parse_request(decode(raw)), raw)) == ("AA", "FW-2")
    finally:
        writer.close()


def test_while_no_child_runs_the_router_answers_ae_207(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'mpi.db'}")
    open_context(settings).store.dispose()
    monkeypatch.setattr(feed_writer, "RESTART_DELAY", 600.0)
    writer = FeedWriterProcess(settings, max_batch=8)
    try:
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: writer.pid is None, "the child's death to be noticed")
        answer = Router(feed=writer).route(adt("FW-3", "NG-103"))
        assert answer is not None
        message = decode(answer)
        assert msa(answer) == ("AE", "FW-3")
        err = message.segment("ERR")
        assert err is not None and "207" in str(err)  # application internal error
    finally:
        started = time.monotonic()
        writer.close()
    assert time.monotonic() - started < 10  # the restart delay does not hold up the close


def test_a_child_that_cannot_open_the_index_is_an_error_at_start(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'mpi.db'}")
    with pytest.raises(FeedWriterError, match=r"did not start: .*StoreError"):
        FeedWriterProcess(settings, max_batch=8)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_the_child_never_outlives_mpi_serve(tmp_path: Path) -> None:
    """Killed outright (no clean shutdown), ``mpi serve`` leaves no writer process behind."""
    db_url = f"sqlite:///{tmp_path / 'mpi.db'}"
    config = tmp_path / "mpi.toml"
    config.write_text('[[api.token]]\ntoken = "t"\nrole = "admin"\n')
    proc, _ = start_serve(db_url, config, free_port(), free_port())
    try:
        kids = children(proc.pid)
        assert kids, "mpi serve runs its feed writer in a child process"
        proc.kill()
        proc.communicate(timeout=30)
        for kid in kids:
            wait_for(lambda kid=kid: not alive(kid), f"child {kid} to exit", 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_no_feed_process_keeps_the_writer_in_process(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'mpi.db'}"
    config = tmp_path / "mpi.toml"
    config.write_text('[[api.token]]\ntoken = "t"\nrole = "admin"\n')
    proc, _ = start_serve(db_url, config, free_port(), free_port(), "--no-feed-process")
    try:
        assert children(proc.pid) == []
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err


def test_health_and_metrics_report_the_writer_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'mpi.db'}")
    context = open_context(settings)
    monkeypatch.setattr(feed_writer, "RESTART_DELAY", 600.0)
    writer = FeedWriterProcess(settings, max_batch=8)
    try:
        with TestClient(create_app(context, feed=writer)) as client:
            health = client.get("/health")
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "database": "ok", "feed": "ok"}
            assert "mpi_feed_writer_starts 1.0" in client.get("/metrics").text
            pid = writer.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: writer.pid is None, "the child's death to be noticed")
            health = client.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "error" and body["database"] == "ok"
            assert "being restarted" in body["feed"]
    finally:
        writer.close()
        context.store.dispose()


def test_health_without_a_writer_process_says_nothing_of_it(tmp_path: Path) -> None:
    context = open_context(settings_for(f"sqlite:///{tmp_path / 'mpi.db'}"))
    try:
        with TestClient(create_app(context)) as client:
            assert client.get("/health").json() == {"status": "ok", "database": "ok"}
            assert "mpi_feed_writer_starts" not in client.get("/metrics").text
    finally:
        context.store.dispose()


def test_rejections_come_back_from_the_child_as_the_feed_answers_them(tmp_path: Path) -> None:
    """An unknown domain is AE 204 (nothing stored), as in process: the child's answer is the
    feed handler's own."""
    config = tmp_path / "mpi.toml"
    config.write_text(
        '[[domain]]\nnamespace = "NORTHGEN"\noid = "2.999.10.1"\n'
        'sources = [{ application = "NG_ADT", facility = "NORTHGEN" }]\n'
    )
    db_url = f"sqlite:///{tmp_path / 'mpi.db'}"
    settings = load_settings(config, overrides={"database.url": db_url}, environ={})
    open_context(settings).store.dispose()
    writer = FeedWriterProcess(settings, max_batch=8)
    try:
        raw = adt("FW-9", "NG-9").replace(b"NORTHGEN&2.999.10.1&ISO", b"NOWHERE")
        answer = writer.handle(parse_request(decode(raw)), raw)
        assert msa(answer) == ("AE", "FW-9")
        err = decode(answer).segment("ERR")
        assert err is not None and "204" in str(err)
    finally:
        writer.close()
    store = Store.open(db_url, upgrade=False)
    try:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.persons.count() == 0
    finally:
        store.dispose()
