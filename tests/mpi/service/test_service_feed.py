"""ITI-8 feed: register, update, merge, rejections, idempotency, commit-before-AA."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import make_settings
from service_helpers import NG, RC, ack_fields, adt

from hl7.codec import decode
from hl7.messages import parse_request
from mpi.domain import (
    LinkMethod,
    RecordQuery,
    RecordStatus,
    ReviewDecision,
    ReviewStatus,
    SourceRecordRef,
    SourceSystem,
)
from mpi.errors import StoreError
from mpi.service import ServiceContext, open_context
from mpi.service.feed import FeedHandler
from mpi.store import Store, UnitOfWork

NG1 = SourceRecordRef("NORTHGEN", "NG-1")
RC1 = SourceRecordRef("RIVERCL", "RC-1")
MOVED = "5 OAK ROAD^^SHELBYVILLE^^62565^^H"


@pytest.fixture
def handler(ctx: ServiceContext) -> FeedHandler:
    return FeedHandler(ctx)


def _counts(store: Store) -> dict[str, int]:
    with store.unit_of_work(readonly=True) as uow:
        return {
            "records": uow.records.count(RecordQuery()),
            "audit": uow.audit.count(),
            "outbox": len(uow.outbox.list()),
            "reviews": uow.reviews.count(None),
        }


def _person(store: Store, ref: SourceRecordRef) -> str:
    with store.unit_of_work(readonly=True) as uow:
        record = uow.records.require(ref)
    assert record.enterprise_id is not None
    return record.enterprise_id


def _view(store: Store) -> UnitOfWork:
    return store.unit_of_work(readonly=True)


# -- register ------------------------------------------------------------------------------------


def test_a01_registers_the_whole_pid_and_creates_a_person(
    handler: FeedHandler, store: Store
) -> None:
    raw = adt(
        "A01",
        "M1",
        "NG-1^^^NORTHGEN^MR",
        "SMITH^JOHN^ALBERT^^^^L~SMYTH^JACK^^^^^A",
        birth="197004",
        mother_maiden="JONES^MARY",
        national_id="123-45-6789",
    )
    assert ack_fields(handler.handle_bytes(raw)) == ("AA", "M1", "")
    with _view(store) as uow:
        record = uow.records.require(NG1)
        keys = uow.blocking.keys_of(NG1)
        link = uow.links.get(NG1)
        audit = [e.action for e in uow.audit.list()]
        logged = uow.messages.get(NG, "M1")
    assert record.demographics.birth_date == "197004"  # month precision kept
    assert record.demographics.mother_maiden_name == "JONES"
    assert record.demographics.national_id == "123-45-6789"
    assert [n["family"] for n in record.pid["names"]] == ["SMITH", "SMYTH"]
    assert record.pid["addresses"][0]["city"] == "SPRINGFIELD"
    assert record.pid["home_phones"][0]["number"] == "(217)555-0101"
    # CX.4 completed from the registry before storing.
    assert record.pid["identifiers"][0]["authority"] == {
        "namespace": "NORTHGEN",
        "universal_id": "2.999.10.1",
        "universal_id_type": "ISO",
    }
    assert keys and link is not None and link.method is LinkMethod.AUTO
    assert set(audit) >= {"record.register", "person.create", "link.create"}
    assert logged is not None and logged.response.startswith(b"MSH|")


def test_second_facility_with_the_same_patient_joins_the_person(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    ack = handler.handle_bytes(adt("A04", "R1", "RC-1^^^RIVERCL", sender=RC))
    assert ack_fields(ack)[0] == "AA"
    assert _person(store, NG1) == _person(store, RC1)
    with _view(store) as uow:
        link = uow.links.get(RC1)
        queued = uow.outbox.list()
    assert link is not None and link.method is LinkMethod.AUTO and link.score >= 0.95
    assert handler.last_outcome is not None and handler.last_outcome.links == 1
    # The person's cross-references changed twice: one A31 per interested subscriber each time.
    assert [m.subscriber.application for m in queued].count("RC_PIX") == 1
    assert [m.subscriber.application for m in queued].count("HIE_PORTAL") == 2


@pytest.mark.parametrize(
    "pid3",
    ["NG-1^^^&2.999.10.1&ISO^MR", "NG-1^^^NORTHGEN&2.999.10.1&ISO", "NG-1^^^^MR", "NG-1"],
    ids=["oid-only", "both", "empty-cx4-type", "empty-cx4"],
)
def test_partial_or_missing_cx4_is_completed_from_the_registry(
    handler: FeedHandler, store: Store, pid3: str
) -> None:
    assert ack_fields(handler.handle_bytes(adt("A01", "M1", pid3)))[0] == "AA"
    with _view(store) as uow:
        record = uow.records.require(NG1)
    assert record.pid["identifiers"][0]["authority"]["universal_id"] == "2.999.10.1"


def test_other_domain_ids_are_carried_and_found(handler: FeedHandler, store: Store) -> None:
    raw = adt("A01", "M1", "NG-1^^^NORTHGEN~OLD-7^^^LEGACY~E000000099^^^MPI")
    assert ack_fields(handler.handle_bytes(raw))[0] == "AA"
    with _view(store) as uow:
        assert uow.records.require(NG1).identifiers == (SourceRecordRef("LEGACY", "OLD-7"),)
        assert [r.ref for r in uow.records.with_identifier(SourceRecordRef("LEGACY", "OLD-7"))] == [
            NG1
        ]


# -- rejections ----------------------------------------------------------------------------------


UNKNOWN_KEY = "PID^1^3^204&Unknown Key Identifier&HL70357"


@pytest.mark.parametrize(
    ("pid3", "sender"),
    [
        ("X-1^^^NOWHERE", NG),  # unknown namespace
        ("X-1^^^&1.2.3.4&ISO", NG),  # unknown OID
        ("NG-1^^^NORTHGEN&2.999.10.2&ISO", NG),  # namespace and OID of two domains
        ("RC-5^^^RIVERCL", NG),  # a domain owned by another source
        ("E000000001^^^MPI", NG),  # only the MPI assigns enterprise ids
        ("NG-1", SourceSystem("OTHER_ADT", "ELSEWHERE")),  # no CX.4, sender owns no domain
    ],
    ids=["namespace", "oid", "mismatch", "not-owner", "enterprise", "unfillable"],
)
def test_domain_rejections_answer_ae_204_and_store_nothing(
    handler: FeedHandler, store: Store, pid3: str, sender: SourceSystem
) -> None:
    before = _counts(store)
    ack = handler.handle_bytes(adt("A01", "BAD1", pid3, sender=sender))
    assert ack_fields(ack) == ("AE", "BAD1", UNKNOWN_KEY)
    assert _counts(store) == before
    with _view(store) as uow:
        assert uow.messages.get(sender, "BAD1") is None


def test_wrong_type_or_event_is_rejected_with_ar(handler: FeedHandler, ctx: ServiceContext) -> None:
    ack = handler.handle_bytes(adt("A03", "T1", "NG-1^^^NORTHGEN", message_type="ADT^A03^ADT_A03"))
    assert ack_fields(ack) == ("AR", "T1", "MSH^1^9^201&Unsupported event code&HL70357")
    ack = handler.handle_bytes(adt("A01", "T2", "NG-1^^^NORTHGEN", message_type="ORU^R01^ORU_R01"))
    assert ack_fields(ack) == ("AR", "T2", "MSH^1^9^200&Unsupported message type&HL70357")
    # A query handed to the feed handler by mistake is not a feed message either.
    pix = (
        b"MSH|^~\\&|PIXC|CLINIC|EMPI|MPIHOST|20260101||QBP^Q23^QBP_Q21|Q1|P|2.5\r"
        b"QPD|IHE PIX Query|T1|NG-1^^^NORTHGEN\rRCP|I\r"
    )
    ack = handler.handle(parse_request(decode(pix)), pix)
    assert ack_fields(ack) == ("AR", "Q1", "MSH^1^9^1^1|200^Unsupported message type^HL70357")


def test_missing_required_content_names_segment_and_field(
    handler: FeedHandler, store: Store
) -> None:
    ack = handler.handle_bytes(adt("A01", "N1", "NG-1^^^NORTHGEN", name=""))
    assert ack_fields(ack) == ("AE", "N1", "PID^1^5^101&Required field missing&HL70357")
    assert _counts(store)["records"] == 0


# -- idempotency and commit ----------------------------------------------------------------------


def test_redelivery_gets_the_same_answer_and_changes_nothing(
    handler: FeedHandler, store: Store
) -> None:
    raw = adt("A01", "M1", "NG-1^^^NORTHGEN")
    first = handler.handle_bytes(raw)
    before = _counts(store)
    again = handler.handle_bytes(raw)
    assert again == first
    assert handler.last_outcome is not None and handler.last_outcome.replayed
    assert _counts(store) == before


def test_a_reused_control_id_with_other_content_is_refused(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    before = _counts(store)
    ack = handler.handle_bytes(adt("A01", "M1", "NG-2^^^NORTHGEN", "DOE^JANE"))
    assert ack_fields(ack) == ("AE", "M1", "MSH^1^10^205&Duplicate key identifier&HL70357")
    assert _counts(store) == before


def test_no_aa_when_the_commit_fails(
    handler: FeedHandler, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_commit(self: UnitOfWork) -> None:
        raise StoreError("database: disk I/O error")

    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    ack = handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    monkeypatch.undo()
    assert ack_fields(ack) == ("AR", "M1", "^^^207&Application internal error&HL70357")
    assert _counts(store) == {"records": 0, "audit": 0, "outbox": 0, "reviews": 0}


def test_without_configured_domains_every_domain_is_registered_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(domains=(), subscribers=())
    handler = FeedHandler(open_context(settings, store=store))
    with caplog.at_level(logging.WARNING, logger="mpi.service.registry"):
        ack = handler.handle_bytes(adt("A01", "D1", "ANY-1^^^SOMEWHERE&2.999.77&ISO"))
    assert ack_fields(ack)[0] == "AA"
    assert "SOMEWHERE" in caplog.text
    with _view(store) as uow:
        domain = uow.domains.get("SOMEWHERE")
        assert domain is not None and domain.oid == "2.999.77"
        assert uow.records.get(SourceRecordRef("SOMEWHERE", "ANY-1")) is not None


# -- linking decisions ---------------------------------------------------------------------------


def test_a_shared_trusted_id_links_deterministically(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN~555^^^NATID"))
    # Different demographics altogether: only the national id says it is the same person.
    raw = adt(
        "A01",
        "R1",
        "RC-1^^^RIVERCL~555^^^NATID",
        "MILLER^ANNE",
        sender=RC,
        birth="19881130",
        sex="F",
        address=MOVED,
        phone="",
    )
    assert ack_fields(handler.handle_bytes(raw))[0] == "AA"
    assert _person(store, NG1) == _person(store, RC1)
    with _view(store) as uow:
        link = uow.links.get(RC1)
    assert link is not None and link.method is LinkMethod.IDENTIFIER


def test_a_national_id_in_pid19_with_its_domain_links_too(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN", national_id="777^^^NATID"))
    raw = adt("A01", "R1", "RC-1^^^RIVERCL~777^^^NATID", "MILLER^ANNE", sender=RC, birth="1988")
    handler.handle_bytes(raw)
    assert _person(store, NG1) == _person(store, RC1)


def test_review_band_creates_a_new_person_and_a_task_naming_the_candidate(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "R1", "RC-1^^^RIVERCL", sender=RC, address=MOVED, phone=""))
    assert _person(store, NG1) != _person(store, RC1)
    with _view(store) as uow:
        tasks = uow.reviews.list(ReviewStatus.OPEN)
    assert len(tasks) == 1
    task = tasks[0]
    assert {task.left, task.right} == {NG1, RC1}
    assert 0.5 <= task.score < 0.95
    assert task.fields["given_name"]["level"] == "exact"
    assert task.fields["street"]["level"] == "else"


def test_twins_are_not_linked_but_reviewed(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "M2", "NG-2^^^NORTHGEN", "SMITH^JAMES^^^^^L"))
    assert _person(store, NG1) != _person(store, SourceRecordRef("NORTHGEN", "NG-2"))
    with _view(store) as uow:
        assert uow.reviews.count() == 1


def test_a_pair_decided_no_match_is_not_linked_again_on_update(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "R1", "RC-1^^^RIVERCL", sender=RC, address=MOVED, phone=""))
    with store.unit_of_work() as uow:
        task = uow.reviews.list()[0]
        uow.reviews.decide(task.id, ReviewDecision.NO_MATCH, by="alice")
        uow.commit()
    # Now the RIVERCL record is corrected to agree on everything: still kept apart.
    handler.handle_bytes(adt("A08", "R2", "RC-1^^^RIVERCL", sender=RC))
    assert _person(store, NG1) != _person(store, RC1)


def test_newborn_is_registered_with_its_mother(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(
        adt("A01", "M1", "NG-M^^^NORTHGEN", "SMITH^MARY^^^^^L", birth="19900101", sex="F")
    )
    child = adt(
        "A01",
        "M2",
        "NG-B^^^NORTHGEN",
        "SMITH^BABY GIRL^^^^^L",
        birth="20260101",
        sex="F",
        mother_id="NG-M^^^NORTHGEN",
    )
    assert ack_fields(handler.handle_bytes(child))[0] == "AA"
    baby, mother = SourceRecordRef("NORTHGEN", "NG-B"), SourceRecordRef("NORTHGEN", "NG-M")
    with _view(store) as uow:
        assert uow.relations.mothers_of(baby) == [mother]
    assert _person(store, baby) != _person(store, mother)


def test_a_mother_id_not_registered_is_kept_in_the_pid_only(
    handler: FeedHandler, store: Store
) -> None:
    child = adt("A01", "M2", "NG-B^^^NORTHGEN", "SMITH^BABY", birth="20260101", mother_id="NG-X")
    assert ack_fields(handler.handle_bytes(child))[0] == "AA"
    baby = SourceRecordRef("NORTHGEN", "NG-B")
    with _view(store) as uow:
        assert uow.relations.mothers_of(baby) == []
        assert uow.records.require(baby).pid["mother_identifiers"][0]["id"] == "NG-X"


# -- update (A08) --------------------------------------------------------------------------------


def test_a08_updates_demographics_and_keeps_the_link(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "R1", "RC-1^^^RIVERCL", sender=RC))
    person = _person(store, RC1)
    ack = handler.handle_bytes(
        adt("A08", "R2", "RC-1^^^RIVERCL", sender=RC, phone="(217)555-7777^PRN^PH")
    )
    assert ack_fields(ack)[0] == "AA"
    with _view(store) as uow:
        assert uow.records.require(RC1).demographics.phone == "(217)555-7777"
        assert [e.action for e in uow.audit.list(entity_id=str(RC1), action="record.update")]
    assert _person(store, RC1) == person
    assert handler.last_outcome is not None and handler.last_outcome.moved == 0


def test_a08_moves_an_auto_link_that_no_longer_holds(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "R1", "RC-1^^^RIVERCL", sender=RC))
    shared = _person(store, RC1)
    raw = adt(
        "A08",
        "R2",
        "RC-1^^^RIVERCL",
        "MILLER^ANNE",
        sender=RC,
        birth="19881130",
        sex="F",
        address=MOVED,
        phone="",
    )
    assert ack_fields(handler.handle_bytes(raw))[0] == "AA"
    assert _person(store, RC1) != shared
    assert _person(store, NG1) == shared
    with _view(store) as uow:
        moved = uow.audit.list(entity_id=str(RC1), action="link.move")
    assert moved and moved[0].before == {"enterprise_id": shared, "method": "auto"}


def test_a08_leaves_a_manual_link_alone(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "R1", "RC-1^^^RIVERCL", sender=RC))
    shared = _person(store, RC1)
    with store.unit_of_work() as uow:
        uow.links.link(RC1, shared, score=1.0, method=LinkMethod.MANUAL, by="alice")
        uow.commit()
    raw = adt("A08", "R2", "RC-1^^^RIVERCL", "MILLER^ANNE", sender=RC, birth="19881130", sex="F")
    assert ack_fields(handler.handle_bytes(raw))[0] == "AA"
    assert _person(store, RC1) == shared


def test_a08_for_an_unknown_id_registers_it(handler: FeedHandler, store: Store) -> None:
    assert ack_fields(handler.handle_bytes(adt("A08", "M1", "NG-1^^^NORTHGEN")))[0] == "AA"
    with _view(store) as uow:
        assert uow.records.get(NG1) is not None


# -- merge (A40) ---------------------------------------------------------------------------------


def test_a40_subsumes_the_prior_id_into_the_surviving_id(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    # The same patient registered twice at NORTHGEN, once with a very different record.
    handler.handle_bytes(
        adt("A01", "M2", "NG-0^^^NORTHGEN", "SMYTHE^J", birth="1970", address=MOVED, phone="")
    )
    handler.handle_bytes(
        adt(
            "A01",
            "R1",
            "RC-1^^^RIVERCL~OLD^^^NG0REF",
            "SMYTHE^J",
            sender=RC,
            birth="1970",
            address=MOVED,
            phone="",
        )
    )
    prior = SourceRecordRef("NORTHGEN", "NG-0")
    prior_person = _person(store, prior)
    survivor_person = _person(store, NG1)
    assert prior_person != survivor_person
    with _view(store) as uow:
        outbox_before = len(uow.outbox.list())
    ack = handler.handle_bytes(adt("A40", "M3", "NG-1^^^NORTHGEN", mrg="NG-0^^^NORTHGEN"))
    assert ack_fields(ack) == ("AA", "M3", "")
    with _view(store) as uow:
        subsumed = uow.records.require(prior)
        assert subsumed.status is RecordStatus.SUBSUMED and subsumed.subsumed_by == NG1
        assert subsumed.enterprise_id is None
        assert uow.blocking.keys_of(prior) == []
        assert uow.records.with_identifier(prior) == []
        # The record that was linked along with the subsumed id follows it to the survivor.
        assert uow.records.require(RC1).enterprise_id == survivor_person
        assert uow.persons.resolve(prior_person).enterprise_id == survivor_person
        assert uow.audit.list(action="record.subsume")
        assert len(uow.outbox.list()) > outbox_before


def test_a40_with_an_unknown_prior_id_is_refused(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    before = _counts(store)
    ack = handler.handle_bytes(adt("A40", "M2", "NG-1^^^NORTHGEN", mrg="NG-404^^^NORTHGEN"))
    assert ack_fields(ack) == ("AE", "M2", "MRG^1^1^204&Unknown Key Identifier&HL70357")
    assert _counts(store) == before


def test_a40_prior_in_another_domain_is_refused(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    ack = handler.handle_bytes(adt("A40", "M2", "NG-1^^^NORTHGEN", mrg="RC-1^^^RIVERCL"))
    assert ack_fields(ack) == ("AE", "M2", "MRG^1^1^204&Unknown Key Identifier&HL70357")


def test_a_subsumed_id_cannot_be_fed_again(handler: FeedHandler, store: Store) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "M2", "NG-0^^^NORTHGEN"))
    handler.handle_bytes(adt("A40", "M3", "NG-1^^^NORTHGEN", mrg="NG-0^^^NORTHGEN"))
    ack = handler.handle_bytes(adt("A08", "M4", "NG-0^^^NORTHGEN"))
    assert ack_fields(ack) == ("AE", "M4", UNKNOWN_KEY)


def test_a40_with_two_groups_and_repeated_mrg1_subsumes_every_prior_id(
    handler: FeedHandler, store: Store
) -> None:
    for i, (ident, name) in enumerate(
        [
            ("NG-2000", "ROE^RICHARD"),
            ("NG-2001", "ROE^RICHARD"),
            ("NG-3000", "ROE^RITA"),
            ("NG-2999", "ROE^RITA"),
            ("NG-3001", "ROE^RITA"),
        ]
    ):
        handler.handle_bytes(adt("A01", f"P{i}", f"{ident}^^^NORTHGEN", name))
    raw = (Path(__file__).parents[2] / "hl7" / "golden" / "adt_a40_231_two_groups.hl7").read_bytes()
    assert ack_fields(handler.handle_bytes(raw)) == ("AA", "NG000202", "")
    with _view(store) as uow:
        status = {
            i: (r.status, r.subsumed_by.id if r.subsumed_by else None)
            for i in ("NG-2000", "NG-3000", "NG-2999")
            for r in [uow.records.require(SourceRecordRef("NORTHGEN", i))]
        }
    assert status == {
        "NG-2000": (RecordStatus.SUBSUMED, "NG-2001"),
        "NG-3000": (RecordStatus.SUBSUMED, "NG-3001"),
        "NG-2999": (RecordStatus.SUBSUMED, "NG-3001"),
    }


def test_a40_unknown_second_repetition_points_at_it_and_undoes_the_first(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A01", "M2", "NG-0^^^NORTHGEN"))
    raw = adt("A40", "M3", "NG-1^^^NORTHGEN", mrg="NG-0^^^NORTHGEN~NG-404^^^NORTHGEN")
    assert ack_fields(handler.handle_bytes(raw)) == (
        "AE",
        "M3",
        "MRG^1^1^204&Unknown Key Identifier&HL70357",
    )
    with _view(store) as uow:
        assert (
            uow.records.require(SourceRecordRef("NORTHGEN", "NG-0")).status is RecordStatus.ACTIVE
        )


def test_the_notification_of_a_link_lists_the_subscribers_domains(
    handler: FeedHandler, store: Store
) -> None:
    handler.handle_bytes(adt("A01", "M1", "NG-1^^^NORTHGEN"))
    handler.handle_bytes(adt("A04", "R1", "RC-1^^^RIVERCL", sender=RC))
    eid = _person(store, RC1)
    with _view(store) as uow:
        last = {m.subscriber.application: m for m in uow.outbox.list()}
    portal = decode(last["HIE_PORTAL"].payload).segment("PID")
    river = decode(last["RC_PIX"].payload).segment("PID")
    assert portal is not None and river is not None
    assert portal.field(3) == f"{eid}^^^MPI&2.999.1&ISO^PI~NG-1^^^NORTHGEN&2.999.10.1&ISO^PI"
    assert river.field(3) == "RC-1^^^RIVERCL&2.999.10.2&ISO^PI"
