"""The ``mpi`` command line: serve the index, load exports, de-duplicate and link CSV files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from matching.errors import MatchingError, ModelFileError
from mpi.batch.csvio import CsvDataError, CsvUsageError, InvalidValues, parse_mapping
from mpi.batch.run import BatchOptions, run_dedup, run_link
from mpi.errors import ConfigError, MpiError

__all__ = ["app", "main"]

app = typer.Typer(
    name="mpi",
    help="Master Patient Index: IHE PIX/PDQ over HL7 v2 MLLP and FHIR, batch de-duplication.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file (see README).")
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map", help="Rename a source column: SRC=FIELD (repeatable), e.g. surname=family_name."
    ),
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
]
InvalidOption = Annotated[
    InvalidValues,
    typer.Option(
        "--invalid",
        help="A value that breaks its field's rule (birth date 19561345): error (stop and list "
        "the lines), blank (treat as missing) or keep (keep an 8-digit date as written).",
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Score with this saved model instead of training one."),
]
SaveModelOption = Annotated[
    Path | None, typer.Option("--save-model", help="Save the trained model (JSON) here.")
]


class _Progress:
    """Stage lines on stderr with the time since start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, text: str) -> None:
        elapsed = time.perf_counter() - self.started
        _err.print(f"[dim][{elapsed:7.1f}s][/dim] {escape(text)}", soft_wrap=True)


def _thresholds(config: Path | None) -> tuple[float, float]:
    from mpi.settings import load_settings

    settings = load_settings(config)
    return settings.matching.link_threshold, settings.matching.review_threshold


