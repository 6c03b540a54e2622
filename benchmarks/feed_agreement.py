"""Online linking (the ITI-8 feed) against batch de-duplication (``mpi dedup``) on the same records.

The same synthetic records are (a) de-duplicated in one batch with ``mpi dedup``
and (b) fed one by one as ``ADT^A01`` into a fresh ``mpi serve`` (SQLite), once
in file order and once shuffled, each record in its facility's domain. The
person the feed linked each record to is read back from the index, and the
clusterings are compared pairwise (two records agree when both clusterings put
them together, or both apart):

| column | meaning |
| --- | --- |
| order | arrival order of the feed: ``file`` or ``shuffled`` (seeded) |
| records | records compared |
| feed vs dedup P / R / F1 | pairwise precision / recall / F1 of the feed's clusters, taking dedup's as reference |
| feed vs truth F1, dedup vs truth F1 | each against the generator's true persons |
| seconds | feed wall time |

Usage::

    python benchmarks/feed_agreement.py --records 3000 --seed 42
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evaluate import PairScores, scores_from_clusters
from benchmarks.feed_common import (
    MPI_COMMAND,
    adt_a01,
    config_text,
    domain_of,
    feed,
    mpi_serve,
    read_rows,
    remove_sqlite,
)
from benchmarks.synth import SynthConfig, write_csv


def pair_scores(predicted: Mapping[str, str], reference: Mapping[str, str]) -> PairScores:
    """Pairwise scores of ``predicted`` clusters against ``reference`` clusters (same record ids)."""
    ids = list(reference)
    return scores_from_clusters([predicted[i] for i in ids], [reference[i] for i in ids])


def dedup_clusters(source: Path, workdir: Path) -> dict[str, str]:
    """``mpi dedup`` of the file; its trained model is kept as ``model.json`` for the feed."""
    out = workdir / "dedup.csv"
    subprocess.run(
        [*MPI_COMMAND, "dedup", str(source), "-o", str(out), "--save-model",
         str(workdir / "model.json")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return {r["record_id"]: r["cluster_id"] for r in read_rows(out)}


def feed_clusters(
    rows: Sequence[dict[str, str]],
    workdir: Path,
    name: str,
    *,
    trained: bool = True,
    connections: int = 1,
) -> tuple[dict[str, str], float]:
    """Feed ``rows`` in the given order into a fresh index; return record -> person and seconds.

    With ``trained`` the service scores with the model ``mpi dedup`` trained on the
    same file (``[matching] model``), as a deployment does after ``mpi train``;
    without, with the built-in default model.
    """
    from mpi.domain import SourceRecordRef
    from mpi.store import Store

    db = workdir / f"agreement-{name}.db"
    remove_sqlite(db)
    config = workdir / "mpi.toml"
    model = '[matching]\nmodel = "model.json"\n' if trained else ""
    config.write_text(config_text() + "\n" + model)
    messages = [adt_a01(r, f"A{i:08d}") for i, r in enumerate(rows)]
    with mpi_serve(f"sqlite:///{db}", config, workdir) as served:
        # One connection: the arrival order is exactly the order given; more: messages
        # arrive together and are decided in runs (mpi.service.feed_batch).
        result = asyncio.run(feed(served.mllp_port, messages, connections))
    bad = {k: v for k, v in result.answers.items() if k != "AA"}
    if bad:
        print(f"[{name}] answers other than AA: {bad}", file=sys.stderr)
    store = Store.open(f"sqlite:///{db}", upgrade=False)
    clusters: dict[str, str] = {}
    try:
        with store.unit_of_work(readonly=True) as uow:
            for r in rows:
                rid = r["record_id"]
                link = uow.links.get(SourceRecordRef(domain_of(rid)[0], rid))
                person = uow.persons.resolve(link.enterprise_id) if link is not None else None
                clusters[rid] = person.enterprise_id if person is not None else f"alone:{rid}"
    finally:
        store.dispose()
    return clusters, result.seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--connections", type=int, default=1, help="concurrent MLLP connections of the feed"
    )
    parser.add_argument(
        "--default-model",
        action="store_true",
        help="feed with the built-in default model instead of the one mpi dedup trained",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="feed-agreement-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"synth-{args.records}-{args.seed}.csv"
    if not source.exists():
        write_csv(SynthConfig(records=args.records, seed=args.seed), source)
    rows = read_rows(source)
    truth = {r["record_id"]: r["person_id"] for r in rows}

    started = time.perf_counter()
    dedup = dedup_clusters(source, workdir)
    print(f"mpi dedup: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    shuffled = list(rows)
    random.Random(args.seed).shuffle(shuffled)

    head = (
        f"{'order':<9} {'records':>8} {'P':>6} {'R':>6} {'F1':>6}   "
        f"{'feed-truth F1':>13} {'dedup-truth F1':>14} {'seconds':>8}"
    )
    lines = []
    for name, order in (("file", rows), ("shuffled", shuffled)):
        clusters, seconds = feed_clusters(
            order, workdir, name, trained=not args.default_model, connections=args.connections
        )
        agree = pair_scores(clusters, dedup)
        lines.append(
            f"{name:<9} {len(rows):>8,} {agree.precision:>6.3f} {agree.recall:>6.3f} "
            f"{agree.f1:>6.3f}   {pair_scores(clusters, truth).f1:>13.3f} "
            f"{pair_scores(dedup, truth).f1:>14.3f} {seconds:>8.1f}"
        )
    print("feed vs dedup (pairwise; dedup as reference)")
    print(head)
    print("-" * len(head))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
