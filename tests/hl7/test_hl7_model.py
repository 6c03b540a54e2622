"""Domain values, PID mapping edge cases and the error tree."""

from __future__ import annotations

import pytest

from hl7.codec import decode, encode_message
from hl7.errors import (
    AckCode,
    DataTypeError,
    ErrorCode,
    ErrorLocation,
    FramingError,
    Hl7Error,
    InternalError,
    Severity,
    UnknownKeyError,
    UnsupportedEventError,
)
from hl7.model import (
    Address,
    AssigningAuthority,
    Identifier,
    PatientDemographics,
    PersonName,
    Telecom,
)
from hl7.pid import PSEUDONYM_NAMES, read_pid, write_pid


def pid_of(fields: dict[int, str]):  # type: ignore[no-untyped-def]
    values = [""] * (max(fields) + 1)
    for n, v in fields.items():
        values[n] = v
    text = "PID" + "|".join(values)
    seg = decode(f"MSH|^~\\&|A\r{text}\r".encode()).segment("PID")
    assert seg is not None
    return seg


def test_primary_name_prefers_legal_then_first_non_empty() -> None:
    p = PatientDemographics(
        names=(PersonName("ALIAS", name_type="A"), PersonName("LEGAL", name_type="L"))
    )
    assert p.primary_name == PersonName("LEGAL", name_type="L")
    assert PatientDemographics(
        names=(PersonName(name_type="L"), PersonName("X"))
    ).primary_name == PersonName("X")
    assert PatientDemographics().primary_name is None


def test_to_record_maps_sex_codes_and_empty_values() -> None:
    for code, mapped in [("A", "O"), ("N", "U"), ("F", "F"), ("Z", None), (None, None)]:
        assert PatientDemographics(sex=code).to_record("r").sex == mapped
    rec = PatientDemographics(
        names=(PersonName(" ", "ANNA"),),
        home_phones=(Telecom("", "NET", "Internet", "a@b.c"),),
        business_phones=(Telecom("555", "WPN"),),
        addresses=(Address(city="X"), Address(street="SECOND")),
        national_id=Identifier("99", AssigningAuthority("SSN")),
    ).to_record("r")
    assert (rec.family_name, rec.given_name, rec.phone, rec.email) == (None, "ANNA", None, "a@b.c")
    assert (rec.city, rec.street, rec.national_id) == ("X", None, "99")


def test_pid_national_id_as_cx_with_domain() -> None:
    p = read_pid(pid_of({3: "A^^^NS", 5: "N^G", 19: "999^^^SSA&2.16.840.1.113883.4.1&ISO"}))
    assert p.national_id == Identifier(
        "999", AssigningAuthority("SSA", "2.16.840.1.113883.4.1", "ISO")
    )


def test_pid_xtn_number_from_components() -> None:
    p = read_pid(pid_of({3: "A", 5: "N", 13: "^PRN^PH^^49^30^1234567~^PRN^PH^^^^^^^^^0301111"}))
    assert [t.number for t in p.home_phones] == ["301234567", "0301111"]


def test_pid_skips_empty_repetitions() -> None:
    p = read_pid(pid_of({3: "~A^^^NS~", 5: "~N^G~", 11: "~^^^^^^H~X ST"}))
    assert [i.id for i in p.identifiers] == ["A"]
    assert [n.family for n in p.names] == ["N"]
    assert [a.street for a in p.addresses] == ["X ST"]


@pytest.mark.parametrize(("field", "value"), [(7, "1970-13"), (7, "19700230"), (25, "two")])
def test_pid_bad_values_are_data_type_errors(field: int, value: str) -> None:
    with pytest.raises(DataTypeError) as info:
        read_pid(pid_of({3: "A", field: value}))
    assert info.value.location is not None and info.value.location.field == field
    assert info.value.code == ErrorCode.DATA_TYPE and info.value.ack_code is AckCode.AE


def test_write_pid_identity_only_and_pseudonym() -> None:
    p = PatientDemographics(
        identifiers=(Identifier("1", AssigningAuthority("NS")),), names=PSEUDONYM_NAMES, sex="M"
    )
    raw = encode_message(
        [("MSH", [None, None, "A"]), write_pid(p, identity_only=True, set_id=None)]
    )
    assert raw.endswith(b"PID|||1^^^NS||~^^^^^^S\r")


def test_full_pid_round_trip() -> None:
    p = PatientDemographics(
        identifiers=(Identifier("1", AssigningAuthority("NS", "1.2", "ISO"), "MR"),),
        names=(PersonName("O|NEIL", "ANN^E", "M&M", "III", "MS", "L"),),
        mother_maiden_name=PersonName("SMITH", "J"),
        birth_date="1970",
        sex="F",
        addresses=(Address("1 A ST", "B", "C", "D", "E", "F", "H"),),
        home_phones=(Telecom("1", "PRN", "PH", "x@y.z"),),
        business_phones=(Telecom("2", "WPN"),),
        language="de",
        marital_status="S",
        national_id=Identifier("123"),
        mother_identifiers=(Identifier("M1", AssigningAuthority("NS")),),
        multiple_birth="Y",
        birth_order=2,
        death_indicator="N",
    )
    raw = encode_message([("MSH", [None, None, "A"]), write_pid(p)])
    assert read_pid(decode(raw).segment("PID")) == p  # type: ignore[arg-type]


def test_error_messages_name_field_value_and_rule() -> None:
    err = UnknownKeyError("QPD-3", "X1", "is not known", location=ErrorLocation("QPD", 1, 3, 1, 1))
    assert str(err) == "QPD-3: 'X1' is not known"
    assert (err.code, err.ack_code, err.severity) == (
        ErrorCode.UNKNOWN_KEY,
        AckCode.AE,
        Severity.ERROR,
    )
    assert str(err.location) == "QPD^1^3^1^1"
    assert str(ErrorLocation("MRG")) == "MRG^1"
    assert UnsupportedEventError("MSH-9.2", "A02", "no").ack_code is AckCode.AR
    assert InternalError("", None, "down").ack_code is AckCode.AR
    assert str(InternalError("", None, "down")) == "(empty) down"
    custom = Hl7Error("PID-8", "Q", "odd", code=ErrorCode.TABLE_VALUE, severity=Severity.WARNING)
    assert (custom.code, custom.ack_code, custom.severity) == (
        ErrorCode.TABLE_VALUE,
        AckCode.AE,
        Severity.WARNING,
    )
    assert isinstance(FramingError("oversize", "too big"), Hl7Error)
    assert ErrorCode.UNKNOWN_KEY.text == "Unknown Key Identifier"
