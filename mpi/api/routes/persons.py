"""``/api/persons``: golden view, merge, unmerge, unlink and history of enterprise persons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from mpi.api.deps import Admin, Reader, ServicesDep
from mpi.api.schemas import (
    ErrorOut,
    HistoryOut,
    MergeIn,
    PersonOut,
    UnlinkIn,
    UnlinkOut,
    UnmergeIn,
    UnmergeOut,
    history_out,
    person_out,
    unlink_out,
    unmerge_out,
)
from mpi.domain import SourceRecordRef

router = APIRouter(prefix="/api/persons", tags=["persons"])

EnterpriseId = Annotated[
    str,
    Path(min_length=1, max_length=64, description="the enterprise id", examples=["E000000001"]),
]
_READ: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or unknown bearer token"},
    403: {"model": ErrorOut, "description": "the token's role is too low"},
    404: {"model": ErrorOut, "description": "no such person"},
}
_CHANGE: dict[int | str, dict[str, Any]] = {
    **_READ,
    409: {"model": ErrorOut, "description": "the persons' state forbids it"},
}


@router.get("/{enterprise_id}", response_model=PersonOut, responses=_READ, summary="Golden view")
def get_person(services: ServicesDep, caller: Reader, enterprise_id: EnterpriseId) -> PersonOut:
    """The golden view (each value with its source record and survivorship rule), records, links."""
    return person_out(services.stewardship.view(enterprise_id))


@router.post(
    "/{enterprise_id}/merge", response_model=PersonOut, responses=_CHANGE, summary="Merge persons"
)
def merge(
    services: ServicesDep, caller: Admin, enterprise_id: EnterpriseId, body: MergeIn
) -> PersonOut:
    """Move every record of ``from`` into this person; ``from`` is marked merged into it."""
    view = services.stewardship.merge(
        enterprise_id, body.from_, actor=caller.name, reason=body.reason
    )
    return person_out(view)


@router.post(
    "/{enterprise_id}/unmerge",
    response_model=UnmergeOut,
    responses=_CHANGE,
    summary="Undo the last merge",
)
def unmerge(
    services: ServicesDep,
    caller: Admin,
    enterprise_id: EnterpriseId,
    body: Annotated[UnmergeIn | None, Body()] = None,
) -> UnmergeOut:
    """Restore exactly the two persons and their links as before the last merge into this one."""
    reason = body.reason if body is not None else None
    return unmerge_out(
        services.stewardship.unmerge(enterprise_id, actor=caller.name, reason=reason)
    )


@router.post(
    "/{enterprise_id}/unlink",
    response_model=UnlinkOut,
    responses=_CHANGE,
    summary="Take a record out of the person",
)
def unlink(
    services: ServicesDep, caller: Admin, enterprise_id: EnterpriseId, body: UnlinkIn
) -> UnlinkOut:
    """The record leaves for a person of its own (a manual link the matcher will not move)."""
    result = services.stewardship.unlink(
        enterprise_id, SourceRecordRef(body.domain, body.id), actor=caller.name, reason=body.reason
    )
    return unlink_out(result)


@router.get(
    "/{enterprise_id}/history", response_model=HistoryOut, responses=_READ, summary="History"
)
def history(services: ServicesDep, caller: Reader, enterprise_id: EnterpriseId) -> HistoryOut:
    """Merges and audit entries of the person and of its current records, newest first."""
    return history_out(services.stewardship.history(enterprise_id))
