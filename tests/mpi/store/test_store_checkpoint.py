"""WAL checkpoints in a background thread (mpi serve on SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from mpi.store import Store, create_engine
from mpi.store.checkpoint import WalCheckpointer


def _autocheckpoint(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write(store: Store, rows: int) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (x TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO filler SELECT hex(randomblob(500)) FROM"
            f" (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})"
            " SELECT i FROM n)"
        )


def test_checkpoints_move_from_the_commits_to_the_thread_and_back(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'wal.db'}")
    checkpointer = WalCheckpointer(store.engine, interval=0.05)
    try:
        assert _autocheckpoint(store) == 1000
        assert checkpointer.start()
        assert _autocheckpoint(store) == 0  # commits no longer checkpoint
        _write(store, 5000)
        wal = tmp_path / "wal.db-wal"
        assert wal.stat().st_size > 1_000_000
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        busy, log_pages, done = checkpointer.checkpoint() or (1, 0, 0)
        assert busy == 0 and log_pages > 0 and done == log_pages  # all copied back
    finally:
        checkpointer.stop()
    assert _autocheckpoint(store) == 1000
    store.dispose()


def test_only_a_sqlite_file_has_a_log_to_checkpoint(db_url: str) -> None:
    engine = create_engine(db_url if db_url.startswith("postgresql") else "sqlite://")
    try:
        checkpointer = WalCheckpointer(engine)
        assert not checkpointer.start()
        checkpointer.stop()  # nothing started: nothing to do
    finally:
        engine.dispose()
