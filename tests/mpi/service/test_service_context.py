"""open_context (domains synced) and queue_xref_change (ITI-10 per subscriber)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_settings

from hl7.codec import decode
from matching.record import Record
from mpi.domain import LinkMethod, NewSourceRecord, SourceRecordRef, SourceSystem
from mpi.service import ServiceContext, open_context, queue_xref_change
from mpi.service.notifications import queue_xref_changes
from mpi.settings import Settings
from mpi.store import Store


def _register(ctx: ServiceContext, ref: SourceRecordRef, eid: str | None = None) -> str:
    with ctx.store.unit_of_work() as uow:
        uow.records.add(NewSourceRecord(ref, Record(str(ref), "Anna", None, "Berg")))
        if eid is None:
            eid = uow.persons.create().enterprise_id
        uow.links.link(ref, eid, score=1.0, method=LinkMethod.AUTO)
        uow.commit()
    return eid


def test_open_context_syncs_configured_and_enterprise_domains(ctx: ServiceContext) -> None:
    with ctx.store.unit_of_work(readonly=True) as uow:
        names = [d.namespace for d in uow.domains.all()]
        assert uow.domains.enterprise().oid == "2.999.1"
        assert uow.domains.get("NATID") is not None and uow.domains.get("NATID").trusted  # type: ignore[union-attr]
        assert uow.domains.get("NORTHGEN").sources == (SourceSystem("NG_ADT", "NORTHGEN"),)  # type: ignore[union-attr]
    assert names == ["MPI", "NATID", "NORTHGEN", "RIVERCL"]
    assert ctx.matcher.link_threshold == ctx.settings.matching.link_threshold


def test_open_context_opens_and_migrates_the_configured_url(tmp_path: object) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/fresh.db")
    ctx = open_context(settings)
    try:
        with ctx.store.unit_of_work(readonly=True) as uow:
            assert uow.domains.get("RIVERCL") is not None
    finally:
        ctx.store.dispose()


def test_xref_change_goes_to_each_interested_subscriber_with_its_domains_only(
    ctx: ServiceContext,
) -> None:
    eid = _register(ctx, SourceRecordRef("NORTHGEN", "NG-1"))
    _register(ctx, SourceRecordRef("RIVERCL", "RC-9"), eid)
    _register(ctx, SourceRecordRef("NATID", "123"), eid)
    with ctx.store.unit_of_work() as uow:
        queue_xref_change(uow, ctx.settings, eid)
        uow.commit()
    with ctx.store.unit_of_work(readonly=True) as uow:
        queued = {m.subscriber.application: m for m in uow.outbox.list()}
    assert set(queued) == {"HIE_PORTAL", "RC_PIX"}
    portal = decode(queued["HIE_PORTAL"].payload)
    pid3 = portal.segment("PID").field(3)  # type: ignore[union-attr]
    assert pid3 == f"{eid}^^^MPI&2.999.1&ISO^PI~NG-1^^^NORTHGEN&2.999.10.1&ISO^PI"
    assert portal.msh.field(9) == "ADT^A31^ADT_A05"
    assert portal.msh.get(5) == "HIE_PORTAL" and portal.msh.get(3) == "EMPI"
    river = decode(queued["RC_PIX"].payload)
    assert river.segment("PID").field(3) == "RC-9^^^RIVERCL&2.999.10.2&ISO^PI"  # type: ignore[union-attr]
    assert river.segment("PID").field(5) == "Berg^Anna^^^^^L"  # type: ignore[union-attr]


def test_xref_change_skips_subscribers_without_ids_in_their_domains(
    ctx: ServiceContext, store: Store, settings: Settings
) -> None:
    eid = _register(ctx, SourceRecordRef("NATID", "555"))
    with store.unit_of_work() as uow:
        queue_xref_change(uow, settings, eid)
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        queued = uow.outbox.list()
    # HIE_PORTAL lists the enterprise namespace, so it always hears of the person.
    assert [m.subscriber.application for m in queued] == ["HIE_PORTAL"]
    pid3 = decode(queued[0].payload).segment("PID").field(3)  # type: ignore[union-attr]
    assert pid3 == f"{eid}^^^MPI&2.999.1&ISO^PI"


def test_xref_change_is_rolled_back_with_its_transaction(ctx: ServiceContext) -> None:
    eid = _register(ctx, SourceRecordRef("NORTHGEN", "NG-2"))
    with ctx.store.unit_of_work() as uow:
        queue_xref_change(uow, ctx.settings, eid)
    with ctx.store.unit_of_work(readonly=True) as uow:
        assert uow.outbox.list() == []


def test_configured_model_file_is_used_relative_to_the_config(tmp_path: Path) -> None:
    from matching.defaults import default_model
    from mpi.settings import load_settings

    model = default_model(prior=1e-3)
    model.save(tmp_path / "trained.json")
    config = tmp_path / "mpi.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n[matching]\nmodel = "trained.json"\n'
    )
    settings = load_settings(config)
    assert settings.matching.model == Path("trained.json")
    ctx = open_context(settings)
    try:
        assert ctx.matcher.model.prior == model.prior != default_model().prior
    finally:
        ctx.store.engine.dispose()


def test_missing_model_file_is_an_error(tmp_path: Path) -> None:
    from matching.errors import ModelFileError
    from mpi.settings import load_settings

    config = tmp_path / "mpi.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/m.db"\n[matching]\nmodel = "nope.json"\n'
    )
    with pytest.raises(ModelFileError, match=r"nope\.json"):
        open_context(load_settings(config))


def _without_header_stamps(payload: bytes) -> list[str]:
    """The message's segments, MSH-7 (time) and MSH-10 (control id) blanked."""
    message = decode(payload)
    fields = str(message.msh).split("|")
    fields[6] = fields[9] = ""
    return ["|".join(fields), *(str(s) for s in message.segments[1:])]


