"""Splink (DuckDB) baseline: de-duplicate one canonical CSV or link two.

The reference engine that ``mpi dedup`` / ``mpi link`` must beat, configured the way a
careful Splink user would: standardised columns, Jaro-Winkler name levels with term
frequency adjustments, a date-of-birth comparison, address/phone/id/email comparisons,
a good hand-written set of blocking rules, u by random sampling, m by EM over several
training blocks, and the match prior from deterministic rules.

Runs as its own process so its time and peak memory are its own::

    python benchmarks/splink_baseline.py dedup IN.csv -o CLUSTERS.csv [--map surname=family_name]
    python benchmarks/splink_baseline.py link A.csv B.csv -o PAIRS.csv

``dedup`` writes ``record_id,cluster_id`` for every input row; ``link`` writes
``left_id,right_id,match_probability`` for each pair at or above the threshold.
Input columns follow the canonical CSV contract (any may be missing; ``--map SRC=FIELD``
renames a source column).  Written against Splink 4/5 (``splink.Linker``,
``SettingsCreator``, ``block_on``, ``DuckDBAPI().register``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import jellyfish
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

CANONICAL = ["record_id", "given_name", "middle_name", "family_name", "birth_date", "sex",
             "street", "city", "postcode", "phone", "national_id", "mother_maiden_name",
             "email"]

# Umlauts written ae/oe/ue/ss, then any other accent stripped: the usual cleaning step.
_FOLD = ("strip_accents(replace(replace(replace(replace(lower(trim({c})), 'ä', 'ae'), "
         "'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss'))")


def _name(col: str) -> str:
    folded = _FOLD.format(c=col)
    return f"nullif(trim(regexp_replace({folded}, '[^a-z ]+', '', 'g')), '')"


def _street(col: str) -> str:
    folded = _FOLD.format(c=col)
    # "Hauptstraße" / "Hauptstrasse" / "Hauptstr." all become "hauptstr"
    s = f"regexp_replace({folded}, 'strasse|str\\.', 'str', 'g')"
    s = f"regexp_replace({s}, '[^a-z0-9 ]+', ' ', 'g')"
    return f"nullif(trim(regexp_replace({s}, '\\s+', ' ', 'g')), '')"


def _digits(col: str) -> str:
    return f"nullif(regexp_replace({col}, '[^0-9]', '', 'g'), '')"


def _phone(col: str) -> str:
    d = f"regexp_replace({col}, '[^0-9+]', '', 'g')"
    # +49 30 ... and 030 ... are the same number
    d = f"regexp_replace(regexp_replace({d}, '^\\+49', '0'), '^0049', '0')"
    return f"nullif(regexp_replace({d}, '[^0-9]', '', 'g'), '')"


def _prepare_sql(columns: set[str], source: str) -> str:
    """SELECT that standardises whichever canonical columns exist."""
    out = ["cast(record_id as varchar) as record_id"]
    for c in ("given_name", "family_name", "middle_name", "mother_maiden_name", "city"):
        if c in columns:
            out.append(f"{_name(c)} as {c}")
    if "birth_date" in columns:
        digits = _digits("birth_date")
        out.append(f"case when length({digits}) = 8 then {digits} end as birth_date")
        out.append(f"case when length({digits}) = 8 then substr({digits}, 1, 4) end "
                   "as birth_year")
    if "sex" in columns:
        out.append("case when upper(trim(sex)) in ('M', 'F') then upper(trim(sex)) end "
                   "as sex")
    if "street" in columns:
        out.append(f"{_street('street')} as street")
    if "postcode" in columns:
        out.append("nullif(upper(regexp_replace(postcode, '\\s', '', 'g')), '') as postcode")
    if "phone" in columns:
        out.append(f"{_phone('phone')} as phone")
        out.append(f"right({_phone('phone')}, 7) as phone_last7")
    if "national_id" in columns:
        out.append("nullif(upper(regexp_replace(national_id, '[^0-9A-Za-z]', '', 'g')), '') "
                   "as national_id")
    if "email" in columns:
        out.append("nullif(lower(trim(email)), '') as email")
    return f"select {', '.join(out)} from {source}"


def load_table(con: duckdb.DuckDBPyConnection, path: str, name: str,
               mapping: dict[str, str]) -> set[str]:
    """Read a CSV (all text), apply ``--map`` renames, standardise into table ``name``."""
    raw = f"{name}_raw"
    quoted = str(path).replace("'", "''")
    _run(con, f"create or replace table {raw} as select * from "
                f"read_csv('{quoted}', all_varchar=true, header=true)")
    for src, dst in mapping.items():
        _run(con, f'alter table {raw} rename column "{src}" to "{dst}"')
    present = {r[0] for r in _run(con, f"describe {raw}")}
    if "record_id" not in present:
        raise SystemExit(f"{path}: no record_id column (columns: {sorted(present)})")
    columns = present & set(CANONICAL)
    _run(con, f"create or replace table {name} as {_prepare_sql(columns, raw)}")
    _run(con, f"drop table {raw}")
    for col in ("given_name", "family_name"):
        if col in columns:
            _add_phonetic_key(con, name, col)
    # a column that is empty everywhere carries no evidence: drop it from the model
    return {c for c in _columns(con, name)
            if _run(con, f"select count({c}) from {name}")[0][0] > 0}


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    """Execute and drain: DuckDB 2 refuses new work while a result is unfinished."""
    return con.execute(sql).fetchall()


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in _run(con, f"describe {table}")]


def _add_phonetic_key(con: duckdb.DuckDBPyConnection, table: str, col: str) -> None:
    """Soundex of a name as ``<col minus _name>_sx`` for blocking (DuckDB has none)."""
    key = col.removesuffix("_name") + "_sx"
    names = [r[0] for r in _run(
        con, f"select distinct {col} from {table} where {col} is not null")]
    _run(con, f"create or replace temp table sx({col} varchar, {key} varchar)")
    if names:
        con.executemany("insert into sx values (?, ?)",
                        [(n, jellyfish.soundex(n)) for n in names]).fetchall()
    _run(con, f"create or replace table {table} as select t.*, sx.{key} "
              f"from {table} t left join sx using ({col})")


def comparisons(cols: set[str]) -> list[Any]:
    """The comparison set for the columns that are present."""
    out: list[Any] = []
    if "given_name" in cols:
        out.append(cl.NameComparison("given_name").configure(term_frequency_adjustments=True))
    if "family_name" in cols:
        out.append(cl.NameComparison("family_name").configure(term_frequency_adjustments=True))
    if "birth_date" in cols:
        out.append(cl.DateOfBirthComparison("birth_date", input_is_string=True,
                                            datetime_format="%Y%m%d",
                                            invalid_dates_as_null=True))
    if "sex" in cols:
        out.append(cl.ExactMatch("sex"))
    # Street, postcode and city stay separate comparisons: one combined address
    # comparison was measured worse on FEBRL (whose fields are corrupted independently)
    # and on synth alike.
    if "street" in cols:
        out.append(cl.JaroWinklerAtThresholds("street", [0.95, 0.88])
                   .configure(term_frequency_adjustments=True))
    if "postcode" in cols:
        out.append(cl.DamerauLevenshteinAtThresholds("postcode", [1])
                   .configure(term_frequency_adjustments=True))
    if "city" in cols:
        out.append(cl.JaroWinklerAtThresholds("city", [0.9])
                   .configure(term_frequency_adjustments=True))
    if "phone" in cols:
        out.append(cl.CustomComparison(
            output_column_name="phone",
            comparison_levels=[
                cll.NullLevel("phone"),
                cll.ExactMatchLevel("phone"),
                cll.ExactMatchLevel("phone_last7").configure(
                    label_for_charts="Last 7 digits equal"),
                cll.ElseLevel(),
            ]))
    if "national_id" in cols:
        out.append(cl.DamerauLevenshteinAtThresholds("national_id", [1, 2]))
    if "email" in cols:
        out.append(cl.EmailComparison("email"))
    if "mother_maiden_name" in cols:
        out.append(cl.JaroWinklerAtThresholds("mother_maiden_name", [0.92]))
    return out


def _rules(cols: set[str], specs: list[tuple[str, ...]]) -> list[Any]:
    return [block_on(*spec) for spec in specs if set(spec) <= cols]


def prediction_rules(cols: set[str]) -> list[Any]:
    """Blocking rules for prediction: the union should catch nearly every true pair."""
    rules = _rules(cols, [
        ("family_sx", "birth_year"),
        ("given_name", "birth_date"),
        ("postcode", "birth_date"),
        ("given_name", "family_name"),
        ("family_name", "postcode"),
        ("national_id",),
        ("phone",),
        ("email",),
        # for records with several fields corrupted at once
        ("birth_date", "city"),
        ("given_name", "postcode"),
        ("street", "postcode"),
        ("given_sx", "family_sx"),
    ])
    if {"given_name", "family_name"} <= cols:
        rules.append("l.given_name = r.family_name and l.family_name = r.given_name")
    return rules


def training_rules(cols: set[str]) -> list[Any]:
    """EM blocks: each fixes a few columns so that the others' m can be learnt."""
    return _rules(cols, [("birth_date",), ("given_name", "family_name"), ("postcode",)])


