"""The feed's writer alone, in process: where a batch of ITI-8 registrations spends its time.

``feed_bench.py`` measures ``mpi serve`` over real sockets; this measures the part that
bounds it, the group-commit writer's batched path (:class:`~mpi.service.feed_batch.
BatchRegistrar`), without sockets, threads or a client on the same cores. An index is
pre-loaded as ``feed_bench.py`` does (``mpi load`` of ``--records`` synthetic records, the
message log filled with one earlier answer per record) and kept in ``--workdir``; for each
batch size a copy of it takes ``--messages`` new registrations of the same population,
``--batch`` at a time, each batch in one unit of work and committed. Printed per batch size:

| column | meaning |
| --- | --- |
| batch | messages per batch (one run each) |
| messages | messages measured (after a warm-up batch of each size) |
| cpu / wall ms | processor and wall time per message, commit included |
| prepare, checks, keys, candidates, scoring, write, commit | wall ms per message in each phase |

Phases: ``prepare`` reads the messages' patients and keys; ``checks`` asks the message log
and the ids already registered; ``keys`` looks the blocking keys up; ``candidates`` reads
the candidates and their persons; ``scoring`` compares them; ``write`` writes records, keys,
persons, links, audit and log; ``commit`` commits (on SQLite without ``mpi serve``'s
background WAL checkpoints, so commits that cross the WAL limit checkpoint themselves).

Usage::

    python benchmarks/writer_bench.py --records 1200000 --dup-dist 0.85,0.1,0.05 --workdir /tmp/wb
    python benchmarks/writer_bench.py --records 20000 --batch 1,4,16 --messages 400
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.feed_bench import count_persons, fill_message_log, preload, synth_file
from benchmarks.feed_common import adt_a01, config_text, read_rows, remove_sqlite
from benchmarks.synth import DEFAULT_DUP_DIST, parse_dup_rate
from benchmarks.tables import Column, Table

PHASES = {
    "prepare": ("mpi.service.feed_batch", "BatchRegistrar", "_prepare"),
    "checks": ("mpi.service.feed_batch", "BatchRegistrar", "_unseen"),
    "keys": ("mpi.store.blocking", "BlockingKeyRepository", "key_groups"),
    "candidates": ("mpi.store.records", "RecordRepository", "match_views_and_persons"),
    "scoring_vector": ("matching.scalar", "ScalarMatcher", "score_groups"),
    "scoring_scalar": ("matching.scalar", "ScalarMatcher", "score_for_decision"),
    "write": ("mpi.service.feed_batch", "BatchRegistrar", "_write"),
}
"""Each phase's method (module, class, name), timed while it runs."""

TABLE = Table(
    Column("batch", 6),
    Column("messages", 9),
    Column("cpu ms", 8, ".2f"),
    Column("wall ms", 8, ".2f"),
    Column("prepare", 8, ".2f"),
    Column("checks", 7, ".2f"),
    Column("keys", 6, ".2f"),
    Column("candidates", 11, ".2f"),
    Column("scoring", 8, ".2f"),
    Column("write", 7, ".2f"),
    Column("commit", 7, ".2f"),
)


