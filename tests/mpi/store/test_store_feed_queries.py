"""The feed's batched look-ups: persons of many candidates, matcher views, a total candidate cap."""

from __future__ import annotations

from store_helpers import new_record

from mpi.domain import LinkMethod, RecordStatus, SourceRecordRef, format_enterprise_id
from mpi.store import UnitOfWork


def test_resolve_many_follows_merges_and_skips_unknown(uow: UnitOfWork) -> None:
    a, b, c = (uow.persons.create().enterprise_id for _ in range(3))
    uow.merges.merge(a, b, by="test")
    uow.merges.merge(c, a, by="test")  # b -> a -> c
    d = uow.persons.create().enterprise_id
    resolved = uow.persons.resolve_many([a, b, d, d, "not-an-id", format_enterprise_id(999_999)])
    assert resolved == {a: c, b: c, d: d}
    assert uow.persons.resolve_many([]) == {}


def test_match_candidates_are_the_matcher_view_of_candidate_records(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(4)]
    for i, ref in enumerate(refs):
        uow.records.add(new_record(ref.domain, ref.id, family_name=f"Doe{i}", birth_date="19800101"))
        uow.blocking.replace(ref, ["k"])
    person = uow.persons.create()
    uow.links.link(refs[1], person.enterprise_id, score=1.0, method=LinkMethod.AUTO)
    full = uow.blocking.candidate_records(["k"], exclude=refs[0])
    light = uow.blocking.match_candidates(["k"], exclude=refs[0])
    assert [r.ref for r in light] == [r.ref for r in full] == [refs[3], refs[2], refs[1]]
    for f, m in zip(full, light, strict=True):
        assert (m.pk, m.demographics, m.status, m.enterprise_id, m.created_at, m.updated_at) == (
            f.pk, f.demographics, f.status, f.enterprise_id, f.created_at, f.updated_at)
        assert m.pid == {} and m.identifiers == () and m.subsumed_by is None
    assert light[2].enterprise_id == person.enterprise_id and light[0].status is RecordStatus.ACTIVE
    assert uow.records.match_views([999_999, light[1].pk]) == [light[1]]


def test_total_cap_takes_the_rarest_keys_first(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(6)]
    for i, ref in enumerate(refs):
        uow.records.add(new_record(ref.domain, ref.id, family_name="Doe"))
        uow.blocking.replace(ref, ["common"] + (["rare"] if i in (0, 1) else []))
    pks = [uow.records.require(ref).pk for ref in refs]
    everything = uow.blocking.candidate_pks(["common", "rare"])
    assert everything == pks[::-1]
    assert uow.blocking.candidate_pks(["common", "rare"], limit_total=3) == [pks[1], pks[0], pks[5]]
    assert uow.blocking.candidate_pks(["common", "rare"], limit_total=100) == [
        pks[1], pks[0], pks[5], pks[4], pks[3], pks[2]]
    assert len(uow.blocking.match_candidates(["common", "rare"], limit_total=2)) == 2
    assert uow.blocking.candidate_pks(["common"], limit_per_key=2, limit_total=1) == [pks[5]]
