"""On PostgreSQL, the message log's replay check finds each message through the unique
index whatever the table's statistics say.

Right after a large load nothing has analysed the log yet; ``control_id = ANY(...)``
was then planned as a filter over the sender's whole log (19 ms a batch at 60k
answers, growing with the log). Its row-value form is planned as one index scan per
message with or without statistics. (SQLite's plans are checked in
``tests/mpi/service/test_service_query_plans.py``.)
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from mpi.domain import SourceSystem
from mpi.store import Store
from tests.mpi.query_plans import record_statements

NG, RC = SourceSystem("NG_ADT", "NORTHGEN"), SourceSystem("RC_ADT", "RIVERCL")


def _explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return [row[0] for row in cursor.execute(f"EXPLAIN {statement}", parameters).fetchall()]


def test_the_replay_check_looks_each_message_up_in_the_index(
    db_url: str, engine: Engine, store: Store
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's planner (SQLite's plans are checked with the feed)")
    with engine.begin() as conn:  # 30,000 answers and no ANALYZE, as right after a load
        conn.exec_driver_sql(
            "INSERT INTO message_log (sender_application, sender_facility, control_id, digest,"
            " response, received_at) SELECT CASE WHEN mod(i, 2) = 0 THEN 'NG_ADT' ELSE 'RC_ADT' END,"
            " CASE WHEN mod(i, 2) = 0 THEN 'NORTHGEN' ELSE 'RIVERCL' END, 'C' || i, 'd', '\\x00',"
            " now() FROM generate_series(1, 30000) AS i"
        )
    statements = record_statements(engine)
    with store.unit_of_work(readonly=True) as uow:
        asked = [(NG, "C2"), (NG, "C4"), (RC, "C3"), (NG, "C3"), (RC, "none")]
        assert uow.messages.logged(asked) == {(NG, "C2"), (NG, "C4"), (RC, "C3")}
    (query,) = [(s, p) for s, p in statements if "message_log" in s]
    plan = _explain(engine, *query)
    text = "\n".join(plan)
    assert "Seq Scan" not in text, text
    assert not any("Filter" in line and "control_id" in line for line in plan), text
    conditions = [line for line in plan if "Index Cond" in line]
    assert conditions and all("control_id" in line for line in conditions), text
