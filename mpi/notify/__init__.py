"""ITI-10 PIX update notification: the outbox dispatcher and its MLLP client."""

from mpi.notify.client import SubscriberConnection, TransportError
from mpi.notify.dispatcher import DispatchStats, Notifier, RetryPolicy

__all__ = ["DispatchStats", "Notifier", "RetryPolicy", "SubscriberConnection", "TransportError"]
