"""Builders for the API tests: settings with one token per role, ITI-8 messages, a client."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from hl7.codec import decode
from mpi.domain import Role, SourceSystem
from mpi.settings import (
    ApiSettings,
    ApiToken,
    DatabaseSettings,
    DomainSettings,
    EnterpriseSettings,
    Settings,
    SubscriberSettings,
)

with warnings.catch_warnings():
    # starlette's TestClient warns that it wants httpx2 at import time; the client itself works.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = [
    "ADMIN",
    "NG",
    "RC",
    "READER",
    "REVIEWER",
    "Feed",
    "TestClient",
    "adt",
    "api_settings",
    "auth",
]

NG = SourceSystem("NG_ADT", "NORTHGEN")
RC = SourceSystem("RC_ADT", "RIVERCL")
ADMIN, REVIEWER, READER = "admin-secret-1", "reviewer-secret-2", "reader-secret-3"

Feed = Callable[..., None]
"""The ``feed`` fixture: send one ITI-8 message, which must be accepted."""


def api_settings(db_url: str) -> Settings:
    """Two facilities, a trusted national-id domain, a subscriber, and one token per role."""
    return Settings(
        enterprise=EnterpriseSettings("MPI", "2.999.1"),
        domains=(
            DomainSettings("NORTHGEN", "2.999.10.1", sources=(NG,)),
            DomainSettings("RIVERCL", "2.999.10.2", sources=(RC,)),
            DomainSettings("NATID", "2.999.99", trusted=True),
        ),
        subscribers=(
            SubscriberSettings("HIE_PORTAL", "CITYHIE", "127.0.0.1", 3100, ("NORTHGEN", "RIVERCL")),
        ),
        api=ApiSettings(
            (
                ApiToken(ADMIN, Role.ADMIN, "alice"),
                ApiToken(REVIEWER, Role.REVIEWER, "bob"),
                ApiToken(READER, Role.READER, "carol"),
            )
        ),
        database=DatabaseSettings(db_url),
    )


def auth(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def adt(
    control_id: str,
    pid3: str,
    name: str = "SMITH^JOHN^^^^^L",
    *,
    event: str = "A01",
    sender: SourceSystem = NG,
    birth: str = "19700412",
    sex: str = "M",
    address: str = "12 HIGH STREET^^SPRINGFIELD^^62701^^H",
    phone: str = "(217)555-0101^PRN^PH",
) -> bytes:
    """An ITI-8 ``ADT`` (2.3.1) with one PID."""
    pid = [""] * 14
    pid[1], pid[3], pid[5], pid[7], pid[8], pid[11], pid[13] = (
        "1",
        pid3,
        name,
        birth,
        sex,
        address,
        phone,
    )
    segments = [
        f"MSH|^~\\&|{sender.application}|{sender.facility}|EMPI|MPIHOST|20260101120000||"
        f"ADT^{event}^ADT_{event}|{control_id}|P|2.3.1",
        f"EVN|{event}|20260101120000",
        "PID|" + "|".join(pid[1:]).rstrip("|"),
        "PV1||O",
    ]
    return ("\r".join(segments) + "\r").encode("ascii")


def msa(ack: bytes) -> str:
    """MSA-1 of an ACK."""
    segment = decode(ack).segment("MSA")
    assert segment is not None
    return str(segment.get(1))


def ids(person: dict[str, Any]) -> list[str]:
    """The ``domain|id`` of a person's records in a GET /api/persons answer."""
    return sorted(f"{r['domain']}|{r['id']}" for r in person["records"])
