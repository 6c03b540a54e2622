"""Store test helpers (a module, not the conftest, so tests can import it by a unique name)."""

from __future__ import annotations

from typing import Any

from matching.record import Record
from mpi.domain import IdentityDomain, NewSourceRecord, SourceRecordRef, SourceSystem

DOMAINS = (
    IdentityDomain("MPI", "2.999.1", "ISO", enterprise=True),
    IdentityDomain("NORTHGEN", "2.999.10.1", "ISO", sources=(SourceSystem("NG_ADT", "NORTHGEN"),)),
    IdentityDomain("RIVERCL", "2.999.10.2", "ISO"),
    IdentityDomain("NATID", "2.999.99", "ISO", trusted=True),
)


def new_record(domain: str, source_id: str, **fields: Any) -> NewSourceRecord:
    """A record to register; ``pid`` and ``identifiers`` may be given among the fields."""
    pid = fields.pop("pid", {"names": [{"family": fields.get("family_name")}]})
    identifiers = tuple(fields.pop("identifiers", ()))
    ref = SourceRecordRef(domain, source_id)
    return NewSourceRecord(ref, Record(record_id=str(ref), **fields), pid, identifiers)
