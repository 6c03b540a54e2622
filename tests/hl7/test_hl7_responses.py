"""ACK, RSP^K23, RSP^K22 and ADT^A31 builders: golden outputs, IHE layout, hl7apy validation.

Expected outputs live in golden/expected/; regenerate them after a deliberate change with
``HL7_REGENERATE_GOLDEN=1 pytest tests/hl7/test_hl7_responses.py`` and review the diff.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hl7apy.validation import Validator

from hl7.codec import Message, decode
from hl7.errors import (
    ErrorLocation,
    Hl7Error,
    InternalError,
    MissingFieldError,
    UnknownKeyError,
    UnsupportedEventError,
    UnsupportedVersionError,
)
from hl7.messages import (
    MessageHeader,
    PatientFeed,
    PdqCancel,
    PdqQuery,
    PixQuery,
    parse_request,
    read_header_lenient,
)
from hl7.model import AssigningAuthority, Identifier, PatientDemographics
from hl7.responses import (
    PdqMatch,
    build_a31,
    build_ack,
    build_pdq_response,
    build_pix_response,
    new_control_id,
)

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = GOLDEN / "expected"
NOW = datetime(2024, 3, 15, 12, 0, 0, tzinfo=UTC)
RIVERCL = AssigningAuthority("RIVERCL", "2.999.10.2", "ISO")


def request(name: str) -> Message:
    return decode((GOLDEN / name).read_bytes())


def feed(name: str) -> PatientFeed:
    req = parse_request(request(name))
    assert isinstance(req, PatientFeed)
    return req


def pix(name: str = "qbp_q23.hl7") -> PixQuery:
    req = parse_request(request(name))
    assert isinstance(req, PixQuery)
    return req


def pdq(name: str = "qbp_q22.hl7") -> PdqQuery:
    req = parse_request(request(name))
    assert isinstance(req, PdqQuery)
    return req


def hl7apy_problems(raw: bytes, tmp_path: Path) -> list[str]:
    """hl7apy's strict parse + validation errors (warnings ignored).

    hl7apy's generic 2.5 QPD knows only QPD-1..3 with QPD-3 not repeating,
    so the QPD is cut to QPD-1/2 for hl7apy; the echo is checked byte for byte
    elsewhere.
    """
    text = decode(raw).text
    lines = ["|".join(s.split("|")[:3]) if s.startswith("QPD|") else s for s in text.split("\r")]
    msg = parse_message(
        "\r".join(lines), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    report = tmp_path / "hl7apy-report.txt"
    with contextlib.suppress(Exception):  # the report holds every error
        Validator.validate(msg, report_file=str(report))
    return [line for line in report.read_text().splitlines() if line.startswith("Error")]


def check_golden(name: str, raw: bytes) -> None:
    path = EXPECTED / name
    if os.environ.get("HL7_REGENERATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(raw)
    assert raw == path.read_bytes(), f"{name} differs from the golden file"


def segments(raw: bytes) -> list[str]:
    return [s for s in decode(raw).text.split("\r") if s]


# -- ACK ---------------------------------------------------------------------


def test_ack_aa_231_swaps_applications(tmp_path: Path) -> None:
    req = feed("adt_a01_231_full_cx4.hl7")
    raw = build_ack(req.header, control_id="ACK0001", now=NOW)
    check_golden("ack_a01_aa.hl7", raw)
    msh, msa = segments(raw)
    assert msh.startswith(
        "MSH|^~\\&|EMPI|MPIHOST|NG_ADT|NORTHGEN|20240315120000+0000||ACK^A01^ACK|ACK0001|P|2.3.1"
    )
    assert msa == "MSA|AA|NG000101"
    assert hl7apy_problems(raw, tmp_path) == []


def test_ack_ae_231_writes_eld_in_err1(tmp_path: Path) -> None:
    req = feed("adt_a04_231_partial_cx4.hl7")
    err = UnknownKeyError(
        "PID-3.4",
        "NORTHGEN",
        "is not a known identity domain",
        location=ErrorLocation("PID", 1, 3, 1, 4),
    )
    raw = build_ack(req.header, err, control_id="ACK0002", now=NOW)
    check_golden("ack_a04_ae_204.hl7", raw)
    _, msa, err_seg = segments(raw)
    assert msa.startswith("MSA|AE|NG000102|PID-3.4: 'NORTHGEN' is not a known identity domain")
    assert err_seg == "ERR|PID^1^3^204&Unknown Key Identifier&HL70357"
    assert hl7apy_problems(raw, tmp_path) == []


def test_ack_25_writes_err2_err3_err4(tmp_path: Path) -> None:
    header = read_header_lenient(request("qcn_j01.hl7"))
    err = MissingFieldError(
        "QID-1", "", "(query tag) is required", location=ErrorLocation("QID", 1, 1)
    )
    raw = build_ack(header, err, control_id="ACK0003", now=NOW)
    _, msa, err_seg = segments(raw)
    assert msa == "MSA|AE|PDQC001"
    assert err_seg.startswith("ERR||QID^1^1|101^Required field missing^HL70357|E|")
    assert hl7apy_problems(raw, tmp_path) == []


def test_cancel_is_acknowledged_with_ack_j01(tmp_path: Path) -> None:
    req = parse_request(request("qcn_j01.hl7"))
    assert isinstance(req, PdqCancel)
    raw = build_ack(req.header, control_id="ACK0004", now=NOW)
    check_golden("ack_j01_aa.hl7", raw)
    assert "|ACK^J01^ACK|ACK0004|P|2.5" in segments(raw)[0]
    assert hl7apy_problems(raw, tmp_path) == []


@pytest.mark.parametrize(
    ("name", "code", "msa"),
    [
        ("bad_event_a02.hl7", "201", "AR"),
        ("bad_type_orm.hl7", "200", "AR"),
        ("bad_version.hl7", "203", "AR"),
    ],
)
def test_rejections_answer_ar_with_their_code(
    name: str, code: str, msa: str, tmp_path: Path
) -> None:
    message = request(name)
    with pytest.raises(Hl7Error) as info:
        parse_request(message)
    raw = build_ack(read_header_lenient(message), info.value, now=NOW)
    segs = segments(raw)
    assert segs[1].startswith(f"MSA|{msa}|")
    if code == "203":
        assert segs[0].split("|")[11] == "2.5"  # not the unsupported 2.1
        assert f"|{code}^" in segs[2]
    else:
        assert f"^{code}&" in segs[2]
    assert hl7apy_problems(raw, tmp_path) == []


def test_internal_error_without_location_is_ar() -> None:
    header = read_header_lenient(request("adt_a01_231_full_cx4.hl7"))
    raw = build_ack(header, InternalError("", None, "database unavailable"))
    segs = segments(raw)
    assert segs[1].startswith("MSA|AR|NG000101|")
    assert segs[2] == "ERR|^^^207&Application internal error&HL70357"


def test_answer_keeps_request_charset_or_declares_utf8() -> None:
    latin = feed("adt_a08_231_latin1.hl7")
    assert segments(build_ack(latin.header))[0].endswith("|8859/1")
    err = InternalError("PID-5", "ŁUKASZ", "cannot be stored")  # Ł is not Latin-1
    raw = build_ack(latin.header, err)
    assert segments(raw)[0].endswith("|UNICODE UTF-8") and "ŁUKASZ".encode() in raw


def test_override_application_and_fresh_control_ids() -> None:
    header = feed("adt_a01_231_full_cx4.hl7").header
    raw = build_ack(header, application=AssigningAuthority("EMPI", "1.2.3", "ISO"), facility="HQ")
    assert segments(raw)[0].startswith("MSH|^~\\&|EMPI^1.2.3^ISO|HQ|NG_ADT|NORTHGEN|")
    ids = {new_control_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 20 for i in ids)


def test_ack_for_a_header_with_nothing_in_it() -> None:
    empty = AssigningAuthority()
    header = MessageHeader(empty, empty, empty, empty, "", "", "", "", "", "", "")
    segs = segments(build_ack(header, InternalError("", None, "unreadable")))
    assert segs[0].split("|")[8:12] == ["ACK^^ACK", segs[0].split("|")[9], "P", "2.5"]
    assert segs[1] == "MSA|AR"


# -- RSP^K23 -----------------------------------------------------------------


def test_pix_ok_returns_pid3_and_pseudonym_pid5(tmp_path: Path) -> None:
    q = pix()
    found = [
        Identifier("R-77", RIVERCL, "PI"),
        Identifier("MPI-9", AssigningAuthority("MPI"), "PI"),
    ]
    raw = build_pix_response(q.header, q.qpd, found, control_id="RSP0001", now=NOW)
    check_golden("rsp_k23_ok.hl7", raw)
    msh, msa, qak, qpd, pid = segments(raw)
    assert "|RSP^K23^RSP_K23|RSP0001|P|2.5" in msh
    assert msa == "MSA|AA|PIXQ001"
    assert qak == "QAK|QRY-PIX-1|OK|IHE PIX Query"
    assert qpd == q.qpd.text
    assert pid == "PID|1||R-77^^^RIVERCL&2.999.10.2&ISO^PI~MPI-9^^^MPI^PI||~^^^^^^S"
    assert hl7apy_problems(raw, tmp_path) == []


def test_pix_nf_has_no_pid(tmp_path: Path) -> None:
    q = pix()
    raw = build_pix_response(q.header, q.qpd, [], now=NOW)
    assert [s[:3] for s in segments(raw)] == ["MSH", "MSA", "QAK", "QPD"]
    assert segments(raw)[1].startswith("MSA|AA|") and segments(raw)[2].startswith(
        "QAK|QRY-PIX-1|NF"
    )
    assert hl7apy_problems(raw, tmp_path) == []


def test_pix_unknown_domains_one_err2_repetition_each(tmp_path: Path) -> None:
    q = pix()
    err = UnknownKeyError(
        "QPD-4",
        "RIVERCL, MPI",
        "are not known identity domains",
        location=[q.domain_location(0), q.domain_location(1)],
    )
    raw = build_pix_response(
        q.header, q.qpd, [Identifier("ignored")], err, control_id="RSP0002", now=NOW
    )
    check_golden("rsp_k23_unknown_domains.hl7", raw)
    _, msa, err_seg, qak, qpd = segments(raw)
    assert msa == "MSA|AE|PIXQ001"
    assert err_seg.startswith("ERR||QPD^1^4^1~QPD^1^4^2|204^Unknown Key Identifier^HL70357|E|")
    assert qak == "QAK|QRY-PIX-1|AE|IHE PIX Query"
    assert qpd == q.qpd.text
    assert hl7apy_problems(raw, tmp_path) == []


def test_pix_unknown_identifier_case3_location() -> None:
    q = pix()
    err = UnknownKeyError(
        "QPD-3", "NG-1001", "is not known", location=ErrorLocation("QPD", 1, 3, 1, 1)
    )
    segs = segments(build_pix_response(q.header, q.qpd, [], err))
    assert segs[2].startswith("ERR||QPD^1^3^1^1|204^")


def test_pix_answer_to_a_query_without_qpd() -> None:
    message = decode(b"MSH|^~\\&|A|B|EMPI|MPIHOST|2024||QBP^Q23^QBP_Q21|Q1|P|2.5\rRCP|I\r")
    with pytest.raises(Hl7Error) as info:
        parse_request(message)
    raw = build_pix_response(read_header_lenient(message), message.segment("QPD"), error=info.value)
    assert [s[:3] for s in segments(raw)] == ["MSH", "MSA", "ERR", "QAK"]


# -- RSP^K22 -----------------------------------------------------------------


def test_pdq_with_continuation(tmp_path: Path) -> None:
    q = pdq()
    patient = feed("adt_a01_231_full_cx4.hl7").patient
    other = feed("adt_a08_231_latin1.hl7").patient
    raw = build_pdq_response(
        q.header,
        q.qpd,
        [PdqMatch(patient, 0.97123), PdqMatch(other, None)],
        remaining=3,
        continuation="PTR-43",
        control_id="RSP0003",
        now=NOW,
    )
    check_golden("rsp_k22_continuation.hl7", raw)
    segs = segments(raw)
    assert [s[:3] for s in segs] == ["MSH", "MSA", "QAK", "QPD", "PID", "QRI", "PID", "QRI", "DSC"]
    assert "|RSP^K22^RSP_K21|" in segs[0] and segs[0].endswith("|UNICODE UTF-8")
    assert segs[2] == "QAK|QRY-PDQ-1|OK|IHE PDQ Query|5|2|3"
    assert segs[3] == q.qpd.text
    assert segs[4].startswith(
        "PID|1||NG-1001^^^NORTHGEN&2.999.10.1&ISO^MR||SMITH^JOHN^ALBERT^JR^DR^^L"
    )
    assert segs[5] == "QRI|0.9712" and segs[7] == "QRI"
    assert segs[6].startswith("PID|2||NG-1003") and "MÜLLER^JÜRGEN" in segs[6]
    assert segs[8] == "DSC|PTR-43|I"
    assert hl7apy_problems(raw, tmp_path) == []


def test_pdq_last_increment_and_no_match(tmp_path: Path) -> None:
    q = pdq("qbp_q22_continuation.hl7")
    patient = feed("adt_a04_231_partial_cx4.hl7").patient
    last = segments(build_pdq_response(q.header, q.qpd, [PdqMatch(patient, 1.0)]))
    assert last[2] == "QAK|QRY-PDQ-1|OK|IHE PDQ Query|1|1|0" and last[-1] == "QRI|1"
    none = build_pdq_response(q.header, q.qpd, [])
    assert segments(none)[2] == "QAK|QRY-PDQ-1|NF|IHE PDQ Query|0|0|0"
    assert hl7apy_problems(none, tmp_path) == []


def test_pdq_unknown_domain_error(tmp_path: Path) -> None:
    q = pdq()
    err = UnknownKeyError(
        "QPD-8", "NORTHGEN", "is not a known domain", location=q.domain_location(0)
    )
    raw = build_pdq_response(
        q.header, q.qpd, [PdqMatch(PatientDemographics())], err, continuation="X"
    )
    segs = segments(raw)
    assert [s[:3] for s in segs] == ["MSH", "MSA", "ERR", "QAK", "QPD"]
    assert segs[2].startswith("ERR||QPD^1^8^1|204^")
    assert segs[3] == "QAK|QRY-PDQ-1|AE|IHE PDQ Query"
    assert hl7apy_problems(raw, tmp_path) == []


def test_pdq_rejected_query_is_qak_ar() -> None:
    message = request("bad_qbp_zv1.hl7")
    with pytest.raises(UnsupportedEventError) as info:
        parse_request(message)
    segs = segments(
        build_pdq_response(read_header_lenient(message), message.segment("QPD"), error=info.value)
    )
    assert segs[1].startswith("MSA|AR|BAD009") and segs[3].startswith("QAK|Q9|AR")


def test_version_error_answers_in_25() -> None:
    message = decode(
        b"MSH|^~\\&|A|B|C|D|2024||QBP^Q23^QBP_Q21|Q1|P|2.3.1\rQPD|IHE PIX Query|T|1^^^NS\r"
    )
    with pytest.raises(UnsupportedVersionError) as info:
        parse_request(message)
    raw = build_pix_response(read_header_lenient(message), message.segment("QPD"), error=info.value)
    msh = segments(raw)[0].split("|")
    assert (msh[8], msh[11]) == ("RSP^K23^RSP_K23", "2.5")


# -- ADT^A31 -----------------------------------------------------------------


def test_a31_holds_only_pid3_and_pid5(tmp_path: Path) -> None:
    patient = feed("adt_a01_231_full_cx4.hl7").patient
    raw = build_a31(
        patient,
        sending_application="EMPI",
        sending_facility="MPIHOST",
        receiving_application="HIE_PORTAL",
        receiving_facility="CITYHIE",
        control_id="A310001",
        now=NOW,
    )
    check_golden("adt_a31.hl7", raw)
    msh, evn, pid, pv1 = segments(raw)
    assert (
        msh
        == "MSH|^~\\&|EMPI|MPIHOST|HIE_PORTAL|CITYHIE|20240315120000+0000||ADT^A31^ADT_A05|A310001|P|2.5"
    )
    assert evn == "EVN|A31|20240315120000+0000"
    assert (
        pid
        == "PID|1||NG-1001^^^NORTHGEN&2.999.10.1&ISO^MR||SMITH^JOHN^ALBERT^JR^DR^^L~SMYTH^JACK^^^^^A"
    )
    assert pv1 == "PV1||N"
    assert hl7apy_problems(raw, tmp_path) == []


def test_a31_without_names_uses_the_pseudonym() -> None:
    ids = (Identifier("X", AssigningAuthority("NS")),)
    raw = build_a31(
        PatientDemographics(identifiers=ids, names=()),
        sending_application="A",
        sending_facility="B",
        receiving_application="C",
        receiving_facility="D",
    )
    assert segments(raw)[2] == "PID|1||X^^^NS||~^^^^^^S"


def test_built_messages_parse_back_with_our_codec() -> None:
    patient = feed("adt_a08_231_latin1.hl7").patient
    q = pdq()
    raw = build_pdq_response(q.header, q.qpd, [PdqMatch(patient, 0.5)])
    pid = decode(raw).segment("PID")
    assert pid is not None
    from hl7.pid import read_pid

    assert read_pid(pid) == patient