def test_xref_changes_of_several_persons_queue_what_one_by_one_would(
    ctx: ServiceContext,
) -> None:
    """The feed's runs queue all their persons at once: the same messages, each person's next
    sequence number, in the persons' order; merged-away and unknown persons get nothing."""
    a = _register(ctx, SourceRecordRef("NORTHGEN", "NG-11"))
    _register(ctx, SourceRecordRef("RIVERCL", "RC-11"), a)
    b = _register(ctx, SourceRecordRef("RIVERCL", "RC-12"))
    c = _register(ctx, SourceRecordRef("NATID", "777"))
    with ctx.store.unit_of_work() as uow:
        queue_xref_changes(uow, ctx.settings, [b, a, "E999999999", c, a])
        uow.commit()
    with ctx.store.unit_of_work() as uow:
        for eid in (b, a, c):
            queue_xref_change(uow, ctx.settings, eid)
        uow.commit()
    with ctx.store.unit_of_work(readonly=True) as uow:
        queued = uow.outbox.list(limit=100)
    assert len(queued) % 2 == 0
    batch, single = queued[: len(queued) // 2], queued[len(queued) // 2 :]
    assert [(m.enterprise_id, m.subscriber) for m in batch] == [
        (m.enterprise_id, m.subscriber) for m in single
    ]
    assert [m.enterprise_id for m in batch][:1] == [b]  # in the order asked
    for first, second in zip(batch, single, strict=True):
        assert _without_header_stamps(first.payload) == _without_header_stamps(second.payload)
        assert second.sequence == first.sequence + 1


def test_enqueue_many_refuses_a_person_twice_or_unknown(ctx: ServiceContext) -> None:
    from mpi.errors import NotFound

    eid = _register(ctx, SourceRecordRef("NORTHGEN", "NG-21"))
    payloads = {SourceSystem("HIE_PORTAL", "CITYHIE"): b"MSH|^~\\&|x"}
    with ctx.store.unit_of_work() as uow, pytest.raises(ValueError, match="named twice"):
        uow.outbox.enqueue_many([(eid, payloads), (eid, payloads)])
    with ctx.store.unit_of_work() as uow, pytest.raises(NotFound, match="E999999999"):
        uow.outbox.enqueue_many([(eid, payloads), ("E999999999", payloads)])
