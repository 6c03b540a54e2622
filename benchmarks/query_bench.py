"""PIX and PDQ query latency over real MLLP with N persons indexed.

Loads N synthetic persons through the store's bulk path (each with a
NORTHGEN record, every second one also with a RIVERCL record linked to the
same person), starts a server process running the MLLP listener
(:mod:`mpi.mllp`) with the query handlers (:mod:`mpi.service.query_handlers`),
and fires queries from concurrent MLLP connections:

* ``pix``: ``QBP^Q23`` for a random person's NORTHGEN id, all domains;
* ``pdq``: ``QBP^Q22`` on family name + given name + birth date of a random
  person (``RCP-2`` 10).

Each answer is checked (AA and OK). Prints one row per backend and query kind:
backend, persons, kind, connections, queries, q/s, p50 and p99 latency in
ms, errors. Seeded and
reproducible; a loaded database is kept in ``--workdir`` (SQLite) or as
``mpi_query_bench_<N>`` (PostgreSQL) and reused by the next run with the same N.
Blocking keys are not loaded: neither query uses them.

Usage::

    python benchmarks/query_bench.py --persons 100000 --queries 2000 --connections 8
    python benchmarks/query_bench.py --persons 1000000 --backends postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tables import Column, Table

from hl7.codec import decode
from hl7.mllp import FrameDecoder, frame
from hl7.model import (
    Address,
    AssigningAuthority,
    Identifier,
    PatientDemographics,
    PersonName,
)
from mpi.domain import LinkMethod, NewSourceRecord, PersonStatus, SourceRecordRef
from mpi.settings import DatabaseSettings, DomainSettings, EnterpriseSettings, Settings
from mpi.store import BulkLink, Store

POSTGRES_ADMIN_URL = os.environ.get(
    "MPI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BATCH = 5000


def settings(db_url: str) -> Settings:
    """Two facilities and the enterprise domain."""
    return Settings(
        enterprise=EnterpriseSettings("MPI", "2.999.1"),
        domains=(
            DomainSettings("NORTHGEN", "2.999.10.1"),
            DomainSettings("RIVERCL", "2.999.10.2"),
        ),
        database=DatabaseSettings(db_url),
    )


# -- population -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    family: str
    given: str
    birth_date: str
    sex: str


def _weighted(text: str) -> tuple[list[str], list[float]]:
    import synth_names

    pairs = synth_names.pairs(text)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def population(n: int, seed: int) -> list[Person]:
    """N persons: real-name head (skewed) plus a long syllable tail of family names."""
    import synth_names

    r = random.Random(seed)
    fam, fam_w = _weighted(synth_names.GERMAN_FAMILY + synth_names.ENGLISH_FAMILY)
    male, male_w = _weighted(synth_names.GERMAN_MALE + synth_names.ENGLISH_MALE)
    female, female_w = _weighted(synth_names.GERMAN_FEMALE + synth_names.ENGLISH_FEMALE)
    syllables = ["ber", "dor", "fen", "gar", "hol", "kan", "lin", "mar", "nes", "ost", "pel"]
    syllables += ["rau", "sel", "tam", "ul", "wen", "zek", "bra", "cho", "del", "fri", "gus"]
    people = []
    for _ in range(n):
        if r.random() < 0.5:
            family = r.choices(fam, fam_w)[0]
        else:
            family = "".join(r.choice(syllables) for _ in range(3)).capitalize()
        sex = r.choice("MF")
        given = r.choices(male, male_w)[0] if sex == "M" else r.choices(female, female_w)[0]
        day = r.randrange(0, 90 * 365)
        birth = time.strftime("%Y%m%d", time.gmtime(-1_262_304_000 + day * 86400))
        people.append(Person(family, given, birth, sex))
    return people


def _record(domain: str, source_id: str, p: Person) -> NewSourceRecord:
    ref = SourceRecordRef(domain, source_id)
    patient = PatientDemographics(
        identifiers=(Identifier(source_id, AssigningAuthority(domain), "MR"),),
        names=(PersonName(p.family, p.given, name_type="L"),),
        birth_date=p.birth_date,
        sex=p.sex,
        addresses=(Address("Hauptstraße 1", city="Köln", postcode="50667", type="H"),),
    )
    return NewSourceRecord(ref, patient.to_record(str(ref)), asdict(patient))


def load(store: Store, people: Sequence[Person]) -> None:
    """Bulk-load the persons (NORTHGEN record each, RIVERCL for every second one)."""
    started = time.monotonic()
    for start in range(0, len(people), BATCH):
        chunk = list(enumerate(people[start : start + BATCH], start=start))
        with store.unit_of_work() as uow:
            eids = uow.bulk.create_persons(len(chunk))
            records = [_record("NORTHGEN", f"NG{i}", p) for i, p in chunk]
            twins = [
                (k, _record("RIVERCL", f"RC{i}", p)) for k, (i, p) in enumerate(chunk) if i % 2 == 0
            ]
            pks = uow.bulk.insert_records(records + [r for _, r in twins])
            links = [
                BulkLink(pk, eids[k], 1.0, LinkMethod.AUTO)
                for k, pk in enumerate(pks[: len(records)])
            ]
            links += [
                BulkLink(pk, eids[k], 1.0, LinkMethod.AUTO)
                for (k, _), pk in zip(twins, pks[len(records) :], strict=True)
            ]
            uow.bulk.insert_links(links)
            uow.commit()
        done = start + len(chunk)
        if done % 100_000 == 0 or done == len(people):
            rate = done / (time.monotonic() - started)
            print(f"  loaded {done:,} persons ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def prepare(backend: str, n: int, seed: int, workdir: Path) -> str:
    """A database URL holding exactly n persons (loaded now, or kept from an earlier run)."""
    from mpi.service.context import open_context

    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'query_bench_{n}_{seed}.db'}"
    else:
        name = f"mpi_query_bench_{n}_{seed}"
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    ctx = open_context(settings(url))
    try:
        with ctx.store.unit_of_work(readonly=True) as uow:
            have = uow.persons.count(PersonStatus.ACTIVE)
        if have != n:
            if have:
                raise SystemExit(f"{url} holds {have} persons, not {n}: remove it first")
            print(f"{backend}: loading {n:,} persons", file=sys.stderr, flush=True)
            load(ctx.store, population(n, seed))
    finally:
        ctx.store.dispose()
    return url


# -- server process ---------------------------------------------------------------------------------


def serve(db_url: str, port: int, workers: int) -> None:
    """Run the MLLP listener with the query handlers until killed."""
    from mpi.mllp.router import Router, ServerIdentity
    from mpi.mllp.server import MllpServer
    from mpi.service.context import open_context
    from mpi.service.query_handlers import PdqQueryHandler, PixQueryHandler

    ctx = open_context(settings(db_url))
    router = Router(ServerIdentity(), pix=PixQueryHandler(ctx), pdq=PdqQueryHandler(ctx))

    async def main() -> None:
        server = MllpServer(router, "127.0.0.1", port, workers=workers, idle_timeout=None)
        await server.start()
        print("ready", file=sys.stderr, flush=True)
        await server.serve_forever()

    from mpi.serve import run_event_loop

    run_event_loop(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, workers: int) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", "--db", db_url, "--port", str(port),
         "--workers", str(workers)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit("query server did not start: " + line + proc.stderr.read())
    return proc, port


# -- load generator -----------------------------------------------------------------------------------


def pix_query(i: int, n: int) -> bytes:
    return (
        "MSH|^~\\&|BENCH|CITYHIE|EMPI|MPIHOST|20260101120000||QBP^Q23^QBP_Q21|"
        f"X{n}|P|2.5\rQPD|IHE PIX Query|T{n}|NG{i}^^^NORTHGEN&2.999.10.1&ISO\rRCP|I\r"
    ).encode()


def pdq_query(p: Person, n: int) -> bytes:
    return (
        "MSH|^~\\&|BENCH|CITYHIE|EMPI|MPIHOST|20260101120000||QBP^Q22^QBP_Q21|"
        f"X{n}|P|2.5||||||UNICODE UTF-8\r"
        f"QPD|IHE PDQ Query|T{n}|@PID.5.1.1^{p.family}~@PID.5.2^{p.given}~@PID.7.1^{p.birth_date}\r"
        "RCP|I|10^RD\r"
    ).encode()


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


async def _connection(port: int, messages: Sequence[bytes], result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = FrameDecoder()
    try:
        for message in messages:
            started = time.perf_counter()
            writer.write(frame(message))
            await writer.drain()
            answer: bytes | None = None
            while answer is None:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                events = decoder.feed(data)
                if events:
                    event = events[0]
                    answer = event if isinstance(event, bytes) else b""
            result.latencies.append(time.perf_counter() - started)
            qak = decode(answer).segment("QAK") if answer else None
            if qak is None or qak.get(2) != "OK":
                result.errors += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def fire(port: int, messages: Sequence[bytes], connections: int) -> tuple[Result, float]:
    result = Result()
    shares = [messages[k::connections] for k in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, share, result) for share in shares if share))
    return result, time.perf_counter() - started


def percentile_ms(values: list[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, in milliseconds (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    people = population(args.persons, args.seed)
    r = random.Random(args.seed + 1)
    picks = [r.randrange(args.persons) for _ in range(args.queries)]
    kinds = {
        "pix": [pix_query(i, n) for n, i in enumerate(picks)],
        "pdq": [pdq_query(people[i], n) for n, i in enumerate(picks)],
    }
    for backend in args.backends.split(","):
        url = prepare(backend, args.persons, args.seed, workdir)
        proc, port = start_server(url, args.workers)
        try:
            for kind, messages in kinds.items():
                warm = max(20, len(messages) // 20)
                asyncio.run(fire(port, messages[:warm], max(args.connections)))
                for connections in args.connections:
                    result, seconds = asyncio.run(fire(port, messages, connections))
                    rows.append(
                        {
                            "backend": backend,
                            "persons": args.persons,
                            "kind": kind,
                            "conns": connections,
                            "queries": len(messages),
                            "q/s": len(messages) / seconds,
                            "p50 ms": statistics.median(result.latencies) * 1000,
                            "p99 ms": percentile_ms(result.latencies, 0.99),
                            "errors": result.errors,
                        }
                    )
                    TABLE.print_row(rows[-1])
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return rows


TABLE = Table(
    Column("backend", 11, left=True),
    Column("persons", 10, ","),
    Column("kind", 5, left=True, gap=2),
    Column("conns", 6),
    Column("queries", 8),
    Column("q/s", 9, ".0f"),
    Column("p50 ms", 9, ".2f"),
    Column("p99 ms", 9, ".2f"),
    Column("errors", 8),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="(internal) run the query server")
    server.add_argument("--db", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--workers", type=int, default=8)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000, help="per query kind")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 8],
        help="concurrent MLLP connections, one run each (comma-separated)",
    )
    parser.add_argument("--workers", type=int, default=8, help="server worker threads")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="bench-work")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.db, args.port, args.workers)
        return 0
    print(TABLE.header(), flush=True)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
