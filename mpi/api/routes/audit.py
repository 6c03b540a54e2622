"""``/api/audit``: the audit trail (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from mpi.api.deps import Admin, ServicesDep
from mpi.api.schemas import AuditListOut, ErrorOut, audit_out

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get(
    "",
    response_model=AuditListOut,
    responses={
        401: {"model": ErrorOut, "description": "no or unknown bearer token"},
        403: {"model": ErrorOut, "description": "the admin role is needed"},
    },
    summary="The audit trail",
)
def list_audit(
    services: ServicesDep,
    caller: Admin,
    entity_type: Annotated[
        str | None, Query(max_length=32, examples=["person"], description="person, record, review")
    ] = None,
    entity_id: Annotated[str | None, Query(max_length=300, examples=["E000000001"])] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["person.merge"])] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 timestamp")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditListOut:
    """Entries matching every given filter, newest first (who, when, what, before/after, reason)."""
    page = services.stewardship.audit(
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        since=since,
        offset=offset,
        limit=limit,
    )
    return AuditListOut(
        items=[audit_out(e) for e in page.items], total=page.total, offset=offset, limit=limit
    )
