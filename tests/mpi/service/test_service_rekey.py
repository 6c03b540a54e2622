"""The stored blocking keys follow the blocking rules in use (rebuilt when they change)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from matching.blocking import record_keys, rules_fingerprint
from matching.prepare import prepare_record
from matching.record import Record
from matching.settings import BlockingRule
from mpi.domain import LinkMethod, NewSourceRecord, SourceRecordRef
from mpi.service import ServiceContext
from mpi.service.rekey import BLOCKING_STATE, ensure_blocking_keys
from mpi.store import Store
from mpi.store.blocking import hash_keys

ANNA = Record("NG-1", "Anna", None, "Berg", "19800101", "F", "Hauptstr. 5", "Köln", "50667")
JAN = Record("RC-7", "Jan", None, "Jansen", "19700707", "M", "Ring 1", "Bonn", "53111")


def _register(ctx: ServiceContext, ref: SourceRecordRef, record: Record) -> None:
    with ctx.store.unit_of_work() as uow:
        uow.records.add(NewSourceRecord(ref, record))
        eid = uow.persons.create().enterprise_id
        uow.links.link(ref, eid, score=1.0, method=LinkMethod.AUTO)
        uow.blocking.replace(ref, ["stale:key"])  # as an older release would have keyed it
        uow.commit()


def _keys(store: Store, ref: SourceRecordRef) -> list[int]:
    return store.run(lambda uow: uow.blocking.keys_of(ref))


def test_opening_records_the_rules_and_an_unchanged_index_is_left_alone(
    ctx: ServiceContext,
) -> None:
    rules = ctx.matcher.model.settings.blocking
    assert ctx.store.run(lambda uow: uow.index_state.get(BLOCKING_STATE)) == rules_fingerprint(
        rules
    )
    lines: list[str] = []
    assert ensure_blocking_keys(ctx.store, rules, lines.append) is None
    assert lines == []


def test_keys_made_by_other_rules_are_rebuilt_for_every_active_record(
    ctx: ServiceContext,
) -> None:
    anna, jan = SourceRecordRef("NORTHGEN", "NG-1"), SourceRecordRef("RIVERCL", "RC-7")
    _register(ctx, anna, ANNA)
    _register(ctx, jan, JAN)
    rules = (*ctx.matcher.model.settings.blocking, BlockingRule("city_sex", ("city", "sex")))
    lines: list[str] = []

    assert ensure_blocking_keys(ctx.store, rules, lines.append) == 2

    for ref, record in ((anna, ANNA), (jan, JAN)):
        keys = record_keys(prepare_record(record), rules)
        assert any(k.startswith("city_sex:") for k in keys)
        assert _keys(ctx.store, ref) == sorted(set(hash_keys(keys).tolist()))
    assert lines[-1] == "rebuilt the blocking keys of 2 records"
    indexes = {ix["name"] for ix in sa.inspect(ctx.store.engine).get_indexes("blocking_key")}
    assert "ix_blocking_key_key_hash" in indexes  # dropped for the rebuild, built again
    stored = ctx.store.run(lambda uow: uow.index_state.get(BLOCKING_STATE))
    assert stored == rules_fingerprint(rules)
    assert ensure_blocking_keys(ctx.store, rules, lines.append) is None  # once only


def test_fingerprint_follows_the_keys_not_the_block_limits() -> None:
    rule = BlockingRule("names", ("given_sdx", "family_sdx"))
    assert rules_fingerprint([rule]) == rules_fingerprint([dataclasses.replace(rule, max_block=9)])
    assert rules_fingerprint([rule]) != rules_fingerprint([dataclasses.replace(rule, cross=True)])
    assert rules_fingerprint([rule]) != rules_fingerprint(
        [dataclasses.replace(rule, columns=("given_sdx", "dob"))]
    )
