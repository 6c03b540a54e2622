"""FHIR R4 routes: PIXm ``$ihe-pix`` (ITI-83), PDQm search (ITI-78), ``Patient`` read.

Error answers are ``OperationOutcome`` resources, with the status codes of the
IHE PIXm profile (ITI-83 3.83.4.2.2):

* the sourceIdentifier's domain is unknown: 400, ``code-invalid``,
  "sourceIdentifier Assigning Authority not found";
* a targetSystem is unknown: 403, ``code-invalid``, "targetSystem not found";
* the sourceIdentifier is unknown in its domain: 404, ``not-found``,
  "sourceIdentifier Patient Identifier not found";
* known, but no id in the target systems: 200 with an empty ``Parameters``.

PDQm (ITI-78 3.78.4.2.3): a search whose ``identifier`` names a domain the
index does not know is 404 with an ``OperationOutcome`` (case 4); a malformed
or too broad search is 400.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from mpi.api.deps import READER_REQUIRED, ServicesDep
from mpi.api.fhir import (
    FHIR_JSON,
    bundle,
    domain_name,
    operation_outcome,
    parameters,
    patient_from_demographics,
    patient_from_view,
)
from mpi.errors import (
    InvalidQuery,
    NotFound,
    UnknownIdentifier,
    UnknownRequestedDomains,
    UnknownSourceDomain,
)
from mpi.service.pdq import (
    IdentifierCriterion,
    PdqCriteria,
    parse_birth_date_criterion,
)

# Patient data: lookups need a reader's token like the rest of the API (only
# /health and /metrics are open).
router = APIRouter(prefix="/fhir", tags=["fhir"], dependencies=[READER_REQUIRED])

_OUTCOME_EXAMPLE = operation_outcome("code-invalid", "targetSystem not found")
_PARAMETERS_EXAMPLE = {
    "resourceType": "Parameters",
    "parameter": [
        {
            "name": "targetIdentifier",
            "valueIdentifier": {
                "system": "urn:oid:2.999.10.2",
                "value": "RC-77",
                "assigner": {"display": "RIVERCL"},
            },
        },
        {"name": "targetId", "valueReference": {"reference": "Patient/E000000001"}},
    ],
}
_PATIENT_EXAMPLE = {
    "resourceType": "Patient",
    "id": "E000000001",
    "active": True,
    "identifier": [{"system": "urn:oid:2.999.10.1", "value": "NG-1001"}],
    "name": [{"family": "Smith", "given": ["John"], "use": "official"}],
    "gender": "male",
    "birthDate": "1970-04-12",
}


def _fhir(content: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=FHIR_JSON)


def _outcome(status: int, code: str, text: str) -> JSONResponse:
    return _fhir(operation_outcome(code, text), status)


def _responses(ok_example: dict[str, Any], *errors: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        200: {"content": {FHIR_JSON: {"example": ok_example}}, "description": "the resource"}
    }
    for status in errors:
        out[status] = {
            "content": {FHIR_JSON: {"example": _OUTCOME_EXAMPLE}},
            "description": "an OperationOutcome",
        }
    return out


@router.get(
    "/Patient/$ihe-pix",
    summary="PIXm cross-reference query (ITI-83)",
    response_class=JSONResponse,
    responses=_responses(_PARAMETERS_EXAMPLE, 400, 403, 404, 422),
)
def pixm(
    services: ServicesDep,
    source_identifier: Annotated[
        str,
        Query(
            alias="sourceIdentifier",
            min_length=3,
            max_length=512,
            description="``urn:oid:<OID>|<value>`` (or ``<namespace>|<value>``)",
            examples=["urn:oid:2.999.10.1|NG-1001"],
        ),
    ],
    target_system: Annotated[
        list[str] | None,
        Query(
            alias="targetSystem",
            description="``urn:oid:<OID>`` of each domain to return ids of (all if absent)",
            examples=[["urn:oid:2.999.10.2"]],
        ),
    ] = None,
) -> JSONResponse:
    """The ids of the patient in other domains, as a ``Parameters`` resource."""
    system, sep, value = source_identifier.partition("|")
    if not sep or not system or not value:
        return _outcome(
            400,
            "invalid",
            f"sourceIdentifier: {source_identifier!r} must be 'system|value' "
            "(e.g. urn:oid:1.2.3|12345)",
        )
    targets = [t.strip() for item in target_system or [] for t in item.split(",")]
    if any(not t for t in targets):
        return _outcome(400, "invalid", "targetSystem: must not be empty")
    try:
        result = services.pix.query(value, domain_name(system), [domain_name(t) for t in targets])
    except UnknownSourceDomain:
        return _outcome(400, "code-invalid", "sourceIdentifier Assigning Authority not found")
    except UnknownRequestedDomains:
        return _outcome(403, "code-invalid", "targetSystem not found")
    except UnknownIdentifier:
        return _outcome(404, "not-found", "sourceIdentifier Patient Identifier not found")
    return _fhir(parameters(result.identifiers, result.enterprise_id))


_GENDERS = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


def _string_criterion(value: str | None, exact: str | None) -> str | None:
    """FHIR string search: starts-with by default, ``:exact`` for the whole value."""
    if exact:
        return exact
    if value:
        return value if value.endswith("*") else f"{value}*"
    return None


def _criteria(
    family: str | None,
    family_exact: str | None,
    given: str | None,
    given_exact: str | None,
    birthdate: str | None,
    gender: str | None,
    identifier: str | None,
) -> PdqCriteria:
    """The PDQ criteria of a PDQm search.

    Raises:
        InvalidQuery: a malformed value.
    """
    birth = None
    if birthdate:
        text = birthdate[2:] if birthdate.startswith("eq") else birthdate
        birth = parse_birth_date_criterion(text)
    sex = None
    if gender:
        sex = _GENDERS.get(gender.lower())
        if sex is None:
            raise InvalidQuery(
                "gender", gender, "must be male, female, other or unknown", kind="malformed"
            )
    ident = None
    if identifier:
        system, sep, value = identifier.partition("|")
        if not sep:
            system, value = "", identifier
        if not system and not value:
            raise InvalidQuery("identifier", identifier, "must be [system|]value", kind="malformed")
        ident = IdentifierCriterion(value, domain_name(system) if system else domain_name(""))
    return PdqCriteria(
        identifier=ident,
        family_name=_string_criterion(family, family_exact),
        given_name=_string_criterion(given, given_exact),
        birth_date=birth,
        sex=sex,
    )


@router.get(
    "/Patient",
    summary="PDQm patient search (ITI-78)",
    response_class=JSONResponse,
    responses=_responses(
        {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": []}, 400, 404, 422
    ),
)
def pdqm(
    request: Request,
    services: ServicesDep,
    family: Annotated[
        str | None, Query(max_length=200, description="starts with (case, accents ignored)")
    ] = None,
    family_exact: Annotated[str | None, Query(alias="family:exact", max_length=200)] = None,
    given: Annotated[str | None, Query(max_length=200, description="starts with")] = None,
    given_exact: Annotated[str | None, Query(alias="given:exact", max_length=200)] = None,
    birthdate: Annotated[
        str | None,
        Query(max_length=12, description="YYYY, YYYY-MM or YYYY-MM-DD (eq only)"),
    ] = None,
    gender: Annotated[
        str | None, Query(max_length=10, description="male | female | other | unknown")
    ] = None,
    identifier: Annotated[
        str | None,
        Query(
            max_length=512, description="``system|value``", examples=["urn:oid:2.999.10.1|NG-1001"]
        ),
    ] = None,
    address: Annotated[str | None, Query(max_length=200, description="street, starts with")] = None,
    address_city: Annotated[
        str | None, Query(alias="address-city", max_length=200, examples=["Springfield"])
    ] = None,
    address_state: Annotated[str | None, Query(alias="address-state", max_length=200)] = None,
    address_postalcode: Annotated[
        str | None, Query(alias="address-postalcode", max_length=20, examples=["62701"])
    ] = None,
    address_country: Annotated[str | None, Query(alias="address-country", max_length=100)] = None,
    telecom: Annotated[
        str | None,
        Query(max_length=100, description="phone number (``phone|`` prefix allowed)"),
    ] = None,
    mothers_maiden_name: Annotated[
        str | None, Query(alias="mothersMaidenName", max_length=200, description="starts with")
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 50,
    offset: Annotated[int, Query(alias="_offset", ge=0, le=100_000)] = 0,
) -> JSONResponse:
    """Persons matching every criterion, best first, as a ``searchset`` Bundle with scores."""
    try:
        criteria = replace(
            _criteria(family, family_exact, given, given_exact, birthdate, gender, identifier),
            street=_string_criterion(address, None),
            city=_string_criterion(address_city, None),
            state=_string_criterion(address_state, None),
            postcode=_string_criterion(address_postalcode, None),
            country=_string_criterion(address_country, None),
            phone=telecom.removeprefix("phone|") if telecom else None,
            mother_maiden_name=_string_criterion(mothers_maiden_name, None),
        )
        if criteria.is_empty:
            return _outcome(
                400,
                "required",
                "search: give at least one of family, given, birthdate, gender, identifier, "
                "address, address-city, address-state, address-postalcode, address-country, "
                "telecom, mothersMaidenName",
            )
        hits = services.pdq.search(criteria)
    except InvalidQuery as e:
        if e.kind == "too-broad":
            return _outcome(400, "too-costly", f"search is too broad: {e.rule}")
        return _outcome(400, "invalid", str(e))
    except NotFound as e:  # PDQm case 4: the identifier's domain is not recognized
        return _outcome(404, "not-found", f"identifier domain not recognized ({e})")
    hits = [h for h in hits if h.enterprise_id is not None]
    page = services.pdq.load(hits[offset : offset + count])
    base = str(request.base_url).rstrip("/")
    entries = []
    for match in page:
        eid = match.hit.enterprise_id
        assert eid is not None
        resource = patient_from_demographics(eid, match.patient, match.hit.identifiers)
        entries.append((f"{base}/fhir/Patient/{eid}", resource, match.score))
    self_url = str(request.url)
    next_url = None
    if offset + count < len(hits):
        next_url = str(request.url.include_query_params(_offset=offset + count))
    return _fhir(bundle(entries, len(hits), self_url, next_url))


@router.get(
    "/Patient/{patient_id}",
    summary="Read a Patient (the person's merged view)",
    response_class=JSONResponse,
    responses=_responses(_PATIENT_EXAMPLE, 404),
)
def read_patient(
    services: ServicesDep,
    patient_id: Annotated[
        str,
        Path(min_length=1, max_length=64, description="the enterprise id", examples=["E000000001"]),
    ],
) -> JSONResponse:
    """The golden view of the person with this enterprise id; a merged one links its survivor."""
    try:
        view = services.stewardship.view(patient_id)
    except NotFound:
        return _outcome(404, "not-found", f"Patient/{patient_id} is not known")
    registry = services.pix.registry
    domains = {r.ref.domain: registry.require(r.ref.domain) for r in view.records}
    return _fhir(patient_from_view(view, domains, registry.enterprise()))