def deterministic_rules(cols: set[str]) -> list[Any]:
    """Rules that admit almost no false pairs, to estimate the match prior."""
    return _rules(cols, [("national_id",), ("given_name", "family_name", "birth_date"),
                         ("email",)])


def build_linker(tables: list[Any], cols: set[str], link_type: str,
                 quiet: bool = False) -> Linker:
    settings = SettingsCreator(
        unique_id_column_name="record_id",
        link_type=link_type,
        blocking_rules_to_generate_predictions=prediction_rules(cols),
        comparisons=comparisons(cols),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    return Linker(tables if link_type != "dedupe_only" else tables[0], settings,
                  log_level=logging.WARNING if quiet else logging.INFO)


def train(linker: Linker, cols: set[str], args: argparse.Namespace) -> None:
    linker.training.estimate_probability_two_random_records_match(
        deterministic_rules(cols), recall=args.prior_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_max_pairs,
                                                     seed=args.seed)
    for rule in training_rules(cols):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=args.em_max_pairs)


def _save_model(linker: Linker, args: argparse.Namespace) -> None:
    if args.save_model:
        linker.misc.save_model_to_json(args.save_model, overwrite=True)


def _connect(args: argparse.Namespace) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if args.threads:
        _run(con, f"set threads = {int(args.threads)}")
    return con


