"""Batch de-duplication and linkage of CSV exports (``mpi dedup``, ``mpi link``)."""
