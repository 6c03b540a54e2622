"""PDQ (ITI-21) at the service: parameters, wildcard, umlauts, date precision, domains, fuzzy, scores."""

from __future__ import annotations

import pytest
from query_helpers import Address, PersonName, Telecom, add_patient, patient

from hl7.model import AssigningAuthority, Identifier
from mpi.domain import SourceRecordRef
from mpi.errors import InvalidQuery, UnknownRequestedDomains
from mpi.service import ServiceContext
from mpi.service.pdq import (
    IdentifierCriterion,
    PdqCriteria,
    PdqService,
    criteria_from_parameters,
)
from mpi.service.pix import DomainName


@pytest.fixture
def people(ctx: ServiceContext) -> dict[str, str]:
    """A small population; returns name -> enterprise id."""
    s = ctx.store
    muller = patient(
        "Müller",
        "Jörg",
        birth_date="19700412",
        sex="M",
        names=(
            PersonName("Müller", "Jörg", name_type="L"),
            PersonName("Mueller-Graf", "Joerg", name_type="A"),
        ),
        addresses=(
            Address("Hauptstraße 5", city="Köln", postcode="50667", country="DEU", type="H"),
            Address("Am Markt 1", city="Bonn", postcode="53111", type="M"),
        ),
        home_phones=(Telecom("+49 221 555-0101", "PRN", "PH"),),
        mother_maiden_name=PersonName("Schäfer"),
    )
    people = {
        "muller": add_patient(s, "NORTHGEN", "NG-1", muller),
        "smith": add_patient(
            s, "NORTHGEN", "NG-2", patient("SMITH", "JOHN", birth_date="19800101")
        ),
        "smithers": add_patient(
            s, "RIVERCL", "RC-3", patient("Smithers", "Wayne", birth_date="19801231")
        ),
        "smyth": add_patient(s, "RIVERCL", "RC-4", patient("SMYTH", "JON", birth_date="19800101")),
        "anna": add_patient(
            s, "NORTHGEN", "NG-5", patient("MULLER", "Anna", birth_date="19700502", sex="F")
        ),
    }
    add_patient(
        s,
        "RIVERCL",
        "RC-1",
        patient("MUELLER", "JOERG", birth_date="19700412"),
        person=people["muller"],
    )
    people["child"] = add_patient(
        s,
        "NORTHGEN",
        "NG-9",
        patient("Müller", "Kind", birth_date="20200101"),
        mother=SourceRecordRef("NORTHGEN", "NG-1"),
    )
    return people


def found(
    ctx: ServiceContext, criteria: PdqCriteria, requested: tuple[DomainName, ...] = (), **kw: float
) -> list[str | None]:
    return [h.enterprise_id for h in PdqService(ctx).search(criteria, requested, **kw)]  # type: ignore[arg-type]


def test_umlauts_case_and_transliteration_fold_alike(
    ctx: ServiceContext, people: dict[str, str]
) -> None:
    for family in ("Müller", "MUELLER", "mueller", "MÜLLER"):
        assert found(ctx, PdqCriteria(family_name=family, given_name="JOERG")) == [people["muller"]]
    assert found(ctx, PdqCriteria(family_name="muller")) == [people["anna"]]  # "u" is not "ü"


def test_results_are_grouped_per_person(ctx: ServiceContext, people: dict[str, str]) -> None:
    hits = PdqService(ctx).search(PdqCriteria(family_name="Mueller", birth_date="19700412"))
    assert [h.enterprise_id for h in hits] == [people["muller"]]  # two records, one person
    assert [(i.domain.namespace, i.id) for i in hits[0].identifiers] == [
        ("MPI", people["muller"]),
        ("NORTHGEN", "NG-1"),
        ("RIVERCL", "RC-1"),
    ]


