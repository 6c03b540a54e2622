"""Golden-view survivorship: most trusted source, most complete, most recent, then ref order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from matching.record import Record
from mpi.domain import RecordStatus, SourceRecord, SourceRecordRef
from mpi.service.stewardship import golden_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(
    domain: str, id_: str, age_days: int, status: RecordStatus = RecordStatus.ACTIVE, **fields: str
) -> SourceRecord:
    ref = SourceRecordRef(domain, id_)
    return SourceRecord(
        pk=hash(ref) & 0xFFFF,
        ref=ref,
        demographics=Record(str(ref), **fields),
        pid={},
        status=status,
        enterprise_id="E000000001",
        created_at=T0,
        updated_at=T0 - timedelta(days=age_days),
    )


def _golden(
    *records: SourceRecord, trusted: frozenset[str] = frozenset()
) -> dict[str, tuple[str, str, str]]:
    return {g.field: (g.value, str(g.source), g.rule) for g in golden_record(records, trusted)}


def test_the_most_recent_record_wins_among_equals() -> None:
    g = _golden(_record("A", "1", 5, city="Old Town"), _record("B", "2", 1, city="New Town"))
    assert g["city"] == ("New Town", "B|2", "most recent")


def test_a_trusted_domain_beats_a_more_recent_one() -> None:
    g = _golden(
        _record("NATID", "9", 100, family_name="Meyer"),
        _record("B", "2", 1, family_name="Maier"),
        trusted=frozenset({"NATID"}),
    )
    assert g["family_name"] == ("Meyer", "NATID|9", "most trusted source")


def test_a_more_complete_value_beats_a_more_recent_one() -> None:
    g = _golden(
        _record("A", "1", 30, birth_date="19700412", given_name="Johannes"),
        _record("B", "2", 1, birth_date="1970", given_name="J."),
    )
    assert g["birth_date"] == ("19700412", "A|1", "most complete")
    assert g["given_name"] == ("Johannes", "A|1", "most complete")


def test_a_single_source_subsumed_records_and_ties() -> None:
    g = _golden(
        _record("A", "1", 3, phone="555-1"),
        _record("B", "2", 0, RecordStatus.SUBSUMED, phone="555-2", email="x@y"),
        _record("C", "3", 3, city="X"),
        _record("A", "0", 3, city="X"),
    )
    assert g["phone"] == ("555-1", "A|1", "only source")
    assert "email" not in g  # only the subsumed record had one
    assert g["city"] == ("X", "A|0", "tie (domain and id)")
    assert "street" not in g
