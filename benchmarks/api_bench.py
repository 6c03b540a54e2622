"""FHIR PIXm (ITI-83) and PDQm (ITI-78) latency over HTTP with N persons indexed.

Uses the population and the databases of ``query_bench.py`` (N synthetic
persons bulk-loaded, each with a NORTHGEN record, every second one also with a
RIVERCL record of the same person; a loaded database is reused by the next run
with the same N and seed, by either benchmark). Starts the HTTP API
(``mpi.api.create_app`` under uvicorn, one process, as ``mpi serve`` runs it) in
a subprocess, or targets a running server with ``--url``, and fires requests
from concurrent keep-alive connections (httpx):

* ``pixm``: ``GET /fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:…|NG<i>`` of a
  random person (the answer must be 200 with a ``targetIdentifier``);
* ``pdqm``: ``GET /fhir/Patient?family=&given=&birthdate=`` of a random person
  (200, a searchset Bundle holding that person).

Prints one row per backend, kind and concurrency: persons, requests, requests/s,
p50 and p99 latency in ms (client side, request sent to answer read), the same
for the app's own time (its ``Server-Timing`` header: without the client, HTTP
parsing and the network), errors.
Targets at 1M persons: PIXm p99 < 10 ms, PDQm p99 < 30 ms.

Usage::

    python benchmarks/api_bench.py --persons 100000 --requests 2000 --connections 1,8
    python benchmarks/api_bench.py --persons 1000000 --backends postgresql
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from query_bench import Person, percentile_ms, population, prepare, settings
from tables import Column, Table

NG_OID = "2.999.10.1"
# The reader token of the server this script starts; for --url give the server's (--token).
TOKEN = os.environ.get("MPI_BENCH_TOKEN", "bench-reader-token")


def serve(db_url: str, port: int) -> None:
    """Run the HTTP API on the database until killed."""
    from dataclasses import replace

    import uvicorn

    from mpi.api import create_app
    from mpi.domain import Role
    from mpi.service.context import open_context
    from mpi.settings import ApiSettings, ApiToken

    readers = ApiSettings(tokens=(ApiToken(TOKEN, Role.READER, "bench"),))
    app = create_app(open_context(replace(settings(db_url), api=readers)))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print("ready", file=sys.stderr, flush=True)
        await task

    from mpi.serve import run_event_loop

    run_event_loop(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", "--db", db_url, "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit("API server did not start: " + line + proc.stderr.read())
    return proc, f"http://127.0.0.1:{port}"


@dataclass(frozen=True, slots=True)
class Request:
    """One request and what its answer must contain."""

    path: str
    params: dict[str, str]
    expect: str


def pixm(i: int) -> Request:
    return Request(
        "/fhir/Patient/$ihe-pix",
        {"sourceIdentifier": f"urn:oid:{NG_OID}|NG{i}"},
        "targetIdentifier",
    )


def pdqm(p: Person) -> Request:
    birth = f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}"
    return Request(
        "/fhir/Patient",
        {"family": p.family, "given": p.given, "birthdate": birth},
        '"searchset"',
    )


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)  # the app's own time (Server-Timing)
    errors: int = 0


async def _connection(
    client: httpx.AsyncClient, requests: Sequence[Request], result: Result
) -> None:
    for request in requests:
        started = time.perf_counter()
        try:
            response = await client.get(request.path, params=request.params)
            ok = response.status_code == 200 and request.expect in response.text
            timing = response.headers.get("server-timing", "")
            if "dur=" in timing:
                result.server.append(float(timing.split("dur=")[1].split(";")[0]) / 1000)
        except httpx.HTTPError:
            ok = False
        result.latencies.append(time.perf_counter() - started)
        if not ok:
            result.errors += 1


async def fire(base: str, requests: Sequence[Request], connections: int) -> tuple[Result, float]:
    result = Result()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=30.0, headers=headers
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(_connection(client, requests[k::connections], result) for k in range(connections))
        )
        return result, time.perf_counter() - started


TABLE = Table(
    Column("backend", 11, left=True),
    Column("persons", 10, ","),
    Column("kind", 5, left=True, gap=2),
    Column("conns", 6),
    Column("requests", 9),
    Column("req/s", 8, ".0f"),
    Column("p50 ms", 9, ".2f"),
    Column("p99 ms", 9, ".2f"),
    Column("app p50", 9, ".2f"),
    Column("app p99", 9, ".2f"),
    Column("errors", 8),
)


def _measure(
    backend: str, base: str, persons: int, kinds: dict[str, list[Request]], connections: list[int]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind, requests in kinds.items():
        warm = max(20, len(requests) // 20)
        asyncio.run(fire(base, requests[:warm], max(connections)))
        for conns in connections:
            result, seconds = asyncio.run(fire(base, requests, conns))
            rows.append(
                {
                    "backend": backend,
                    "persons": persons,
                    "kind": kind,
                    "conns": conns,
                    "requests": len(requests),
                    "req/s": len(requests) / seconds,
                    "p50 ms": statistics.median(result.latencies) * 1000,
                    "p99 ms": percentile_ms(result.latencies, 0.99),
                    "app p50": percentile_ms(result.server, 0.5) if result.server else float("nan"),
                    "app p99": percentile_ms(result.server, 0.99) if result.server else float("nan"),
                    "errors": result.errors,
                }
            )
            TABLE.print_row(rows[-1])
    return rows


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    people = population(args.persons, args.seed)
    r = random.Random(args.seed + 1)
    picks = [r.randrange(args.persons) for _ in range(args.requests)]
    kinds = {"pixm": [pixm(i) for i in picks], "pdqm": [pdqm(people[i]) for i in picks]}
    if args.url:
        return _measure("(url)", args.url, args.persons, kinds, args.connections)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for backend in args.backends.split(","):
        url = prepare(backend, args.persons, args.seed, workdir)
        proc, base = start_server(url)
        try:
            rows += _measure(backend, base, args.persons, kinds, args.connections)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="(internal) run the API server")
    server.add_argument("--db", required=True)
    server.add_argument("--port", type=int, required=True)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="per kind")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 8],
        help="concurrent HTTP connections, one run each (comma-separated)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--url", help="measure a running server (its database must hold the population)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="bench-work")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.db, args.port)
        return 0
    print(TABLE.header(), flush=True)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
