"""Sustained ITI-8 feed over real MLLP sockets against a running ``mpi serve``.

For each backend (SQLite, PostgreSQL): a fresh index is pre-loaded with
``--records`` synthetic records (``mpi load``, one file per facility domain),
``mpi serve`` is started on it, and ``--messages`` further records of the same
population (some of them new copies of pre-loaded persons, so the matcher
links) arrive as ``ADT^A01`` over ``--connections`` concurrent connections,
each waiting for its ACK before sending the next (original mode). Before the feed,
the message log gets ``--logged`` earlier answers (default: one per pre-loaded
record, as if the index had been fed message by message; ``mpi load`` logs
none): a statement that scans the log slows every batch of a feed that has been
running for weeks, and a benchmark on an empty log would not show it. Printed:

| column | meaning |
| --- | --- |
| backend | sqlite or postgresql |
| indexed persons | active persons in the index when the feed starts |
| messages | ADT messages sent |
| msg/s | messages / wall time of the feed |
| p50 / p99 ms | ACK latency (write of the frame to its ACK read), per message |
| AA / other | answers by MSA-1 |
| ITI-10 | with ``--subscriber``: ADT^A31 notifications a local subscriber of every domain received during the row's feed (``mpi serve`` sends one per person whose ids changed; they trail the feed) |

Usage::

    python benchmarks/feed_bench.py                                  # 10k records, 3,000 messages
    python benchmarks/feed_bench.py --records 1200000 --dup-dist 0.85,0.1,0.05 --backends sqlite
                                                                     # ~1M persons indexed
    python benchmarks/feed_bench.py --profile                        # py-spy the server (SQLite)
    python benchmarks/feed_bench.py --subscriber                     # with ITI-10 notifications

Seeded and reproducible (``--seed``); the synthetic file comes from
``benchmarks/synth.py`` and is cached in ``--workdir`` by size and seed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.feed_common import (
    DOMAINS,
    MPI_COMMAND,
    FeedResult,
    Subscriber,
    adt_a01,
    config_text,
    domain_of,
    feed,
    mpi_serve,
    read_rows,
    remove_sqlite,
    write_rows,
)
from benchmarks.synth import (
    COLUMNS,
    DEFAULT_DUP_DIST,
    SynthConfig,
    parse_dup_rate,
    write_csv,
)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Row:
    backend: str
    persons: int
    connections: int
    result: FeedResult
    preload_seconds: float
    notified: int | None = None
    """ITI-10 notifications the subscriber received during the row's feed (``--subscriber``)."""


def synth_file(workdir: Path, records: int, seed: int, dup_dist: tuple[float, ...]) -> Path:
    tag = "" if dup_dist == DEFAULT_DUP_DIST else "-d" + "_".join(f"{p:g}" for p in dup_dist)
    path = workdir / f"synth-{records}-{seed}{tag}.csv"
    if not path.exists():
        write_csv(SynthConfig(records=records, seed=seed, dup_dist=dup_dist), path)
    return path


def serve_config(config: Path, subscriber: Subscriber | None) -> Path:
    """``config`` rewritten for the feed: with the running subscriber, if any."""
    if subscriber is not None:
        config.write_text(config_text(subscriber.port))
    return config


def has_load_command() -> bool:
    probe = subprocess.run([*MPI_COMMAND, "load", "--help"], capture_output=True)
    return probe.returncode == 0


