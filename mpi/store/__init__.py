"""Persistence of the index: tables, migrations, and repositories returning domain values.

Entry points: :class:`Store` (engine + units of work), :func:`migrate`,
:func:`create_engine`. Services get everything through a :class:`UnitOfWork`
and commit it themselves; see :mod:`mpi.store.unit_of_work` for the pattern
and the retry rules.
"""

from mpi.store.bulk import BulkLink, BulkLoader, StoredDemographics
from mpi.store.db import create_engine, current_revision, head_revision, migrate
from mpi.store.unit_of_work import Store, TransientStoreError, UnitOfWork

__all__ = [
    "BulkLink",
    "BulkLoader",
    "Store",
    "StoredDemographics",
    "TransientStoreError",
    "UnitOfWork",
    "create_engine",
    "current_revision",
    "head_revision",
    "migrate",
]
