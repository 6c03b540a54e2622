"""The Master Patient Index application: settings, store, services, adapters and CLI.

``mpi`` may import :mod:`matching` and :mod:`hl7`; neither of them imports ``mpi``.
"""
