"""``/api/reviews``: the review queue and reviewers' decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from mpi.api.deps import Reader, Reviewer, ServicesDep
from mpi.api.schemas import DecisionIn, ErrorOut, ReviewListOut, ReviewOut, review_out
from mpi.domain import ReviewDecision, ReviewStatus

router = APIRouter(prefix="/api/reviews", tags=["reviews"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or unknown bearer token"},
    403: {"model": ErrorOut, "description": "the token's role is too low"},
}
_STATUS = {"open": ReviewStatus.OPEN, "decided": ReviewStatus.DECIDED, "all": None}
TaskId = Annotated[int, Path(ge=1, le=2**62, description="the review task's id", examples=[7])]


@router.get("", response_model=ReviewListOut, responses=_ERRORS, summary="List review tasks")
def list_reviews(
    services: ServicesDep,
    caller: Reader,
    status: Annotated[
        Literal["open", "decided", "all"], Query(description="which tasks", examples=["open"])
    ] = "open",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewListOut:
    """Tasks with the status, highest match probability first; ``total`` counts them all."""
    page = services.reviews.list(_STATUS[status], offset=offset, limit=limit)
    return ReviewListOut(
        items=[review_out(i) for i in page.items], total=page.total, offset=offset, limit=limit
    )


@router.get(
    "/{task_id}",
    response_model=ReviewOut,
    responses={**_ERRORS, 404: {"model": ErrorOut, "description": "no such task"}},
    summary="One review task",
)
def get_review(services: ServicesDep, caller: Reader, task_id: TaskId) -> ReviewOut:
    """The pair, its score and the per-field explanation."""
    return review_out(services.reviews.get(task_id))


@router.post(
    "/{task_id}/decision",
    response_model=ReviewOut,
    responses={
        **_ERRORS,
        404: {"model": ErrorOut, "description": "no such task"},
        409: {"model": ErrorOut, "description": "already decided, or a record was merged away"},
    },
    summary="Decide a review task",
)
def decide(services: ServicesDep, caller: Reviewer, task_id: TaskId, body: DecisionIn) -> ReviewOut:
    """``match`` merges the two persons (unmerge undoes it); ``no-match`` keeps them apart."""
    item = services.reviews.decide(
        task_id, ReviewDecision(body.decision), actor=caller.name, reason=body.reason
    )
    return review_out(item)
