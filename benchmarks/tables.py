"""Fixed-width result tables, printed a row at a time while a benchmark runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its width, the value's format spec, alignment."""

    name: str
    width: int
    spec: str = ""
    left: bool = False
    gap: int = 0  # spaces before the column


class Table:
    """A header line and row lines for rows given as ``{column name: value}``."""

    def __init__(self, *columns: Column) -> None:
        self.columns = columns

    def header(self) -> str:
        return "".join(
            " " * c.gap + (f"{c.name:<{c.width}}" if c.left else f"{c.name:>{c.width}}")
            for c in self.columns
        )

    def row(self, values: Mapping[str, object]) -> str:
        return "".join(
            " " * c.gap + format(values[c.name], ("<" if c.left else ">") + f"{c.width}{c.spec}")
            for c in self.columns
        )

    def print_row(self, values: Mapping[str, object]) -> None:
        """Print one row now (a benchmark shows each result as it comes)."""
        print(self.row(values), flush=True)
