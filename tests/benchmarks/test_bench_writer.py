"""The in-process writer benchmark runs end to end on a small index and prints its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.writer_bench import main


def test_the_writer_benchmark_prints_a_row_per_batch_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["--records", "400", "--messages", "12", "--batch", "1,4", "--workdir", str(tmp_path)])
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines.index(next(line for line in lines if line.lstrip().startswith("batch")))
    rows = [line.split() for line in lines[header + 1 :]]
    assert [(r[0], r[1]) for r in rows] == [("1", "12"), ("4", "12")]
    for row in rows:
        cpu, wall, *phases = (float(v) for v in row[2:])
        assert cpu > 0 and wall > 0 and all(p >= 0 for p in phases)
        assert sum(phases) <= wall * 1.05  # the phases are parts of the wall time
    # The index is kept for the next run, and the batch copies are gone.
    assert [p.name for p in tmp_path.glob("writer-*.db")] == ["writer-400-42.db"]
