"""Seeded generator of a synthetic patient population with known truth.

Writes a canonical CSV (``record_id, given_name, middle_name, family_name, birth_date,
sex, street, city, postcode, phone, national_id, mother_maiden_name, email``) plus the
truth column ``person_id``, which a matcher must never see.

Each person gets 1..k records (``--dup-rate``); every record is a "source copy" with
realistic corruption: nicknames, umlauts written ae/oe/ue/ss by ASCII-only sources,
typos, missing fields, transposed day/month, one date component off, swapped
given/family names, married-name changes, moves, phone changes and partial phones,
national ids present in some sources only (sometimes with a typo).  Hard negatives are
planted on purpose: twins, junior/senior pairs and namesakes born in the same year.

Generation is chunked (a fixed number of persons per chunk, each chunk seeded from
``(seed, chunk_no)``), so memory stays flat and the output depends only on the
arguments.

Usage::

    python benchmarks/synth.py --persons 100000 --seed 42 -o synth.csv
    python benchmarks/synth.py --records 1000000 --seed 42 -o synth-1m.csv
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

try:  # run as a script (python benchmarks/synth.py) or imported as benchmarks.synth
    from benchmarks import synth_names as names
except ImportError:  # pragma: no cover - script mode puts benchmarks/ itself on sys.path
    import synth_names as names  # type: ignore[no-redef]

COLUMNS = [
    "record_id",
    "given_name",
    "middle_name",
    "family_name",
    "birth_date",
    "sex",
    "street",
    "city",
    "postcode",
    "phone",
    "national_id",
    "mother_maiden_name",
    "email",
]
TRUTH_COLUMN = "person_id"
DEFAULT_DUP_DIST = (0.5, 0.3, 0.1, 0.05, 0.05)

_EPOCH = date(1970, 1, 1).toordinal()
_FIRST_BIRTH = date(1930, 1, 1).toordinal() - _EPOCH
_LAST_BIRTH = date(2023, 12, 31).toordinal() - _EPOCH
_ASCII_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe",
                             "Ü": "Ue", "ß": "ss"})
_STRIP_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "Ä": "A", "Ö": "O", "Ü": "U",
                             "ß": "ss"})
_LETTERS = "abcdefghijklmnoprstuvwyz"
_BIG_CITY_AREA = {"Berlin": "30", "Hamburg": "40", "München": "89", "Köln": "221",
                  "Frankfurt am Main": "69", "Stuttgart": "711", "Düsseldorf": "211",
                  "Leipzig": "341", "Dortmund": "231", "Essen": "201", "Bremen": "421",
                  "Dresden": "351", "Hannover": "511", "Nürnberg": "911"}


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-record corruption probabilities for a duplicate copy of a person.

    The first record of each person uses ``first_copy_factor`` times these rates,
    because the first registration is usually the cleanest.
    """

    nickname: float = 0.12
    swap_names: float = 0.01
    married_name: float = 0.5  # of records (after the first) of a married woman
    typo_given: float = 0.05
    typo_family: float = 0.05
    typo_street: float = 0.04
    typo_city: float = 0.02
    typo_mother: float = 0.03
    ascii_source: float = 0.25  # whole record written without umlauts
    upper_source: float = 0.05  # whole record upper-cased
    missing_given: float = 0.01
    missing_family: float = 0.005
    missing_birth_date: float = 0.015
    missing_sex: float = 0.01
    missing_address: float = 0.03
    flip_sex: float = 0.003
    transpose_day_month: float = 0.01
    date_component_off: float = 0.02
    move: float = 0.12
    street_abbrev: float = 0.15
    typo_postcode: float = 0.01
    phone_present: float = 0.75
    phone_changed: float = 0.08
    phone_last_digits: float = 0.03
    national_id_present: float = 0.4
    national_id_typo: float = 0.02
    mother_present: float = 0.3
    email_present: float = 0.5
    email_changed: float = 0.05
    middle_present: float = 0.5
    middle_initial: float = 0.2
    first_copy_factor: float = 0.25


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """What to generate.

    Attributes:
        persons: number of distinct persons (ignored when ``records`` is set).
        seed: master seed; the output depends only on the config.
        records: if set, generate persons until exactly this many records exist.
        dup_dist: probabilities of a person having 1, 2, ... records.
        twin_rate, junior_rate, namesake_rate: share of persons planted as hard
            negatives of another person.
        error_scale: multiplies every corruption rate (0 gives clean copies).
        chunk_persons: persons per generation chunk (part of the seeding: keep fixed).
    """

    persons: int = 100_000
    seed: int = 42
    records: int | None = None
    dup_dist: tuple[float, ...] = DEFAULT_DUP_DIST
    twin_rate: float = 0.01
    junior_rate: float = 0.01
    namesake_rate: float = 0.02
    married_rate: float = 0.1
    error_scale: float = 1.0
    rates: Rates = field(default_factory=Rates)
    chunk_persons: int = 50_000

    def __post_init__(self) -> None:
        problems = []
        if self.persons < 1 and self.records is None:
            problems.append(f"persons={self.persons} must be >= 1")
        if self.records is not None and self.records < 1:
            problems.append(f"records={self.records} must be >= 1")
        if not self.dup_dist or any(p < 0 for p in self.dup_dist):
            problems.append(f"dup_dist={self.dup_dist} must be non-negative probabilities")
        elif abs(sum(self.dup_dist) - 1.0) > 1e-6:
            problems.append(f"dup_dist={self.dup_dist} must sum to 1")
        if self.twin_rate + self.junior_rate + self.namesake_rate > 0.5:
            problems.append("twin_rate + junior_rate + namesake_rate must be <= 0.5")
        if self.chunk_persons < 100:
            problems.append(f"chunk_persons={self.chunk_persons} must be >= 100")
        if problems:
            raise ValueError("invalid SynthConfig: " + "; ".join(problems))

    @property
    def mean_records_per_person(self) -> float:
        return float(sum((i + 1) * p for i, p in enumerate(self.dup_dist)))


