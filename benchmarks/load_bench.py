"""Benchmark of ``mpi load``: a seeded synthetic export loaded into an empty index, then again.

For each size a population is generated with ``benchmarks/synth.py`` (the truth column
``person_id`` is kept aside), its ``record_id`` becomes the ``mrn`` of domain ``BENCH``,
and ``mpi load`` runs as a child process (wall time and its own peak RSS measured, see
``evaluate.run_measured``). The second row of each size loads the same file again
(idempotent: nothing new). ``CPU s`` is the load's own processor time (the wall time
on an idle machine, roughly; on a shared one the wall time is longer). Pairwise precision/recall/F1 compare the enterprise persons
with the planted truth.

Usage::

    python benchmarks/load_bench.py --records 100000
    python benchmarks/load_bench.py --records 100000 1000000 --db postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd

try:  # run as a script or imported as benchmarks.load_bench
    from benchmarks import evaluate, synth
except ImportError:  # pragma: no cover - script mode
    import evaluate  # type: ignore[no-redef]
    import synth  # type: ignore[no-redef]

DOMAIN = "BENCH"
CONFIG = f"""
[enterprise]
namespace = "MPI"
oid = "2.999.1"

[[domain]]
namespace = "{DOMAIN}"
oid = "2.999.50.1"
"""
_SUMMARY = re.compile(
    r"records: (?P<records>[\d,]+)\s+new: (?P<new>[\d,]+)\s+unchanged: (?P<unchanged>[\d,]+)\s+"
    r"updated: [\d,]+\s+persons created: (?P<persons>[\d,]+)\s+auto-links: (?P<links>[\d,]+)\s+"
    r"reviews: (?P<reviews>[\d,]+)\s+\([\d.]+ s, CPU (?P<cpu>[\d.]+) s\)"
)
COLUMNS = [
    "run",
    "records",
    "seconds",
    "CPU s",
    "records/s",
    "peak MB",
    "persons",
    "links",
    "reviews",
    "precision",
    "recall",
    "F1",
]


_STAGE = re.compile(r"^\[\s*(?P<at>[\d.]+)s\] (?P<text>.*)$")
_PHASES = (  # stage line (start) -> phase name
    ("reading", "reading"),
    ("records read", "id lookup"),
    ("updating", "updates"),
    ("preparing", "preparing"),
    ("blocking", "blocking"),
    ("scoring", "scoring"),
    ("clustering", "clustering + reviews"),
    ("new persons", "keys + write setup"),
    ("dropping", "writing batches"),
    ("written", "writing batches"),
    ("building", "index build"),
    ("opening", "review tasks + ITI-10 + checkpoint"),
    ("queueing", "review tasks + ITI-10 + checkpoint"),
)


def phases(stderr: str, total: float) -> list[tuple[str, float]]:
    """Seconds per phase of ``mpi load`` from its stage lines (``[  12.3s] text``)."""
    stages = [(float(m["at"]), m["text"]) for m in map(_STAGE.match, stderr.splitlines()) if m]
    out: dict[str, float] = {}
    name = "start"
    for k, (at, text) in enumerate(stages):
        # Other lines (warnings) belong to the phase they appear in.
        name = next((n for key, n in _PHASES if key in text), name)
        end = stages[k + 1][0] if k + 1 < len(stages) else total
        out[name] = round(out.get(name, 0.0) + end - at, 1)
    return list(out.items())


def make_export(records: int, seed: int, work: Path) -> tuple[Path, pd.Series]:
    """Write the load CSV (``mrn`` + canonical columns); return it and the truth per mrn."""
    raw = work / f"synth-{records}.csv"
    synth.write_csv(synth.SynthConfig(records=records, seed=seed), raw)
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    truth = frame.pop(synth.TRUTH_COLUMN)
    truth.index = frame["record_id"]
    frame = frame.rename(columns={"record_id": "mrn"})
    path = work / f"load-{records}.csv"
    frame.to_csv(path, index=False)
    raw.unlink()
    return path, truth


def clusters(db_url: str) -> pd.Series:
    """The enterprise id of every active record of the domain, by mrn."""
    from mpi.store import Store

    store = Store.open(db_url)
    try:
        with store.unit_of_work(readonly=True) as uow:
            pairs = [
                (s.ref.id, s.enterprise_id)
                for batch in uow.bulk.iter_active(batch_size=50_000)
                for s in batch
                if s.ref.domain == DOMAIN
            ]
    finally:
        store.dispose()
    return pd.Series(dict(pairs))


def run(records: int, seed: int, work: Path, db_url: str | None) -> list[dict[str, object]]:
    export, truth = make_export(records, seed, work)
    config = work / "bench.toml"
    config.write_text(CONFIG, encoding="utf-8")
    url = db_url or f"sqlite:///{work / f'bench-{records}.db'}"
    rows = []
    for label in ("first load", "same file again"):
        command = [
            "mpi",
            "load",
            str(export),
            "--domain",
            DOMAIN,
            "--config",
            str(config),
            "--db",
            url,
            "--invalid",
            "blank",
        ]
        stats = evaluate.run_measured([sys.executable, "-m", "mpi", *command[1:]])
        if not stats.ok:
            raise SystemExit(f"mpi load failed ({stats.returncode}): {stats.error_summary()}")
        m = _SUMMARY.search(stats.stdout)
        assert m is not None, stats.stdout
        print(f"{records:,} records, {label}: seconds per phase", file=sys.stderr)
        for name, seconds in phases(stats.stderr, stats.seconds):
            print(f"  {name:<36} {seconds:7.1f}", file=sys.stderr)
        row: dict[str, object] = {
            "run": label,
            "records": records,
            "seconds": round(stats.seconds, 1),
            "CPU s": float(m["cpu"]),
            "records/s": round(records / stats.seconds),
            "peak MB": round(stats.peak_rss_mb),
            "persons": int(m["persons"].replace(",", "")),
            "links": int(m["links"].replace(",", "")),
            "reviews": int(m["reviews"].replace(",", "")),
        }
        if label == "first load":
            predicted = clusters(url).reindex(truth.index)
            scores = evaluate.scores_from_clusters(predicted.to_numpy(), truth.to_numpy())
            row.update(
                precision=round(scores.precision, 4),
                recall=round(scores.recall, 4),
                F1=round(scores.f1, 4),
            )
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--db",
        help="database URL (default: a new SQLite file per size); "
        "a PostgreSQL database must be empty",
    )
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="load-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for records in args.records:
        rows += run(records, args.seed, work, args.db)
    table = pd.DataFrame(rows, columns=COLUMNS).fillna("")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
