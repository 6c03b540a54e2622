from hypothesis import given
from hypothesis import strategies as st

from matching.normalise import (
    name_groups,
    normalise_digits,
    normalise_name,
    normalise_text,
    phonetic,
)

text = st.text(max_size=30)


@given(text)
def test_normalise_text_is_idempotent(value: str) -> None:
    once = normalise_text(value)
    assert normalise_text(once) == once


@given(text)
def test_normalise_name_is_idempotent_and_ascii(value: str) -> None:
    once = normalise_name(value)
    assert normalise_name(once) == once
    if once is not None:
        assert once.isascii() and once == once.lower() and once.strip(" -") == once


def test_umlauts_equal_their_transliteration() -> None:
    assert normalise_name("Müller") == normalise_name("MUELLER") == "mueller"
    assert normalise_name("Weiß") == normalise_name("Weiss")
    assert normalise_name("Jürgen") == normalise_name("Juergen")
    assert normalise_text("Straße") == "strasse"


def test_accents_case_and_punctuation_fold() -> None:
    assert normalise_name("José  María") == "jose maria"
    assert normalise_name("O'Brien") == "obrien"
    assert normalise_name("Müller - Lüdenscheidt") == "mueller-luedenscheidt"
    assert normalise_name("   ") is None
    assert normalise_name(None) is None


def test_nicknames_share_a_group() -> None:
    assert name_groups("bob")[0] == name_groups("robert")[0]
    assert name_groups("hannes")[0] == name_groups("johannes")[0]
    assert name_groups("kathi")[0] == name_groups("katharina")[0]
    assert "christopher" in name_groups("chris") and "christian" in name_groups("chris")
    assert name_groups("zzyzx") == ("zzyzx", None)


def test_phone_digits_fold_country_code() -> None:
    assert normalise_digits("+49 30 1234567") == normalise_digits("030/1234567") == "0301234567"
    assert normalise_digits("0049 30 1234567") == "0301234567"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_phonetic_keys_ignore_hyphens(value: str) -> None:
    assert phonetic(value) == phonetic(value[:1] + "-" + value[1:]) if len(value) > 1 else True
