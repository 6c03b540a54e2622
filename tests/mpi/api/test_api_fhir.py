"""FHIR R4 PIXm (ITI-83), PDQm (ITI-78) and Patient read; every resource validated by fhir.resources.

fhir.resources ships R4B (and R5); Patient, Parameters, Bundle and
OperationOutcome are the same in R4 and R4B, so R4B validates R4 content.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import ADMIN, RC, READER, Feed, TestClient, auth
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient

from mpi.domain import SourceRecordRef
from mpi.service import ServiceContext

NG_OID, RC_OID, MPI_OID, NATID_OID = "2.999.10.1", "2.999.10.2", "2.999.1", "2.999.99"
PIX = "/fhir/Patient/$ihe-pix"


@pytest.fixture(autouse=True)
def _reader(client: TestClient) -> None:
    """FHIR lookups need a reader's token (patient data; only /health and /metrics are open)."""
    client.headers.update(auth(READER))


def test_fhir_needs_a_token(client: TestClient) -> None:
    del client.headers["Authorization"]
    outcome = _outcome(client.get("/fhir/Patient", params={"family": "SMITH"}), 401)
    assert outcome.issue[0].code == "login"
    client.headers.update(auth("not-a-token"))
    _outcome(client.get(PIX, params={"sourceIdentifier": "urn:oid:2.999.10.1|NG-1"}), 401)


@pytest.fixture
def john(feed: Feed, ctx: ServiceContext) -> str:
    """NG-1 and RC-0 (linked automatically), and an unrelated Jane Doe (RC-5)."""
    feed("NG-1^^^NORTHGEN")
    feed("RC-0^^^RIVERCL", "SMITH^JON^^^^^L", sender=RC)
    feed(
        "RC-5^^^RIVERCL",
        "DOE^JANE^^^^^L",
        sender=RC,
        birth="19850101",
        sex="F",
        address="1 ELM ST^^CAPITAL CITY^^10001^^H",
        phone="",
    )
    with ctx.store.unit_of_work(readonly=True) as uow:
        link = uow.links.get(SourceRecordRef("NORTHGEN", "NG-1"))
    assert link is not None
    return link.enterprise_id


