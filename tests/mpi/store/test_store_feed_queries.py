"""The feed's batched look-ups: persons of many candidates, matcher views, a total candidate cap."""

from __future__ import annotations

from sqlalchemy import update
from store_helpers import new_record

from mpi.domain import (
    LinkMethod,
    PersonStatus,
    RecordStatus,
    SourceRecordRef,
    format_enterprise_id,
    parse_enterprise_id,
)
from mpi.store import UnitOfWork
from mpi.store.models import PersonRow


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
        uow.records.add(
            new_record(ref.domain, ref.id, family_name=f"Doe{i}", birth_date="19800101")
        )
        uow.blocking.replace(ref, ["k"])
    person = uow.persons.create()
    uow.links.link(refs[1], person.enterprise_id, score=1.0, method=LinkMethod.AUTO)
    full = uow.blocking.candidate_records(["k"], exclude=refs[0])
    light = uow.blocking.match_candidates(["k"], exclude=refs[0])
    assert [r.ref for r in light] == [r.ref for r in full] == [refs[3], refs[2], refs[1]]
    for f, m in zip(full, light, strict=True):
        assert (m.pk, m.demographics, m.status, m.enterprise_id, m.created_at, m.updated_at) == (
            f.pk,
            f.demographics,
            f.status,
            f.enterprise_id,
            f.created_at,
            f.updated_at,
        )
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
        pks[1],
        pks[0],
        pks[5],
        pks[4],
        pks[3],
        pks[2],
    ]
    assert len(uow.blocking.match_candidates(["common", "rare"], limit_total=2)) == 2
    assert uow.blocking.candidate_pks(["common"], limit_per_key=2, limit_total=1) == [pks[5]]


def test_candidates_of_many_records_are_each_as_for_one(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(6)]
    for i, ref in enumerate(refs):
        uow.records.add(new_record(ref.domain, ref.id, family_name="Doe"))
        uow.blocking.replace(ref, ["common"] + (["rare"] if i < 2 else []) + [f"own{i}"])
    plans = [
        [("common", None), ("rare", None)],
        [("common", 3), ("own4", None)],  # "common" has 6 records: more than its block of 3
        [("nothing", None)],
        [],
    ]
    many = uow.blocking.candidate_pks_many(plans, limit_total=3)
    assert many == [
        uow.blocking.candidate_pks(
            [k for k, _ in plan], limit_total=3, max_blocks=[b for _, b in plan]
        )
        for plan in plans
    ]
    pks = [uow.records.require(ref).pk for ref in refs]
    assert many[1] == [pks[4]] and many[2] == [] == many[3]


def test_which_ids_exist_and_which_messages_are_logged(uow: UnitOfWork) -> None:
    from mpi.domain import SourceSystem
    from mpi.errors import Conflict

    uow.records.add(new_record("NORTHGEN", "R1"))
    uow.records.add(new_record("RIVERCL", "R1"))
    asked = [
        SourceRecordRef("NORTHGEN", "R1"),
        SourceRecordRef("NORTHGEN", "R2"),
        SourceRecordRef("RIVERCL", "R1"),
        SourceRecordRef("NORTHGEN", "R1"),
    ]
    assert uow.records.existing_refs(asked) == {asked[0], asked[2]}
    assert uow.records.existing_refs([]) == set()
    ng, rc = SourceSystem("NG_ADT", "NORTHGEN"), SourceSystem("RC_ADT", "RIVERCL")
    uow.messages.record_many([(ng, "C1", "d1", b"ack1"), (rc, "C1", "d2", b"ack2")])
    assert uow.messages.logged([(ng, "C1"), (ng, "C2"), (rc, "C1")]) == {(ng, "C1"), (rc, "C1")}
    entry = uow.messages.get(rc, "C1")
    assert entry is not None and (entry.digest, entry.response) == ("d2", b"ack2")
    uow.messages.record_many([])
    try:
        uow.messages.record_many([(ng, "C1", "d3", b"again")])
    except Conflict as e:
        assert "C1" in str(e)
    else:
        raise AssertionError("a logged control id was logged again")


def test_match_views_tell_which_persons_are_still_active(uow: UnitOfWork) -> None:
    refs = [SourceRecordRef("NORTHGEN", f"R{i}") for i in range(4)]
    for ref in refs:
        uow.records.add(new_record(ref.domain, ref.id, family_name="Doe"))
    merged, survivor, other = (uow.persons.create().enterprise_id for _ in range(3))
    uow.links.link(refs[0], merged, score=1.0, method=LinkMethod.AUTO)
    uow.links.link(refs[1], survivor, score=1.0, method=LinkMethod.AUTO)
    uow.links.link(refs[2], other, score=1.0, method=LinkMethod.AUTO)
    # A person merged away whose link was left behind (the merge moves links; the view
    # must still not take the person for active):
    uow.session.execute(
        update(PersonRow)
        .where(PersonRow.id == parse_enterprise_id(merged))
        .values(status=PersonStatus.MERGED.value, merged_into_id=parse_enterprise_id(survivor))
    )
    pks = [uow.records.require(ref).pk for ref in refs]
    views, active = uow.records.match_views_and_persons([pks[3], 999_999, *pks[:3]])
    assert [v.ref for v in views] == [refs[3], refs[0], refs[1], refs[2]]
    assert [v.enterprise_id for v in views] == [None, merged, survivor, other]
    assert active == {survivor, other}
    assert views == uow.records.match_views([pks[3], *pks[:3]])
    assert uow.records.match_views_and_persons([]) == ([], frozenset())