def _fail(error: Exception, code: int) -> typer.Exit:
    _err.print(f"[bold red]mpi:[/bold red] {escape(str(error))}", markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Usage errors (bad call, configuration or model file) exit 2, data errors exit 1."""
    try:
        yield
    except (CsvUsageError, ModelFileError, ConfigError) as e:
        raise _fail(e, 2) from None
    except (CsvDataError, MatchingError, MpiError) as e:
        raise _fail(e, 1) from None


def _check_paths(inputs: list[Path], outputs: list[Path | None]) -> None:
    """Usage errors found before any work: a missing input, an output nowhere to go."""
    for path in inputs:
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "no such file"
            raise CsvUsageError(f"{path}: {what}")
    for out in outputs:
        if out is not None and not out.parent.resolve().is_dir():
            raise CsvUsageError(f"{out}: cannot write there (no directory {out.parent})")


def _options(
    config: Path | None,
    mapping: list[str] | None,
    invalid: InvalidValues,
    report: Path | None,
    model: Path | None,
    save_model: Path | None,
) -> BatchOptions:
    link_threshold, review_threshold = _thresholds(config)
    return BatchOptions(
        link_threshold=link_threshold,
        review_threshold=review_threshold,
        mapping=parse_mapping(mapping or []),
        invalid=invalid,
        report=report,
        model_in=model,
        model_out=save_model,
    )


@app.command()
def dedup(
    source: Annotated[Path, typer.Argument(help="The CSV export to de-duplicate.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the result CSV.")],
    config: ConfigOption = None,
    mapping: MapOption = None,
    report: ReportOption = None,
    invalid: InvalidOption = InvalidValues.ERROR,
    model: ModelOption = None,
    save_model: SaveModelOption = None,
) -> None:
    """Find the rows that are the same person: every row is written once with a cluster_id."""
    with _exit_codes():
        _check_paths([source], [output, report, save_model])
        options = _options(config, mapping, invalid, report, model, save_model)
        summary = run_dedup(source, output, options, _Progress())
    _err.print(
        f"{summary.records:,} records → {summary.persons:,} persons; "
        f"{summary.linked_pairs:,} pairs linked, {summary.review_pairs:,} in the review band "
        f"({summary.candidate_pairs:,} candidate pairs, {summary.seconds:.1f} s)"
    )


@app.command(name="link")
def link_command(
    left: Annotated[Path, typer.Argument(help="The first CSV export.")],
    right: Annotated[Path, typer.Argument(help="The second CSV export.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the linked pairs.")
    ],
    config: ConfigOption = None,
    mapping: MapOption = None,
    report: ReportOption = None,
    invalid: InvalidOption = InvalidValues.ERROR,
    model: ModelOption = None,
    save_model: SaveModelOption = None,
) -> None:
    """Link two exports: write left_id,right_id,match_probability for each linked pair."""
    with _exit_codes():
        _check_paths([left, right], [output, report, save_model])
        options = _options(config, mapping, invalid, report, model, save_model)
        summary = run_link(left, right, output, options, _Progress())
    _err.print(
        f"{summary.left_records:,} × {summary.right_records:,} records: "
        f"{summary.linked_pairs:,} pairs linked "
        f"({summary.candidate_pairs:,} candidate pairs, {summary.seconds:.1f} s)"
    )


# -- mpi serve (helper "network") ----------------------------------------------------------------


@app.command()
def serve(
    config: ConfigOption = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default sqlite:///mpi.db; env MPI_DATABASE_URL)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    mllp_port: Annotated[int, typer.Option("--mllp-port", help="MLLP (HL7 v2) port.")] = 2575,
    http_port: Annotated[int, typer.Option("--http-port", help="HTTP API port.")] = 8080,
    feed_batch: Annotated[
        int,
        typer.Option(
            "--feed-batch", hidden=True, help="ITI-8 messages per group commit (0: one each)."
        ),
    ] = 64,
    feed_process: Annotated[
        bool,
        typer.Option(
            "--feed-process/--no-feed-process",
            hidden=True,
            help="Run the feed's writer in a process of its own (the second core).",
        ),
    ] = True,
) -> None:
    """Run the MLLP listener, the ITI-10 notifier and the HTTP API until SIGINT/SIGTERM."""
    from mpi.runtime import configure_logging
    from mpi.serve import ServeOptions, run_server
    from mpi.settings import load_settings

    configure_logging()
    try:
        settings = load_settings(config, overrides={"database.url": db} if db else {})
    except ConfigError as e:
        raise _fail(e, 2) from None
    try:
        options = ServeOptions(
            host=host,
            mllp_port=mllp_port,
            http_port=http_port,
            feed_max_batch=feed_batch,
            feed_process=feed_process,
        )
        code = run_server(settings, options)
    except ModelFileError as e:  # [matching] model names a file that is not a model
        raise _fail(e, 2) from None
    except (MpiError, MatchingError) as e:
        raise _fail(e, 1) from None
    raise typer.Exit(code)


# -- mpi load (helper "service") -----------------------------------------------------------------


@app.command()
def load(
    source: Annotated[
        Path, typer.Argument(help="The facility's CSV export (mrn = id in the domain).")
    ],
    domain: Annotated[
        str, typer.Option("--domain", help="Namespace of the identity domain of mrn.")
    ],
    config: ConfigOption = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default sqlite:///mpi.db; env MPI_DATABASE_URL)."),
    ] = None,
    invalid: InvalidOption = InvalidValues.ERROR,
) -> None:
    """Bulk-load one facility's export into the index through the feed's matching (idempotent)."""
    from mpi.service.context import open_context
    from mpi.service.load import load_file
    from mpi.settings import load_settings

    with _exit_codes():
        settings = load_settings(config, overrides={"database.url": db} if db else {})
        _check_paths([source], [])
        progress = _Progress()
        ctx = open_context(settings)
        try:
            summary = load_file(ctx, source, domain, invalid=invalid, say=progress)
        finally:
            ctx.store.dispose()
    typer.echo(
        f"records: {summary.records:,}  new: {summary.new_records:,}  "
        f"unchanged: {summary.unchanged:,}  updated: {summary.updated:,}  "
        f"persons created: {summary.persons_created:,}  auto-links: {summary.auto_links:,}  "
        f"reviews: {summary.reviews:,}  ({summary.seconds:.1f} s, CPU {summary.cpu_seconds:.1f} s)"
    )


# -- mpi train (helper "api") --------------------------------------------------------------------


@app.command("train")
def train_command(
    config: ConfigOption = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default sqlite:///mpi.db; env MPI_DATABASE_URL)."),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Write the new model (JSON) here.")
    ] = Path("model.json"),
    model: ModelOption = None,
    label_weight: Annotated[
        float, typer.Option("--label-weight", min=0.0, help="Pairs one reviewed pair counts as.")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random pairs.")] = 0,
) -> None:
    """Re-estimate the model from the index (EM) and reviewers' decisions; report quality."""
    from matching.defaults import default_model
    from matching.model import Model
    from mpi.service.training import train_from_index
    from mpi.settings import load_settings
    from mpi.store import Store

    try:
        settings = load_settings(config, overrides={"database.url": db} if db else {})
        current = Model.load(model) if model is not None else default_model()
        _check_paths([], [output])
    except (ConfigError, CsvUsageError, ModelFileError) as e:
        raise _fail(e, 2) from None
    progress = _Progress()
    try:
        store = Store.open(settings.database.url)
        try:
            report = train_from_index(
                store, settings, current, seed=seed, label_weight=label_weight, say=progress
            )
        finally:
            store.dispose()
        report.model.save(output)
    except (MatchingError, MpiError, OSError) as e:
        raise _fail(e, 1) from None
    typer.echo(
        f"records: {report.records:,}  candidate pairs: {report.candidate_pairs:,}  "
        f"labelled: {report.labelled_matches:,} match / {report.labelled_non_matches:,} no-match"
        + (
            f"  (skipped {report.skipped_labels:,}: records merged away)"
            if report.skipped_labels
            else ""
        )
    )
    typer.echo(
        f"{'model':<8} {'threshold':>9} {'precision':>9} {'recall':>7} "
        f"{'TP':>6} {'FP':>6} {'FN':>6}"
    )
    for name, rows in (("current", report.before), ("new", report.after)):
        for q in rows:
            p = "-" if q.precision is None else f"{q.precision:.3f}"
            r = "-" if q.recall is None else f"{q.recall:.3f}"
            typer.echo(
                f"{name:<8} {q.threshold:>9.2f} {p:>9} {r:>7} "
                f"{q.true_positives:>6} {q.false_positives:>6} {q.false_negatives:>6}"
            )
    typer.echo(f"model written to {output}")


def main() -> None:
    """Console entry point."""
    app(prog_name="mpi")


if __name__ == "__main__":
    main()
