"""``python -m mpi``: the same command line as the installed ``mpi`` script."""

from mpi.cli import main

if __name__ == "__main__":  # not when a spawned child (the feed writer) imports it
    main()
