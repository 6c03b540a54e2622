"""Readers and writers for the composite data types the MPI uses: HD, CX, XPN, XAD, XTN.

Readers take a :class:`~hl7.codec.Segment` and a position and return the
values of :mod:`hl7.model`; writers return encoder values for
:func:`~hl7.codec.encode_segment`.
"""

from __future__ import annotations

from hl7.codec import Component, Repeated, Repetition, Segment
from hl7.model import Address, AssigningAuthority, Identifier, PersonName, Telecom

__all__ = [
    "address_from",
    "cx_from",
    "hd_from",
    "name_from",
    "read_address",
    "read_cx",
    "read_hd",
    "read_hd_subcomponents",
    "read_name",
    "read_telecom",
    "telecom_from",
    "write_address",
    "write_cx",
    "write_hd",
    "write_name",
    "write_repeated",
    "write_telecom",
]


def _at(comps: list[list[str]], component: int, subcomponent: int = 0) -> str:
    """0-based lookup in a parsed repetition, stripped; ``""`` when absent."""
    if component < len(comps):
        subs = comps[component]
        if subcomponent < len(subs):
            return subs[subcomponent].strip()
    return ""


def _firsts(comps: list[list[str]], size: int) -> list[str]:
    """The first subcomponent of each component, stripped, padded to ``size``."""
    values = [comp[0].strip() for comp in comps]
    if len(values) < size:
        values += _PAD[: size - len(values)]
    return values


_PAD = [""] * 16


def read_hd(segment: Segment, field: int) -> AssigningAuthority:
    """An HD held in a whole field (components), e.g. MSH-3."""
    c = segment.repetition(field)
    if not c:
        return _EMPTY_HD
    v = _firsts(c, 3)
    return AssigningAuthority(v[0], v[1], v[2])


_EMPTY_HD = AssigningAuthority()


def read_hd_subcomponents(
    segment: Segment, field: int, repetition: int, component: int
) -> AssigningAuthority:
    """An HD held in one component (subcomponents), e.g. CX.4."""
    return hd_from(segment.repetition(field, repetition), component)


def hd_from(comps: list[list[str]], component: int) -> AssigningAuthority:
    """An HD in the subcomponents of component ``component`` (1-based) of a parsed repetition."""
    i = component - 1
    if i >= len(comps):
        return _EMPTY_HD
    return AssigningAuthority(_at(comps, i, 0), _at(comps, i, 1), _at(comps, i, 2))


def read_cx(segment: Segment, field: int, repetition: int = 1) -> Identifier:
    """A CX repetition: CX.1 id, CX.4 authority, CX.5 type code."""
    return cx_from(segment.repetition(field, repetition))


def cx_from(comps: list[list[str]]) -> Identifier:
    """A CX from a parsed repetition (see :meth:`~hl7.codec.Segment.repetitions`)."""
    if not comps:
        return _EMPTY_CX
    v = _firsts(comps, 5)
    return Identifier(v[0], hd_from(comps, 4), v[4])


_EMPTY_CX = Identifier("")


def read_name(segment: Segment, field: int, repetition: int = 1) -> PersonName:
    """An XPN repetition."""
    return name_from(segment.repetition(field, repetition))


def name_from(comps: list[list[str]]) -> PersonName:
    """An XPN from a parsed repetition."""
    if not comps:
        return _EMPTY_NAME
    v = _firsts(comps, 7)
    return PersonName(v[0], v[1], v[2], v[3], v[4], v[6])


_EMPTY_NAME = PersonName()


def read_address(segment: Segment, field: int, repetition: int = 1) -> Address:
    """An XAD repetition."""
    return address_from(segment.repetition(field, repetition))


def address_from(comps: list[list[str]]) -> Address:
    """An XAD from a parsed repetition."""
    v = _firsts(comps, 7)
    return Address(v[0], v[1], v[2], v[3], v[4], v[5], v[6])


def read_telecom(segment: Segment, field: int, repetition: int = 1) -> Telecom:
    """An XTN repetition; see :class:`~hl7.model.Telecom` for where the number comes from."""
    return telecom_from(segment.repetition(field, repetition))


def telecom_from(comps: list[list[str]]) -> Telecom:
    """An XTN from a parsed repetition."""
    v = _firsts(comps, 12)
    number = v[0] or v[11] or (v[5] + v[6])
    return Telecom(number, v[1], v[2], v[3])


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