def parse_dup_rate(text: str) -> tuple[float, ...]:
    """Parse ``--dup-rate``: a comma list of P(1 record), P(2), ... or one number.

    A single number ``r`` is the share of persons with more than one record; those
    get 2, 3, 4 or 5 records with shares 0.6, 0.2, 0.1, 0.1.
    """
    parts = [float(p) for p in text.split(",") if p.strip()]
    if len(parts) == 1:
        r = parts[0]
        if not 0 <= r <= 1:
            raise ValueError(f"--dup-rate {text!r}: a single rate must lie in [0, 1]")
        return (1 - r, 0.6 * r, 0.2 * r, 0.1 * r, 0.1 * r)
    total = sum(parts)
    if total <= 0:
        raise ValueError(f"--dup-rate {text!r}: probabilities must sum to > 0")
    return tuple(p / total for p in parts)


class _Sampler:
    """Weighted sampler over a fixed table of values."""

    def __init__(self, values: Sequence[str], weights: Sequence[float]) -> None:
        self.values = np.array(values, dtype=object)
        w = np.asarray(weights, dtype=float)
        self.cdf = np.cumsum(w / w.sum())
        self.cdf[-1] = 1.0

    def codes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.searchsorted(self.cdf, rng.random(n), side="right")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.values[self.codes(rng, n)]


def _tail_names(prefixes: str, middles: str, suffixes: str, count: int,
                salt: int) -> list[str]:
    """A fixed long tail of plausible rare family names built from syllables."""
    combos = [a + b + c for a, b, c in product(prefixes.split(), ["", *middles.split()],
                                               suffixes.split())]
    combos = sorted(set(combos))
    random.Random(salt).shuffle(combos)
    return [c.capitalize() for c in combos[:count]]


_DE_PREFIX = ("acker bauer berg brand busch eich feld fried gold grün hart hein hof horn "
              "kirch klein kreuz lang lind mahl neu ober ost rosen sonnen stein wald weiß "
              "west winter zimmer roth schön eber hasel kron lauten mühl rein sieg stroh "
              "blum dürr falk")
_DE_MIDDLE = "en er el s"
_DE_SUFFIX = ("mann er berg feld hof bach hausen huber meier stein ner inger wald ke hardt "
              "brecht ler rich wein haus thal dorf beck hagen kamp bichler")
