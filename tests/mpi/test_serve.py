"""``mpi serve`` end to end in a subprocess, and its parts in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hl7.codec import decode
from hl7.messages import read_header_lenient
from hl7.mllp import FrameDecoder, frame, send
from hl7.responses import build_ack
from mpi.domain import Role
from mpi.feed_writer import FeedWriterProcess
from mpi.mllp import GroupCommitHandler
from mpi.serve import Serve, ServeOptions
from mpi.service.context import open_context
from mpi.settings import load_settings
from mpi.store import Store

MPI = Path(sys.executable).with_name("mpi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def adt(control_id: str, mrn: str) -> bytes:
    return (
        "MSH|^~\\&|NG_ADT|NORTHGEN|EMPI|MPIHOST|20240315101500||ADT^A01^ADT_A01|"
        f"{control_id}|P|2.3.1\r"
        "EVN|A01|20240315101500\r"
        f"PID|1||{mrn}^^^NORTHGEN&2.999.10.1&ISO^MR||SMITH^JOHN||19700412|M\r"
        "PV1||I\r"
    ).encode()


def msa(answer: bytes) -> tuple[str, str]:
    seg = decode(answer).segment("MSA")
    assert seg is not None
    return seg.get(1), seg.get(2)


class Subscriber:
    """A blocking ITI-10 consumer on a thread-free socket: accepts one connection, ACKs AA."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(15)
        self.port = int(self.sock.getsockname()[1])

    def receive_one(self) -> bytes:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(15)
            decoder = FrameDecoder()
            while True:
                data = conn.recv(65536)
                assert data, "the notifier closed without sending"
                events = decoder.feed(data)
                if events:
                    payload = events[0]
                    assert isinstance(payload, bytes)
                    conn.sendall(frame(build_ack(read_header_lenient(decode(payload)))))
                    return payload

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    sub = Subscriber()
    yield sub
    sub.close()


