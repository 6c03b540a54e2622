"""MSH-18 character set names (HL7 Table 0211) and the Python codecs for them.

Accepted names: ``ASCII`` (and empty: the default), ``8859/1`` .. ``8859/9``,
``8859/15``, ``UNICODE UTF-8`` (also on 2.3.1, whose table lacks it),
``UNICODE`` (read as UTF-8, as 2.3.1 senders mean it), ``UTF-8``, the
``ISO IR`` aliases of those, and a few national sets Python knows (GB 18030,
KS X 1001, BIG-5). UTF-16/32 cannot travel inside MLLP's single-byte framing
and are refused.
"""

from __future__ import annotations

__all__ = ["UTF8_NAME", "charset_name", "python_codec"]

UTF8_NAME = "UNICODE UTF-8"

_CODECS: dict[str, str] = {
    "": "ascii",
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin_1",
    "ISO IR100": "latin_1",
    "8859/2": "iso8859_2",
    "ISO IR101": "iso8859_2",
    "8859/3": "iso8859_3",
    "ISO IR109": "iso8859_3",
    "8859/4": "iso8859_4",
    "ISO IR110": "iso8859_4",
    "8859/5": "iso8859_5",
    "ISO IR144": "iso8859_5",
    "8859/6": "iso8859_6",
    "ISO IR127": "iso8859_6",
    "8859/7": "iso8859_7",
    "ISO IR126": "iso8859_7",
    "8859/8": "iso8859_8",
    "ISO IR138": "iso8859_8",
    "8859/9": "iso8859_9",
    "ISO IR148": "iso8859_9",
    "8859/15": "iso8859_15",
    "UNICODE UTF-8": "utf_8",
    "UNICODE": "utf_8",
    "UTF-8": "utf_8",
    "ISO IR192": "utf_8",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
}

# The name we write in a response's MSH-18 for each codec we encode with.
_NAMES: dict[str, str] = {
    "ascii": "ASCII",
    "latin_1": "8859/1",
    "utf_8": UTF8_NAME,
    **{f"iso8859_{n}": f"8859/{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 15)},
    "gb18030": "GB 18030-2000",
    "euc_kr": "KS X 1001",
    "big5": "BIG-5",
}


def python_codec(name: str) -> str | None:
    """The Python codec for an MSH-18 value, or ``None`` if we cannot decode it.

    Args:
        name: MSH-18 (first repetition), compared case-insensitively with
            surrounding blanks ignored.
    """
    return _CODECS.get(" ".join(name.upper().split()))


def charset_name(codec: str) -> str:
    """The MSH-18 value that declares a Python codec returned by :func:`python_codec`."""
    return _NAMES[codec]
