"""Process metrics in Prometheus text format: one registry every part of the product increments.

Usage from any module (cheap, thread-safe, no I/O)::

    from mpi import metrics
    metrics.count_message("ADT^A01", "AA")            # an HL7 message answered
    metrics.observe_message("QBP^Q23", 0.004)         # its handling time, seconds
    metrics.count_match("review")                     # a linking decision's band

The HTTP API times its own requests (``mpi_http_request_seconds``) and adds
gauges read from the store at scrape time (open review tasks, active persons),
see :func:`render`. ``GET /metrics`` serves :func:`render`'s output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "CONTENT_TYPE",
    "HTTP_LATENCY",
    "MATCHES",
    "MESSAGES",
    "MESSAGE_LATENCY",
    "REGISTRY",
    "GaugeCollector",
    "count_match",
    "count_message",
    "observe_message",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the Prometheus text exposition format."""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REGISTRY = CollectorRegistry(auto_describe=True)
"""The process-wide registry (not prometheus_client's global one: tests stay isolated)."""

MESSAGES = Counter(
    "mpi_messages",
    "HL7 messages answered, by message type (MSH-9.1^MSH-9.2) and outcome (MSA-1 or QAK-2).",
    ["type", "outcome"],
    registry=REGISTRY,
)
MESSAGE_LATENCY = Histogram(
    "mpi_message_seconds",
    "Time to handle one HL7 message, by message type.",
    ["type"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
MATCHES = Counter(
    "mpi_match_decisions",
    "Linking decisions of the real-time matcher, by band (link, review, no-link).",
    ["band"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "mpi_http_request_seconds",
    "Time to answer one HTTP request, by route template, method and status class.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)


def count_message(message_type: str, outcome: str) -> None:
    """Count one HL7 message answered (e.g. ``"ADT^A01"``, ``"AA"``)."""
    MESSAGES.labels(message_type, outcome).inc()


def observe_message(message_type: str, seconds: float) -> None:
    """Record how long one HL7 message took."""
    MESSAGE_LATENCY.labels(message_type).observe(seconds)


def count_match(band: str) -> None:
    """Count one linking decision in ``band`` (``link``, ``review`` or ``no-link``)."""
    MATCHES.labels(band).inc()


class GaugeCollector(Collector):
    """Gauges computed when scraped (e.g. read from the store).

    Args:
        gauges: name, help text, and a function returning the current value;
            a function that raises leaves its gauge out of this scrape.
    """

    def __init__(self, gauges: Iterable[tuple[str, str, Callable[[], float]]]) -> None:
        self._gauges = tuple(gauges)

    def collect(self) -> Iterable[Metric]:
        for name, text, read in self._gauges:
            try:
                value = read()
            except Exception:  # a scrape must not fail because the database is down
                continue
            yield GaugeMetricFamily(name, text, value=value)


def render(extra: CollectorRegistry | None = None) -> bytes:
    """The registry (and ``extra``) in Prometheus text format."""
    text = generate_latest(REGISTRY)
    if extra is not None:
        text += generate_latest(extra)
    return text
