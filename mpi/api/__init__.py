"""The HTTP API: review and stewardship (``/api``), FHIR PIXm/PDQm (``/fhir``), health, metrics.

Entry point: :func:`create_app` (``mpi serve`` runs it under uvicorn). Routes are
thin: they check the caller's role, call a service of :mod:`mpi.service` and map
its domain values to JSON; every :class:`~mpi.errors.MpiError` becomes a 4xx
``{"detail": "..."}`` (a FHIR ``OperationOutcome`` under ``/fhir``).
"""

from mpi.api.app import create_app

__all__ = ["create_app"]
