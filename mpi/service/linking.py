"""The linking decision for one source record: which person it belongs to.

Order of evidence:

1. A shared id in a trusted domain (a national id) links deterministically
   (:attr:`LinkMethod.IDENTIFIER`).
2. Otherwise the record's lookup keys find candidates in the blocking index;
   the scalar matcher scores them (pairs a reviewer called no-match are
   skipped). The best pair at or above the link threshold joins its person
   (:attr:`LinkMethod.AUTO`), unless a guard (twins, junior/senior) holds
   against any scored record of that person: then it is only reviewed.
3. Pairs in the review band open review tasks; the record gets a person of its own.

:func:`lock_names` lists the locks a decision depends on; the feed takes them
before it looks, so two concurrent registrations of one patient are decided
one after the other (see :mod:`mpi.store.locks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matching.scalar import ScalarMatcher
from matching.scoring import Band, PairScore
from mpi.domain import LinkMethod, SourceRecord, SourceRecordRef
from mpi.store import UnitOfWork

__all__ = [
    "CANDIDATE_LIMIT",
    "CANDIDATE_LIMIT_PER_KEY",
    "Decision",
    "choose",
    "decide",
    "explanation",
    "lock_names",
]

CANDIDATE_LIMIT_PER_KEY = 200
CANDIDATE_LIMIT = 100
"""At most this many candidates are scored per record, the rarest keys' first."""
_MAX_REVIEWS = 3


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a record belongs.

    Attributes:
        enterprise_id: the person to join (``None``: a person of its own).
        method: how it was decided when joining.
        score: the match probability of the deciding pair (1.0 for an identifier link).
        via: the record whose person is joined.
        reviews: the review-band pairs to put before a reviewer, best first.
        linkable: persons the record reaches at the link threshold (all, not just the best).
    """

    enterprise_id: str | None
    method: LinkMethod | None = None
    score: float = 1.0
    via: SourceRecordRef | None = None
    reviews: tuple[tuple[SourceRecord, PairScore], ...] = ()
    linkable: frozenset[str] = field(default_factory=frozenset)


def lock_names(keys: Iterable[str], refs: Iterable[SourceRecordRef]) -> list[str]:
    """The locks a decision about a record depends on: its ids and its lookup keys
    (:meth:`~matching.scalar.ScalarMatcher.lookup_keys`)."""
    return [*(f"record:{ref}" for ref in refs), *(f"key:{key}" for key in keys)]


def explanation(score: PairScore) -> dict[str, Any]:
    """The per-field explanation of a pair as JSON: ``{comparison: {level, weight}}``."""
    return {f.comparison: {"level": f.level, "weight": round(f.weight, 4)} for f in score.fields}


def decide(
    uow: UnitOfWork,
    matcher: ScalarMatcher,
    record: SourceRecord,
    trusted: Sequence[SourceRecordRef] = (),
    *,
    known: bool = False,
) -> Decision:
    """Decide the person of ``record`` (stored already, with its blocking keys).

    Args:
        uow: the unit of work.
        matcher: the scalar matcher and its thresholds.
        record: the record.
        trusted: its ids in trusted domains.
        known: the record existed before (then reviewers' no-match decisions apply).
    """
    by_id = _identifier_match(uow, record, trusted)
    if by_id is not None:
        return by_id
    plan = matcher.lookup_plan(record.demographics)
    candidates = [
        c
        for c in uow.blocking.match_candidates(
            [key for key, _ in plan],
            CANDIDATE_LIMIT_PER_KEY,
            CANDIDATE_LIMIT,
            exclude=record.ref,
            max_blocks=[block for _, block in plan],
        )
        if c.enterprise_id is not None
    ]
    if known and candidates:
        rejected = uow.reviews.no_match_partners(record.ref)
        candidates = [c for c in candidates if c.ref not in rejected]
    if not candidates:
        return Decision(None)
    cache = uow.persons.resolve_many(
        c.enterprise_id for c in candidates if c.enterprise_id is not None
    )
    scored, guarded = matcher.score_for_decision(
        record.demographics, [c.demographics for c in candidates]
    )
    return choose(matcher, candidates, scored, guarded, lambda c: _person(uow, c, cache))


def choose(
    matcher: ScalarMatcher,
    candidates: Sequence[SourceRecord],
    scored: Sequence[PairScore],
    guarded: Iterable[str],
    person_of: Callable[[SourceRecord], str],
) -> Decision:
    """Decide from the scored candidates of a record (each candidate linked to a person).

    Args:
        matcher: the scalar matcher and its thresholds.
        candidates: the records its lookup keys found (linked, active, not itself).
        scored: the pairs in or above the review band, best first, and
        guarded: the ids of every guarded candidate
            (:meth:`~matching.scalar.ScalarMatcher.score_for_decision`).
        person_of: the active person a candidate stands for now.
    """
    if not candidates:
        return Decision(None)
    by_record = {str(c.ref): c for c in candidates}
    guarded_persons = {person_of(by_record[rid]) for rid in guarded}
    linkable: dict[str, tuple[SourceRecord, PairScore]] = {}
    reviews: list[tuple[SourceRecord, PairScore]] = []
    for s in scored:
        candidate = by_record[s.right_id]
        person = person_of(candidate)
        band = matcher.band(s)
        if band is Band.LINK and person not in guarded_persons:
            linkable.setdefault(person, (candidate, s))
        elif band is not Band.NO_LINK:
            reviews.append((candidate, s))
    if linkable:
        person, (candidate, best) = next(iter(linkable.items()))
        return Decision(
            person,
            LinkMethod.AUTO,
            best.match_probability,
            candidate.ref,
            linkable=frozenset(linkable),
        )
    return Decision(None, reviews=tuple(_one_per_person(reviews, person_of)[:_MAX_REVIEWS]))


def _identifier_match(
    uow: UnitOfWork, record: SourceRecord, trusted: Sequence[SourceRecordRef]
) -> Decision | None:
    for ref in trusted:
        for other in uow.records.with_identifier(ref):
            if other.ref != record.ref and other.enterprise_id is not None:
                person = _person(uow, other, {})
                return Decision(
                    person, LinkMethod.IDENTIFIER, 1.0, other.ref, linkable=frozenset({person})
                )
    return None


def _person(uow: UnitOfWork, record: SourceRecord, cache: dict[str, str]) -> str:
    """The active person a record stands for now (most are not merged: no extra query)."""
    assert record.enterprise_id is not None
    found = cache.get(record.enterprise_id)
    if found is None:
        found = uow.persons.resolve(record.enterprise_id).enterprise_id
        cache[record.enterprise_id] = found
    return found


def _one_per_person(
    pairs: list[tuple[SourceRecord, PairScore]], person_of: Callable[[SourceRecord], str]
) -> list[tuple[SourceRecord, PairScore]]:
    seen: set[str] = set()
    out = []
    for candidate, score in pairs:
        person = person_of(candidate)
        if person not in seen:
            seen.add(person)
            out.append((candidate, score))
    return out
