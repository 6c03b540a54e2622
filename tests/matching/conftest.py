"""Shared fixtures for the matching tests: a small seeded population with typical errors."""

from __future__ import annotations

import random

import pandas as pd
import pytest

GIVEN = [
    "Johannes",
    "Hannes",
    "Robert",
    "Bob",
    "Katharina",
    "Kathi",
    "Anna",
    "Anne",
    "Jürgen",
    "Juergen",
    "Max",
    "Moritz",
    "Lisa",
    "Elisabeth",
    "Peter",
    "Paul",
    "Maria",
    "Marie",
]
FAMILY = [
    "Müller",
    "Mueller",
    "Schmidt",
    "Schmitt",
    "Meyer",
    "Maier",
    "Weiß",
    "Weiss",
    "Müller-Lüdenscheidt",
    "Smith",
    "Jones",
    "O'Brien",
    "Groß",
    "Gross",
    "Becker",
]
CITIES = ["Köln", "Koeln", "Berlin", "München", "Muenchen", "Hamburg"]


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    k = rng.randrange(len(s) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return s[:k] + s[k + 1] + s[k] + s[k + 2 :]
    if kind == 1:
        return s[:k] + s[k + 1 :]
    return s[:k] + rng.choice("aeiourst") + s[k + 1 :]


def make_population(n_persons: int, seed: int) -> pd.DataFrame:
    """Persons with 1-3 records each, typos, swaps, partial dates, missing values."""
    rng = random.Random(seed)
    rows = []
    for p in range(n_persons):
        base = {
            "given_name": rng.choice(GIVEN),
            "family_name": rng.choice(FAMILY),
            "birth_date": f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            "sex": rng.choice("MF"),
            "street": f"{rng.randint(1, 200)} {rng.choice(['Hauptstraße', 'Bahnhofstr.', 'Lindenweg', 'High Street'])}",
            "city": rng.choice(CITIES),
            "postcode": f"{rng.randint(10000, 99999)}",
            "phone": f"+49 {rng.randint(100, 999)} {rng.randint(100000, 9999999)}",
            "national_id": f"{rng.randint(10**9, 10**10 - 1)}" if rng.random() < 0.5 else None,
        }
        for c in range(rng.choice([1, 1, 2, 2, 3])):
            row = dict(base, record_id=f"r{p}-{c}", person=p)
            if c:
                field = rng.choice(
                    [
                        "given_name",
                        "family_name",
                        "street",
                        "city",
                        "phone",
                        "birth_date",
                        "swap",
                        "none",
                    ]
                )
                if field in ("given_name", "family_name", "street", "city"):
                    row[field] = _typo(rng, row[field])
                elif field == "birth_date":
                    d = row["birth_date"]
                    swapped = d[:4] + d[6:8] + d[4:6] if int(d[6:8]) <= 12 else d[:6]
                    row["birth_date"] = rng.choice([d[:4], d[:6], swapped])
                elif field == "swap":
                    row["given_name"], row["family_name"] = row["family_name"], row["given_name"]
                elif field == "phone":
                    row["phone"] = None
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def population() -> pd.DataFrame:
    return make_population(300, seed=7)