def start_serve(
    db_url: str, config: Path, mllp: int, http: int, *extra: str
) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "MPI_DATABASE_URL"}
    proc = subprocess.Popen(
        [str(MPI), "serve", "--config", str(config), "--db", db_url,
         "--mllp-port", str(mllp), "--http-port", str(http), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("mpi serve: MLLP on"):
            return proc, lines
    proc.kill()
    proc.communicate()
    raise AssertionError("mpi serve did not start:\n" + "".join(lines))


def test_mpi_serve_end_to_end(db_url: str, tmp_path: Path, subscriber: Subscriber) -> None:
    config = tmp_path / "mpi.toml"
    config.write_text(
        "[[domain]]\n"
        'namespace = "NORTHGEN"\noid = "2.999.10.1"\n'
        'sources = [{ application = "NG_ADT", facility = "NORTHGEN" }]\n'
        "[[subscriber]]\n"
        'application = "HIE_PORTAL"\nfacility = "CITYHIE"\nhost = "127.0.0.1"\n'
        f'port = {subscriber.port}\ndomains = ["NORTHGEN", "MPI"]\n'
        "[[api.token]]\n"
        'token = "test-admin"\nrole = "admin"\n'
    )
    mllp, http = free_port(), free_port()
    proc, _ = start_serve(db_url, config, mllp, http)
    try:
        answer = asyncio.run(send("127.0.0.1", mllp, adt("E2E-1", "NG-77"), timeout=15))
        assert msa(answer) == ("AA", "E2E-1")
        notification = decode(subscriber.receive_one())
        assert notification.msh.field(9) == "ADT^A31^ADT_A05"
        pid = notification.segment("PID")
        assert pid is not None and "NG-77" in pid.field(3)
        pix = (
            b"MSH|^~\\&|PIX_CONSUMER|CITYHIE|EMPI|MPIHOST|20240315120000||QBP^Q23^QBP_Q21|"
            b"PIX-1|P|2.5\rQPD|IHE PIX Query|Q-1|NG-77^^^NORTHGEN&2.999.10.1&ISO^MR|^^^MPI\rRCP|I\r"
        )
        rsp = decode(asyncio.run(send("127.0.0.1", mllp, pix, timeout=15)))
        assert rsp.msh.field(9) == "RSP^K23^RSP_K23"
        assert rsp.segment("MSA").get(1) == "AA"  # type: ignore[union-attr]
        pid_rsp = rsp.segment("PID")
        assert pid_rsp is not None and "^^^MPI" in pid_rsp.field(3)  # the enterprise id
        health = httpx.get(f"http://127.0.0.1:{http}/health", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok", "feed": "ok"}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "mpi serve: stopped" in err
    assert "token" not in out  # tokens are configured: none is created


def test_mpi_serve_sigint_and_bad_port(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'mpi.db'}"
    config = tmp_path / "empty.toml"
    config.write_text("")
    mllp, http = free_port(), free_port()
    proc, _ = start_serve(db_url, config, mllp, http)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # no tokens configured or stored: one is created
        assert first.startswith("Created the first admin API token (shown only once): ")
        token = first.rsplit(" ", 1)[1].strip()
        store = Store.open(db_url, upgrade=False)
        try:
            with store.unit_of_work(readonly=True) as uow:
                found = uow.tokens.find(token)
            assert found is not None and found.role is Role.ADMIN
        finally:
            store.dispose()
        # A second server on the same MLLP port cannot bind: exit 1, not a traceback.
        second = subprocess.run(
            [str(MPI), "serve", "--db", db_url, "--mllp-port", str(mllp),
             "--http-port", str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "token" not in second.stdout  # the stored token counts: no second one


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[mllp]\nmax_message_bytes = 3\n")
    result = subprocess.run(
        [str(MPI), "serve", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "mllp.max_message_bytes" in result.stderr


@pytest.mark.parametrize(("feed_batch", "process"), [(0, False), (8, False), (8, True)])
async def test_serve_in_process_answers_and_stops(
    db_url: str, feed_batch: int, process: bool
) -> None:
    settings = load_settings(None, overrides={"database.url": db_url}, environ={})
    context = await asyncio.to_thread(open_context, settings)
    options = ServeOptions(
        mllp_port=0, http_port=0, grace=5, feed_max_batch=feed_batch, feed_process=process
    )
    serve = Serve(context, options)
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve.run(stop, ready=lambda _: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        answer = await send("127.0.0.1", serve.mllp.port, adt("IP-1", "NG-5"), timeout=15)
        assert msa(answer) == ("AA", "IP-1")
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{serve.http_port}/health")
        assert health.status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        context.store.dispose()
    assert serve.mllp.stats.messages == 1
    if process:
        assert isinstance(serve.feed_writer, FeedWriterProcess)
        assert serve.feed_writer.starts == 1 and serve.feed_writer.pid is None  # stopped
    elif feed_batch:
        assert isinstance(serve.feed_writer, GroupCommitHandler)
        assert serve.feed_writer.stats.messages == 1
        assert not serve.feed_writer._thread.is_alive()  # closed on shutdown
    else:
        assert serve.feed_writer is None


async def test_the_same_people_fed_on_two_connections_at_once_end_as_one_each(
    db_url: str,
) -> None:
    """Group commit and runs on (the default): records of one patient arriving together
    from two facilities are decided in arrival order, so each patient is one person."""
    settings = load_settings(None, overrides={"database.url": db_url}, environ={})
    context = await asyncio.to_thread(open_context, settings)
    serve = Serve(context, ServeOptions(mllp_port=0, http_port=0, grace=5))
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve.run(stop, ready=lambda _: ready.set()))
    people = [
        (f"QUARTERMAINE{'X' * i}", f"ALLAN{chr(65 + i)}", f"19{40 + i}0{1 + i % 9}1{i % 9}")
        for i in range(12)
    ]

    def registration(facility: str, n: int) -> bytes:
        family, given, birth = people[n]
        return (
            f"MSH|^~\\&|{facility}_ADT|{facility}|EMPI|MPIHOST|20260101120000||ADT^A01^ADT_A01|"
            f"{facility}{n}|P|2.5\r"
            "EVN|A01|20260101120000\r"
            f"PID|1||{facility}-{n}^^^{facility}^MR||{family}^{given}^^^^^L||{birth}|M|||"
            f"{n + 1} HIGH STREET^^SPRINGFIELD^^6270{n % 10}^^H||(217)555-01{n:02d}^PRN^PH\r"
            "PV1||O\r"
        ).encode()

    async def feed(facility: str) -> list[str]:
        codes = []
        for n in range(len(people)):
            answer = await send("127.0.0.1", serve.mllp.port, registration(facility, n), timeout=30)
            codes.append(msa(answer)[0])
        return codes

    try:
        await asyncio.wait_for(ready.wait(), 30)
        answers = await asyncio.gather(feed("NORTH"), feed("SOUTH"))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert answers == [["AA"] * len(people)] * 2
    assert serve.feed_writer is not None and serve.feed_writer.stats.runs > 0
    with context.store.unit_of_work(readonly=True) as uow:
        from mpi.domain import SourceRecordRef

        for n in range(len(people)):
            north = uow.records.require(SourceRecordRef("NORTH", f"NORTH-{n}"))
            south = uow.records.require(SourceRecordRef("SOUTH", f"SOUTH-{n}"))
            assert north.enterprise_id == south.enterprise_id, people[n]
        assert uow.persons.count() == len(people)
    context.store.dispose()


def test_an_in_memory_index_keeps_the_feed_writer_in_process() -> None:
    """No other process can open ``sqlite://``: the writer stays a thread of mpi serve."""
    settings = load_settings(None, overrides={"database.url": "sqlite://"}, environ={})
    context = open_context(settings)
    try:
        serve = Serve(context, ServeOptions(mllp_port=0, http_port=0, feed_process=True))
        assert isinstance(serve.feed_writer, GroupCommitHandler)
        serve.feed_writer.close()
    finally:
        context.store.dispose()
