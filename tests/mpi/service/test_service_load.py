"""mpi load: the same matching as the feed, idempotent, line-numbered errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from service_helpers import ack_fields, adt
from typer.testing import CliRunner

from matching.prepare import prepare_frame
from matching.record import Record
from mpi.batch.csvio import CsvDataError, CsvUsageError
from mpi.cli import app
from mpi.domain import RecordQuery, SourceRecordRef
from mpi.errors import UnknownDomain
from mpi.service import ServiceContext
from mpi.service import keys as keys_module
from mpi.service import load as load_module
from mpi.service.feed import FeedHandler
from mpi.service.keys import block_keys
from mpi.service.load import load_file
from mpi.store.blocking import hash_keys
from mpi.store.bulk import LOAD_INDEXES

HEADER = "mrn,given_name,family_name,birth_date,sex,street,city,postcode,phone\n"
ROWS = [
    "RC-1,John,Smith,1970-04-12,M,12 High Street,Springfield,62701,(217)555-0101",
    "RC-2,Jon,Smith,1970-04-12,M,12 High Street,Springfield,62701,(217)555-0101",
    "RC-3,Mary,Jones,1985-01-01,F,1 Elm Road,Capital,99999,",
    "RC-4,James,Smith,1970-04-12,M,12 High Street,Springfield,62701,(217)555-0101",
    "RC-5,Anna,Berg,1990-06-30,F,5 Oak Road,Shelbyville,62565,",
    "RC-6,Anna,Berg,19900630,F,5 Oak Road,Shelbyville,62565,",
]


def _csv(tmp_path: Path, rows: list[str], name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _snapshot(ctx: ServiceContext) -> dict[str, object]:
    with ctx.store.unit_of_work(readonly=True) as uow:
        records = uow.records.search(RecordQuery(), limit=1000)
        return {
            "links": sorted((str(r.ref), r.enterprise_id) for r in records),
            "audit": uow.audit.count(),
            "reviews": uow.reviews.count(None),
            "outbox": len(uow.outbox.list()),
        }


def _persons(ctx: ServiceContext) -> dict[str, str | None]:
    with ctx.store.unit_of_work(readonly=True) as uow:
        return {r.ref.id: r.enterprise_id for r in uow.records.search(RecordQuery(), limit=1000)}


def test_load_links_like_the_feed_and_keeps_twins_apart(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    summary = load_file(ctx, _csv(tmp_path, ROWS), "RIVERCL")
    persons = _persons(ctx)
    assert persons["RC-1"] == persons["RC-2"]  # nickname, same everything else
    assert persons["RC-5"] == persons["RC-6"]  # the same date written two ways
    assert persons["RC-4"] != persons["RC-1"]  # a twin: reviewed, never linked
    assert len(set(persons.values())) == 4
    assert (summary.records, summary.new_records, summary.persons_created) == (6, 6, 4)
    assert summary.auto_links == 2
    assert summary.reviews >= 1
    with ctx.store.unit_of_work(readonly=True) as uow:
        pairs = {frozenset((t.left.id, t.right.id)) for t in uow.reviews.list()}
        batch = uow.audit.list(action="load.batch")
        assert [(e.entity_id, e.after["records"], e.after["persons_created"]) for e in batch] == [  # type: ignore[index]
            ("RIVERCL", 6, 4)
        ]
        # The feed finds loaded records through the same blocking keys.
        assert uow.blocking.keys_of(SourceRecordRef("RIVERCL", "RC-3")) == sorted(
            hash_keys(
                ctx.matcher.blocking_keys(
                    Record(
                        "x",
                        "Mary",
                        None,
                        "Jones",
                        "19850101",
                        "F",
                        "1 Elm Road",
                        "Capital",
                        "99999",
                    )
                )
            ).tolist()
        )
    assert frozenset(("RC-1", "RC-4")) in pairs or frozenset(("RC-2", "RC-4")) in pairs


def test_loading_the_same_file_twice_changes_nothing(ctx: ServiceContext, tmp_path: Path) -> None:
    path = _csv(tmp_path, ROWS)
    load_file(ctx, path, "RIVERCL")
    before = _snapshot(ctx)
    again = load_file(ctx, path, "RIVERCL")
    assert (again.new_records, again.unchanged, again.updated) == (0, 6, 0)
    assert (again.persons_created, again.auto_links, again.reviews) == (0, 0, 0)
    assert _snapshot(ctx) == before


def test_a_reloaded_row_with_new_demographics_is_updated(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    load_file(ctx, _csv(tmp_path, ROWS), "RIVERCL")
    changed = [*ROWS[:2], "RC-3,Mary,Jones,1985-01-01,F,9 New Street,Capital,99999,", *ROWS[3:]]
    summary = load_file(ctx, _csv(tmp_path, changed, "second.csv"), "RIVERCL")
    assert (summary.updated, summary.unchanged, summary.new_records) == (1, 5, 0)
    with ctx.store.unit_of_work(readonly=True) as uow:
        assert (
            uow.records.require(SourceRecordRef("RIVERCL", "RC-3")).demographics.street
            == "9 New Street"
        )


def test_loaded_records_join_persons_already_in_the_index(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    handler = FeedHandler(ctx)
    assert ack_fields(handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN")))[0] == "AA"
    with ctx.store.unit_of_work(readonly=True) as uow:
        fed = uow.records.require(SourceRecordRef("NORTHGEN", "NG-1")).enterprise_id
        outbox_before = len(uow.outbox.list())
    summary = load_file(ctx, _csv(tmp_path, ROWS[:1] + ROWS[2:3]), "RIVERCL")
    assert _persons(ctx)["RC-1"] == fed
    assert (summary.persons_created, summary.auto_links) == (1, 1)
    with ctx.store.unit_of_work(readonly=True) as uow:
        queued = uow.outbox.list()[outbox_before:]
        joined = uow.audit.list(action="record.load")
    assert [(e.entity_id, e.after["enterprise_id"]) for e in joined] == [("RIVERCL|RC-1", fed)]  # type: ignore[index]
    # The person that gained a RIVERCL id is announced to both subscribers.
    assert sorted(m.subscriber.application for m in queued) == ["HIE_PORTAL", "RC_PIX"]
    assert {m.enterprise_id for m in queued} == {fed}


@pytest.mark.parametrize("dense_limit", [2**62, 1])  # 1: renumber after every column
def test_vectorised_blocking_keys_equal_the_feed_keys(
    ctx: ServiceContext, dense_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "_DENSE_LIMIT", dense_limit)
    frame = pd.DataFrame(
        [
            [
                "a",
                "Jürgen",
                None,
                "Müller-Lüdenscheidt",
                "19561231",
                "M",
                "Hauptstr. 5",
                "Köln",
                "50667",
                "0221 123456",
            ],
            ["b", None, None, "O'Brien", "1956", None, None, None, None, None],
            ["c", "Robert", "J", "de la Cruz", "195612", "M", None, "Bonn", None, "+49 228 555"],
            # Shares most keys with "a" (each distinct key text is built once).
            [
                "d",
                "Jürgen",
                None,
                "Müller-Lüdenscheidt",
                "19561231",
                "M",
                "Ring 1",
                "Köln",
                "50667",
                None,
            ],
        ],
        columns=[
            "record_id",
            "given_name",
            "middle_name",
            "family_name",
            "birth_date",
            "sex",
            "street",
            "city",
            "postcode",
            "phone",
        ],
    )
    keys = block_keys(prepare_frame(frame), ctx.matcher.model.settings.blocking)
    for position, row in enumerate(frame.itertuples(index=False)):
        record = Record(**{k: v for k, v in row._asdict().items()})
        feed_keys = hash_keys(ctx.matcher.blocking_keys(record)).tolist()
        assert sorted(keys.of(position)) == sorted(feed_keys)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([ROWS[0], ",Ann,Lee,1990-01-01,F,,,,"], "line 3: mrn is empty"),
        (
            [ROWS[0], ROWS[2], ROWS[0].replace("John", "Johnny")],
            "line 4: mrn 'RC-1' already appears on line 2",
        ),
        ([ROWS[0], "RC-9,Ann,Lee,1990-02-30,F,,,,"], "line 3: birth_date '1990-02-30'"),
    ],
    ids=["empty-mrn", "repeated-mrn", "bad-date"],
)
def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_stored(
    ctx: ServiceContext, tmp_path: Path, rows: list[str], expected: str
) -> None:
    with pytest.raises(CsvDataError, match=expected):
        load_file(ctx, _csv(tmp_path, rows), "RIVERCL")
    assert _persons(ctx) == {}


def test_unknown_domain_and_missing_mrn_column(ctx: ServiceContext, tmp_path: Path) -> None:
    with pytest.raises(UnknownDomain, match="NOWHERE"):
        load_file(ctx, _csv(tmp_path, ROWS), "NOWHERE")
    with pytest.raises(UnknownDomain, match="enterprise"):
        load_file(ctx, _csv(tmp_path, ROWS), "MPI")
    no_mrn = tmp_path / "no_mrn.csv"
    no_mrn.write_text("given_name,family_name\nAnn,Lee\n", encoding="utf-8")
    with pytest.raises(CsvUsageError, match="'mrn' column"):
        load_file(ctx, no_mrn, "RIVERCL")
    assert _persons(ctx) == {}


# -- the command -----------------------------------------------------------------------------------

CONFIG = """
[enterprise]
namespace = "MPI"
oid = "2.999.1"