def preload(db_url: str, config: Path, rows: list[dict[str, str]], workdir: Path) -> float:
    """Load the rows with ``mpi load``, one file per facility; return the seconds taken.

    Without ``mpi load`` (not installed yet) the rows go through ``mpi serve``'s feed instead.
    """
    started = time.perf_counter()
    if not has_load_command():
        print("mpi load is not available: pre-loading through the MLLP feed", file=sys.stderr)
        messages = [adt_a01(r, f"P{i:08d}") for i, r in enumerate(rows)]
        with mpi_serve(db_url, config, workdir) as served:
            asyncio.run(feed(served.mllp_port, messages, 4))
        return time.perf_counter() - started
    for ns, *_ in DOMAINS:
        part = [r for r in rows if domain_of(r["record_id"])[0] == ns]
        if not part:
            continue
        path = workdir / f"preload-{ns}.csv"
        write_rows(path, [{**r, "mrn": r["record_id"]} for r in part], [*COLUMNS, "mrn"])
        subprocess.run(
            [*MPI_COMMAND, "load", str(path), "--domain", ns, "--config", str(config),
             "--db", db_url],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return time.perf_counter() - started


def fill_message_log(db_url: str, count: int) -> None:
    """Log ``count`` earlier answers from the benchmark's senders (control ids ``H…``)."""
    import sqlalchemy as sa

    from mpi.store import create_engine

    senders = [(app, fac) for _, _, app, fac in DOMAINS]
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                numbers = (
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i + 1 < :count) SELECT i FROM n"
                )
                text = "'H' || printf('%09d', i)"
            else:
                numbers = "SELECT generate_series(0, :count - 1) AS i"
                text = "'H' || lpad(i::text, 9, '0')"
            cases = " ".join(f"WHEN {k} THEN '{a}'" for k, (a, _) in enumerate(senders))
            facilities = " ".join(f"WHEN {k} THEN '{f}'" for k, (_, f) in enumerate(senders))
            conn.execute(
                sa.text(
                    "INSERT INTO message_log (sender_application, sender_facility, control_id,"
                    " digest, response, received_at)"
                    f" SELECT CASE i % {len(senders)} {cases} END,"
                    f" CASE i % {len(senders)} {facilities} END, {text}, 'x',"
                    " :response, :at FROM (" + numbers + ") AS numbers"
                ),
                {"count": count, "response": b"MSH|", "at": "2026-01-01 00:00:00"},
            )
    finally:
        engine.dispose()


def count_persons(db_url: str) -> int:
    from mpi.store import Store

    store = Store.open(db_url, upgrade=False)
    try:
        with store.unit_of_work(readonly=True) as uow:
            return uow.persons.count()
    finally:
        store.dispose()


def create_pg_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"mpi_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def drop_pg_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[Row]:
    dup_dist = parse_dup_rate(args.dup_dist) if args.dup_dist else DEFAULT_DUP_DIST
    rows = read_rows(synth_file(workdir, args.records + args.messages, args.seed, dup_dist))
    preload_rows, feed_rows = rows[: args.records], rows[args.records :]
    config = workdir / "mpi.toml"
    config.write_text(config_text())  # the pre-load notifies nobody: no subscriber yet
    pg_name = None
    if backend == "sqlite":
        db_path = workdir / f"bench-{args.records}.db"
        remove_sqlite(db_path)
        db_url = f"sqlite:///{db_path}"
    else:
        db_url, pg_name = create_pg_database(args.pg_url)
    try:
        print(f"[{backend}] pre-loading {len(preload_rows):,} records ...", file=sys.stderr)
        seconds = preload(db_url, config, preload_rows, workdir)
        persons = count_persons(db_url)
        print(f"[{backend}] {persons:,} persons indexed in {seconds:.1f} s", file=sys.stderr)
        logged = len(preload_rows) if args.logged is None else args.logged
        if logged:
            fill_message_log(db_url, logged)
            print(f"[{backend}] {logged:,} earlier answers in the message log", file=sys.stderr)
        messages = [adt_a01(r, f"B{i:08d}") for i, r in enumerate(feed_rows)]
        extra = [] if args.feed_batch is None else ["--feed-batch", str(args.feed_batch)]
        subscriber = Subscriber() if args.subscriber else None
        # (The subscriber is listening when the configuration naming its port is written.)
        with (
            subscriber or contextlib.nullcontext(),
            mpi_serve(db_url, serve_config(config, subscriber), workdir, extra=extra) as served,
        ):
            profiler = _start_profiler(served.proc.pid, workdir) if args.profile else None
            # Warm-up: a few messages so that first-use costs are not measured.
            warm = [adt_a01(r, f"W{i:08d}") for i, r in enumerate(preload_rows[:20])]
            asyncio.run(feed(served.mllp_port, warm, 1))
            counts = [int(c) for c in str(args.connections).split(",") if c.strip()]
            out = []
            for n, connections in enumerate(counts):
                # Each connection count gets its own slice of the feed: new records every time.
                part = messages[n :: len(counts)]
                before = subscriber.received if subscriber is not None else 0
                result = asyncio.run(feed(served.mllp_port, part, connections))
                notified = subscriber.received - before if subscriber is not None else None
                out.append(Row(backend, persons, connections, result, seconds, notified))
                print_table(out[-1:], header=n == 0, file=sys.stderr)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
        return out
    finally:
        if pg_name is not None:
            drop_pg_database(args.pg_url, pg_name)


