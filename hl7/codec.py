"""Fast HL7 v2 (ER7) decoding and encoding.

This is the hot path of the MLLP listener, so it is plain string splitting
with lazy, cached parsing of fields; hl7apy (about 12 ms per ADT) serves as
the oracle in the tests instead.

Decoding (:func:`decode`):

* bytes are decoded by MSH-18 (see :mod:`hl7.charsets`); a UTF-8 byte order
  mark is dropped. With MSH-18 empty or ``ASCII`` but non-ASCII bytes we are
  lenient and read UTF-8 if the bytes are valid UTF-8, else Latin-1, because
  many senders write UTF-8 without saying so; :attr:`Message.codec` tells what
  was used.
* delimiters come from MSH-1 and MSH-2; segments are split on CR, with LF and
  CRLF accepted too; blank lines are skipped.
* values are unescaped on access (:meth:`Segment.get`).

Encoding (:func:`encode_message`) builds segments from Python values,
escaping every text leaf, and writes bytes in the requested charset, falling
back to UTF-8 when a character does not fit; MSH-18 always declares the
charset actually used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hl7.charsets import UTF8_NAME, charset_name, python_codec
from hl7.errors import CharsetError, ErrorLocation, SegmentSequenceError
from hl7.escape import DEFAULT_DELIMITERS, Delimiters, escape, unescape

__all__ = [
    "Component",
    "FieldValue",
    "Message",
    "Raw",
    "Repeated",
    "Repetition",
    "Segment",
    "SegmentValue",
    "decode",
    "decode_lenient",
    "encode_message",
    "encode_segment",
]

_BOM = b"\xef\xbb\xbf"
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")


class Segment:
    """One segment, split into fields; repetitions and components on demand.

    Field numbers are HL7's: ``segment.get(3)`` is PID-3. For MSH, field 1 is
    the field separator and field 2 the encoding characters, as in HL7.
    Values returned by :meth:`get` are unescaped; :meth:`field` gives the raw
    (escaped) text.
    """

    __slots__ = ("_cache", "_fields", "delimiters", "id", "sequence")

    def __init__(self, fields: list[str], delimiters: Delimiters, sequence: int = 1) -> None:
        self.id = fields[0]
        self._fields = fields
        self.delimiters = delimiters
        self.sequence = sequence
        self._cache: dict[int, list[list[list[str]]]] = {}

    def __repr__(self) -> str:
        return f"Segment({self.text!r})"

    @property
    def text(self) -> str:
        """The segment as received (escaped), without the terminating CR."""
        fields = self._fields
        if self.id == "MSH":
            return self.id + fields[1] + fields[1].join(fields[2:])
        return self.delimiters.field.join(fields)

    @property
    def field_count(self) -> int:
        """The number of the last field present."""
        return len(self._fields) - 1

    def field(self, number: int) -> str:
        """The raw text of a field (all repetitions, escaped); ``""`` if absent."""
        fields = self._fields
        return fields[number] if 0 < number < len(fields) else ""

    def repetitions(self, number: int) -> list[list[list[str]]]:
        """Field ``number`` split into repetitions, components and subcomponents, unescaped.

        The lists are cached and shared: do not modify them.
        """
        parsed = self._cache.get(number)
        if parsed is None:
            fields = self._fields
            raw = fields[number] if 0 < number < len(fields) else ""
            d = self.delimiters
            if not raw:
                parsed = []
            elif number <= 2 and self.id == "MSH":
                parsed = [[[raw]]]
            elif d.component not in raw and d.repetition not in raw and d.subcomponent not in raw:
                parsed = [[[unescape(raw, d) if d.escape in raw else raw]]]
            else:
                sub = d.subcomponent
                parsed = [
                    [comp.split(sub) if sub in comp else [comp] for comp in rep.split(d.component)]
                    for rep in raw.split(d.repetition)
                ]
                if d.escape in raw:
                    parsed = [
                        [[unescape(leaf, d) for leaf in comp] for comp in rep] for rep in parsed
                    ]
            self._cache[number] = parsed
        return parsed

    def repetition(self, number: int, repetition: int = 1) -> list[list[str]]:
        """The components (each a list of subcomponents) of one repetition; ``[]`` if absent."""
        reps = self.repetitions(number)
        return reps[repetition - 1] if 0 < repetition <= len(reps) else []

    def repetition_count(self, number: int) -> int:
        """How many repetitions field ``number`` has (0 when empty)."""
        return len(self.repetitions(number))

    def component_count(self, number: int, repetition: int = 1) -> int:
        """How many components a repetition has (0 when absent)."""
        return len(self.repetition(number, repetition))

    def get(
        self, number: int, repetition: int = 1, component: int = 1, subcomponent: int = 1
    ) -> str:
        """One leaf value, unescaped; ``""`` when absent. All positions are 1-based."""
        reps = self.repetitions(number)
        if not 0 < repetition <= len(reps):
            return ""
        comps = reps[repetition - 1]
        if not 0 < component <= len(comps):
            return ""
        subs = comps[component - 1]
        return subs[subcomponent - 1] if 0 < subcomponent <= len(subs) else ""

    def components(self, number: int, repetition: int = 1) -> tuple[str, ...]:
        """The first subcomponent of every component of a repetition, unescaped."""
        count = self.component_count(number, repetition)
        return tuple(self.get(number, repetition, c) for c in range(1, count + 1))

    def values(self, delimiters: Delimiters = DEFAULT_DELIMITERS) -> list[FieldValue]:
        """The fields as encoder values, for echoing this segment (e.g. QPD) unchanged.

        With the same delimiters the raw text is kept byte for byte; otherwise
        the values are decoded and re-escaped for ``delimiters``.
        """
        out: list[FieldValue] = [None, None] if self.id == "MSH" else []
        first = 3 if self.id == "MSH" else 1
        for n in range(first, len(self._fields)):
            if delimiters == self.delimiters:
                out.append(Raw(self._fields[n]))
                continue
            reps: list[Repetition] = []
            for rep in self.repetitions(n):
                reps.append([list(comp) for comp in rep])
            out.append(Repeated(tuple(reps)))
        return out


class Message:
    """A decoded message: its segments in order, with lookup by segment id.

    Attributes:
        segments: every segment in order.
        delimiters: from MSH-1/MSH-2.
        codec: the Python codec the bytes were decoded with.
        declared_charset: MSH-18 (first repetition) as sent, ``""`` if empty.
    """

    __slots__ = ("_index", "codec", "declared_charset", "delimiters", "segments")

    def __init__(
        self,
        segments: Sequence[Segment],
        delimiters: Delimiters,
        codec: str = "ascii",
        declared_charset: str = "",
    ) -> None:
        self.segments = tuple(segments)
        self.delimiters = delimiters
        self.codec = codec
        self.declared_charset = declared_charset
        index: dict[str, list[Segment]] = {}
        for seg in self.segments:
            index.setdefault(seg.id, []).append(seg)
        self._index = index

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __repr__(self) -> str:
        return f"Message({[s.id for s in self.segments]})"

    @property
    def msh(self) -> Segment:
        """The MSH segment (always the first)."""
        return self.segments[0]

    def segment(self, segment_id: str, occurrence: int = 1) -> Segment | None:
        """The ``occurrence``-th segment with this id (1-based), or ``None``."""
        found = self._index.get(segment_id)
        if found is None or not 0 < occurrence <= len(found):
            return None
        return found[occurrence - 1]

    def all(self, segment_id: str) -> list[Segment]:
        """Every segment with this id, in order."""
        return list(self._index.get(segment_id, ()))

    def get(self, path: str, repetition: int = 1) -> str:
        """A value by path ``SEG.field[.component[.subcomponent]]``, e.g. ``"PID.5.1.1"``.

        ``SEG`` may carry an occurrence, ``"PID[2].3"``; ``""`` when absent.
        """
        head, _, rest = path.partition(".")
        occurrence = 1
        if head.endswith("]") and "[" in head:
            head, _, occ = head[:-1].partition("[")
            occurrence = int(occ)
        seg = self.segment(head, occurrence)
        if seg is None or not rest:
            return ""
        nums = [int(p) for p in rest.split(".")] + [1, 1]
        return seg.get(nums[0], repetition, nums[1], nums[2])

    @property
    def text(self) -> str:
        """The message as text, segments ended by CR (escaped as received)."""
        return "".join(seg.text + "\r" for seg in self.segments)


def decode(data: bytes) -> Message:
    """Decode one message (an MLLP frame's payload).

    Args:
        data: the raw bytes.

    Returns:
        The message.

    Raises:
        SegmentSequenceError: the data does not start with an MSH segment, or
            a segment id is malformed (code 100).
        CharsetError: MSH-18 names a charset we cannot decode, or the bytes do
            not fit it (code 103 at MSH-18).
    """
    if data.startswith(_BOM):
        data = data[3:]
        bom = True
    else:
        bom = False
    data = data.lstrip(b"\r\n\t ")
    if not data.startswith(b"MSH") or len(data) < 8:
        raise SegmentSequenceError(
            "MSH",
            data[:20].decode("latin-1"),
            "must start the message: MSH|^~\\&|...",
            location=ErrorLocation("MSH", 1),
        )
    sep = data[3:4]
    declared = _declared_charset(data, sep)
    codec = python_codec(declared)
    if codec is None:
        raise CharsetError(
            "MSH-18",
            declared,
            "is not a character set this system can decode",
            location=ErrorLocation("MSH", 1, 18),
        )
    if bom and not declared:
        codec = "utf_8"
    text, codec = _decode_bytes(data, codec, declared)
    return _split(text, codec, declared)


def decode_lenient(data: bytes) -> Message | None:
    """Decode as much as possible of bytes :func:`decode` refused, to answer them.

    Undecodable bytes are read as UTF-8 or else Latin-1 whatever MSH-18 says,
    and malformed segments are skipped.

    Returns:
        The message, or ``None`` when there is no usable MSH segment.
    """
    try:
        return decode(data)
    except (SegmentSequenceError, CharsetError):
        pass
    if data.startswith(_BOM):
        data = data[3:]
    data = data.lstrip(b"\r\n\t ")
    if not data.startswith(b"MSH") or len(data) < 8:
        return None
    sep = data[3:4]
    declared = _declared_charset(data, sep)
    try:
        text, codec = data.decode("utf_8"), "utf_8"
    except UnicodeDecodeError:
        text, codec = data.decode("latin_1"), "latin_1"
    try:
        return _split(text, codec, declared, strict=False)
    except SegmentSequenceError:
        return None


def _declared_charset(data: bytes, sep: bytes) -> str:
    end = len(data)
    for stop in (b"\r", b"\n"):
        pos = data.find(stop)
        if 0 <= pos < end:
            end = pos
    parts = data[:end].split(sep)
    if len(parts) <= 17:
        return ""
    value = parts[17]
    # MSH-18 may repeat; the first repetition is the message's charset.
    rep_sep = data[5:6]
    if rep_sep:
        value = value.split(rep_sep, 1)[0]
    return value.decode("latin-1").strip()


def _decode_bytes(data: bytes, codec: str, declared: str) -> tuple[str, str]:
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as e:
        if codec != "ascii":
            raise CharsetError(
                "MSH-18",
                declared,
                f"does not fit the bytes at offset {e.start}",
                location=ErrorLocation("MSH", 1, 18),
            ) from e
    try:
        return data.decode("utf_8"), "utf_8"
    except UnicodeDecodeError:
        return data.decode("latin_1"), "latin_1"


def _split(text: str, codec: str, declared: str, *, strict: bool = True) -> Message:
    sep = text[3]
    enc_end = text.find(sep, 4)
    if enc_end < 0:
        enc_end = len(text)
    enc = text[4:enc_end]
    for stop in ("\r", "\n"):
        enc = enc.split(stop, 1)[0]
    if len(enc) < 4 or sep.isalnum() or len(set(sep + enc[:4])) != 5:
        raise SegmentSequenceError(
            "MSH-2",
            enc,
            "must hold four distinct encoding characters (^~\\&)",
            location=ErrorLocation("MSH", 1, 2),
        )
    delims = Delimiters(sep, enc[0], enc[1], enc[2], enc[3])
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    segments: list[Segment] = []
    counts: dict[str, int] = {}
    for line in text.split("\r"):
        if not line or line.isspace():
            continue
        fields = line.split(sep)
        seg_id = fields[0]
        if not _SEGMENT_ID.match(seg_id):
            if not strict:
                continue
            raise SegmentSequenceError(
                "segment id",
                seg_id[:10],
                f"after {len(segments)} segments is not a segment id",
                location=ErrorLocation(seg_id[:3] or "?", len(segments) + 1),
            )
        if seg_id == "MSH":
            fields.insert(1, sep)
        seq = counts.get(seg_id, 0) + 1
        counts[seg_id] = seq
        segments.append(Segment(fields, delims, seq))
    return Message(segments, delims, codec, declared)


# -- encoding ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """Text written as is, without escaping (e.g. a segment echoed unchanged)."""

    text: str


@dataclass(frozen=True, slots=True)
class Repeated:
    """A repeating field: one encoder value per repetition."""

    repetitions: tuple[Repetition, ...]


Component = str | None | Sequence[str | None]
"""A component: text, or its subcomponents."""
Repetition = str | None | Raw | Sequence[Component]
"""One field repetition: text, or its components."""
FieldValue = str | None | Raw | Repeated | Sequence[Component]
"""A field: text, its components, or several repetitions."""
SegmentValue = tuple[str, Sequence[FieldValue]]
"""A segment to encode: its id and fields 1..n (for MSH fields 1 and 2 are ignored)."""


def _trim(parts: list[str]) -> list[str]:
    while parts and not parts[-1]:
        parts.pop()
    return parts


def _component(value: Component, d: Delimiters) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape(value, d)
    return d.subcomponent.join(_trim([escape(s, d) if s else "" for s in value]))


def _repetition(value: Repetition, d: Delimiters) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape(value, d)
    if isinstance(value, Raw):
        return value.text
    return d.component.join(_trim([_component(c, d) for c in value]))


def _field(value: FieldValue, d: Delimiters) -> str:
    # Plain text and empty fields are most of every segment: keep them cheap.
    if value is None:
        return ""
    if type(value) is str:
        return escape(value, d)
    if isinstance(value, Repeated):
        return d.repetition.join(_repetition(r, d) for r in value.repetitions).rstrip(d.repetition)
    return _repetition(value, d)


def encode_segment(
    segment_id: str, fields: Sequence[FieldValue], delimiters: Delimiters = DEFAULT_DELIMITERS
) -> str:
    """Encode one segment (without its CR).

    Args:
        segment_id: e.g. ``"PID"``.
        fields: fields 1..n; for ``MSH`` fields 1 and 2 are written from
            ``delimiters`` and the values given there are ignored.
        delimiters: the delimiters to write.

    Returns:
        The segment text, trailing empty fields and components removed.
    """
    d = delimiters
    if segment_id == "MSH":
        body = [_field(v, d) for v in fields[2:]]
        return "MSH" + d.field + d.encoding_characters + d.field + d.field.join(_trim(body))
    parts = _trim([_field(v, d) for v in fields])
    if not parts:
        return segment_id
    return segment_id + d.field + d.field.join(parts)


def encode_message(
    segments: Sequence[SegmentValue],
    charset: str = "",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> bytes:
    """Encode a message to bytes, MSH first.

    MSH-18 is written by this function: it declares ``charset`` if every
    character fits, else ``UNICODE UTF-8`` and the message is UTF-8. With
    ``charset`` empty (ASCII by default) and only ASCII text, MSH-18 stays
    empty.

    Args:
        segments: ``(segment id, fields)`` pairs, the first one ``MSH``.
        charset: an MSH-18 name (the request's, usually).
        delimiters: the delimiters to write.

    Returns:
        The message, every segment ended by CR.

    Raises:
        CharsetError: ``charset`` is not a name we can encode.
    """
    codec = python_codec(charset)
    if codec is None:
        raise CharsetError(
            "MSH-18",
            charset,
            "is not a character set this system can encode",
            location=ErrorLocation("MSH", 1, 18),
        )
    declared = charset if charset else ""
    body = "".join(encode_segment(sid, f, delimiters) + "\r" for sid, f in segments[1:])
    try:
        return _with_msh(segments[0], declared, delimiters, body).encode(codec)
    except UnicodeEncodeError:
        return _with_msh(segments[0], UTF8_NAME, delimiters, body).encode("utf_8")


def _with_msh(msh: SegmentValue, declared: str, d: Delimiters, body: str) -> str:
    seg_id, fields = msh
    if seg_id != "MSH":
        raise SegmentSequenceError(
            "segment id",
            seg_id,
            "must be MSH for the first segment",
            location=ErrorLocation(seg_id, 1),
        )
    values = list(fields)
    if len(values) < 18:
        values.extend([None] * (18 - len(values)))
    values[17] = declared or None
    return encode_segment("MSH", values, d) + "\r" + body


def declared_name(codec: str) -> str:
    """The MSH-18 name for a codec :func:`decode` reported (``""`` for ASCII)."""
    return "" if codec == "ascii" else charset_name(codec)
