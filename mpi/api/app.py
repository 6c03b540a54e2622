"""``create_app(context)``: the FastAPI application, its routers and its error handling."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mpi import metrics
from mpi.api.auth import Forbidden, Unauthenticated
from mpi.api.deps import FeedStatus, Services
from mpi.api.fhir import FHIR_JSON, operation_outcome
from mpi.api.routes import audit, fhir_routes, health, persons, reviews
from mpi.errors import Conflict, InvalidQuery, MpiError, NotFound, StoreError
from mpi.service.context import ServiceContext

__all__ = ["create_app", "status_of"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Master Patient Index: the review and stewardship API and FHIR R4 PIXm/PDQm.

* `/api/...` needs `Authorization: Bearer <token>` (`[[api.token]]` in the configuration);
  roles: **reader** (read), **reviewer** (+ review decisions), **admin** (+ merge, unmerge,
  unlink, audit trail). Errors are `{"detail": "..."}` with a 4xx status
  (401 no/unknown token, 403 role too low, 404 unknown entity, 409 state conflict,
  422 malformed parameter or body).
* `/fhir/...` answers `application/fhir+json`; errors are an `OperationOutcome`.
* `/health` and `/metrics` (Prometheus text) need no token.
"""

_TAGS = [
    {"name": "reviews", "description": "Pairs the matcher could not decide, and their decisions."},
    {"name": "persons", "description": "Golden view, merge, unmerge, unlink and history."},
    {"name": "audit", "description": "The append-only audit trail."},
    {"name": "fhir", "description": "FHIR R4: PIXm (ITI-83), PDQm (ITI-78), Patient read."},
    {"name": "operations", "description": "Health and metrics."},
]


def status_of(error: MpiError) -> int:
    """The HTTP status of a service error."""
    if isinstance(error, Unauthenticated):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, StoreError):
        return 503
    if isinstance(error, InvalidQuery):
        return 400
    return 400


def create_app(context: ServiceContext, *, feed: FeedStatus | None = None) -> FastAPI:
    """The HTTP API on ``context`` (no background tasks: ``mpi serve`` runs the notifier).

    Args:
        context: settings, store and matcher of the process.
        feed: the feed writer process whose state ``/health`` and ``/metrics`` report
            (``mpi serve`` passes its :class:`~mpi.feed_writer.FeedWriterProcess`).
    """
    app = FastAPI(
        title="MPI",
        summary="Master Patient Index: review, stewardship, FHIR PIXm/PDQm",
        description=_DESCRIPTION,
        version="0.1.0",
        openapi_tags=_TAGS,
    )
    app.state.services = Services.build(context, feed)
    for module in (health, reviews, persons, audit, fhir_routes):
        app.include_router(module.router)
    _install_error_handlers(app)
    app.add_middleware(_Timing)
    return app


def _is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def _error(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    if _is_fhir(request):
        code = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported"}.get(
            status, "invalid" if status < 500 else "exception"
        )
        return JSONResponse(
            operation_outcome(code, detail),
            status_code=status,
            media_type=FHIR_JSON,
            headers=headers,
        )
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def mpi_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MpiError)
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(request, status, str(exc), headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(request, 422, _validation_detail(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(request, 500, f"internal error ({type(exc).__name__})")

    app.add_exception_handler(MpiError, mpi_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        value = error.get("input")
        shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
        parts.append(f"{where}: {error.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Timing:
    """Pure ASGI middleware: ``mpi_http_request_seconds`` and a ``Server-Timing`` header."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                # Server-Timing (W3C): the app's own time, so clients can tell it from the network.
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_LATENCY.labels(
                template, scope.get("method", ""), f"{status[0] // 100}xx"
            ).observe(time.perf_counter() - started)