def _start_profiler(pid: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not found: not profiling", file=sys.stderr)
        return None
    out = workdir / f"profile-{pid}.txt"
    print(f"profiling mpi serve (pid {pid}) into {out}", file=sys.stderr)
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
         "--rate", "200", "--threads", "--subprocesses", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def print_table(rows: Sequence[Row], *, header: bool = True, file: TextIO = sys.stdout) -> None:
    head = (
        f"{'backend':<11} {'indexed persons':>15} {'conns':>5} {'messages':>9} {'msg/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'AA':>7} {'other':>6} {'ITI-10':>7}"
    )
    if header:
        print(head, file=file)
        print("-" * len(head), file=file)
    for r in rows:
        res = r.result
        other = sum(v for k, v in res.answers.items() if k != "AA")
        print(
            f"{r.backend:<11} {r.persons:>15,} {r.connections:>5} {res.messages:>9,} "
            f"{res.rate:>8.0f} "
            f"{res.percentile(0.5) * 1000:>7.1f} {res.percentile(0.99) * 1000:>7.1f} "
            f"{res.answers.get('AA', 0):>7,} {other:>6,} "
            f"{'-' if r.notified is None else f'{r.notified:,}':>7}",
            file=file,
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000, help="records pre-loaded")
    parser.add_argument(
        "--dup-dist",
        default=None,
        help="share of persons with 1,2,... records, e.g. 0.85,0.1,0.05 (synth.py's default: "
        "1.85 records per person)",
    )
    parser.add_argument("--messages", type=int, default=3_000, help="ADT messages fed")
    parser.add_argument(
        "--connections", default="1,8", help="concurrent connections; a comma list runs each"
    )
    parser.add_argument(
        "--feed-batch",
        type=int,
        default=None,
        help="mpi serve's group commit size (0: one transaction a message; default: serve's)",
    )
    parser.add_argument(
        "--logged",
        type=int,
        default=None,
        help="earlier answers in the message log before the feed (default: --records)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_ADMIN, help="PostgreSQL maintenance database")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="py-spy record the server")
    parser.add_argument(
        "--subscriber",
        action="store_true",
        help="an ITI-10 subscriber of every domain during the feed (a local one that ACKs)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="feed-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = [
        row
        for b in args.backends.split(",")
        if b.strip()
        for row in run_backend(b.strip(), args, workdir)
    ]
    print("\nfeed benchmark (ITI-8 ADT^A01 over MLLP, original-mode ACK)")
    print_table(results)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "backend": r.backend,
                        "persons": r.persons,
                        "connections": r.connections,
                        "messages": r.result.messages,
                        "msg_per_s": r.result.rate,
                        "p50_ms": r.result.percentile(0.5) * 1000,
                        "p99_ms": r.result.percentile(0.99) * 1000,
                        "answers": r.result.answers,
                        "preload_seconds": r.preload_seconds,
                        "notified": r.notified,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
