"""PIX (ITI-9): every case of the IHE table, at the service and as RSP^K23 with exact ERR locations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from query_helpers import add_patient, answer, merge_ids, parsed, patient, pix_message

from mpi.domain import SourceRecordRef
from mpi.errors import UnknownIdentifier, UnknownRequestedDomains, UnknownSourceDomain
from mpi.service import ServiceContext
from mpi.service.pix import DomainName, PixService
from mpi.service.query_handlers import PixQueryHandler
from mpi.settings import PixSettings

NG = DomainName("NORTHGEN")
RC = DomainName("RIVERCL")


@pytest.fixture
def john(ctx: ServiceContext) -> str:
    """One person with a NORTHGEN and a RIVERCL record, plus an unrelated person."""
    eid = add_patient(ctx.store, "NORTHGEN", "NG-1")
    add_patient(ctx.store, "RIVERCL", "RC-7", person=eid)
    add_patient(ctx.store, "NORTHGEN", "NG-2", patient("DOE", "JANE", sex="F"))
    return eid


def ids(result_ids: object) -> list[tuple[str, str]]:
    return [(i.domain.namespace, i.id) for i in result_ids]  # type: ignore[attr-defined]


def test_case1_known_id_returns_the_others_with_the_enterprise_id_first(
    ctx: ServiceContext, john: str
) -> None:
    result = PixService(ctx).query("NG-1", NG)
    assert result.found and result.enterprise_id == john
    assert ids(result.identifiers) == [("MPI", john), ("RIVERCL", "RC-7")]  # not the queried id
    assert result.identifiers[1].domain.oid == "2.999.10.2"  # completed from the registry
    assert result.identifiers[0].is_enterprise


def test_case1_partial_domain_by_oid_only_and_by_both(ctx: ServiceContext, john: str) -> None:
    by_oid = PixService(ctx).query("RC-7", DomainName(oid="2.999.10.2"))
    assert ids(by_oid.identifiers) == [("MPI", john), ("NORTHGEN", "NG-1")]
    assert by_oid.source == SourceRecordRef("RIVERCL", "RC-7")
    both = PixService(ctx).query(
        "RC-7", DomainName("RIVERCL", "2.999.10.2"), [DomainName(oid="2.999.10.1")]
    )
    assert ids(both.identifiers) == [("NORTHGEN", "NG-1")]


def test_requested_domains_filter_and_enterprise_domain_on_request(
    ctx: ServiceContext, john: str
) -> None:
    assert ids(PixService(ctx).query("NG-1", NG, [RC]).identifiers) == [("RIVERCL", "RC-7")]
    assert ids(PixService(ctx).query("NG-1", NG, [DomainName("MPI")]).identifiers) == [
        ("MPI", john)
    ]


def test_case2_known_id_but_nothing_in_requested_domains_is_nf(
    ctx: ServiceContext, john: str
) -> None:
    result = PixService(ctx).query("NG-2", NG, [RC])
    assert not result.found and result.identifiers == ()
    # the queried domain itself holds only the queried id, which is never echoed
    assert not PixService(ctx).query("NG-1", NG, [NG]).found


def test_case3_unknown_id_in_known_domain(ctx: ServiceContext, john: str) -> None:
    with pytest.raises(UnknownIdentifier) as e:
        PixService(ctx).query("NG-404", NG, [RC])
    assert (e.value.domain, e.value.identifier) == ("NORTHGEN", "NG-404")


def test_case3_an_id_subsumed_by_a40_is_unknown(ctx: ServiceContext, john: str) -> None:
    add_patient(ctx.store, "NORTHGEN", "NG-OLD", person=john)
    assert ("NORTHGEN", "NG-OLD") in ids(PixService(ctx).query("RC-7", RC).identifiers)
    merge_ids(ctx.store, SourceRecordRef("NORTHGEN", "NG-OLD"), SourceRecordRef("NORTHGEN", "NG-1"))
    with pytest.raises(UnknownIdentifier) as e:
        PixService(ctx).query("NG-OLD", NG)
    assert e.value.subsumed_by == "NORTHGEN|NG-1"
    assert ("NORTHGEN", "NG-OLD") not in ids(PixService(ctx).query("RC-7", RC).identifiers)


def test_case4_unknown_source_domain(ctx: ServiceContext, john: str) -> None:
    for name in (
        DomainName("NOWHERE"),
        DomainName(oid="9.9.9"),
        DomainName("NORTHGEN", "2.999.10.2"),
    ):
        with pytest.raises(UnknownSourceDomain):
            PixService(ctx).query("NG-1", name)


def test_case5_every_unknown_requested_domain_is_listed(ctx: ServiceContext, john: str) -> None:
    with pytest.raises(UnknownRequestedDomains) as e:
        PixService(ctx).query("NG-1", NG, [RC, DomainName("X1"), NG, DomainName(oid="1.2.3")])
    assert e.value.positions == (1, 3)
    assert e.value.values == ("X1", "1.2.3")


def test_case6_several_ids_in_one_domain_are_all_returned(ctx: ServiceContext, john: str) -> None:
    add_patient(ctx.store, "RIVERCL", "RC-8", person=john)
    assert ids(PixService(ctx).query("NG-1", NG, [RC]).identifiers) == [
        ("RIVERCL", "RC-7"),
        ("RIVERCL", "RC-8"),
    ]


def test_query_by_enterprise_id_and_return_queried_identifier(
    ctx: ServiceContext, john: str
) -> None:
    assert ids(PixService(ctx).query(john, DomainName("MPI")).identifiers) == [
        ("NORTHGEN", "NG-1"),
        ("RIVERCL", "RC-7"),
    ]
    with pytest.raises(UnknownIdentifier):
        PixService(ctx).query("E999999999", DomainName("MPI"))
    echoing = replace(
        ctx, settings=replace(ctx.settings, pix=PixSettings(return_queried_identifier=True))
    )
    assert ("NORTHGEN", "NG-1") in ids(PixService(echoing).query("NG-1", NG).identifiers)


def test_an_id_carried_in_pid3_finds_its_person(ctx: ServiceContext) -> None:
    eid = add_patient(ctx.store, "NORTHGEN", "NG-5", carried=(SourceRecordRef("NATID", "123"),))
    result = PixService(ctx).query("123", DomainName("NATID"))
    assert result.enterprise_id == eid
    assert ids(result.identifiers) == [("MPI", eid), ("NORTHGEN", "NG-5")]


def test_a_domain_registered_after_the_snapshot_is_known(ctx: ServiceContext, john: str) -> None:
    service = PixService(ctx)
    service.query("NG-1", NG)  # loads the snapshot
    from mpi.domain import IdentityDomain

    with ctx.store.unit_of_work() as uow:
        uow.domains.add(IdentityDomain("LATE", "2.999.77"))
        uow.commit()
    add_patient(ctx.store, "LATE", "L-1", person=john)
    assert ("LATE", "L-1") in ids(
        service.query("NG-1", NG, [DomainName(oid="2.999.77")]).identifiers
    )


# -- RSP^K23 ----------------------------------------------------------------------------------


def rsp(ctx: ServiceContext, pid3: str, domains: str = "") -> tuple[str, str, str, str, list[str]]:
    """MSA-1, QAK-2, ERR-2, ERR-3.1 and the PID-3 repetitions of the answer."""
    raw = pix_message(pid3, domains)
    message = answer(PixQueryHandler(ctx).handle(parsed(raw), raw))
    msa, qak, err, pid = (message.segment(s) for s in ("MSA", "QAK", "ERR", "PID"))
    assert msa is not None and qak is not None
    assert msa.get(2) == "Q1" and qak.get(1) == "TAG-1"
    qpd = message.segment("QPD")
    assert qpd is not None and qpd.text == raw.decode().split("\r")[1].rstrip("|")  # echoed
    reps = [pid.field(3).split("~")] if pid is not None else [[]]
    if pid is not None:
        assert pid.field(5) == "~^^^^^^S"
    return (
        msa.get(1),
        qak.get(2),
        err.field(2) if err else "",
        err.get(3) if err else "",
        reps[0],
    )


def test_rsp_case1_ok(ctx: ServiceContext, john: str) -> None:
    assert rsp(ctx, "NG-1^^^NORTHGEN&2.999.10.1&ISO") == (
        "AA",
        "OK",
        "",
        "",
        [f"{john}^^^MPI&2.999.1&ISO^PI", "RC-7^^^RIVERCL&2.999.10.2&ISO^PI"],
    )


def test_rsp_case2_nf(ctx: ServiceContext, john: str) -> None:
    assert rsp(ctx, "NG-2^^^NORTHGEN", "^^^RIVERCL") == ("AA", "NF", "", "", [])


def test_rsp_case3_unknown_id(ctx: ServiceContext, john: str) -> None:
    assert rsp(ctx, "NG-404^^^&2.999.10.1&ISO", "^^^RIVERCL") == (
        "AE",
        "AE",
        "QPD^1^3^1^1",
        "204",
        [],
    )


def test_rsp_case4_unknown_domain(ctx: ServiceContext, john: str) -> None:
    assert rsp(ctx, "NG-1^^^ELSEWHERE") == ("AE", "AE", "QPD^1^3^1^4", "204", [])


def test_rsp_case5_each_unknown_domain_located(ctx: ServiceContext, john: str) -> None:
    got = rsp(ctx, "NG-1^^^NORTHGEN", "^^^RIVERCL~^^^NOPE~^^^&1.2.3&ISO")
    assert got == ("AE", "AE", "QPD^1^4^2~QPD^1^4^3", "204", [])


def test_rsp_answers_from_the_configured_application(ctx: ServiceContext, john: str) -> None:
    raw = pix_message("NG-1^^^NORTHGEN")
    msh = answer(PixQueryHandler(ctx).handle(parsed(raw), raw)).msh
    assert (msh.get(3), msh.get(4), msh.get(5), msh.get(6)) == (
        "EMPI",
        "MPIHOST",
        "PIX_CONSUMER",
        "CITYHIE",
    )
    assert msh.field(9) == "RSP^K23^RSP_K23"


def test_rsp_identifier_types(ctx: ServiceContext, john: str) -> None:
    # A CX with an unusual id still round-trips through the escapes.
    add_patient(ctx.store, "RIVERCL", "RC|&9", person=john)
    got = rsp(ctx, "NG-1^^^NORTHGEN", "^^^RIVERCL")
    assert got[4] == [
        "RC-7^^^RIVERCL&2.999.10.2&ISO^PI",
        "RC\\F\\\\T\\9^^^RIVERCL&2.999.10.2&ISO^PI",
    ]
