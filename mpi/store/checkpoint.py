"""WAL checkpoints of a SQLite index in a background thread.

SQLite copies the write-ahead log back into the database file (a checkpoint)
whenever a commit leaves the log longer than 1,000 pages, inside that commit:
the message whose commit crosses the line waits for it. Under a sustained feed
that was the slowest 1% of ACKs (in-process at 1M persons: p99 36 ms with the
automatic checkpoints, 16 ms without). ``mpi serve`` therefore turns the
automatic checkpoint off on its connections and runs a ``PASSIVE`` checkpoint
every ``interval`` seconds in a thread of its own (SQLite does the copying
outside the GIL): it never blocks a reader or the writer, and it keeps the log
short. When the checkpointer stops, the connections get their automatic
checkpoint back. PostgreSQL and in-memory SQLite databases need none of this.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from mpi.store.db import is_sqlite_file

__all__ = ["WalCheckpointer", "leave_checkpoints_to_another"]

log = logging.getLogger(__name__)


class WalCheckpointer:
    """Checkpoints the WAL of a file-backed SQLite engine from a background thread.

    Args:
        engine: the index's engine (:func:`mpi.store.create_engine`).
        interval: seconds between checkpoints.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.5) -> None:
        self.engine = engine
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def applies_to(engine: Engine) -> bool:
        """Whether the engine is a SQLite database file (the only kind with a WAL)."""
        return is_sqlite_file(engine.url)

    def start(self) -> bool:
        """Turn the automatic checkpoint off and start the thread; ``False`` if not SQLite WAL."""
        if not self.applies_to(self.engine) or self._thread is not None:
            return False
        leave_checkpoints_to_another(self.engine)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop the thread after a last checkpoint; connections checkpoint by themselves again."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        event.remove(self.engine, "connect", _no_autocheckpoint)
        self.engine.dispose()
        self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One ``PASSIVE`` checkpoint: ``(busy, log pages, pages checkpointed)``, or ``None``
        if it failed (logged; the next one tries again)."""
        try:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                row = cursor.fetchone()
                cursor.close()
            finally:
                connection.close()
        except Exception:
            log.exception("WAL checkpoint failed")
            return None
        self.checkpoints += 1
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint()
        self.checkpoint()


def leave_checkpoints_to_another(engine: Engine) -> None:
    """Turn the automatic checkpoint off on the engine's connections (new and pooled), for a
    :class:`WalCheckpointer` that runs on this engine or on another process's (``mpi serve``'s
    feed writer process leaves its checkpoints to the serving process's checkpointer)."""
    event.listen(engine, "connect", _no_autocheckpoint)
    engine.dispose()  # pooled connections still checkpoint automatically: renew them


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
