"""Query plans for tests: which statements scan a table that grows with the feed.

The feed, PIX, PDQ and the operators' API run the same few statements millions of
times against tables that only grow (records, keys, links, persons, the message
log, the audit trail). A statement that scans one is invisible in a short test and
a short benchmark and ruins an index after weeks: the message log's replay check
scanned the whole log on every batch, the search by identifier every record (both
Dec 2026). :func:`record_statements` records what a test session runs on SQLite,
:func:`scans` asks SQLite for each statement's plan.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

GROWING = {
    "audit_event",
    "blocking_key",
    "enterprise_person",
    "link",
    "message_log",
    "mother_child",
    "outbox",
    "person_merge",
    "record_identifier",
    "review_task",
    "source_record",
}
"""The tables that grow with the feed (the others hold configuration: a few rows)."""

_SCAN = re.compile(r"\bSCAN (\w+)")
_WHOLE_DOMAIN = re.compile(
    r"\bSEARCH (source_record|record_identifier) USING .*\((domain_id|namespace)=\?\)"
)
"""A search that walks every record (or carried id) of a domain: a scan in all but name.
SQLite chose it for the records of several persons ordered by domain and id (Dec 2026)."""


def record_statements(engine: sa.Engine) -> list[tuple[str, Any]]:
    """Every single-row-set statement executed on ``engine`` from now on (not bulk inserts)."""
    seen: list[tuple[str, Any]] = []

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    return seen


def scans(engine: sa.Engine, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Per statement that scans a growing table, its plan's lines that do."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        distinct = {(s, repr(p)): (s, p) for s, p in statements}
        for statement, parameters in distinct.values():
            plan = cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            bad = [
                row[-1]
                for row in plan
                if set(_SCAN.findall(row[-1])) & GROWING or _WHOLE_DOMAIN.search(row[-1])
            ]
            if bad:
                found[" ".join(statement.split())] = bad
    return found