def _fhir(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def _outcome(response: Any, status: int) -> OperationOutcome:
    outcome = OperationOutcome.model_validate(_fhir(response, status))
    assert outcome.issue[0].severity == "error"
    return outcome


# -- PIXm ------------------------------------------------------------------------------------------


def test_pixm_returns_the_other_ids_and_the_patient(client: TestClient, john: str) -> None:
    body = _fhir(client.get(PIX, params={"sourceIdentifier": f"urn:oid:{NG_OID}|NG-1"}))
    params = Parameters.model_validate(body)
    targets = [
        (p.valueIdentifier.system, p.valueIdentifier.value)
        for p in params.parameter
        if p.name == "targetIdentifier"
    ]
    assert targets == [(f"urn:oid:{MPI_OID}", john), (f"urn:oid:{RC_OID}", "RC-0")]
    refs = [p.valueReference.reference for p in params.parameter if p.name == "targetId"]
    assert refs == [f"Patient/{john}"]


def test_pixm_target_system_restricts_the_ids(client: TestClient, john: str) -> None:
    params = {"sourceIdentifier": f"urn:oid:{RC_OID}|RC-0", "targetSystem": f"urn:oid:{NG_OID}"}
    body = Parameters.model_validate(_fhir(client.get(PIX, params=params)))
    values = [p.valueIdentifier.value for p in body.parameter if p.name == "targetIdentifier"]
    assert values == ["NG-1"]
    # By namespace, and two systems at once (repeated and comma-separated).
    for query in (
        f"sourceIdentifier=RIVERCL|RC-0&targetSystem=urn:oid:{NG_OID}&targetSystem=urn:oid:{MPI_OID}",
        f"sourceIdentifier=RIVERCL|RC-0&targetSystem=urn:oid:{NG_OID},urn:oid:{MPI_OID}",
    ):
        body = Parameters.model_validate(_fhir(client.get(f"{PIX}?{query}")))
        values = [p.valueIdentifier.value for p in body.parameter if p.name == "targetIdentifier"]
        assert values == [john, "NG-1"]


def test_pixm_known_id_without_ids_in_the_targets_is_an_empty_parameters(
    client: TestClient, john: str
) -> None:
    params = {"sourceIdentifier": f"urn:oid:{NG_OID}|NG-1", "targetSystem": f"urn:oid:{NATID_OID}"}
    body = _fhir(client.get(PIX, params=params))
    assert body == {"resourceType": "Parameters"}
    Parameters.model_validate(body)


@pytest.mark.parametrize(
    ("params", "status", "code", "text"),
    [
        (
            {"sourceIdentifier": "urn:oid:1.2.3.4|NG-1"},
            400,
            "code-invalid",
            "sourceIdentifier Assigning Authority not found",
        ),
        (
            {"sourceIdentifier": f"urn:oid:{NG_OID}|NG-1", "targetSystem": "urn:oid:9.9.9"},
            403,
            "code-invalid",
            "targetSystem not found",
        ),
        (
            {"sourceIdentifier": f"urn:oid:{NG_OID}|NG-404"},
            404,
            "not-found",
            "sourceIdentifier Patient Identifier not found",
        ),
        ({"sourceIdentifier": "NG-1"}, 400, "invalid", "must be 'system|value'"),
        ({"sourceIdentifier": f"urn:oid:{NG_OID}|"}, 400, "invalid", "must be 'system|value'"),
        ({}, 422, "invalid", "query.sourceIdentifier: Field required"),
    ],
)
def test_pixm_errors_follow_the_profile(
    client: TestClient, john: str, params: dict[str, str], status: int, code: str, text: str
) -> None:
    outcome = _outcome(client.get(PIX, params=params), status)
    assert outcome.issue[0].code == code
    assert text in (outcome.issue[0].diagnostics or "")


# -- PDQm ------------------------------------------------------------------------------------------


def _bundle(client: TestClient, params: dict[str, Any]) -> Bundle:
    body = _fhir(client.get("/fhir/Patient", params=params))
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset"
    return bundle


@pytest.mark.parametrize(
    "params",
    [
        {"family": "smith"},
        {"family": "SMI", "given": "jo"},
        {"family:exact": "Smith", "birthdate": "1970-04-12"},
        {"birthdate": "1970-04", "gender": "male"},
        {"identifier": f"urn:oid:{NG_OID}|NG-1"},
        {"identifier": "RIVERCL|RC-0"},
        {"family": "smith", "address-city": "spring", "address-postalcode": "62701"},
        {"family": "smith", "address": "12 high"},
        {"telecom": "phone|(217)555-0101"},
    ],
)
def test_pdqm_finds_the_person_with_a_score(
    client: TestClient, john: str, params: dict[str, str]
) -> None:
    bundle = _bundle(client, params)
    assert bundle.total == 1 and bundle.entry is not None
    entry = bundle.entry[0]
    assert entry.fullUrl == f"http://testserver/fhir/Patient/{john}"
    assert entry.search.mode == "match" and 0.0 <= float(entry.search.score) <= 1.0
    patient = Patient.model_validate(entry.resource.model_dump())
    assert patient.id == john and patient.gender == "male"
    assert str(patient.birthDate) == "1970-04-12"
    systems = {(i.system, i.value) for i in patient.identifier}
    assert {(f"urn:oid:{NG_OID}", "NG-1"), (f"urn:oid:{RC_OID}", "RC-0")} <= systems
    assert patient.name[0].family.upper() == "SMITH"


def test_pdqm_no_match_is_an_empty_bundle(client: TestClient, john: str) -> None:
    for params in ({"family": "nobody"}, {"family": "smith", "address-city": "Capital"}):
        bundle = _bundle(client, params)
        assert bundle.total == 0 and not bundle.entry


def test_pdqm_count_pages_with_a_next_link(client: TestClient, john: str) -> None:
    query = {"identifier": f"urn:oid:{RC_OID}|", "_count": 1}  # everyone with a RIVERCL id
    first = _bundle(client, query)
    assert first.total == 2 and first.entry is not None and len(first.entry) == 1
    nxt = [link.url for link in first.link if link.relation == "next"]
    assert len(nxt) == 1 and "_offset=1" in nxt[0]
    rest = _bundle(client, {**query, "_offset": 1})
    assert rest.total == 2 and rest.entry is not None and len(rest.entry) == 1
    assert rest.entry[0].resource.id != first.entry[0].resource.id
    assert not [link for link in rest.link if link.relation == "next"]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({}, 400, "give at least one of"),
        ({"gender": "female"}, 400, "search is too broad"),
        ({"address-city": "spring"}, 400, "search is too broad"),
        ({"identifier": "urn:oid:9.9.9|X1"}, 404, "identifier domain not recognized"),
        ({"birthdate": "1970-13-01"}, 400, "birth date: '1970-13-01' must be"),
        ({"birthdate": "gt1970"}, 400, "birth date: 'gt1970' must be"),
        ({"gender": "m"}, 400, "gender: 'm' must be male, female, other or unknown"),
        ({"family": "smith", "_count": 0}, 422, "query._count: Input should be greater than"),
        (
            {"family": "smith", "_count": "many"},
            422,
            "query._count: Input should be a valid integer",
        ),
    ],
)
def test_pdqm_bad_parameters_are_operation_outcomes(
    client: TestClient, john: str, params: dict[str, Any], status: int, text: str
) -> None:
    outcome = _outcome(client.get("/fhir/Patient", params=params), status)
    assert text in (outcome.issue[0].diagnostics or ""), outcome


# -- Patient read ----------------------------------------------------------------------------------


def test_patient_read_is_the_merged_view(client: TestClient, john: str) -> None:
    patient = Patient.model_validate(_fhir(client.get(f"/fhir/Patient/{john}")))
    assert patient.id == john and patient.active is True
    assert [(i.system, i.value) for i in patient.identifier] == [
        (f"urn:oid:{MPI_OID}", john),
        (f"urn:oid:{NG_OID}", "NG-1"),
        (f"urn:oid:{RC_OID}", "RC-0"),
    ]
    assert patient.name[0].family == "SMITH" and patient.gender == "male"
    assert str(patient.birthDate) == "1970-04-12"
    assert patient.address[0].city == "SPRINGFIELD"


def test_a_merged_patient_is_inactive_and_replaced_by_its_survivor(
    client: TestClient, john: str, ctx: ServiceContext
) -> None:
    with ctx.store.unit_of_work(readonly=True) as uow:
        jane_link = uow.links.get(SourceRecordRef("RIVERCL", "RC-5"))
    assert jane_link is not None
    jane = jane_link.enterprise_id
    r = client.post(f"/api/persons/{john}/merge", json={"from": jane}, headers=auth(ADMIN))
    assert r.status_code == 200
    patient = Patient.model_validate(_fhir(client.get(f"/fhir/Patient/{jane}")))
    assert patient.active is False
    assert patient.link[0].type == "replaced-by"
    assert patient.link[0].other.reference == f"Patient/{john}"


def test_unknown_patient_and_route_are_operation_outcomes(client: TestClient) -> None:
    outcome = _outcome(client.get("/fhir/Patient/E000000777"), 404)
    assert outcome.issue[0].code == "not-found"
    outcome = _outcome(client.get("/fhir/Observation"), 404)
    assert outcome.issue[0].code == "not-found"
