"""Shared parts of the feed benchmarks: CSV rows as ITI-8 messages, `mpi serve` in a subprocess,
and an MLLP load generator with per-message ACK latency.

Not a benchmark itself; see ``feed_bench.py`` and ``feed_agreement.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hl7.codec import SegmentValue, decode, encode_message
from hl7.messages import read_header_lenient
from hl7.mllp import FrameDecoder, frame
from hl7.model import (
    Address,
    AssigningAuthority,
    Identifier,
    PatientDemographics,
    PersonName,
    Telecom,
)
from hl7.pid import write_pid
from hl7.responses import build_ack

DOMAINS = (
    ("NORTHGEN", "2.999.10.1", "NG_ADT", "NORTHGEN"),
    ("RIVERCL", "2.999.10.2", "RC_ADT", "RIVERCL"),
    ("SOUTHMED", "2.999.10.3", "SM_ADT", "SOUTHMED"),
)
"""(namespace, oid, sending application, sending facility) of the benchmark's facilities."""

MPI_COMMAND = [str(Path(sys.executable).with_name("mpi"))]


def config_text(subscriber_port: int | None = None) -> str:
    """A TOML configuration with the benchmark's three domains and, given its port, an ITI-10
    subscriber of every domain (the enterprise one included)."""
    parts = []
    for ns, oid, app, fac in DOMAINS:
        parts.append(
            f'[[domain]]\nnamespace = "{ns}"\noid = "{oid}"\n'
            f'sources = [{{ application = "{app}", facility = "{fac}" }}]\n'
        )
    if subscriber_port is not None:
        domains = ", ".join(f'"{d[0]}"' for d in DOMAINS)
        parts.append(
            '[[subscriber]]\napplication = "BENCH_HIE"\nfacility = "BENCH"\n'
            f'host = "127.0.0.1"\nport = {subscriber_port}\ndomains = [{domains}, "MPI"]\n'
        )
    parts.append('[[api.token]]\ntoken = "bench-admin"\nrole = "admin"\n')
    parts.append("[mllp]\nidle_timeout_seconds = 600.0\n")
    return "\n".join(parts)


def domain_of(record_id: str) -> tuple[str, str, str, str]:
    """The facility a record comes from: a stable hash of its id."""
    return DOMAINS[zlib.crc32(record_id.encode()) % len(DOMAINS)]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def demographics(row: Mapping[str, str], domain: tuple[str, str, str, str]) -> PatientDemographics:
    """A canonical CSV row as PID content (``record_id`` = the MRN in ``domain``)."""
    ns, oid, _, _ = domain
    g = row.get
    phones = tuple(Telecom(number=p, use="PRN", equipment="PH") for p in [g("phone") or ""] if p)
    email = g("email") or ""
    if email:
        phones += (Telecom(use="NET", equipment="Internet", email=email),)
    street, city, postcode = g("street") or "", g("city") or "", g("postcode") or ""
    return PatientDemographics(
        identifiers=(Identifier(row["record_id"], AssigningAuthority(ns, oid, "ISO"), "MR"),),
        names=(
            PersonName(
                family=g("family_name") or "",
                given=g("given_name") or "",
                middle=g("middle_name") or "",
                name_type="L",
            ),
        ),
        mother_maiden_name=PersonName(family=g("mother_maiden_name") or "")
        if g("mother_maiden_name")
        else None,
        birth_date=(g("birth_date") or "").replace("-", "") or None,
        sex=g("sex") or None,
        addresses=(Address(street=street, city=city, postcode=postcode),)
        if street or city or postcode
        else (),
        home_phones=phones,
        national_id=Identifier(g("national_id") or "") if g("national_id") else None,
    )


def adt_a01(row: Mapping[str, str], control_id: str, event: str = "A01") -> bytes:
    """An ITI-8 ``ADT^A01`` (2.3.1, UTF-8) registering the row in its facility's domain."""
    domain = domain_of(row["record_id"])
    _, _, app, fac = domain
    stamp = time.strftime("%Y%m%d%H%M%S")
    msh: SegmentValue = (
        "MSH",
        [None, None, app, fac, "EMPI", "MPIHOST", stamp, None, ["ADT", event, "ADT_A01"],
         control_id, "P", "2.3.1"],
    )  # fmt: skip
    segments: list[SegmentValue] = [
        msh,
        ("EVN", [event, stamp]),
        write_pid(demographics(row, domain)),
        ("PV1", [None, "O"]),
    ]
    return encode_message(segments, "UNICODE UTF-8")


class Subscriber:
    """An ITI-10 subscriber on 127.0.0.1 (a thread with its own event loop): ACKs every
    notification AA and counts them (``received``)."""

    def __init__(self) -> None:
        self.received = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-subscriber", daemon=True)

    def __enter__(self) -> Subscriber:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the benchmark's subscriber did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for event in decoder.feed(data):
                    if isinstance(event, bytes):
                        self.received += 1
                        writer.write(frame(build_ack(read_header_lenient(decode(event)))))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database file and its WAL and shared-memory files, if there."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``mpi serve``."""

    proc: subprocess.Popen[bytes]
    mllp_port: int
    http_port: int
    log: Path


@contextlib.contextmanager
def mpi_serve(
    db_url: str,
    config: Path,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
) -> Iterator[Served]:
    """Run ``mpi serve`` until the block ends (then SIGTERM and wait for exit 0)."""
    mllp, http = free_port(), free_port()
    log = workdir / f"serve-{mllp}.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [*MPI_COMMAND, "serve", "--config", str(config), "--db", db_url,
             "--mllp-port", str(mllp), "--http-port", str(http), *extra],
            stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while b"mpi serve: MLLP on" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mpi serve did not start; see {log}")
            time.sleep(0.1)
        yield Served(proc, mllp, http, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class FeedResult:
    """What a feed run measured."""

    messages: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _client(port: int, messages: Sequence[bytes], result: FeedResult) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = FrameDecoder()
    pending: list[bytes] = []
    try:
        for payload in messages:
            started = time.perf_counter()
            writer.write(frame(payload))
            await writer.drain()
            while not pending:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("mpi serve closed the connection")
                pending.extend(e for e in decoder.feed(data) if isinstance(e, bytes))
            answer = pending.pop(0)
            result.latencies.append(time.perf_counter() - started)
            msa = decode(answer).segment("MSA")
            code = msa.get(1) if msa is not None else "?"
            result.answers[code] = result.answers.get(code, 0) + 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def feed(port: int, messages: Sequence[bytes], connections: int) -> FeedResult:
    """Send ``messages`` over ``connections`` concurrent MLLP connections (round robin split),
    each waiting for its ACK before the next message (original mode)."""
    result = FeedResult(len(messages), 0.0)
    shares = [messages[i::connections] for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, share, result) for share in shares if share))
    result.seconds = time.perf_counter() - started
    return result