_EN_PREFIX = ("ash black brad brook bur cald car chester cole cran dal dun east fair fox "
              "gold hal hart haw hay kings lang lock mar mid mor new north pem ray red rod "
              "rut shel south stan stock thorn west whit wind wood")
_EN_MIDDLE = "er ing en"
_EN_SUFFIX = ("ton ley ford field wood well by ham worth land more bury dale son stone wick "
              "cliffe hurst den man")


class Tables:
    """All value tables and samplers, built once (independent of the seed)."""

    def __init__(self) -> None:
        de_head = names.pairs(names.GERMAN_FAMILY)
        en_head = names.pairs(names.ENGLISH_FAMILY)
        # The head names cover ~30% of people; the Zipf-like tail the other 70%.
        self.family_de = self._family(de_head, _tail_names(_DE_PREFIX, _DE_MIDDLE,
                                                           _DE_SUFFIX, 20_000, 1))
        self.family_en = self._family(en_head, _tail_names(_EN_PREFIX, _EN_MIDDLE,
                                                           _EN_SUFFIX, 8_000, 2))
        self.given = {
            ("de", "F"): self._plain(names.GERMAN_FEMALE),
            ("de", "M"): self._plain(names.GERMAN_MALE),
            ("en", "F"): self._plain(names.ENGLISH_FEMALE),
            ("en", "M"): self._plain(names.ENGLISH_MALE),
        }
        streets = names.street_pairs()
        self.street = _Sampler([s for s, _ in streets], [w for _, w in streets])
        city_rows = names.cities()
        self.city = _Sampler([c for c, *_ in city_rows], [w for _, w, *_ in city_rows])
        self.city_pc_first = np.array([f for *_, f, _ in city_rows])
        self.city_pc_count = np.array([c for *_, c in city_rows])
        self.city_area = np.array(
            [_BIG_CITY_AREA.get(c, str(2000 + 37 * i)[:4]) for i, (c, *_) in
             enumerate(city_rows)], dtype=object)
        domains = names.pairs(names.EMAIL_DOMAINS)
        self.domain = _Sampler([d for d, _ in domains], [w for _, w in domains])
        self.nicknames = names.nicknames()
        self.similar = names.similar_twin_names()

    @staticmethod
    def _plain(text: str) -> _Sampler:
        rows = names.pairs(text)
        return _Sampler([n for n, _ in rows], [w for _, w in rows])

    @staticmethod
    def _family(head: list[tuple[str, float]], tail: list[str]) -> _Sampler:
        head_mass = sum(w for _, w in head)
        # offset Zipf: the commonest tail name stays well below the real head names
        ranks = np.arange(1, len(tail) + 1, dtype=float)
        tail_w = 1.0 / (ranks + len(tail) / 40)
        tail_w *= head_mass * (0.7 / 0.3) / tail_w.sum()
        return _Sampler([n for n, _ in head] + tail, [w for _, w in head] + list(tail_w))


@dataclass(slots=True)
class _People:
    """Person-level attributes of one chunk (arrays of equal length)."""

    pid: np.ndarray
    culture: np.ndarray  # "de" | "en"
    sex: np.ndarray  # "M" | "F"
    given: np.ndarray
    middle: np.ndarray  # "" when none
    family: np.ndarray
    married: np.ndarray  # married family name or ""
    dob: np.ndarray  # days since 1970-01-01
    street: np.ndarray
    house: np.ndarray
    city: np.ndarray  # city code
    postcode: np.ndarray  # int
    area: np.ndarray  # phone area code, "" for mobile numbers
    subscriber: np.ndarray
    national_id: np.ndarray
    mother: np.ndarray
    email: np.ndarray  # "" when none


