"""The repository reads behind PIX and PDQ: cross-references, indexed search, light views."""

from __future__ import annotations

from store_helpers import new_record

from mpi.domain import LinkMethod, RecordQuery, RecordStatus, SourceRecordRef
from mpi.store import Store, UnitOfWork

NG1, NG2, RC1 = (
    SourceRecordRef("NORTHGEN", "NG-1"),
    SourceRecordRef("NORTHGEN", "NG-2"),
    SourceRecordRef("RIVERCL", "RC-1"),
)


def populate(uow: UnitOfWork) -> tuple[str, str]:
    uow.records.add(
        new_record(
            "NORTHGEN",
            "NG-1",
            family_name="Müller",
            given_name="Jörg",
            birth_date="19700412",
            sex="M",
        )
    )
    uow.records.add(
        new_record(
            "RIVERCL",
            "RC-1",
            family_name="MUELLER",
            given_name="JOERG",
            birth_date="19700412",
            sex="M",
            identifiers=[SourceRecordRef("NATID", "123")],
        )
    )
    uow.records.add(
        new_record("NORTHGEN", "NG-2", family_name="Smith", given_name="Ann", birth_date="198001")
    )
    uow.records.add(new_record("NORTHGEN", "A%_/1", family_name="Odd"))
    uow.records.add(new_record("NORTHGEN", "A%x", family_name="Odd"))
    first, second = uow.persons.create().enterprise_id, uow.persons.create().enterprise_id
    for ref, person in ((NG1, first), (RC1, first), (NG2, second)):
        uow.links.link(ref, person, score=1.0, method=LinkMethod.AUTO)
    return first, second


def test_cross_references(uow: UnitOfWork) -> None:
    first, _ = populate(uow)
    xref = uow.records.cross_references(NG1)
    assert xref is not None and xref.status is RecordStatus.ACTIVE
    assert (xref.enterprise_id, xref.refs) == (first, (NG1, RC1))
    assert uow.records.cross_references(SourceRecordRef("NORTHGEN", "nope")) is None
    assert uow.records.cross_references(SourceRecordRef("NOWHERE", "NG-1")) is None
    unlinked = uow.records.cross_references(SourceRecordRef("NORTHGEN", "A%x"))
    assert unlinked is not None and (unlinked.enterprise_id, unlinked.refs) == (None, ())
    uow.records.subsume(RC1, NG1)
    gone = uow.records.cross_references(RC1)
    assert gone is not None and gone.status is RecordStatus.SUBSUMED and gone.subsumed_by == NG1
    assert uow.records.cross_references(NG1).refs == (NG1,)  # type: ignore[union-attr]
    assert uow.records.person_refs(first) == [NG1]


def test_refs_of_persons(uow: UnitOfWork) -> None:
    first, second = populate(uow)
    assert uow.records.refs_of_persons([first, second, "E999999999", "junk"]) == {
        first: [NG1, RC1],
        second: [NG2],
        "E999999999": [],
    }


def test_search_pks_and_views(uow: UnitOfWork) -> None:
    populate(uow)

    def ids(query: RecordQuery, **kw: object) -> list[str]:
        return [v.ref.id for v in uow.records.views(uow.records.search_pks(query, **kw))]  # type: ignore[arg-type]

    assert ids(RecordQuery(family_name="mueller")) == ["NG-1", "RC-1"]
    assert ids(RecordQuery(family_name="MÜ*", given_name="jö*")) == ["NG-1", "RC-1"]
    assert (
        ids(RecordQuery(birth_date="1970"))
        == ids(RecordQuery(birth_date="197004"))
        == ["NG-1", "RC-1"]
    )
    assert ids(RecordQuery(birth_date="19800101")) == []  # stored at month precision only
    assert ids(RecordQuery(birth_date="1980")) == ["NG-2"]
    assert ids(RecordQuery(family_name="mueller"), domain="RIVERCL") == ["RC-1"]
    assert ids(RecordQuery(), domain="NORTHGEN", id_prefix="A%_") == ["A%_/1"]  # no LIKE wildcards
    assert ids(RecordQuery(identifier=SourceRecordRef("NATID", "123"))) == ["RC-1"]  # carried id
    pk_ng1 = uow.records.identifier_pks(NG1)
    assert ids(RecordQuery(family_name="mueller"), within=pk_ng1) == ["NG-1"]
    assert len(uow.records.search_pks(RecordQuery(family_name="*"), limit=2)) == 2
    views = uow.records.views([*uow.records.identifier_pks(NG2), *pk_ng1, 10_000])
    assert [v.ref for v in views] == [NG2, NG1]  # in the order asked, unknown keys skipped
    assert views[1].demographics.family_name == "Müller" and views[1].enterprise_id is not None


def test_statement_reads_see_each_commit(ready_store: Store) -> None:
    with ready_store.unit_of_work(readonly=True, snapshot=False) as reader:
        assert reader.records.cross_references(NG1) is None
        with ready_store.unit_of_work() as writer:
            writer.records.add(new_record("NORTHGEN", "NG-1", family_name="X"))
            writer.commit()
        assert reader.records.cross_references(NG1) is not None  # no snapshot held
