"""The fast codec: escapes, delimiters, charsets, segment access, encoding; Hypothesis round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hl7.charsets import python_codec
from hl7.codec import Raw, Repeated, decode, decode_lenient, encode_message, encode_segment
from hl7.errors import CharsetError, ErrorLocation, SegmentSequenceError
from hl7.escape import DEFAULT_DELIMITERS, Delimiters, escape, unescape

ODD = Delimiters("#", ":", "*", "!", "$")

# Any text HL7 can carry (no NUL, no surrogates).
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@given(texts)
def test_unescape_inverts_escape(text: str) -> None:
    assert unescape(escape(text)) == text
    assert unescape(escape(text, ODD), ODD) == text


@given(texts)
def test_escaped_text_holds_no_delimiter_or_line_break(text: str) -> None:
    out = escape(text)
    for ch in "|^~&\r\n":
        assert ch not in out


@given(st.lists(st.sampled_from(["AB", "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "x y"])))
def test_escape_of_unescaped_canonical_text_is_identity(parts: list[str]) -> None:
    text = "".join(parts)
    assert escape(unescape(text)) == text


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("A\\F\\B", "A|B"),
        ("\\S\\\\T\\\\R\\\\E\\", "^&~\\"),
        ("\\X4142\\", "AB"),
        ("\\XC3BC\\", "ü"),
        ("\\XFC\\", "ü"),
        ("\\H\\BOLD\\N\\", "BOLD"),
        ("\\Zfoo\\", "\\Zfoo\\"),
        ("dangling\\", "dangling\\"),
        ("\\XZZ\\", "\\XZZ\\"),
    ],
)
def test_unescape_cases(raw: str, plain: str) -> None:
    assert unescape(raw) == plain


def test_segment_access_is_one_based_like_hl7() -> None:
    msg = decode(
        b"MSH|^~\\&|APP|FAC|||2024||ADT^A01^ADT_A01|C1|P|2.5\rPID|1||A^^^NS&1.2&ISO^MR~B||X\\S\\Y^Z\r"
    )
    msh = msg.msh
    assert (msh.get(1), msh.get(2), msh.get(3), msh.get(9, 1, 3)) == (
        "|",
        "^~\\&",
        "APP",
        "ADT_A01",
    )
    pid = msg.segment("PID")
    assert pid is not None and pid.sequence == 1
    assert pid.repetition_count(3) == 2 and pid.component_count(3, 1) == 5
    assert (pid.get(3, 1, 4, 2), pid.get(3, 2), pid.get(3, 3), pid.get(99)) == ("1.2", "B", "", "")
    assert pid.get(5) == "X^Y" and pid.field(5) == "X\\S\\Y^Z"
    assert pid.components(3) == ("A", "", "", "NS", "MR")
    assert msg.get("PID.3.4.3") == "ISO" and msg.get("PID.3", 2) == "B"
    assert msg.get("ZZZ.1") == "" and msg.segment("PID", 2) is None
    assert msg.text.startswith("MSH|^~\\&|APP") and msg.text.endswith("Z\r")


def test_custom_delimiters_are_read_from_msh() -> None:
    msg = decode(b"MSH#:*!$#APP#FAC####ADT:A01:ADT_A01#C1#P#2.5\rPID#1##A:::NS$1.2*B##X!S!Y^Q\r")
    assert msg.delimiters == ODD
    pid = msg.segment("PID")
    assert pid is not None
    assert (pid.get(3, 1, 4, 2), pid.get(3, 2), pid.get(5)) == ("1.2", "B", "X:Y^Q")
    # echoing into standard delimiters re-escapes
    assert encode_segment("PID", pid.values()) == "PID|1||A^^^NS&1.2~B||X:Y\\S\\Q"


def test_repeated_segments_and_occurrences() -> None:
    msg = decode(b"MSH|^~\\&|A\rPID|1||X\rMRG|Y\rPID|2||Z\r")
    assert [s.sequence for s in msg.all("PID")] == [1, 2]
    assert msg.get("PID[2].3") == "Z"


@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"\r\r"])
def test_lf_and_crlf_segment_separators(sep: bytes) -> None:
    msg = decode(sep.join([b"MSH|^~\\&|A", b"PID|1||X", b""]))
    assert [s.id for s in msg] == ["MSH", "PID"]


@pytest.mark.parametrize(
    ("declared", "encoding", "text"),
    [
        ("8859/1", "latin-1", "MÜLLER Straße"),
        ("8859/2", "iso8859_2", "ŁÓDŹ"),
        ("8859/5", "iso8859_5", "ИВАНОВ"),
        ("8859/7", "iso8859_7", "ΠΑΠΑΔΟΠΟΥΛΟΣ"),
        ("8859/9", "iso8859_9", "ŞAHİN"),
        ("8859/15", "iso8859_15", "€ ŒUVRE"),
        ("UNICODE UTF-8", "utf-8", "ÖZDEMİR 山田"),
        ("UNICODE", "utf-8", "ÄÖÜ"),
        ("", "ascii", "PLAIN"),
        ("ASCII", "ascii", "PLAIN"),
    ],
)
def test_declared_charsets_decode(declared: str, encoding: str, text: str) -> None:
    raw = f"MSH|^~\\&|A||||||ADT^A01^ADT_A01|1|P|2.5||||||{declared}\rPID|1||{text}\r"
    msg = decode(raw.encode(encoding))
    assert msg.get("PID.3") == text and msg.declared_charset == declared


def test_undeclared_non_ascii_is_read_leniently() -> None:
    utf8 = decode("MSH|^~\\&|A\rPID|1||MÜLLER\r".encode())
    latin = decode("MSH|^~\\&|A\rPID|1||MÜLLER\r".encode("latin-1"))
    assert (utf8.codec, latin.codec) == ("utf_8", "latin_1")
    assert utf8.get("PID.3") == latin.get("PID.3") == "MÜLLER"


def test_bom_is_dropped_and_means_utf8() -> None:
    msg = decode(b"\xef\xbb\xbf" + "MSH|^~\\&|A\rPID|1||GROß\r".encode())
    assert msg.codec == "utf_8" and msg.get("PID.3") == "GROß"


def test_repeating_msh18_uses_the_first_repetition() -> None:
    raw = "MSH|^~\\&|A||||||ADT^A01^ADT_A01|1|P|2.5||||||8859/1~UNICODE UTF-8\rPID|1||Ü\r"
    assert decode(raw.encode("latin-1")).get("PID.3") == "Ü"


@pytest.mark.parametrize(
    "raw",
    [
        b"MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||UNICODE UTF-16\r",
        b"MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||KLINGON\r",
        b"MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||\xff\xfe\r",
    ],
)
def test_undecodable_charsets_are_code_103_at_msh18(raw: bytes) -> None:
    with pytest.raises(CharsetError) as info:
        decode(raw)
    assert info.value.code == 103 and info.value.location == ErrorLocation("MSH", 1, 18)
    lenient = decode_lenient(raw)
    assert lenient is not None and lenient.msh.get(10) == "1"


@pytest.mark.parametrize(
    "raw", [b"", b"PID|1\r", b"MSH|^~|A\r", b"MSH|^~\\&|A\rpid|1\r", b"MSH|^^\\&|A\r"]
)
def test_structurally_bad_input_is_code_100(raw: bytes) -> None:
    with pytest.raises(SegmentSequenceError) as info:
        decode(raw)
    assert info.value.code == 100


def test_encode_segment_values() -> None:
    assert encode_segment(
        "PID", ["1", None, Repeated((["A", None, None, ["NS", "1.2", "ISO"]], "B"))]
    ) == ("PID|1||A^^^NS&1.2&ISO~B")
    assert encode_segment(
        "PID", [None, None, None, None, Repeated((None, [None] * 6 + ["S"]))]
    ) == ("PID|||||~^^^^^^S")
    assert encode_segment("NTE", ["a|b^c", Raw("x^y"), None, None]) == "NTE|a\\F\\b\\S\\c|x^y"
    assert encode_segment("ZZZ", [None, ""]) == "ZZZ"


def test_encode_message_declares_the_charset_actually_used() -> None:
    msh = ("MSH", [None, None, "APP"])
    ascii_only = encode_message([msh, ("NTE", ["PLAIN"])])
    assert ascii_only == b"MSH|^~\\&|APP\rNTE|PLAIN\r"
    latin = encode_message([msh, ("NTE", ["MÜLLER"])], "8859/1")
    assert latin.endswith("NTE|MÜLLER\r".encode("latin-1")) and b"|8859/1\r" in latin
    # ü does not fit ASCII, Ł does not fit Latin-1: both fall back to UTF-8 and say so
    for declared in ("", "8859/1"):
        out = encode_message([msh, ("NTE", ["ŁÜ"])], declared)
        assert b"|UNICODE UTF-8\r" in out and "ŁÜ".encode() in out
        assert decode(out).get("NTE.1") == "ŁÜ"
    with pytest.raises(CharsetError):
        encode_message([msh], "KLINGON")


leaf = texts.map(lambda s: s.strip())
field_values = st.lists(
    st.lists(st.lists(leaf, min_size=1, max_size=3), min_size=1, max_size=4), min_size=1, max_size=3
)


@given(st.lists(field_values, min_size=1, max_size=6))
def test_encode_then_decode_round_trips_any_values(fields: list[list[list[list[str]]]]) -> None:
    values = [Repeated(tuple(rep for rep in f)) for f in fields]
    raw = encode_message([("MSH", [None, None, "A"]), ("ZZZ", values)], "UNICODE UTF-8")
    seg = decode(raw).segment("ZZZ")
    assert seg is not None
    for n, f in enumerate(fields, start=1):
        for r, rep in enumerate(f, start=1):
            for c, comp in enumerate(rep, start=1):
                for s, text in enumerate(comp, start=1):
                    assert seg.get(n, r, c, s) == text


charset_alphabets = {
    "8859/1": "AÄÖÜäöüßéèçñ",
    "8859/2": "AŁŚŻŹĆŃąęó",
    "8859/15": "A€ŒœŠšŽž",
    "UNICODE UTF-8": "AÄ山田Ωя€",
    "": "ABC xyz",
}


@pytest.mark.parametrize("charset", sorted(charset_alphabets))
@given(data=st.data())
def test_charsets_round_trip(charset: str, data: st.DataObject) -> None:
    text = data.draw(st.text(st.sampled_from(charset_alphabets[charset] + "|^~&\\"), max_size=30))
    raw = encode_message([("MSH", [None, None, "A"]), ("NTE", [text])], charset)
    assert python_codec(charset) is not None
    msg = decode(raw)
    assert msg.declared_charset == charset
    assert msg.get("NTE.1") == text


def test_default_delimiters_encoding_characters() -> None:
    assert DEFAULT_DELIMITERS.encoding_characters == "^~\\&"
