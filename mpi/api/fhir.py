"""FHIR R4 resources as JSON dicts: Patient, Parameters, Bundle, OperationOutcome.

Identifier systems: a domain with an OID is ``urn:oid:<OID>``; a domain without
one is ``urn:mpi:domain:<namespace>`` (accepted back in requests, as is the
bare namespace). ``Identifier.assigner.display`` names the domain's namespace.
The enterprise id (the ``Patient.id``) is an identifier of the enterprise
domain with ``use`` = ``official``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hl7.model import Address, PatientDemographics, PersonName, Telecom
from mpi.domain import IdentityDomain, PersonStatus
from mpi.service.pix import DomainName, PixIdentifier
from mpi.service.stewardship import PersonView

__all__ = [
    "FHIR_JSON",
    "OID_PREFIX",
    "bundle",
    "domain_name",
    "operation_outcome",
    "parameters",
    "patient_from_demographics",
    "patient_from_view",
    "system_of",
]

FHIR_JSON = "application/fhir+json"
OID_PREFIX = "urn:oid:"
_LOCAL_PREFIX = "urn:mpi:domain:"
_GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown"}


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An ``OperationOutcome`` with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": code,
                "details": {"text": diagnostics},
                "diagnostics": diagnostics,
            }
        ],
    }


def system_of(domain: IdentityDomain) -> str:
    """The FHIR identifier system of a domain."""
    return f"{OID_PREFIX}{domain.oid}" if domain.oid else f"{_LOCAL_PREFIX}{domain.namespace}"


def domain_name(system: str) -> DomainName:
    """A request's identifier system as a domain name (OID URN, local URN or namespace)."""
    if system.startswith(OID_PREFIX):
        return DomainName(oid=system[len(OID_PREFIX) :])
    if system.startswith(_LOCAL_PREFIX):
        return DomainName(namespace=system[len(_LOCAL_PREFIX) :])
    return DomainName(namespace=system)


def _identifier(value: str, domain: IdentityDomain) -> dict[str, Any]:
    out: dict[str, Any] = {
        "system": system_of(domain),
        "value": value,
        "assigner": {"display": domain.namespace},
    }
    if domain.enterprise:
        out["use"] = "official"
    return out


def parameters(identifiers: Sequence[PixIdentifier], enterprise_id: str | None) -> dict[str, Any]:
    """The ITI-83 answer: one ``targetIdentifier`` per id, and ``targetId`` (the Patient)."""
    items: list[dict[str, Any]] = [
        {"name": "targetIdentifier", "valueIdentifier": _identifier(i.id, i.domain)}
        for i in identifiers
    ]
    if enterprise_id is not None and identifiers:
        items.append(
            {"name": "targetId", "valueReference": {"reference": f"Patient/{enterprise_id}"}}
        )
    out: dict[str, Any] = {"resourceType": "Parameters"}
    if items:
        out["parameter"] = items
    return out


def _name(name: PersonName) -> dict[str, Any] | None:
    given = [g for g in (name.given, name.middle) if g]
    out: dict[str, Any] = {}
    if name.family:
        out["family"] = name.family
    if given:
        out["given"] = given
    if name.prefix:
        out["prefix"] = [name.prefix]
    if name.suffix:
        out["suffix"] = [name.suffix]
    if not out:
        return None
    out["use"] = {"L": "official", "M": "maiden", "N": "nickname", "S": "anonymous"}.get(
        name.name_type, "usual"
    )
    return out


def _address(address: Address) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    lines = [x for x in (address.street, address.other) if x]
    if lines:
        out["line"] = lines
    for key, value in (
        ("city", address.city),
        ("state", address.state),
        ("postalCode", address.postcode),
        ("country", address.country),
    ):
        if value:
            out[key] = value
    return out or None


def _telecoms(phones: Iterable[Telecom], use: str) -> list[dict[str, Any]]:
    out = []
    for t in phones:
        if t.number:
            out.append({"system": "phone", "value": t.number, "use": use})
        if t.email:
            out.append({"system": "email", "value": t.email})
    return out


def _date(digits: str | None) -> str | None:
    if not digits:
        return None
    parts = [digits[:4], digits[4:6], digits[6:8]]
    return "-".join(p for p in parts if p)


def patient_from_demographics(
    enterprise_id: str,
    patient: PatientDemographics,
    identifiers: Sequence[PixIdentifier],
) -> dict[str, Any]:
    """A PDQm ``Patient``: the best-matching record's demographics and the person's ids."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": enterprise_id,
        "active": True,
        "identifier": [_identifier(i.id, i.domain) for i in identifiers],
    }
    names = [n for n in (_name(n) for n in patient.names) if n]
    if names:
        resource["name"] = names
    telecom = _telecoms(patient.home_phones, "home") + _telecoms(patient.business_phones, "work")
    if telecom:
        resource["telecom"] = telecom
    if patient.sex in _GENDER:
        resource["gender"] = _GENDER[patient.sex]
    birth = _date(patient.birth_date[:8] if patient.birth_date else None)
    if birth:
        resource["birthDate"] = birth
    addresses = [a for a in (_address(a) for a in patient.addresses) if a]
    if addresses:
        resource["address"] = addresses
    if not resource["identifier"]:
        del resource["identifier"]
    return resource


def patient_from_view(
    view: PersonView, domains: dict[str, IdentityDomain], enterprise: IdentityDomain
) -> dict[str, Any]:
    """The person's merged view as a ``Patient``: golden values and every active id."""
    person = view.person
    golden = {g.field: g.value for g in view.golden}
    ids = [_identifier(person.enterprise_id, enterprise)]
    for record in view.records:
        if record.status.value == "active":
            domain = domains.get(record.ref.domain, IdentityDomain(record.ref.domain, None, None))
            ids.append(_identifier(record.ref.id, domain))
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person.enterprise_id,
        "active": person.status is PersonStatus.ACTIVE,
        "identifier": ids,
    }
    name = _name(
        PersonName(
            family=golden.get("family_name", ""),
            given=golden.get("given_name", ""),
            middle=golden.get("middle_name", ""),
            name_type="L",
        )
    )
    if name:
        resource["name"] = [name]
    telecom = []
    if golden.get("phone"):
        telecom.append({"system": "phone", "value": golden["phone"]})
    if golden.get("email"):
        telecom.append({"system": "email", "value": golden["email"]})
    if telecom:
        resource["telecom"] = telecom
    if golden.get("sex") in _GENDER:
        resource["gender"] = _GENDER[golden["sex"]]
    birth = _date(golden.get("birth_date"))
    if birth:
        resource["birthDate"] = birth
    address = _address(
        Address(
            street=golden.get("street", ""),
            city=golden.get("city", ""),
            postcode=golden.get("postcode", ""),
        )
    )
    if address:
        resource["address"] = [address]
    if person.merged_into:
        resource["link"] = [
            {"other": {"reference": f"Patient/{person.merged_into}"}, "type": "replaced-by"}
        ]
    return resource


def bundle(
    entries: Sequence[tuple[str, dict[str, Any], float]],
    total: int,
    self_url: str,
    next_url: str | None,
) -> dict[str, Any]:
    """A ``searchset`` Bundle; each entry is (fullUrl, resource, score)."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": full_url,
                "resource": resource,
                "search": {"mode": "match", "score": round(score, 4)},
            }
            for full_url, resource, score in entries
        ],
    }
