"""Services: what the MLLP listener, the HTTP API and the CLI do with the index.

Each service works inside one :class:`~mpi.store.UnitOfWork` and commits it
itself (or lets :meth:`~mpi.store.Store.run` commit it); adapters stay thin.

* :mod:`mpi.service.context`: :class:`ServiceContext` and :func:`open_context`.
* :mod:`mpi.service.notifications`: :func:`queue_xref_change` (ITI-10 outbox).
* :mod:`mpi.service.registry`: identity-domain rules of the feed (CX.4, sources).
* :mod:`mpi.service.linking`: the matching decision for one source record.
* :mod:`mpi.service.feed`: ITI-8 (register, update, merge) and :class:`FeedHandler`.
* :mod:`mpi.service.load`: ``mpi load`` (bulk load of one facility's export).
"""

from mpi.service.context import ServiceContext, open_context
from mpi.service.notifications import queue_xref_change

__all__ = ["ServiceContext", "open_context", "queue_xref_change"]
