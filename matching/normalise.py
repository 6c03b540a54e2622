"""Normalisation of record values: the one place where spelling variants are folded.

Every comparison, blocking key and PDQ search compares values after these
functions, so ``Müller``, ``MUELLER`` and ``mueller`` are one name, and
``Straße`` equals ``Strasse``. All functions are pure and idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

import jellyfish

__all__ = [
    "name_groups",
    "normalise_digits",
    "normalise_email",
    "normalise_id",
    "normalise_name",
    "normalise_postcode",
    "normalise_text",
    "phonetic",
]

# German umlauts are written ae/oe/ue by systems that cannot store them; fold
# the umlaut into that spelling (not into a bare vowel) so both forms agree.
_TRANSLITERATE = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "å": "a",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
    }
)
_NON_WORD = re.compile(r"[^a-z0-9 \-]+")
_SPACES = re.compile(r"\s+")
_HYPHEN_SPACES = re.compile(r"\s*-\s*")
_NAME_NOISE = re.compile(r"[^a-z \-]+")
_NOT_DIGIT = re.compile(r"\D+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


@lru_cache(maxsize=200_000)
def normalise_text(value: str | None) -> str | None:
    """Fold case, umlauts, accents, punctuation and white space.

    Returns ``None`` for a value that is empty after folding.
    """
    if value is None:
        return None
    text = value.lower().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NON_WORD.sub(" ", text.replace("'", "").replace("`", ""))
    text = _HYPHEN_SPACES.sub("-", text)
    text = _SPACES.sub(" ", text).strip(" -")
    return text or None


@lru_cache(maxsize=200_000)
def normalise_name(value: str | None) -> str | None:
    """Normalise a personal name: :func:`normalise_text` without digits.

    Hyphens and spaces between parts are kept (``mueller-luedenscheidt``), so
    that multi-part names can be compared part by part.
    """
    text = normalise_text(value)
    if text is None:
        return None
    text = _HYPHEN_SPACES.sub("-", _NAME_NOISE.sub("", text))  # "a-0 a" -> "a- a" -> "a-a"
    text = _SPACES.sub(" ", text).strip(" -")
    return text or None


def normalise_digits(value: str | None) -> str | None:
    """Keep the digits of a phone number; ``+49`` and ``0049`` become ``0``."""
    if value is None:
        return None
    text = value.strip()
    digits = _NOT_DIGIT.sub("", text)
    if text.startswith("+"):
        digits = "0" + digits[2:] if len(digits) > 2 else digits
    elif digits.startswith("00") and len(digits) > 4:
        digits = "0" + digits[4:]
    return digits or None


def normalise_postcode(value: str | None) -> str | None:
    """Upper-case a postcode and drop spaces and punctuation."""
    if value is None:
        return None
    text = _NOT_ALNUM.sub("", value.upper())
    return text or None


def normalise_id(value: str | None) -> str | None:
    """Normalise an identifier (national id): upper case, letters and digits only."""
    if value is None:
        return None
    text = _NOT_ALNUM.sub("", value.upper())
    return text or None


def normalise_email(value: str | None) -> str | None:
    """Lower-case and trim an e-mail address; ``None`` if it has no ``@``."""
    if value is None:
        return None
    text = value.strip().lower()
    return text if "@" in text else None


@lru_cache(maxsize=1)
def _nickname_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    text = resources.files("matching").joinpath("data/nicknames.txt").read_text("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names = [n for n in (normalise_name(w) for w in line.split()) if n is not None]
        canonical = names[0]
        for name in names:
            groups = table.setdefault(name, [])
            if canonical not in groups:
                groups.append(canonical)
    return {name: tuple(groups[:2]) for name, groups in table.items()}


def name_groups(value: str | None) -> tuple[str | None, str | None]:
    """The (at most two) nickname groups a normalised given name belongs to.

    A name outside the table is its own group. Two given names are variants
    of each other when they share a group (Bob ~ Robert, Hannes ~ Johannes).
    For a multi-part name the first part decides.
    """
    if value is None:
        return (None, None)
    first = value.split(" ")[0].split("-")[0]
    groups = _nickname_table().get(first)
    if groups is None:
        return (first, None)
    return (groups[0], groups[1] if len(groups) > 1 else None)


@lru_cache(maxsize=200_000)
def phonetic(value: str | None, algorithm: str = "metaphone") -> str | None:
    """A phonetic key of a normalised value (``soundex``, ``nysiis`` or ``metaphone``).

    Hyphens and spaces are removed first, so ``mueller-schmidt`` is keyed as one word.
    """
    if value is None:
        return None
    word = value.replace(" ", "").replace("-", "")
    if not word:
        return None
    if algorithm == "soundex":
        key = jellyfish.soundex(word)
    elif algorithm == "nysiis":
        key = jellyfish.nysiis(word)
    elif algorithm == "metaphone":
        key = jellyfish.metaphone(word)
    else:
        raise ValueError(f"algorithm: {algorithm!r} must be soundex, nysiis or metaphone")
    return key or None
