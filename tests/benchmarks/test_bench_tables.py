"""The benchmarks' fixed-width tables: header and rows line up column by column."""

from __future__ import annotations

from benchmarks.tables import Column, Table


def test_rows_line_up_under_the_header() -> None:
    table = Table(
        Column("backend", 8, left=True),
        Column("persons", 10, ","),
        Column("kind", 5, left=True, gap=2),
        Column("p99 ms", 8, ".2f"),
    )
    header = table.header()
    row = table.row({"backend": "sqlite", "persons": 1_000_000, "kind": "pix", "p99 ms": 4.861})
    assert header == "backend    persons  kind   p99 ms"
    assert row == "sqlite   1,000,000  pix      4.86"
    assert len(row) == len(header)
