"""Readers and writers for the composite data types the MPI uses: HD, CX, XPN, XAD, XTN.

Readers take a :class:`~hl7.codec.Segment` and a position and return the
values of :mod:`hl7.model`; writers return encoder values for
:func:`~hl7.codec.encode_segment`.
"""

from __future__ import annotations

from hl7.codec import Component, Repeated, Repetition, Segment
from hl7.model import Address, AssigningAuthority, Identifier, PersonName, Telecom

__all__ = [
    "read_address",
    "read_cx",
    "read_hd",
    "read_hd_subcomponents",
    "read_name",
    "read_telecom",
    "write_address",
    "write_cx",
    "write_hd",
    "write_name",
    "write_repeated",
    "write_telecom",
]


def read_hd(segment: Segment, field: int) -> AssigningAuthority:
    """An HD held in a whole field (components), e.g. MSH-3."""
    return AssigningAuthority(
        segment.get(field, 1, 1).strip(),
        segment.get(field, 1, 2).strip(),
        segment.get(field, 1, 3).strip(),
    )


def read_hd_subcomponents(
    segment: Segment, field: int, repetition: int, component: int
) -> AssigningAuthority:
    """An HD held in one component (subcomponents), e.g. CX.4."""
    return AssigningAuthority(
        segment.get(field, repetition, component, 1).strip(),
        segment.get(field, repetition, component, 2).strip(),
        segment.get(field, repetition, component, 3).strip(),
    )


def read_cx(segment: Segment, field: int, repetition: int = 1) -> Identifier:
    """A CX repetition: CX.1 id, CX.4 authority, CX.5 type code."""
    return Identifier(
        segment.get(field, repetition, 1).strip(),
        read_hd_subcomponents(segment, field, repetition, 4),
        segment.get(field, repetition, 5).strip(),
    )


def read_name(segment: Segment, field: int, repetition: int = 1) -> PersonName:
    """An XPN repetition."""
    g = segment.get
    return PersonName(
        family=g(field, repetition, 1).strip(),
        given=g(field, repetition, 2).strip(),
        middle=g(field, repetition, 3).strip(),
        suffix=g(field, repetition, 4).strip(),
        prefix=g(field, repetition, 5).strip(),
        name_type=g(field, repetition, 7).strip(),
    )


def read_address(segment: Segment, field: int, repetition: int = 1) -> Address:
    """An XAD repetition."""
    g = segment.get
    return Address(
        street=g(field, repetition, 1).strip(),
        other=g(field, repetition, 2).strip(),
        city=g(field, repetition, 3).strip(),
        state=g(field, repetition, 4).strip(),
        postcode=g(field, repetition, 5).strip(),
        country=g(field, repetition, 6).strip(),
        type=g(field, repetition, 7).strip(),
    )


def read_telecom(segment: Segment, field: int, repetition: int = 1) -> Telecom:
    """An XTN repetition; see :class:`~hl7.model.Telecom` for where the number comes from."""
    g = segment.get
    number = g(field, repetition, 1).strip()
    if not number:
        number = g(field, repetition, 12).strip()
    if not number:
        number = (g(field, repetition, 6) + g(field, repetition, 7)).strip()
    return Telecom(
        number=number,
        use=g(field, repetition, 2).strip(),
        equipment=g(field, repetition, 3).strip(),
        email=g(field, repetition, 4).strip(),
    )


def write_hd(authority: AssigningAuthority) -> list[str]:
    """HD components (for a whole field) or subcomponents (inside a CX.4)."""
    return [authority.namespace, authority.universal_id, authority.universal_id_type]


def write_cx(identifier: Identifier) -> list[Component]:
    """CX components: id, -, -, authority, type code."""
    return [identifier.id, None, None, write_hd(identifier.authority), identifier.type_code]


def write_name(name: PersonName) -> list[Component]:
    """XPN components."""
    return [name.family, name.given, name.middle, name.suffix, name.prefix, None, name.name_type]


def write_address(address: Address) -> list[Component]:
    """XAD components."""
    a = address
    return [a.street, a.other, a.city, a.state, a.postcode, a.country, a.type]


def write_telecom(telecom: Telecom) -> list[Component]:
    """XTN components: number, use, equipment, e-mail."""
    return [telecom.number, telecom.use, telecom.equipment, telecom.email]


def write_repeated(reps: list[Repetition]) -> Repeated | None:
    """A repeating field, or ``None`` when there is nothing to write."""
    return Repeated(tuple(reps)) if reps else None
