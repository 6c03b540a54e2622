"""Builders of ITI-8 messages for the service tests (a module with a unique name)."""

from __future__ import annotations

from hl7.codec import decode
from mpi.domain import SourceSystem

NG = SourceSystem("NG_ADT", "NORTHGEN")
RC = SourceSystem("RC_ADT", "RIVERCL")


def adt(
    event: str,
    control_id: str,
    pid3: str,
    name: str = "SMITH^JOHN^^^^^L",
    *,
    sender: SourceSystem = NG,
    birth: str = "19700412",
    sex: str = "M",
    address: str = "12 HIGH STREET^^SPRINGFIELD^^62701^^H",
    phone: str = "(217)555-0101^PRN^PH",
    mother_maiden: str = "",
    national_id: str = "",
    mother_id: str = "",
    mrg: str | None = None,
    message_type: str | None = None,
) -> bytes:
    """An ``ADT`` message (2.3.1) with one PID (and an MRG for A40)."""
    structure = "ADT_A39" if event == "A40" else f"ADT_{event}"
    msh9 = message_type or f"ADT^{event}^{structure}"
    pid = [""] * 22
    pid[1], pid[3], pid[5], pid[6] = "1", pid3, name, mother_maiden
    pid[7], pid[8], pid[11], pid[13] = birth, sex, address, phone
    pid[19], pid[21] = national_id, mother_id
    segments = [
        f"MSH|^~\\&|{sender.application}|{sender.facility}|EMPI|MPIHOST|20260101120000||"
        f"{msh9}|{control_id}|P|2.3.1",
        f"EVN|{event}|20260101120000",
        "PID|" + "|".join(pid[1:]).rstrip("|"),
    ]
    if mrg is not None:
        segments.append(f"MRG|{mrg}")
    segments.append("PV1||O")
    return ("\r".join(segments) + "\r").encode("ascii")


def ack_fields(ack: bytes) -> tuple[str, str, str]:
    """MSA-1, MSA-2 and the whole ERR-1 (2.3.1) or ERR-2/ERR-3 (2.5) of an ACK."""
    message = decode(ack)
    msa = message.segment("MSA")
    assert msa is not None
    err = message.segment("ERR")
    detail = ""
    if err is not None:
        detail = err.field(1) or f"{err.field(2)}|{err.field(3)}"
    return msa.get(1), msa.get(2), detail
