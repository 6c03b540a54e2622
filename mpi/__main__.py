"""``python -m mpi``: the same command line as the installed ``mpi`` script."""

from mpi.cli import main

main()
