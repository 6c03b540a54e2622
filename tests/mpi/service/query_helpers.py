"""Builders for the PIX/PDQ tests: patients registered through the repositories, query messages."""

from __future__ import annotations

from dataclasses import asdict, replace

from hl7.codec import Message, decode
from hl7.messages import PdqCancel, PdqQuery, PixQuery, parse_request
from hl7.model import (
    Address,
    AssigningAuthority,
    Identifier,
    PatientDemographics,
    PersonName,
    Telecom,
)
from matching.defaults import default_model
from matching.scalar import ScalarMatcher
from mpi.domain import LinkMethod, NewSourceRecord, SourceRecordRef
from mpi.store import Store

_MATCHER = ScalarMatcher(default_model())

__all__ = [
    "Address",
    "PersonName",
    "Telecom",
    "add_patient",
    "merge_ids",
    "parsed",
    "patient",
    "pdq_message",
    "pix_message",
]


def patient(
    family: str = "SMITH",
    given: str = "JOHN",
    *,
    birth_date: str | None = "19700412",
    sex: str | None = "M",
    **more: object,
) -> PatientDemographics:
    """Demographics with a legal name (more fields by keyword)."""
    values: dict[str, object] = {"names": (PersonName(family, given, name_type="L"),)}
    values.update(more)
    return PatientDemographics(birth_date=birth_date, sex=sex, **values)  # type: ignore[arg-type]


def add_patient(
    store: Store,
    domain: str,
    source_id: str,
    demographics: PatientDemographics | None = None,
    *,
    person: str | None = None,
    carried: tuple[SourceRecordRef, ...] = (),
    mother: SourceRecordRef | None = None,
) -> str:
    """Register a record (with its blocking keys, and its mother if given) and link it.

    Returns:
        The enterprise id of ``person``, or of a new person if ``None``.
    """
    ref = SourceRecordRef(domain, source_id)
    p = demographics if demographics is not None else patient()
    p = replace(
        p, identifiers=(Identifier(source_id, AssigningAuthority(domain), "MR"), *p.identifiers)
    )
    with store.unit_of_work() as uow:
        record = p.to_record(str(ref))
        uow.records.add(NewSourceRecord(ref, record, asdict(p), carried))
        uow.blocking.replace(ref, _MATCHER.blocking_keys(record))
        if mother is not None:
            uow.relations.add_mother(ref, mother)
        eid = person if person is not None else uow.persons.create().enterprise_id
        uow.links.link(ref, eid, score=1.0, method=LinkMethod.AUTO)
        uow.commit()
    return eid


def merge_ids(store: Store, prior: SourceRecordRef, survivor: SourceRecordRef) -> None:
    """What an A40 leaves in the store: the prior id subsumed by the survivor."""
    with store.unit_of_work() as uow:
        uow.records.subsume(prior, survivor)
        uow.commit()


def pix_message(
    pid3: str,
    domains: str = "",
    *,
    control_id: str = "Q1",
    tag: str = "TAG-1",
    charset: str = "",
) -> bytes:
    """A ``QBP^Q23`` (2.5)."""
    msh18 = f"||||||{charset}" if charset else ""
    text = (
        f"MSH|^~\\&|PIX_CONSUMER|CITYHIE|EMPI|MPIHOST|20260101120000||QBP^Q23^QBP_Q21|{control_id}|P|2.5{msh18}\r"
        f"QPD|IHE PIX Query|{tag}|{pid3}|{domains}\r"
        "RCP|I\r"
    )
    return text.encode("ascii")


def pdq_message(
    params: str,
    domains: str = "",
    *,
    limit: int | None = None,
    pointer: str | None = None,
    control_id: str = "P1",
    tag: str = "PDQ-1",
    charset: str = "",
    extra_qpd: str = "",
    sender: str = "PDQ_CONSUMER|CITYHIE",
) -> bytes:
    """A ``QBP^Q22`` (2.5), encoded in ``charset`` (its MSH-18)."""
    msh18 = f"||||||{charset}" if charset else ""
    rcp = f"RCP|I|{limit}^RD" if limit is not None else "RCP|I"
    qpd_tail = extra_qpd or "|||"  # QPD-4..QPD-7
    text = (
        f"MSH|^~\\&|{sender}|EMPI|MPIHOST|20260101120000||QBP^Q22^QBP_Q21|{control_id}|P|2.5{msh18}\r"
        f"QPD|IHE PDQ Query|{tag}|{params}|{qpd_tail}|{domains}\r"
        f"{rcp}\r"
    )
    if pointer is not None:
        text += f"DSC|{pointer}|I\r"
    codec = {"": "ascii", "UNICODE UTF-8": "utf-8", "8859/1": "latin-1"}[charset]
    return text.encode(codec)


def cancel_message(tag: str = "PDQ-1", *, sender: str = "PDQ_CONSUMER|CITYHIE") -> bytes:
    """A ``QCN^J01`` (2.5)."""
    return (
        f"MSH|^~\\&|{sender}|EMPI|MPIHOST|20260101120000||QCN^J01^QCN_J01|C1|P|2.5\r"
        f"QID|{tag}|IHE PDQ Query\r"
    ).encode("ascii")


def parsed(raw: bytes) -> PixQuery | PdqQuery | PdqCancel:
    """The request the router would hand to a handler."""
    request = parse_request(decode(raw))
    assert isinstance(request, PixQuery | PdqQuery | PdqCancel)
    return request


def answer(raw: bytes) -> Message:
    """A decoded answer."""
    return decode(raw)