@contextmanager
def timed_phases(spent: dict[str, float]) -> Iterator[None]:
    """Add each phase's wall time to ``spent`` while the block runs."""
    import importlib

    originals: list[tuple[Any, str, Callable[..., Any]]] = []

    def timer(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return run

    for name, (module, owner, attribute) in PHASES.items():
        cls = getattr(importlib.import_module(module), owner)
        method = getattr(cls, attribute)
        originals.append((cls, attribute, method))
        setattr(cls, attribute, timer(name, method))
    try:
        yield
    finally:
        for cls, attribute, method in originals:
            setattr(cls, attribute, method)


def build_index(
    args: argparse.Namespace, workdir: Path, sizes: Sequence[int]
) -> tuple[Path, Path, list[dict[str, str]]]:
    """The pre-loaded SQLite index (built once, kept in ``workdir``), its configuration
    and the rows to feed."""
    dup_dist = parse_dup_rate(args.dup_dist) if args.dup_dist else DEFAULT_DUP_DIST
    # Each batch size: a warm-up batch, then the measured messages, all new registrations.
    extra = (args.messages + max(sizes)) * len(sizes)
    rows = read_rows(synth_file(workdir, args.records + extra, args.seed, dup_dist))
    config = workdir / "mpi.toml"
    config.write_text(config_text())
    index = workdir / f"writer-{args.records}-{args.seed}.db"
    if not index.exists():
        building = index.with_suffix(".building")
        remove_sqlite(building)
        url = f"sqlite:///{building}"
        seconds = preload(url, config, rows[: args.records], workdir)
        fill_message_log(url, args.records)
        print(f"index: {count_persons(url):,} persons in {seconds:.1f} s", file=sys.stderr)
        building.rename(index)
    return index, config, rows[args.records :]


def run_batches(
    index: Path, config: Path, rows: Sequence[dict[str, str]], batch: int, messages: int
) -> dict[str, object]:
    """Feed ``messages`` registrations ``batch`` at a time into a copy of ``index``."""
    from hl7.codec import decode
    from hl7.messages import parse_request
    from mpi.service import open_context
    from mpi.service.feed import FeedService
    from mpi.service.feed_batch import BatchRegistrar
    from mpi.settings import load_settings

    copy = index.with_name(f"{index.stem}-batch{batch}.db")
    remove_sqlite(copy)
    shutil.copyfile(index, copy)
    settings = load_settings(config, environ={})
    database = dataclasses.replace(settings.database, url=f"sqlite:///{copy}")
    ctx = open_context(dataclasses.replace(settings, database=database))
    registrar = BatchRegistrar(FeedService(ctx))
    raws = [adt_a01(row, f"WB{batch:03d}{n:07d}") for n, row in enumerate(rows)]
    items = [(parse_request(decode(raw)), raw) for raw in raws]
    spent: dict[str, float] = {}

    def one_batch(chunk: Sequence[Any], measure: bool) -> None:
        with ctx.store.unit_of_work() as uow:
            answers = registrar.apply(uow, chunk)
            if len(answers) != len(chunk):
                raise RuntimeError(f"a run took {len(answers)} of {len(chunk)} registrations")
            started = time.perf_counter()
            uow.commit()
            if measure:
                spent["commit"] = spent.get("commit", 0.0) + time.perf_counter() - started

    try:
        one_batch(items[:batch], measure=False)  # warm-up: first-use costs are not measured
        measured = items[batch : batch + messages]
        cpu, wall = time.process_time(), time.perf_counter()
        with timed_phases(spent):
            for start in range(0, len(measured), batch):
                one_batch(measured[start : start + batch], measure=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        ctx.store.dispose()
        remove_sqlite(copy)
    n = len(measured)
    per = {k: 1000 * v / n for k, v in spent.items()}
    return {
        "batch": batch,
        "messages": n,
        "cpu ms": 1000 * cpu / n,
        "wall ms": 1000 * wall / n,
        "prepare": per.get("prepare", 0.0),
        "checks": per.get("checks", 0.0),
        "keys": per.get("keys", 0.0),
        "candidates": per.get("candidates", 0.0),
        "scoring": per.get("scoring_vector", 0.0) + per.get("scoring_scalar", 0.0),
        "write": per.get("write", 0.0),
        "commit": per.get("commit", 0.0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records pre-loaded")
    parser.add_argument("--dup-dist", default=None, help="as feed_bench.py's --dup-dist")
    parser.add_argument("--messages", type=int, default=400, help="messages per batch size")
    parser.add_argument("--batch", default="1,4,16", help="batch sizes, a comma list")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="keeps the index")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="writer-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(b) for b in args.batch.split(",") if b.strip()]
    index, config, rows = build_index(args, workdir, sizes)
    print("\nthe feed's writer in process (ms per message)")
    print(TABLE.header(), flush=True)
    for n, batch in enumerate(sizes):
        # Each batch size gets its own slice of the rows: new registrations every time.
        share = rows[n :: len(sizes)]
        TABLE.print_row(run_batches(index, config, share, batch, args.messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
