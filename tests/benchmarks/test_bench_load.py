"""load_bench: seconds per phase from the stage lines of ``mpi load``."""

from __future__ import annotations

from benchmarks.load_bench import phases

STDERR = """\
[    0.1s] reading load.csv
[    2.0s] warning: load.csv: 1 invalid values treated as 'blank':
  line 7: birth_date '1947-02-29' day does not exist in that month
[    3.0s] 10 records read; looking up ids already in the index
[    3.5s] preparing 10 new and 0 stored records
[    4.0s] blocking
[    4.5s] scoring 12 candidate pairs
[    6.0s] clustering
[    6.5s] 8 new persons, 1 pairs for review
[    7.0s] dropping secondary indexes for the load
[    8.0s] written 5 / 10 records
[    9.5s] written 10 / 10 records
[    9.5s] building the secondary indexes
[   11.0s] opening 1 review tasks
"""


def test_phases_add_up_the_stage_lines() -> None:
    got = dict(phases(STDERR, 12.0))
    assert got == {
        "reading": 2.9,  # the warning belongs to reading
        "id lookup": 0.5,
        "preparing": 0.5,
        "blocking": 0.5,
        "scoring": 1.5,
        "clustering + reviews": 0.5,
        "keys + write setup": 0.5,
        "writing batches": 2.5,
        "index build": 1.5,
        "review tasks + ITI-10 + checkpoint": 1.0,
    }
    assert phases("", 1.0) == []