class Generator:
    """Generates the population chunk by chunk."""

    def __init__(self, config: SynthConfig, tables: Tables | None = None) -> None:
        self.config = config
        self.tables = tables or Tables()

    # ---- persons -------------------------------------------------------------------

    def _given(self, rng: np.random.Generator, culture: np.ndarray,
               sex: np.ndarray) -> np.ndarray:
        out = np.empty(len(sex), dtype=object)
        for (cult, sx), sampler in self.tables.given.items():
            mask = (culture == cult) & (sex == sx)
            out[mask] = sampler.draw(rng, int(mask.sum()))
        return out

    def _family(self, rng: np.random.Generator, culture: np.ndarray) -> np.ndarray:
        # 8% of people carry a name from the other culture
        cross = rng.random(len(culture)) < 0.08
        german = (culture == "de") ^ cross
        out = np.empty(len(culture), dtype=object)
        out[german] = self.tables.family_de.draw(rng, int(german.sum()))
        out[~german] = self.tables.family_en.draw(rng, int((~german).sum()))
        return out

    def _address(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        t = self.tables
        city = t.city.codes(rng, n)
        postcode = t.city_pc_first[city] + rng.integers(0, t.city_pc_count[city])
        street = t.street.draw(rng, n)
        house = np.minimum(rng.geometric(0.03, n), 250)
        return street, house, city, postcode

    def _phone(self, rng: np.random.Generator, city: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(city)
        mobile = rng.random(n) < 0.4
        area = self.tables.city_area[city].copy()
        prefixes = np.array(["151", "152", "160", "162", "170", "171", "176", "179"],
                            dtype=object)
        area[mobile] = prefixes[rng.integers(0, len(prefixes), int(mobile.sum()))]
        subscriber = rng.integers(1_000_000, 9_999_999, n).astype(str).astype(object)
        return area, subscriber

    def _emails(self, rng: np.random.Generator, given: np.ndarray, family: np.ndarray,
                dob: np.ndarray) -> np.ndarray:
        n = len(given)
        pattern = rng.integers(0, 4, n)
        num = rng.integers(1, 99, n)
        domain = self.tables.domain.draw(rng, n)
        years = (dob // 365.25 + 70).astype(int) % 100
        out = np.empty(n, dtype=object)
        for i in range(n):
            g = _email_part(given[i])
            f = _email_part(family[i])
            p = pattern[i]
            if p == 0:
                user = f"{g}.{f}"
            elif p == 1:
                user = f"{g}{f}{num[i]}"
            elif p == 2:
                user = f"{g[:1]}.{f}{years[i]:02d}"
            else:
                user = f"{f}.{g}{num[i]}"
            out[i] = f"{user}@{domain[i]}"
        return out

    def _people(self, rng: np.random.Generator, first_pid: int, n: int) -> _People:
        culture = np.where(rng.random(n) < 0.75, "de", "en").astype(object)
        sex = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
        given = self._given(rng, culture, sex)
        middle = np.where(rng.random(n) < 0.3, self._given(rng, culture, sex), "")
        family = self._family(rng, culture)
        dob = rng.integers(_FIRST_BIRTH, _LAST_BIRTH, n)
        street, house, city, postcode = self._address(rng, n)
        area, subscriber = self._phone(rng, city)
        pid = np.arange(first_pid, first_pid + n)
        # an affine bijection keeps national ids unique yet random-looking
        national_id = (10_000_000_000 + (pid * 7_919_113_463 + 1_234_567_891)
                       % 89_999_999_999).astype(str).astype(object)
        mother = self._family(rng, culture)
        adult_woman = (sex == "F") & (dob < _LAST_BIRTH - 20 * 365)
        married_mask = adult_woman & (rng.random(n) < self.config.married_rate)
        married = np.where(married_mask, self._family(rng, culture), "")
        people = _People(pid, culture, sex, given, middle, family, married, dob, street,
                         house, city, postcode, area, subscriber, national_id, mother,
                         np.full(n, "", dtype=object))
        self._plant_hard_negatives(rng, people)
        has_email = rng.random(n) < 0.6
        people.email = np.where(has_email,
                                self._emails(rng, people.given, people.family, people.dob), "")
        return people

    def _plant_hard_negatives(self, rng: np.random.Generator, p: _People) -> None:
        cfg = self.config
        n = len(p.pid)
        order = rng.permutation(n)
        n_twin, n_jr, n_ns = (round(n * r) for r in
                              (cfg.twin_rate, cfg.junior_rate, cfg.namesake_rate))
        twins = order[:n_twin]
        juniors = order[n_twin:n_twin + n_jr]
        namesakes = order[n_twin + n_jr:n_twin + n_jr + n_ns]
        rest = order[n_twin + n_jr + n_ns:]
        if len(rest) == 0:
            return
        self._plant_twins(rng, p, twins, rng.choice(rest, len(twins)))
        self._plant_juniors(rng, p, juniors, rng.choice(rest, len(juniors)))
        base = rng.choice(rest, len(namesakes))
        # namesakes: same name and birth year, everything else their own
        for arr in (p.given, p.family, p.sex, p.culture):
            arr[namesakes] = arr[base]
        year = p.dob[base].astype("datetime64[D]").astype("datetime64[Y]")
        year_start = year.astype("datetime64[D]").astype(np.int64)
        p.dob[namesakes] = year_start + rng.integers(0, 365, len(namesakes))

    def _plant_twins(self, rng: np.random.Generator, p: _People, twins: np.ndarray,
                     base: np.ndarray) -> None:
        for arr in (p.family, p.dob, p.street, p.house, p.city, p.postcode, p.mother,
                    p.culture):
            arr[twins] = arr[base]
        # mobile prefixes start with "1"; twins share only a landline
        landline = np.array([not a.startswith("1") for a in p.area[base]], dtype=bool)
        p.area[twins[landline]] = p.area[base[landline]]
        p.subscriber[twins[landline]] = p.subscriber[base[landline]]
        similar = rng.random(len(twins)) < 0.3
        pairs = self.tables.similar
        picks = rng.integers(0, len(pairs), len(twins))
        for t, b, sim, k in zip(twins, base, similar, picks, strict=True):
            if sim:
                a_name, b_name, sx = pairs[k]
                p.given[b], p.given[t] = a_name, b_name
                if sx == "X":
                    p.sex[b], p.sex[t] = "M", "F"
                else:
                    p.sex[b] = p.sex[t] = sx
                p.middle[b] = p.middle[t] = ""
            elif p.given[t] == p.given[b]:
                p.given[t] = "Marie" if p.sex[t] == "F" else "Paul"
                if p.given[t] == p.given[b]:
                    p.given[t] = "Sophie" if p.sex[t] == "F" else "Felix"

    def _plant_juniors(self, rng: np.random.Generator, p: _People, jr: np.ndarray,
                       base: np.ndarray) -> None:
        for arr in (p.given, p.middle, p.family, p.sex, p.culture, p.street, p.house,
                    p.city, p.postcode):
            arr[jr] = arr[base]
        share_phone = rng.random(len(jr)) < 0.5
        p.area[jr[share_phone]] = p.area[base[share_phone]]
        p.subscriber[jr[share_phone]] = p.subscriber[base[share_phone]]
        p.married[jr] = ""
        gap = rng.integers(25 * 365, 35 * 365, len(jr))
        later = p.dob[base] + gap
        p.dob[jr] = np.where(later <= _LAST_BIRTH, later, p.dob[base] - gap)

    # ---- records -------------------------------------------------------------------

    def chunk(self, chunk_no: int, first_pid: int, n_persons: int,
              first_record: int) -> pd.DataFrame:
        """Generate the records of ``n_persons`` persons, shuffled, ids from first_record."""
        rng = np.random.default_rng([self.config.seed, chunk_no])
        prng = random.Random(int(rng.integers(0, 2**62)))
        people = self._people(rng, first_pid, n_persons)
        dist = np.asarray(self.config.dup_dist, dtype=float)
        counts = rng.choice(np.arange(1, len(dist) + 1), n_persons, p=dist / dist.sum())
        owner = np.repeat(np.arange(n_persons), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        copy_no = np.arange(len(owner)) - starts
        owner_order = rng.permutation(len(owner))
        owner, copy_no = owner[owner_order], copy_no[owner_order]
        rec = _RecordBuilder(self, rng, prng, people, owner, copy_no)
        df = rec.build()
        df.insert(0, "record_id", [f"R{first_record + i:08d}" for i in range(len(df))])
        df[TRUTH_COLUMN] = [f"P{x:08d}" for x in people.pid[owner]]
        return df

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Yield the population as DataFrames (canonical columns + person_id)."""
        cfg = self.config
        target_records = cfg.records
        persons_left = cfg.persons if target_records is None else None
        chunk_no = 0
        first_pid = 0
        written = 0
        while True:
            if target_records is not None:
                left = target_records - written
                if left <= 0:
                    return
                # a little over the expected need, then trim: keeps chunks full-size
                want = int(left / cfg.mean_records_per_person * 1.05) + 10
                n = min(cfg.chunk_persons, want)
            else:
                assert persons_left is not None
                if persons_left <= 0:
                    return
                n = min(cfg.chunk_persons, persons_left)
                persons_left -= n
            df = self.chunk(chunk_no, first_pid, n, written)
            if target_records is not None and len(df) > target_records - written:
                df = df.iloc[: target_records - written]
            written += len(df)
            first_pid += n
            chunk_no += 1
            yield df


def _email_part(name: str) -> str:
    return name.lower().translate(_ASCII_FOLD).replace(" ", "").replace("-", "")


def _typo(s: str, r: random.Random) -> str:
    """One keyboard slip: insert, delete, substitute or transpose a character."""
    if not s:
        return s
    op = r.randrange(4)
    i = r.randrange(len(s))
    ch = r.choice(_LETTERS)
    if s[i].isupper():
        ch = ch.upper()
    if op == 0:
        return s[:i] + ch + s[i:]
    if op == 1 and len(s) > 2:
        return s[:i] + s[i + 1:]
    if op == 3 and len(s) > 2 and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + ch + s[i + 1:]


def _digit_typo(s: str, r: random.Random) -> str:
    if len(s) < 2:
        return s
    i = r.randrange(len(s) - 1)
    if r.random() < 0.5:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + str((int(s[i]) + r.randrange(1, 10)) % 10) + s[i + 1:]


class _RecordBuilder:
    """Turns persons into corrupted source records (one row per (person, copy))."""

    def __init__(self, gen: Generator, rng: np.random.Generator, prng: random.Random,
                 people: _People, owner: np.ndarray, copy_no: np.ndarray) -> None:
        self.gen = gen
        self.rng = rng
        self.prng = prng
        self.p = people
        self.owner = owner
        self.n = len(owner)
        scale = np.where(copy_no == 0, gen.config.rates.first_copy_factor, 1.0)
        self.scale = scale * gen.config.error_scale
        self.copy_no = copy_no
        self.rates = gen.config.rates

    def hit(self, rate: float, scaled: bool = True) -> np.ndarray:
        """Boolean mask of records hit by an event of the given per-record rate."""
        p = rate * self.scale if scaled else rate
        return self.rng.random(self.n) < p

    def loop(self, arr: np.ndarray, mask: np.ndarray, fn: object) -> None:
        r = self.prng
        for i in np.flatnonzero(mask):
            v = arr[i]
            if v:
                arr[i] = fn(v, r)  # type: ignore[operator]

    def build(self) -> pd.DataFrame:
        p, o, rt = self.p, self.owner, self.rates
        given = p.given[o].copy()
        family = p.family[o].copy()
        married = p.married[o]
        use_married = (married != "") & (self.copy_no > 0) & self.hit(rt.married_name, False)
        family[use_married] = married[use_married]
        self._nicknames(given)
        middle = self._middle(p.middle[o])
        swap = self.hit(rt.swap_names)
        given[swap], family[swap] = family[swap], given[swap].copy()
        self.loop(given, self.hit(rt.typo_given), _typo)
        self.loop(family, self.hit(rt.typo_family), _typo)
        street, house, city_code, postcode = self._addresses()
        city = self.gen.tables.city.values[city_code]
        self.loop(street, self.hit(rt.typo_street), _typo)
        self.loop(city, self.hit(rt.typo_city), _typo)
        mother = np.where(self.hit(rt.mother_present, False), p.mother[o], "")
        self.loop(mother, self.hit(rt.typo_mother), _typo)
        street = np.array([f"{s} {h}" for s, h in zip(street, house, strict=True)],
                          dtype=object)
        pc = np.char.zfill(postcode.astype(str), 5).astype(object)
        self.loop(pc, self.hit(rt.typo_postcode), _digit_typo)
        texts = [given, middle, family, street, city, mother]
        self._source_styles(texts)
        sex = p.sex[o].copy()
        flip = self.hit(rt.flip_sex)
        sex[flip] = np.where(sex[flip] == "M", "F", "M")
        df = pd.DataFrame({
            "given_name": given, "middle_name": middle, "family_name": family,
            "birth_date": self._birth_dates(), "sex": sex, "street": street,
            "city": city, "postcode": pc, "phone": self._phones(),
            "national_id": self._national_ids(), "mother_maiden_name": mother,
            "email": self._emails(),
        })
        for col, rate in (("given_name", rt.missing_given), ("family_name", rt.missing_family),
                          ("birth_date", rt.missing_birth_date), ("sex", rt.missing_sex)):
            df.loc[self.hit(rate), col] = ""
        gone = self.hit(rt.missing_address)
        df.loc[gone, ["street", "city", "postcode"]] = ""
        return df

    def _nicknames(self, given: np.ndarray) -> None:
        nick = self.gen.tables.nicknames
        r = self.prng
        for i in np.flatnonzero(self.hit(self.rates.nickname)):
            variants = nick.get(given[i])
            if variants:
                given[i] = r.choice(variants)

    def _middle(self, middle: np.ndarray) -> np.ndarray:
        out = np.where(self.hit(self.rates.middle_present, False), middle, "")
        initial = self.hit(self.rates.middle_initial, False) & (out != "")
        out[initial] = [m[0] for m in out[initial]]
        return out

    def _addresses(self) -> tuple[np.ndarray, ...]:
        p, o = self.p, self.owner
        street, house = p.street[o].copy(), p.house[o].copy()
        city, postcode = p.city[o].copy(), p.postcode[o].copy()
        moved = self.hit(self.rates.move) & (self.copy_no > 0)
        m = int(moved.sum())
        street[moved], house[moved], city[moved], postcode[moved] = \
            self.gen._address(self.rng, m)
        abbrev = self.hit(self.rates.street_abbrev, False)
        for i in np.flatnonzero(abbrev):
            s = street[i]
            if s.endswith("straße"):
                street[i] = s[:-6] + ("str." if self.prng.random() < 0.7 else "strasse")
        return street, house, city, postcode

    def _source_styles(self, texts: list[np.ndarray]) -> None:
        """ASCII-only sources fold umlauts (mostly ae/oe/ue/ss); some shout in capitals."""
        ascii_src = self.hit(self.rates.ascii_source, False)
        strip = ascii_src & (self.rng.random(self.n) < 0.15)
        upper = self.hit(self.rates.upper_source, False)
        for arr in texts:
            for i in np.flatnonzero(ascii_src):
                v = arr[i]
                if v and not v.isascii():
                    arr[i] = v.translate(_STRIP_FOLD if strip[i] else _ASCII_FOLD)
            for i in np.flatnonzero(upper):
                arr[i] = arr[i].upper()

    def _birth_dates(self) -> np.ndarray:
        rt = self.rates
        d = self.p.dob[self.owner].astype("datetime64[D]")
        y = d.astype("datetime64[Y]").astype(int) + 1970
        m = d.astype("datetime64[M]").astype(int) % 12 + 1
        day = (d - d.astype("datetime64[M]")).astype(int) + 1
        swap = self.hit(rt.transpose_day_month) & (day <= 12) & (day != m)
        m[swap], day[swap] = day[swap], m[swap].copy()
        off = self.hit(rt.date_component_off)
        which = self.rng.integers(0, 3, self.n)
        delta = self.rng.choice(np.array([-2, -1, 1, 2]), self.n)
        day = np.where(off & (which == 0), np.clip(day + delta, 1, 28), day)
        m = np.where(off & (which == 1), (m - 1 + np.sign(delta)) % 12 + 1, m)
        y = np.where(off & (which == 2), y + np.where(np.abs(delta) == 2, 10 * np.sign(delta),
                                                      np.sign(delta)), y)
        # a shifted month can leave day 29-31 invalid: clamp to 28 there
        day = np.where(off & (which == 1) & (day > 28), 28, day)
        return np.array([f"{a:04d}-{b:02d}-{c:02d}" for a, b, c in zip(y, m, day, strict=True)],
                        dtype=object)

    def _phones(self) -> np.ndarray:
        rt, p, o = self.rates, self.p, self.owner
        area, sub = p.area[o].copy(), p.subscriber[o].copy()
        changed = self.hit(rt.phone_changed) & (self.copy_no > 0)
        new_area, new_sub = self.gen._phone(self.rng, p.city[o][changed])
        area[changed], sub[changed] = new_area, new_sub
        present = self.hit(rt.phone_present, False)
        last_only = self.hit(rt.phone_last_digits)
        style = self.rng.integers(0, 5, self.n)
        out = np.full(self.n, "", dtype=object)
        for i in np.flatnonzero(present):
            a, s = area[i], sub[i]
            if last_only[i]:
                out[i] = s
                continue
            k = style[i]
            if k == 0:
                out[i] = f"0{a} {s}"
            elif k == 1:
                out[i] = f"0{a}/{s}"
            elif k == 2:
                out[i] = f"+49 {a} {s}"
            elif k == 3:
                out[i] = f"0{a}{s}"
            else:
                out[i] = f"0{a}-{s[:3]} {s[3:]}"
        return out

    def _national_ids(self) -> np.ndarray:
        rt = self.rates
        ids = np.where(self.hit(rt.national_id_present, False),
                       self.p.national_id[self.owner], "")
        self.loop(ids, self.hit(rt.national_id_typo, False), _digit_typo)
        return ids

    def _emails(self) -> np.ndarray:
        rt, p, o = self.rates, self.p, self.owner
        emails = np.where(self.hit(rt.email_present, False), p.email[o], "")
        changed = self.hit(rt.email_changed) & (emails != "")
        idx = np.flatnonzero(changed)
        if len(idx):
            emails[idx] = self.gen._emails(self.rng, p.given[o[idx]], p.family[o[idx]],
                                           p.dob[o[idx]])
        return emails


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """What ``write_csv`` wrote."""

    path: Path
    records: int
    persons: int
    seconds: float


def write_csv(config: SynthConfig, path: str | Path) -> SynthSummary:
    """Generate the population described by ``config`` and write it as CSV (UTF-8)."""
    path = Path(path)
    start = time.perf_counter()
    records = 0
    persons = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        for i, df in enumerate(Generator(config).chunks()):
            df.to_csv(fh, index=False, header=(i == 0))
            records += len(df)
            persons += int(df[TRUTH_COLUMN].nunique())  # person ids never span chunks
    return SynthSummary(path, records, persons, time.perf_counter() - start)


def generate_frame(config: SynthConfig) -> pd.DataFrame:
    """Generate the whole population in memory (for tests and small runs)."""
    return pd.concat(list(Generator(config).chunks()), ignore_index=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--persons", type=int, help="number of distinct persons")
    size.add_argument("--records", type=int, help="exact number of records instead")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("-o", "--output", required=True, help="CSV file to write")
    parser.add_argument("--dup-rate", default=None,
                        help="P(1 record),P(2),... per person, or one number = share of "
                             "persons with duplicates (default 0.5,0.3,0.1,0.05,0.05)")
    parser.add_argument("--twin-rate", type=float, default=0.01)
    parser.add_argument("--junior-rate", type=float, default=0.01)
    parser.add_argument("--namesake-rate", type=float, default=0.02)
    parser.add_argument("--error-scale", type=float, default=1.0,
                        help="multiply every corruption rate (0 = clean copies)")
    args = parser.parse_args(argv)
    try:
        config = SynthConfig(
            persons=args.persons or 0, records=args.records, seed=args.seed,
            dup_dist=parse_dup_rate(args.dup_rate) if args.dup_rate else DEFAULT_DUP_DIST,
            twin_rate=args.twin_rate, junior_rate=args.junior_rate,
            namesake_rate=args.namesake_rate, error_scale=args.error_scale)
    except ValueError as e:
        parser.error(str(e))
    summary = write_csv(config, args.output)
    print(f"wrote {summary.records:,} records of {summary.persons:,} persons to "
          f"{summary.path} in {summary.seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
