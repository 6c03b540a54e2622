"""The MLLP side of the MPI: an asyncio listener and the router to the message handlers."""

from mpi.mllp.group_commit import BatchApplier, GroupCommitHandler, GroupCommitStats
from mpi.mllp.router import (
    MessageHandler,
    Router,
    SerializedHandler,
    ServerIdentity,
    internal_error,
)
from mpi.mllp.server import MllpServer, ServerStats

__all__ = [
    "BatchApplier",
    "GroupCommitHandler",
    "GroupCommitStats",
    "MessageHandler",
    "MllpServer",
    "Router",
    "SerializedHandler",
    "ServerIdentity",
    "ServerStats",
    "internal_error",
]
