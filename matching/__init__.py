"""Probabilistic record linkage: normalisation, comparison, blocking, Fellegi-Sunter, clustering.

Pure computation, no I/O: the application (:mod:`mpi`) feeds it records and
reads back scores, links and clusters.
"""
