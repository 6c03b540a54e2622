"""Domain values read from and written to HL7 v2 messages.

Frozen dataclasses with plain-text fields: empty strings for absent
components (as HL7 itself has no null inside a component), ``None`` for an
absent optional whole value. :meth:`PatientDemographics.to_record` maps a PID
to the matcher's :class:`~matching.record.Record`.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.record import Record

__all__ = [
    "Address",
    "AssigningAuthority",
    "Identifier",
    "PatientDemographics",
    "PersonName",
    "Telecom",
]

# HL7 Table 0001 values and frequent local ones -> the matcher's M/F/O/U.
_SEX_TO_RECORD = {
    "M": "M",
    "F": "F",
    "O": "O",
    "A": "O",
    "D": "O",
    "X": "O",
    "U": "U",
    "N": "U",
}


@dataclass(frozen=True, slots=True)
class AssigningAuthority:
    """An HL7 HD value: an identity domain (CX.4), or an application/facility (MSH-3..6).

    Attributes:
        namespace: HD.1 namespace id, e.g. ``"NORTHGEN"``.
        universal_id: HD.2, e.g. an OID ``"2.999.10.1"``.
        universal_id_type: HD.3, e.g. ``"ISO"``.
    """

    namespace: str = ""
    universal_id: str = ""
    universal_id_type: str = ""

    @property
    def is_empty(self) -> bool:
        """Whether no component is filled."""
        return not (self.namespace or self.universal_id or self.universal_id_type)

    def __str__(self) -> str:
        return "&".join((self.namespace, self.universal_id, self.universal_id_type)).rstrip("&")


@dataclass(frozen=True, slots=True)
class Identifier:
    """An HL7 CX value: an id within an identity domain.

    Attributes:
        id: CX.1.
        authority: CX.4 (possibly partial: namespace only, OID only, or empty).
        type_code: CX.5 identifier type (Table 0203), e.g. ``"MR"``, ``"PI"``.
    """

    id: str
    authority: AssigningAuthority = AssigningAuthority()
    type_code: str = ""


@dataclass(frozen=True, slots=True)
class PersonName:
    """An HL7 XPN value.

    Attributes:
        family: XPN.1 (its first subcomponent, the surname).
        given: XPN.2.
        middle: XPN.3, second and further given names or initials.
        suffix: XPN.4, e.g. ``"JR"``.
        prefix: XPN.5, e.g. ``"DR"``.
        name_type: XPN.7 (Table 0200): ``L`` legal, ``M`` maiden, ``A`` alias,
            ``S`` pseudonym, ...
    """

    family: str = ""
    given: str = ""
    middle: str = ""
    suffix: str = ""
    prefix: str = ""
    name_type: str = ""

    @property
    def is_empty(self) -> bool:
        """Whether no name part is filled (the name type alone does not count)."""
        return not (self.family or self.given or self.middle or self.suffix or self.prefix)


@dataclass(frozen=True, slots=True)
class Address:
    """An HL7 XAD value.

    Attributes:
        street: XAD.1 (street address; its first subcomponent).
        other: XAD.2 other designation (apartment, c/o).
        city: XAD.3.
        state: XAD.4 state or province.
        postcode: XAD.5.
        country: XAD.6.
        type: XAD.7 (Table 0190), e.g. ``"H"`` home.
    """

    street: str = ""
    other: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class Telecom:
    """An HL7 XTN value.

    Attributes:
        number: XTN.1 as sent; when empty on input, XTN.12 (unformatted,
            2.5) or XTN.6 area code + XTN.7 local number.
        use: XTN.2 (Table 0201), e.g. ``PRN`` home, ``WPN`` work, ``NET``.
        equipment: XTN.3 (Table 0202), e.g. ``PH``, ``CP``, ``Internet``.
        email: XTN.4.
    """

    number: str = ""
    use: str = ""
    equipment: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class PatientDemographics:
    """Everything the MPI reads from (and writes to) a PID segment.

    Attributes:
        identifiers: PID-3, all repetitions.
        names: PID-5, all repetitions.
        mother_maiden_name: PID-6 (first repetition).
        birth_date: PID-7 as digits at the precision sent (``YYYY``,
            ``YYYYMM`` or ``YYYYMMDD``).
        sex: PID-8 as sent, upper-case (Table 0001: ``M F O U A N``).
        addresses: PID-11.
        home_phones: PID-13 (phones and e-mail addresses).
        business_phones: PID-14.
        language: PID-15.1.
        marital_status: PID-16.1.
        national_id: PID-19; a CX there keeps its domain.
        mother_identifiers: PID-21.
        multiple_birth: PID-24 (``Y``/``N``).
        birth_order: PID-25.
        death_indicator: PID-30 (``Y``/``N``).
    """

    identifiers: tuple[Identifier, ...] = ()
    names: tuple[PersonName, ...] = ()
    mother_maiden_name: PersonName | None = None
    birth_date: str | None = None
    sex: str | None = None
    addresses: tuple[Address, ...] = ()
    home_phones: tuple[Telecom, ...] = ()
    business_phones: tuple[Telecom, ...] = ()
    language: str | None = None
    marital_status: str | None = None
    national_id: Identifier | None = None
    mother_identifiers: tuple[Identifier, ...] = ()
    multiple_birth: str | None = None
    birth_order: int | None = None
    death_indicator: str | None = None

    @property
    def primary_name(self) -> PersonName | None:
        """The legal name (type ``L``) if there is one, else the first non-empty name."""
        names = [n for n in self.names if not n.is_empty]
        for name in names:
            if name.name_type == "L":
                return name
        return names[0] if names else None

    def to_record(self, record_id: str) -> Record:
        """The matcher's view of these demographics.

        Uses the primary name, the first address, the first home phone with a
        number, the first e-mail among the phones, the national id's value
        and PID-6's family name. Sex codes are mapped to ``M F O U``
        (``A``/``D``/``X`` → ``O``, ``N`` → ``U``; anything else is dropped).

        Args:
            record_id: the record's id, e.g. ``"NORTHGEN|NG-1"``.

        Returns:
            The record.
        """
        name = self.primary_name or PersonName()
        address = self.addresses[0] if self.addresses else Address()
        phones = self.home_phones + self.business_phones
        phone = next((t.number for t in self.home_phones if t.number), "")
        email = next((t.email for t in phones if t.email), "")
        mother = self.mother_maiden_name.family if self.mother_maiden_name else ""
        return Record(
            record_id=record_id,
            given_name=_opt(name.given),
            middle_name=_opt(name.middle),
            family_name=_opt(name.family),
            birth_date=self.birth_date,
            sex=_SEX_TO_RECORD.get(self.sex or ""),
            street=_opt(address.street),
            city=_opt(address.city),
            postcode=_opt(address.postcode),
            phone=_opt(phone),
            national_id=_opt(self.national_id.id if self.national_id else ""),
            mother_maiden_name=_opt(mother),
            email=_opt(email),
        )


def _opt(value: str) -> str | None:
    value = value.strip()
    return value or None