def test_trailing_wildcard(ctx: ServiceContext, people: dict[str, str]) -> None:
    assert set(found(ctx, PdqCriteria(family_name="SMI*"))) == {people["smith"], people["smithers"]}
    assert set(found(ctx, PdqCriteria(family_name="Mü*", sex="M", birth_date="1970"))) == {
        people["muller"]
    }
    assert set(found(ctx, PdqCriteria(given_name="Jo*", birth_date="1980"))) == {
        people["smith"],
        people["smyth"],
    }


def test_birth_date_precision(ctx: ServiceContext, people: dict[str, str]) -> None:
    assert set(found(ctx, PdqCriteria(birth_date="1970"))) == {people["muller"], people["anna"]}
    assert set(found(ctx, PdqCriteria(birth_date="197004"))) == {people["muller"]}
    assert set(found(ctx, PdqCriteria(birth_date="19801231"))) == {people["smithers"]}
    assert found(ctx, PdqCriteria(birth_date="19801230")) == []


def test_sex_address_phone_and_mother_criteria(ctx: ServiceContext, people: dict[str, str]) -> None:
    base = {"birth_date": "1970"}
    assert found(ctx, PdqCriteria(sex="F", **base)) == [people["anna"]]
    assert found(ctx, PdqCriteria(city="KOELN", **base)) == [people["muller"]]
    assert found(ctx, PdqCriteria(city="Bonn", **base)) == [people["muller"]]  # any address
    assert found(ctx, PdqCriteria(street="hauptstrasse 5", postcode="50 667", **base)) == [
        people["muller"]
    ]
    assert found(ctx, PdqCriteria(street="Haupt*", **base)) == [people["muller"]]
    assert found(ctx, PdqCriteria(city="Berlin", **base)) == []
    assert found(ctx, PdqCriteria(mother_maiden_name="schaefer", **base)) == [people["muller"]]
    assert found(ctx, PdqCriteria(phone="0221 5550101")) == [
        people["muller"]
    ]  # phone alone: indexed
    assert found(ctx, PdqCriteria(phone="0221 5550102")) == []


def test_identifier_criteria(ctx: ServiceContext, people: dict[str, str]) -> None:
    rc = DomainName("RIVERCL")
    assert found(ctx, PdqCriteria(identifier=IdentifierCriterion("RC-1", rc))) == [people["muller"]]
    assert found(
        ctx, PdqCriteria(identifier=IdentifierCriterion("RC-1", DomainName(oid="2.999.10.2")))
    ) == [people["muller"]]
    assert found(ctx, PdqCriteria(identifier=IdentifierCriterion("NG-2"))) == [
        people["smith"]
    ]  # any domain
    assert set(found(ctx, PdqCriteria(identifier=IdentifierCriterion("RC-*", rc)))) == {
        people["muller"],
        people["smithers"],
        people["smyth"],
    }
    # a domain alone: persons with a record there
    assert set(
        found(ctx, PdqCriteria(identifier=IdentifierCriterion("", rc), birth_date="1970"))
    ) == {people["muller"]}


def test_mother_identifier_finds_the_children(ctx: ServiceContext, people: dict[str, str]) -> None:
    mother = IdentifierCriterion("NG-1", DomainName("NORTHGEN"))
    assert found(ctx, PdqCriteria(mother_identifier=mother)) == [people["child"]]


def test_requested_domains(ctx: ServiceContext, people: dict[str, str]) -> None:
    hits = PdqService(ctx).search(PdqCriteria(family_name="SM*"), (DomainName("RIVERCL"),))
    # SMITH has no RIVERCL id: not returned; the others only with their RIVERCL ids
    assert {(h.enterprise_id, tuple(i.id for i in h.identifiers)) for h in hits} == {
        (people["smithers"], ("RC-3",)),
        (people["smyth"], ("RC-4",)),
    }
    with pytest.raises(UnknownRequestedDomains) as e:
        PdqService(ctx).search(
            PdqCriteria(family_name="SM*"), (DomainName("RIVERCL"), DomainName("NOPE"))
        )
    assert e.value.positions == (1,)


