"""The writers' lock of a SQLite index: one writer at a time across threads and processes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mpi.store.writer_lock import WriterLock, writer_lock_for

fcntl = pytest.importorskip("fcntl")

HOLDER = """
import sys, time
from pathlib import Path
from mpi.store.writer_lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def held_elsewhere(path: Path) -> bool:
    """Whether another open file description holds the flock (a non-blocking try)."""
    with path.open("a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def acquire_within(lock: WriterLock, seconds: float) -> bool:
    """Acquire in a thread; whether it got (and released) the lock in time."""
    got = threading.Event()

    def take() -> None:
        lock.acquire()
        lock.release()
        got.set()

    threading.Thread(target=take, daemon=True).start()
    return got.wait(seconds)


def test_another_process_waits_and_a_dead_holder_releases(tmp_path: Path) -> None:
    path = tmp_path / "mpi.db.writer-lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert held_elsewhere(path)
        lock = WriterLock(path)
        assert not acquire_within(lock, 0.5)  # waits while the other process writes
        holder.kill()  # a writer that crashes holding the turn...
        holder.wait(30)
        assert acquire_within(lock, 10)  # ...does not block the others: the kernel released it
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert not held_elsewhere(path)


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "x.writer-lock")
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock:
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most == 1


def test_pickled_it_is_the_same_lock(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "y.writer-lock")
    copy = pickle.loads(pickle.dumps(lock))
    assert copy.path == lock.path
    with lock:
        assert held_elsewhere(lock.path)
        assert not acquire_within(copy, 0.3)  # another open of the file: excluded
    assert acquire_within(copy, 10)


def test_writer_lock_for_each_kind_of_database(tmp_path: Path) -> None:
    lock = writer_lock_for(f"sqlite:///{tmp_path / 'mpi.db'}")
    assert isinstance(lock, WriterLock) and lock.path == tmp_path / "mpi.db.writer-lock"
    memory = writer_lock_for("sqlite://")
    assert memory is not None and not isinstance(memory, WriterLock)
    assert writer_lock_for("postgresql+psycopg://postgres@127.0.0.1/mpi") is None
