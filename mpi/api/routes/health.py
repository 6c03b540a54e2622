"""``GET /health`` (liveness + database) and ``GET /metrics`` (Prometheus text), both open."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from mpi import metrics
from mpi.api.deps import FeedStatus, ServicesDep
from mpi.api.schemas import HealthOut
from mpi.domain import PersonStatus, ReviewStatus
from mpi.service.context import ServiceContext

router = APIRouter(tags=["operations"])


def database_problem(context: ServiceContext) -> str | None:
    """``None`` when the database answers and holds the schema, else what is wrong."""
    namespace = context.settings.enterprise.namespace
    try:
        with context.store.unit_of_work(readonly=True) as uow:
            found = uow.domains.get(namespace)
    except Exception as e:  # any failure is a health answer, not a crash
        return f"{type(e).__name__}: {e}"
    if found is None:
        return f"enterprise domain {namespace!r} is missing: the schema is not initialised"
    return None


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Liveness, database and feed writer check",
    responses={
        503: {
            "model": HealthOut,
            "description": "the database does not answer, or the feed writer process is down",
        }
    },
)
def health(services: ServicesDep) -> JSONResponse:
    """200 ``{"status": "ok", "database": "ok"}`` (and ``"feed": "ok"`` when ``mpi serve`` runs
    a feed writer process), or 503 with what is wrong: the database, or a feed writer process
    that cannot take messages (it restarts by itself; ITI-8 messages get AE meanwhile)."""
    body = {"status": "ok", "database": database_problem(services.context) or "ok"}
    if services.feed is not None:
        body["feed"] = services.feed.problem() or "ok"
    if any(value != "ok" for value in body.values()):
        return JSONResponse({**body, "status": "error"}, status_code=503)
    return JSONResponse(body)


def _gauges(context: ServiceContext, feed: FeedStatus | None) -> CollectorRegistry:
    def open_reviews() -> float:
        with context.store.unit_of_work(readonly=True) as uow:
            return float(uow.reviews.count(ReviewStatus.OPEN))

    def active_persons() -> float:
        with context.store.unit_of_work(readonly=True) as uow:
            return float(uow.persons.count(PersonStatus.ACTIVE))

    gauges = [
        ("mpi_review_backlog", "Open review tasks.", open_reviews),
        ("mpi_persons_active", "Active enterprise persons.", active_persons),
    ]
    if feed is not None:
        gauges.append(
            (
                "mpi_feed_writer_starts",
                "Feed writer processes started (more than one: one was restarted).",
                lambda: float(feed.starts),
            )
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.GaugeCollector(gauges))
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": 'mpi_messages_total{outcome="AA",type="ADT^A01"} 12.0\n'
                    "mpi_review_backlog 3.0\n"
                }
            },
            "description": "messages by type and outcome, match bands, review backlog, latencies",
        }
    },
)
def prometheus_metrics(services: ServicesDep) -> Response:
    """Counters, histograms and gauges in the Prometheus text exposition format."""
    registry = _gauges(services.context, services.feed)
    return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)