def test_scores_rank_better_matches_first(ctx: ServiceContext, people: dict[str, str]) -> None:
    hits = PdqService(ctx).search(
        PdqCriteria(family_name="SM*", given_name="JOHN", birth_date="19800101")
    )
    assert [h.enterprise_id for h in hits] == [people["smith"]]
    assert 0.9 < hits[0].score <= 1.0
    broad = PdqService(ctx).search(PdqCriteria(birth_date="1980", given_name="J*"))
    assert all(0.0 <= h.score <= 1.0 for h in broad)
    assert [h.score for h in broad] == sorted((h.score for h in broad), reverse=True)


def test_fuzzy_search_finds_spelling_variants_above_the_threshold(
    ctx: ServiceContext, people: dict[str, str]
) -> None:
    exact = PdqCriteria(family_name="SMITH", given_name="JOHN", birth_date="19800101")
    assert found(ctx, exact) == [people["smith"]]
    fuzzy = found(ctx, exact, min_score=0.5)
    assert fuzzy[0] == people["smith"] and people["smyth"] in fuzzy
    assert people["smithers"] not in fuzzy
    assert found(ctx, exact, min_score=0.9) == [people["smith"]]


def test_loaded_demographics_are_the_full_stored_pid(
    ctx: ServiceContext, people: dict[str, str]
) -> None:
    service = PdqService(ctx)
    [match] = service.load(service.search(PdqCriteria(family_name="Müller", given_name="Jörg")))
    p = match.patient
    assert [n.family for n in p.names] == ["Müller", "Mueller-Graf"]
    assert [a.city for a in p.addresses] == ["Köln", "Bonn"]
    assert p.home_phones[0].number == "+49 221 555-0101"
    assert p.mother_maiden_name == PersonName("Schäfer")
    assert p.identifiers[0] == Identifier(
        people["muller"], AssigningAuthority("MPI", "2.999.1", "ISO"), "PI"
    )


def test_invalid_and_too_broad_queries(ctx: ServiceContext, people: dict[str, str]) -> None:
    with pytest.raises(InvalidQuery) as e:
        PdqService(ctx).search(PdqCriteria(sex="M"))
    assert e.value.kind == "too-broad"
    with pytest.raises(InvalidQuery) as e:
        PdqService(ctx, max_records=2).search(PdqCriteria(family_name="M*"))
    assert e.value.kind == "too-broad"
    with pytest.raises(InvalidQuery) as e:
        criteria_from_parameters([("PID.5.1.1", "X"), ("PID.18.1", "ACCT")])
    assert (e.value.kind, e.value.position) == ("unsupported", 1)
    with pytest.raises(InvalidQuery) as e:
        criteria_from_parameters([("PID.7.1", "19701340")])
    assert (e.value.kind, e.value.position) == ("malformed", 0)


def test_criteria_from_hl7_paths() -> None:
    c = criteria_from_parameters(
        [
            ("PID.5.1.1", "SMI*"),
            ("PID.5.2", "JOHN"),
            ("PID.7.1", "197004"),
            ("PID.8", "m"),
            ("PID.3.1", "NG-1"),
            ("PID.3.4.2", "2.999.10.1"),
            ("PID.3.4.3", "ISO"),
            ("PID.11.3", "Köln"),
            ("PID.11.5", "50667"),
            ("PID.13.1", "555"),
            ("PID.6.1.1", "X"),
            ("PID.21.1", "M-1"),
            ("PID.21.4.1", "NORTHGEN"),
        ]
    )
    assert (c.family_name, c.given_name, c.birth_date, c.sex) == ("SMI*", "JOHN", "197004", "M")
    assert c.identifier == IdentifierCriterion("NG-1", DomainName(oid="2.999.10.1"))
    assert c.mother_identifier == IdentifierCriterion("M-1", DomainName("NORTHGEN"))
    assert (c.city, c.postcode, c.phone, c.mother_maiden_name) == ("Köln", "50667", "555", "X")
    assert c.position("birth_date") == 2
