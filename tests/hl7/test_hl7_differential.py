"""Differential tests: our fast codec and hl7apy (the oracle) read the same values.

hl7apy is given the message text our codec decoded (hl7apy has no MSH-18
handling of its own), parses it without group finding, and every field,
repetition, component and subcomponent is compared. hl7apy keeps escape
sequences in ``.value``, so its values go through our ``unescape``; that
function is tested on its own in test_hl7_codec.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hl7apy.parser import parse_message
from hypothesis import given, settings
from hypothesis import strategies as st

from hl7.codec import Message, decode, encode_message
from hl7.escape import unescape
from hl7.model import (
    Address,
    AssigningAuthority,
    Identifier,
    PatientDemographics,
    PersonName,
    Telecom,
)
from hl7.pid import read_pid, write_pid

GOLDEN = Path(__file__).parent / "golden"
PARSEABLE = sorted(
    p.name
    for p in GOLDEN.glob("*.hl7")
    if not p.name.startswith("bad_") or p.name in {"bad_event_a02.hl7", "bad_no_evn.hl7"}
)


Key = tuple[str, int, int, int, int, int]


def oracle_leaves(message: Message) -> dict[Key, str]:
    """Every non-empty leaf as hl7apy reads it, keyed (segment, occurrence, field, rep, comp, sub)."""
    parsed = parse_message(message.text, find_groups=False)
    out: dict[Key, str] = {}
    seen: dict[str, int] = {}
    for seg in parsed.children:
        seen[seg.name] = seen.get(seg.name, 0) + 1
        reps: dict[int, int] = {}
        for fld in seg.children:
            number = _position(fld)
            reps[number] = reps.get(number, 0) + 1
            if _skipped(seg.name, number):
                continue
            _walk(fld, [], (seg.name, seen[seg.name], number, reps[number]), out, message)
    return out


def _skipped(segment: str, number: int) -> bool:
    # MSH-1/2 are the delimiters; hl7apy types QPD-3.. as "varies" and cannot
    # split them (they are compared as whole fields instead).
    return (segment == "MSH" and number <= 2) or (segment == "QPD" and number >= 3)


def _position(element: object) -> int:
    # A base-type child (named after its type, e.g. "IS") is the first position.
    name: str = element.name  # type: ignore[attr-defined]
    return int(name.rsplit("_", 1)[1]) if "_" in name else 1


def _walk(
    element: object,
    path: list[int],
    head: tuple[str, int, int, int],
    out: dict[Key, str],
    message: Message,
) -> None:
    kids = [
        c
        for c in getattr(element, "children", [])
        if getattr(c, "classname", "") in ("Component", "SubComponent")
    ]
    if not kids:
        value = element.to_er7()  # type: ignore[attr-defined]
        if value:
            c, s = ([*path, 1, 1])[:2]
            out[(*head, c, s)] = unescape(value, message.delimiters)
        return
    for kid in kids:
        _walk(kid, [*path, _position(kid)], head, out, message)


def our_leaves(message: Message) -> dict[Key, str]:
    out: dict[Key, str] = {}
    for seg in message:
        for number in range(1, seg.field_count + 1):
            if _skipped(seg.id, number):
                continue
            for r, rep in enumerate(seg.repetitions(number), start=1):
                for c, comp in enumerate(rep, start=1):
                    for s, leaf in enumerate(comp, start=1):
                        if leaf:
                            out[(seg.id, seg.sequence, number, r, c, s)] = leaf
    return out


# hl7apy does not decode hexadecimal escapes (it reads ``\X41\`` as literal text);
# we do, as HL7 allows. (ours, hl7apy's)
KNOWN_DIFFERENCES: dict[tuple[str, Key], tuple[str, str]] = {
    ("adt_a01_231_escapes.hl7", ("PID", 1, 11, 1, 1, 1)): ("AROAD 1", "\\X41\\ROAD 1"),
}


@pytest.mark.parametrize("name", PARSEABLE)
def test_golden_messages_read_the_same_as_hl7apy(name: str) -> None:
    message = decode((GOLDEN / name).read_bytes())
    ours, theirs = our_leaves(message), oracle_leaves(message)
    for (file, key), (our_value, their_value) in KNOWN_DIFFERENCES.items():
        if file == name:
            assert (ours.pop(key), theirs.pop(key)) == (our_value, their_value)
    assert ours == theirs
    qpd = message.segment("QPD")
    if qpd is not None:
        oracle_qpd = parse_message(message.text, find_groups=False).qpd
        fields: dict[int, list[str]] = {}
        for fld in oracle_qpd.children:
            fields.setdefault(_position(fld), []).append(fld.to_er7())
        assert {n: "~".join(reps) for n, reps in fields.items()} == {
            n: qpd.field(n) for n in range(1, qpd.field_count + 1) if qpd.field(n)
        }


def test_pid_fields_match_hl7apy_accessors() -> None:
    message = decode((GOLDEN / "adt_a01_231_full_cx4.hl7").read_bytes())
    oracle = parse_message(message.text, find_groups=False)
    pid = read_pid(message.segment("PID"))  # type: ignore[arg-type]
    o = oracle.pid
    assert pid.identifiers[0].id == o.pid_3[0].cx_1.to_er7()
    assert pid.identifiers[0].authority.universal_id == o.pid_3[0].cx_4.hd_2.to_er7()
    assert pid.names[0].family == o.pid_5[0].xpn_1.to_er7()
    assert pid.names[1].given == o.pid_5[1].xpn_2.to_er7()
    assert pid.birth_date == o.pid_7.to_er7()
    assert pid.addresses[0].postcode == o.pid_11[0].xad_5.to_er7()
    assert pid.business_phones[0].use == o.pid_14[0].xtn_2.to_er7()


# -- generated PIDs ----------------------------------------------------------

# Printable text with the delimiters and escape character in it, as real data has.
word = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜßéabc0123456789 -'.|^~&\\"), max_size=12
).map(str.strip)
authority = st.builds(
    AssigningAuthority,
    word,
    st.sampled_from(["", "2.999.1", "1.2.3.4"]),
    st.sampled_from(["", "ISO"]),
)
identifier = st.builds(Identifier, word.filter(bool), authority, st.sampled_from(["", "MR", "PI"]))
name = st.builds(
    PersonName, word, word, word, word, word, st.sampled_from(["", "L", "M", "A"])
).filter(lambda n: not n.is_empty)
address = st.builds(
    Address, word, word, word, word, word, word, st.sampled_from(["", "H", "B"])
).filter(lambda a: a != Address(type=a.type))
phone = st.builds(
    Telecom, word.filter(bool), st.sampled_from(["", "PRN", "WPN"]), st.just(""), st.just("")
)
patients = st.builds(
    PatientDemographics,
    identifiers=st.lists(identifier, min_size=1, max_size=3).map(tuple),
    names=st.lists(name, min_size=1, max_size=2).map(tuple),
    birth_date=st.sampled_from([None, "1970", "197004", "19700412"]),
    sex=st.sampled_from([None, "M", "F", "U"]),
    addresses=st.lists(address, max_size=2).map(tuple),
    home_phones=st.lists(phone, max_size=2).map(tuple),
    business_phones=st.lists(phone, max_size=1).map(tuple),
    language=st.sampled_from([None, "de", "EN"]),
    national_id=st.sampled_from([None, Identifier("123-45-6789")]),
    mother_identifiers=st.lists(identifier, max_size=1).map(tuple),
    multiple_birth=st.sampled_from([None, "Y", "N"]),
    birth_order=st.sampled_from([None, 1, 2]),
    death_indicator=st.sampled_from([None, "N"]),
)


@settings(max_examples=40, deadline=None)
@given(patients, st.sampled_from(["8859/1", "UNICODE UTF-8"]))
def test_generated_pids_round_trip_and_agree_with_hl7apy(
    patient: PatientDemographics, charset: str
) -> None:
    msh = (
        "MSH",
        [
            None,
            None,
            "EMPI",
            "MPIHOST",
            "A",
            "B",
            "20240101",
            None,
            ["ADT", "A01", "ADT_A01"],
            "C1",
            "P",
            "2.5",
        ],
    )
    raw = encode_message([msh, ("EVN", ["A01", "20240101"]), write_pid(patient)], charset)
    message = decode(raw)
    assert read_pid(message.segment("PID")) == patient  # type: ignore[arg-type]
    assert our_leaves(message) == oracle_leaves(message)
