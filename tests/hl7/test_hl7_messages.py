"""Golden request messages → typed requests, and the precise errors of malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from hl7.codec import decode
from hl7.errors import (
    AckCode,
    CharsetError,
    DataTypeError,
    ErrorCode,
    ErrorLocation,
    Hl7Error,
    MissingFieldError,
    SegmentSequenceError,
)
from hl7.messages import (
    PatientFeed,
    PatientMerge,
    PdqCancel,
    PdqQuery,
    PixQuery,
    parse_request,
    peek_header,
    read_header_lenient,
)
from hl7.model import Address, AssigningAuthority, Identifier, PersonName, Telecom

GOLDEN = Path(__file__).parent / "golden"
NORTHGEN = AssigningAuthority("NORTHGEN", "2.999.10.1", "ISO")


def load(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def parse(name: str):  # type: ignore[no-untyped-def]
    return parse_request(decode(load(name)))


def test_a01_full_cx4_reads_every_pid_field() -> None:
    req = parse("adt_a01_231_full_cx4.hl7")
    assert isinstance(req, PatientFeed)
    h = req.header
    assert (h.message_code, h.trigger_event, h.structure) == ("ADT", "A01", "ADT_A01")
    assert (h.control_id, h.processing_id, h.version, h.charset) == ("NG000101", "P", "2.3.1", "")
    assert h.sending_application == AssigningAuthority("NG_ADT")
    assert h.receiving_facility == AssigningAuthority("MPIHOST")
    assert req.event == "A01" and req.recorded_at == "20240315101500"
    p = req.patient
    assert p.identifiers == (Identifier("NG-1001", NORTHGEN, "MR"),)
    assert p.names == (
        PersonName("SMITH", "JOHN", "ALBERT", "JR", "DR", "L"),
        PersonName("SMYTH", "JACK", name_type="A"),
    )
    assert p.mother_maiden_name == PersonName("JONES", "MARY")
    assert (p.birth_date, p.sex, p.language, p.marital_status) == ("19700412", "M", "EN", "M")
    assert p.addresses == (
        Address("12 HIGH STREET", "APT 3", "SPRINGFIELD", "IL", "62701", "USA", "H"),
    )
    assert p.home_phones == (
        Telecom("(217)555-0101", "PRN", "PH"),
        Telecom("", "NET", "Internet", "john.smith@example.org"),
    )
    assert p.business_phones == (Telecom("(217)555-0199", "WPN", "PH"),)
    assert p.national_id == Identifier("123-45-6789")
    assert (p.multiple_birth, p.birth_order, p.death_indicator) == ("N", 1, "N")


def test_a01_maps_to_a_matcher_record() -> None:
    rec = parse("adt_a01_231_full_cx4.hl7").patient.to_record("NORTHGEN|NG-1001")
    assert rec.record_id == "NORTHGEN|NG-1001"
    assert (rec.given_name, rec.middle_name, rec.family_name) == ("JOHN", "ALBERT", "SMITH")
    assert (rec.birth_date, rec.sex, rec.street, rec.city, rec.postcode) == (
        "19700412",
        "M",
        "12 HIGH STREET",
        "SPRINGFIELD",
        "62701",
    )
    assert (rec.phone, rec.email, rec.national_id, rec.mother_maiden_name) == (
        "(217)555-0101",
        "john.smith@example.org",
        "123-45-6789",
        "JONES",
    )


def test_a04_partial_authorities_and_month_precision() -> None:
    req = parse("adt_a04_231_partial_cx4.hl7")
    assert isinstance(req, PatientFeed) and req.event == "A04"
    assert req.patient.identifiers == (
        Identifier("NG-1002", AssigningAuthority("NORTHGEN"), "MR"),
        Identifier("55501", AssigningAuthority("", "2.999.10.2", "ISO"), "PI"),
    )
    assert req.patient.birth_date == "198502"
    assert req.patient.to_record("x").birth_date == "198502"


@pytest.mark.parametrize(
    ("name", "codec", "family", "given", "city"),
    [
        ("adt_a08_231_latin1.hl7", "latin_1", "MÜLLER", "JÜRGEN", "KÖLN"),
        ("adt_a01_231_utf8.hl7", "utf_8", "ÖZDEMİR", "AYŞE", "MÜNCHEN"),
        ("adt_a01_utf8_bom_lf.hl7", "utf_8", "GROß", "LUISE", ""),
    ],
)
def test_charsets_decode_umlauts(name: str, codec: str, family: str, given: str, city: str) -> None:
    message = decode(load(name))
    assert message.codec == codec
    req = parse_request(message)
    assert isinstance(req, PatientFeed)
    assert (req.patient.names[0].family, req.patient.names[0].given) == (family, given)
    if city:
        assert req.patient.addresses[0].city == city


def test_latin1_keeps_eszett_and_mother_name() -> None:
    req = parse("adt_a08_231_latin1.hl7")
    assert req.event == "A08"
    assert req.header.charset == "8859/1"
    assert req.patient.addresses[0].street == "HAUPTSTRAßE 5"
    assert req.patient.mother_maiden_name == PersonName("GRÄßLE")


def test_escapes_are_decoded_in_values() -> None:
    req = parse("adt_a01_231_escapes.hl7")
    p = req.patient
    assert p.identifiers[0].id == "NG&1006"
    assert p.names[0].family == "O^BRIEN|X"
    assert p.names[0].given == "SEAN\\~"
    assert p.names[0].middle == "M"  # \H\ and \N\ dropped
    assert p.addresses[0].street == "AROAD 1"


def test_a40_single_merge() -> None:
    req = parse("adt_a40_231.hl7")
    assert isinstance(req, PatientMerge)
    assert req.event == "A40" and req.header.structure == "ADT_A39"
    assert req.patient.identifiers == (Identifier("NG-1001", NORTHGEN, "MR"),)
    assert req.subsumed == Identifier("NG-0999", NORTHGEN, "MR")
    assert len(req.groups) == 1


def test_a40_several_groups_keep_order_and_all_prior_ids() -> None:
    req = parse("adt_a40_231_two_groups.hl7")
    assert isinstance(req, PatientMerge)
    assert [g.patient.identifiers[0].id for g in req.groups] == ["NG-2001", "NG-3001"]
    assert [i.id for i in req.groups[1].subsumed_identifiers] == ["NG-3000", "NG-2999"]
    assert (req.groups[1].pid_sequence, req.groups[1].mrg_sequence) == (2, 2)


def test_pix_query() -> None:
    req = parse("qbp_q23.hl7")
    assert isinstance(req, PixQuery)
    assert req.query_tag == "QRY-PIX-1"
    assert req.identifier == Identifier("NG-1001", NORTHGEN, "MR")
    assert req.domains == (
        AssigningAuthority("RIVERCL", "2.999.10.2", "ISO"),
        AssigningAuthority("MPI"),
    )
    assert req.domain_location(1) == ErrorLocation("QPD", 1, 4, 2)
    assert req.qpd.id == "QPD"


def test_pix_query_oid_only_and_two_component_msh9() -> None:
    req = parse("qbp_q23_oid_only_old_msh9.hl7")
    assert isinstance(req, PixQuery)
    assert req.header.structure == ""
    assert req.identifier.authority == AssigningAuthority("", "2.999.10.1", "ISO")
    assert req.domains == ()


def test_pdq_query_parameters_domains_limit() -> None:
    req = parse("qbp_q22.hl7")
    assert isinstance(req, PdqQuery)
    assert req.query_tag == "QRY-PDQ-1"
    assert req.parameters == (
        ("PID.5.1.1", "SMI*"),
        ("PID.5.2", "JOHN"),
        ("PID.7.1", "19700412"),
        ("PID.8", "M"),
        ("PID.3.4.1", "NORTHGEN"),
    )
    assert req.domains == (NORTHGEN,)
    assert req.limit == 10 and req.continuation is None
    assert req.domain_location(0) == ErrorLocation("QPD", 1, 8, 1)


def test_pdq_continuation_pointer() -> None:
    req = parse("qbp_q22_continuation.hl7")
    assert isinstance(req, PdqQuery) and req.continuation == "PTR-42"


def test_pdq_cancel() -> None:
    req = parse("qcn_j01.hl7")
    assert isinstance(req, PdqCancel)
    assert (req.query_tag, req.header.trigger_event) == ("QRY-PDQ-1", "J01")


@pytest.mark.parametrize(
    ("name", "error_type", "code", "location", "ack"),
    [
        ("bad_no_evn.hl7", SegmentSequenceError, 100, ErrorLocation("EVN", 1), "AE"),
        ("bad_no_pid3.hl7", MissingFieldError, 101, ErrorLocation("PID", 1, 3, 1, 1), "AE"),
        ("bad_event_a02.hl7", Hl7Error, 201, ErrorLocation("MSH", 1, 9, 1, 2), "AR"),
        ("bad_type_orm.hl7", Hl7Error, 200, ErrorLocation("MSH", 1, 9, 1, 1), "AR"),
        ("bad_processing_id.hl7", Hl7Error, 202, ErrorLocation("MSH", 1, 11), "AR"),
        ("bad_version.hl7", Hl7Error, 203, ErrorLocation("MSH", 1, 12), "AR"),
        ("bad_charset.hl7", CharsetError, 103, ErrorLocation("MSH", 1, 18), "AE"),
        ("bad_birth_date.hl7", DataTypeError, 102, ErrorLocation("PID", 1, 7, 1, 1), "AE"),
        ("bad_qbp_zv1.hl7", Hl7Error, 201, ErrorLocation("MSH", 1, 9, 1, 2), "AR"),
        ("bad_qbp_no_cx4.hl7", MissingFieldError, 101, ErrorLocation("QPD", 1, 3, 1, 4), "AE"),
        ("bad_a40_no_mrg.hl7", SegmentSequenceError, 100, ErrorLocation("MRG", 1), "AE"),
        ("bad_not_hl7.hl7", SegmentSequenceError, 100, ErrorLocation("MSH", 1), "AE"),
    ],
)
def test_malformed_messages_raise_precise_errors(
    name: str, error_type: type[Hl7Error], code: int, location: ErrorLocation, ack: str
) -> None:
    with pytest.raises(error_type) as info:
        parse(name)
    err = info.value
    assert err.code == ErrorCode(code)
    assert err.location == location
    assert err.ack_code == AckCode(ack)
    assert err.field and err.rule and err.rule in str(err)


def test_zv1_error_names_iti22() -> None:
    with pytest.raises(Hl7Error) as info:
        parse("bad_qbp_zv1.hl7")
    assert "ITI-22" in str(info.value) and "'ZV1'" in str(info.value)


def test_peek_header_reads_undecodable_messages() -> None:
    h = peek_header(load("bad_charset.hl7"))
    assert h is not None and h.control_id == "BAD007" and h.charset == "ISO IR87"
    assert peek_header(load("bad_not_hl7.hl7")) is None


def test_lenient_header_of_structurally_bad_message() -> None:
    h = read_header_lenient(decode(load("bad_type_orm.hl7")))
    assert (h.message_code, h.trigger_event, h.control_id) == ("ORM", "O01", "BAD004")


@pytest.mark.parametrize(
    ("msh9", "control", "field", "component"),
    [("ADT", "C1", 9, 2), ("ADT^A01", "C1", 9, 3), ("ADT^A01^ADT_A01", "", 10, None)],
)
def test_header_required_parts(msh9: str, control: str, field: int, component: int | None) -> None:
    raw = f"MSH|^~\\&|A|B|C|D|2024||{msh9}|{control}|P|2.3.1\rEVN|A01|2024\r".encode()
    with pytest.raises(MissingFieldError) as info:
        parse_request(decode(raw))
    loc = info.value.location
    assert loc is not None and (loc.field, loc.component) == (field, component)


@pytest.mark.parametrize(
    ("rcp", "error_type"), [("RCP|I|x^RD", DataTypeError), ("RCP|I|5^CH", Hl7Error)]
)
def test_pdq_bad_limits(rcp: str, error_type: type[Hl7Error]) -> None:
    raw = (
        "MSH|^~\\&|A|B|C|D|2024||QBP^Q22^QBP_Q21|C1|P|2.5\r"
        f"QPD|IHE PDQ Query|T1|@PID.5.1^X\r{rcp}\r"
    ).encode()
    with pytest.raises(error_type) as info:
        parse_request(decode(raw))
    assert info.value.location is not None and info.value.location.segment == "RCP"


def test_pdq_bad_path_and_no_parameters() -> None:
    base = "MSH|^~\\&|A|B|C|D|2024||QBP^Q22^QBP_Q21|C1|P|2.5\r"
    with pytest.raises(DataTypeError) as info:
        parse_request(decode((base + "QPD|IHE PDQ Query|T1|@PID.5.1^X~NAME^Y\r").encode()))
    assert info.value.location == ErrorLocation("QPD", 1, 3, 2, 1)
    with pytest.raises(MissingFieldError):
        parse_request(decode((base + "QPD|IHE PDQ Query|T1\r").encode()))


def test_qbp_in_231_is_an_unsupported_version() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|2024||QBP^Q23^QBP_Q21|C1|P|2.3.1\rQPD|IHE PIX Query|T|1^^^NS\r"
    with pytest.raises(Hl7Error) as info:
        parse_request(decode(raw))
    assert info.value.code == ErrorCode.UNSUPPORTED_VERSION and info.value.ack_code is AckCode.AR