[[domain]]
namespace = "RIVERCL"
oid = "2.999.10.2"
"""


def _run(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "mpi.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(app, ["load", *args, "--config", str(config), "--db", db_url])
    return result.exit_code, result.stdout, result.stderr


def test_cli_load_prints_a_summary_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    path = _csv(tmp_path, ROWS)
    code, out, err = _run(db_url, tmp_path, str(path), "--domain", "RIVERCL")
    assert code == 0, err
    assert "records: 6" in out and "persons created: 4" in out and "auto-links: 2" in out
    assert "reading" in err  # progress goes to stderr
    code, out, _ = _run(db_url, tmp_path, str(path), "--domain", "RIVERCL")
    assert code == 0 and "new: 0" in out and "unchanged: 6" in out and "persons created: 0" in out


def test_cli_load_exit_codes(db_url: str, tmp_path: Path) -> None:
    bad = _csv(tmp_path, [ROWS[0], "RC-9,Ann,Lee,1990-13-01,F,,,,"], "bad.csv")
    code, out, err = _run(db_url, tmp_path, str(bad), "--domain", "RIVERCL")
    assert code == 1 and "line 3" in err and "Traceback" not in err + out
    code, _, err = _run(db_url, tmp_path, str(tmp_path / "missing.csv"), "--domain", "RIVERCL")
    assert code == 2 and "no such file" in err
    code, _, err = _run(db_url, tmp_path, str(_csv(tmp_path, ROWS)), "--domain", "NOWHERE")
    assert code == 1 and "NOWHERE" in err


def test_reloading_a_fed_record_keeps_its_pid_and_carried_ids(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    handler = FeedHandler(ctx)
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN~OLD-7^^^LEGACY"))
    export = _csv(
        tmp_path, ["NG-1,JOHN,SMITH,1970-04-12,M,9 New Street,SPRINGFIELD,62701,(217)555-0101"]
    )
    summary = load_file(ctx, export, "NORTHGEN")
    assert (summary.updated, summary.new_records) == (1, 0)
    with ctx.store.unit_of_work(readonly=True) as uow:
        record = uow.records.require(SourceRecordRef("NORTHGEN", "NG-1"))
    assert record.demographics.street == "9 New Street"
    assert record.identifiers == (SourceRecordRef("LEGACY", "OLD-7"),)
    assert record.pid["names"][0]["family"] == "SMITH"


def _indexes(ctx: ServiceContext) -> set[str]:
    inspector = sa.inspect(ctx.store.engine)
    tables = ("blocking_key", "source_record", "link")
    return {str(ix["name"]) for t in tables for ix in inspector.get_indexes(t)}


def test_a_large_load_builds_its_indexes_at_the_end(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module, "SUSPEND_INDEXES_MIN", 0)  # this load counts as large
    summary = load_file(ctx, _csv(tmp_path, ROWS), "RIVERCL")
    assert (summary.new_records, summary.persons_created, summary.auto_links) == (6, 4, 2)
    assert set(LOAD_INDEXES) <= _indexes(ctx)
    persons = _persons(ctx)
    assert persons["RC-1"] == persons["RC-2"] != persons["RC-4"]
    # The feed finds the loaded records through their keys, by the rebuilt indexes too.
    with ctx.store.unit_of_work(readonly=True) as uow:
        found = uow.blocking.candidate_records(
            ctx.matcher.lookup_keys(
                Record("x", "Mary", None, "Jones", "19850101", "F", "1 Elm Road", "Capital")
            )
        )
        assert [r.ref.id for r in found] == ["RC-3"]
        assert uow.blocking.keys_of(SourceRecordRef("RIVERCL", "RC-3"))


def test_indexes_left_out_by_an_interrupted_load_come_back(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    ctx.store.run(lambda uow: uow.bulk.drop_load_indexes())
    assert not set(LOAD_INDEXES) & _indexes(ctx)
    load_file(ctx, _csv(tmp_path, ROWS), "RIVERCL")
    assert set(LOAD_INDEXES) <= _indexes(ctx)