def run_dedup(args: argparse.Namespace) -> None:
    con = _connect(args)
    mapping = parse_map(args.map)
    cols = load_table(con, args.input, "records", mapping)
    db = DuckDBAPI(connection=con)
    linker = build_linker([db.register("records")], cols, "dedupe_only", args.quiet)
    train(linker, cols, args)
    _save_model(linker, args)
    pairs = linker.inference.predict(threshold_match_probability=args.predict_threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=args.threshold)
    rel = clusters.as_duckdbpyrelation()
    con.register("clusters_view", rel)
    _run(con, f"copy (select record_id, cluster_id from clusters_view) to "
                f"'{args.output}' (header, delimiter ',')")


def run_link(args: argparse.Namespace) -> None:
    con = _connect(args)
    mapping = parse_map(args.map)
    cols_l = load_table(con, args.left, "left_records", mapping)
    cols_r = load_table(con, args.right, "right_records", mapping)
    cols = cols_l & cols_r
    for table, own in (("left_records", cols_l), ("right_records", cols_r)):
        for extra in sorted(own - cols):  # both sides need the same columns
            _run(con, f"alter table {table} drop column {extra}")
    db = DuckDBAPI(connection=con)
    tables = [db.register("left_records", dataset_display_name="left"),
              db.register("right_records", dataset_display_name="right")]
    linker = build_linker(tables, cols, "link_only", args.quiet)
    train(linker, cols, args)
    _save_model(linker, args)
    pairs = linker.inference.predict(threshold_match_probability=args.threshold)
    con.register("pairs_view", pairs.as_duckdbpyrelation())
    _run(con, f"""copy (
        select case when source_dataset_l = 'left' then record_id_l else record_id_r end
                   as left_id,
               case when source_dataset_l = 'left' then record_id_r else record_id_l end
                   as right_id,
               match_probability
        from pairs_view) to '{args.output}' (header, delimiter ',')""")


def parse_map(items: Sequence[str] | None) -> dict[str, str]:
    """``["surname=family_name", ...]`` -> ``{"surname": "family_name", ...}``."""
    out: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise SystemExit(f"--map {item!r}: expected SRC=FIELD")
        out[src] = dst
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    dedup = sub.add_parser("dedup", help="de-duplicate one CSV into clusters")
    dedup.add_argument("input")
    link = sub.add_parser("link", help="link two CSVs (link_only)")
    link.add_argument("left")
    link.add_argument("right")
    for s in (dedup, link):
        s.add_argument("-o", "--output", required=True)
        s.add_argument("--map", action="append", metavar="SRC=FIELD",
                       help="rename a source column to a canonical field (repeatable)")
        s.add_argument("--threshold", type=float, default=0.95,
                       help="match probability at or above which records are linked")
        s.add_argument("--predict-threshold", type=float, default=0.5,
                       help="dedup: lowest pair probability kept before clustering")
        s.add_argument("--prior-recall", type=float, default=0.8,
                       help="assumed recall of the deterministic rules (match prior)")
        s.add_argument("--u-max-pairs", type=float, default=1e7)
        s.add_argument("--em-max-pairs", type=float, default=5e6)
        s.add_argument("--seed", type=int, default=42)
        s.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all)")
        s.add_argument("--save-model", metavar="JSON",
                       help="write the trained Splink model (settings, m and u) here")
        s.add_argument("--quiet", action="store_true", help="only warnings on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.quiet:
        logging.getLogger("splink").setLevel(logging.WARNING)
    start = time.perf_counter()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    if args.mode == "dedup":
        run_dedup(args)
    else:
        run_link(args)
    print(f"splink {splink.__version__} {args.mode} done in {time.perf_counter() - start:.1f} s"
          f" -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
