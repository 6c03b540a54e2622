"""A PIX query from an independently written MLLP client: python-hl7's ``mllp_send``.

python-hl7 installs as ``hl7``, the name of our own package, so it lives in a
virtual environment of its own (created once, then reused from the cache
directory ``MPI_TEST_CACHE``, default ``~/.cache/mpi-tests``). The test starts our
MLLP server (:mod:`mpi.mllp`) with the query handlers on 127.0.0.1, registers one person with two records, and
checks the ``RSP^K23`` that ``mllp_send`` prints, and an unknown-domain AE.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from query_helpers import add_patient

from mpi.mllp.router import Router
from mpi.mllp.server import MllpServer
from mpi.service.context import open_context
from mpi.service.query_handlers import PdqQueryHandler, PixQueryHandler
from mpi.settings import load_settings

CACHE = Path(os.environ.get("MPI_TEST_CACHE", Path.home() / ".cache" / "mpi-tests"))

CONFIG = """
[[domain]]
namespace = "NORTHGEN"
oid = "2.999.10.1"
[[domain]]
namespace = "RIVERCL"
oid = "2.999.10.2"
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"python-hl7 is required in CI: {reason}", pytrace=False)
    pytest.skip(f"python-hl7 cannot be installed: {reason}")


@pytest.fixture(scope="session")
def mllp_send() -> Path:
    """``mllp_send`` of python-hl7 in its own cached virtual environment."""
    venv = CACHE / "python-hl7"
    tool = venv / "bin" / "mllp_send"
    if not tool.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True
        )
        if made.returncode != 0:
            _unavailable(made.stderr.strip())
        pip = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "hl7==0.4.5"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if pip.returncode != 0 or not tool.exists():
            _unavailable(pip.stderr.strip()[-500:])
    return tool


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """Our MLLP server (mpi.mllp) with the query handlers, in a thread, on 127.0.0.1.

    The index holds SMITH with a NORTHGEN and a RIVERCL record.
    """
    config = tmp_path / "mpi.toml"
    config.write_text(CONFIG)
    settings = load_settings(config, overrides={"database.url": f"sqlite:///{tmp_path / 'mpi.db'}"})
    ctx = open_context(settings)
    eid = add_patient(ctx.store, "NORTHGEN", "NG-1001")
    add_patient(ctx.store, "RIVERCL", "RC-2002", person=eid)
    router = Router(pix=PixQueryHandler(ctx), pdq=PdqQueryHandler(ctx))
    loop = asyncio.new_event_loop()
    mllp = MllpServer(router, "127.0.0.1", 0, workers=2)
    loop.run_until_complete(mllp.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield mllp.port, eid
    finally:
        asyncio.run_coroutine_threadsafe(mllp.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        ctx.store.dispose()


def _query(tool: Path, port: int, tmp_path: Path, qpd: str) -> dict[str, str]:
    message = tmp_path / "query.hl7"
    message.write_text(
        "MSH|^~\\&|PIX_CONSUMER|CITYHIE|EMPI|MPIHOST|20260101120000||QBP^Q23^QBP_Q21|MSG-1|P|2.5\n"
        f"{qpd}\n"
        "RCP|I\n"
    )
    done = subprocess.run(
        [str(tool), "--loose", "-f", str(message), "-p", str(port), "127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # mllp_send prints the answer as received, MLLP start and end blocks included.
    text = done.stdout.replace("\x0b", "").replace("\x1c", "").replace("\r", "\n")
    segments = [s for s in text.split("\n") if s.strip()]
    return {s.split("|", 1)[0]: s for s in segments}


def test_pix_query_from_python_hl7_mllp_send(
    mllp_send: Path, server: tuple[int, str], tmp_path: Path
) -> None:
    port, eid = server
    qpd = "QPD|IHE PIX Query|TAG-42|NG-1001^^^NORTHGEN&2.999.10.1&ISO|^^^RIVERCL~^^^MPI"
    got = _query(mllp_send, port, tmp_path, qpd)
    assert got["MSH"].split("|")[8] == "RSP^K23^RSP_K23"
    assert got["MSA"] == "MSA|AA|MSG-1"
    assert got["QAK"] == "QAK|TAG-42|OK|IHE PIX Query"
    assert got["QPD"] == qpd
    assert got["PID"] == (
        f"PID|1||{eid}^^^MPI&1.2.276.0.76.3.1.508.99&ISO^PI~RC-2002^^^RIVERCL&2.999.10.2&ISO^PI"
        "||~^^^^^^S"
    )
    assert "ERR" not in got


def test_unknown_domain_from_python_hl7_mllp_send(
    mllp_send: Path, server: tuple[int, str], tmp_path: Path
) -> None:
    port, _ = server
    got = _query(mllp_send, port, tmp_path, "QPD|IHE PIX Query|TAG-43|NG-1001^^^NOWHERE")
    assert got["MSA"].startswith("MSA|AE|MSG-1")
    assert got["QAK"].startswith("QAK|TAG-43|AE")
    assert got["ERR"].split("|")[2:4] == ["QPD^1^3^1^4", "204^Unknown Key Identifier^HL70357"]
    assert "PID" not in got
