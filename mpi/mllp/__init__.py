"""The MLLP side of the MPI: an asyncio listener and the router to the message handlers."""

from mpi.mllp.router import (
    MessageHandler,
    Router,
    SerializedHandler,
    ServerIdentity,
    internal_error,
)
from mpi.mllp.server import MllpServer, ServerStats

__all__ = [
    "MessageHandler",
    "MllpServer",
    "Router",
    "SerializedHandler",
    "ServerIdentity",
    "ServerStats",
    "internal_error",
]
