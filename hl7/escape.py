"""HL7 v2 delimiters and escape sequences.

Decoding understands the required escapes (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``),
hexadecimal data ``\\Xhh..\\`` and drops the
highlighting escapes ``\\H\\``/``\\N\\``. Other sequences (``\\C..\\``, ``\\M..\\``,
``\\Z..\\``, ``\\.br\\``) are kept verbatim: we cannot interpret them and silently
losing data would be worse. An escape character without a closing one is kept
as data (lenient).

Encoding escapes the five delimiters and writes CR and LF as ``\\X0D\\`` and
``\\X0A\\`` since they would otherwise end the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DELIMITERS", "Delimiters", "escape", "unescape"]


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators a message declares in MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as written: component, repetition, escape, subcomponent."""
        return self.component + self.repetition + self.escape + self.subcomponent


DEFAULT_DELIMITERS = Delimiters()

_ESCAPE_TABLES: dict[Delimiters, dict[int, str]] = {}


def _escape_table(d: Delimiters) -> dict[int, str]:
    table = _ESCAPE_TABLES.get(d)
    if table is None:
        e = d.escape
        table = {
            ord(d.escape): f"{e}E{e}",
            ord(d.field): f"{e}F{e}",
            ord(d.component): f"{e}S{e}",
            ord(d.subcomponent): f"{e}T{e}",
            ord(d.repetition): f"{e}R{e}",
            0x0D: f"{e}X0D{e}",
            0x0A: f"{e}X0A{e}",
        }
        _ESCAPE_TABLES[d] = table
    return table


_DEFAULT_TABLE = _escape_table(DEFAULT_DELIMITERS)


def escape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Escape a data value for output.

    Args:
        text: the plain value.
        delimiters: the delimiters of the message being written.

    Returns:
        The value with delimiters, the escape character, CR and LF escaped.
    """
    if delimiters is DEFAULT_DELIMITERS:
        return text.translate(_DEFAULT_TABLE)
    return text.translate(_escape_table(delimiters))


def unescape(text: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Decode the escape sequences of a received value.

    Args:
        text: one leaf value (a subcomponent) as it appears in the message.
        delimiters: the message's delimiters.

    Returns:
        The plain value.
    """
    esc = delimiters.escape
    start = text.find(esc)
    if start < 0:
        return text
    out: list[str] = []
    pos = 0
    while start >= 0:
        end = text.find(esc, start + 1)
        if end < 0:
            break
        out.append(text[pos:start])
        out.append(_decode_sequence(text[start + 1 : end], text[start : end + 1], delimiters))
        pos = end + 1
        start = text.find(esc, pos)
    out.append(text[pos:])
    return "".join(out)


def _decode_sequence(body: str, whole: str, d: Delimiters) -> str:
    if len(body) == 1:
        simple = {
            "F": d.field,
            "S": d.component,
            "T": d.subcomponent,
            "R": d.repetition,
            "E": d.escape,
            "H": "",
            "N": "",
        }.get(body)
        if simple is not None:
            return simple
    if body[:1] == "X" and len(body) > 1 and len(body) % 2 == 1:
        try:
            raw = bytes.fromhex(body[1:])
        except ValueError:
            return whole
        # Hex data is bytes in the message's charset; our text is already
        # decoded, so read multi-byte runs as UTF-8 and fall back to Latin-1.
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return whole
