"""RSP^K22 (ITI-21): QAK counts, continuation with DSC pointers, cancel, errors, charset."""

from __future__ import annotations

import pytest
from query_helpers import (
    PersonName,
    add_patient,
    answer,
    cancel_message,
    parsed,
    patient,
    pdq_message,
)

from hl7.codec import Message
from mpi.service import ServiceContext
from mpi.service.query_handlers import ContinuationStore, PdqQueryHandler


@pytest.fixture
def smiths(ctx: ServiceContext) -> list[str]:
    """Five persons named SMITH (one with two records), one JONES."""
    eids = [
        add_patient(ctx.store, "NORTHGEN", f"NG-{i}", patient("SMITH", f"JOHN{'ABCDE'[i]}"))
        for i in range(5)
    ]
    add_patient(ctx.store, "RIVERCL", "RC-0", patient("SMITH", "JOHNA"), person=eids[0])
    add_patient(ctx.store, "NORTHGEN", "NG-J", patient("JONES", "MARY", sex="F"))
    return eids


def run(handler: PdqQueryHandler, raw: bytes) -> Message:
    return answer(handler.handle(parsed(raw), raw))


def summary(message: Message) -> dict[str, object]:
    msa, qak, err, dsc = (message.segment(s) for s in ("MSA", "QAK", "ERR", "DSC"))
    assert msa is not None and qak is not None
    return {
        "msa": msa.get(1),
        "qak": [qak.get(i) for i in (1, 2, 4, 5, 6)],
        "err": (err.field(2), err.get(3)) if err else None,
        "pids": [p.field(3).split("~")[0] for p in message.all("PID")],
        "dsc": dsc.get(1) if dsc else None,
    }


def test_all_hits_in_one_answer_with_scores_and_qpd_echoed(
    ctx: ServiceContext, smiths: list[str]
) -> None:
    raw = pdq_message("@PID.5.1.1^SMITH~@PID.7.1^19700412")
    message = run(PdqQueryHandler(ctx), raw)
    got = summary(message)
    assert got["msa"] == "AA" and got["qak"] == ["PDQ-1", "OK", "5", "5", "0"]
    assert got["dsc"] is None and len(got["pids"]) == 5  # type: ignore[arg-type]
    assert message.msh.field(9) == "RSP^K22^RSP_K21"
    qpd = message.segment("QPD")
    assert qpd is not None and qpd.text == raw.decode().split("\r")[1].rstrip("|")
    scores = [float(q.get(1)) for q in message.all("QRI")]
    assert len(scores) == 5 and all(0 < s <= 1 for s in scores)


def test_person_with_two_records_is_one_pid_with_all_its_ids(
    ctx: ServiceContext, smiths: list[str]
) -> None:
    message = run(PdqQueryHandler(ctx), pdq_message("@PID.5.1^SMITH~@PID.5.2^JOHNA"))
    [pid] = message.all("PID")
    assert pid.field(3).split("~") == [
        f"{smiths[0]}^^^MPI&2.999.1&ISO^PI",
        "NG-0^^^NORTHGEN&2.999.10.1&ISO^PI",
        "RC-0^^^RIVERCL&2.999.10.2&ISO^PI",
    ]
    assert (
        pid.field(5) == "SMITH^JOHNA^^^^^L" and pid.field(7) == "19700412" and pid.field(8) == "M"
    )


def test_no_match_is_nf(ctx: ServiceContext, smiths: list[str]) -> None:
    got = summary(run(PdqQueryHandler(ctx), pdq_message("@PID.5.1.1^NOBODY")))
    assert got == {
        "msa": "AA",
        "qak": ["PDQ-1", "NF", "0", "0", "0"],
        "err": None,
        "pids": [],
        "dsc": None,
    }


def test_continuation_increments_until_the_last(ctx: ServiceContext, smiths: list[str]) -> None:
    handler = PdqQueryHandler(ctx)
    query = "@PID.5.1.1^SMI*"
    first = summary(run(handler, pdq_message(query, limit=2)))
    assert first["qak"] == ["PDQ-1", "OK", "5", "2", "3"] and first["dsc"]
    second = summary(
        run(handler, pdq_message(query, limit=2, pointer=str(first["dsc"]), control_id="P2"))
    )
    assert second["qak"] == ["PDQ-1", "OK", "5", "2", "1"] and second["dsc"]
    third = summary(
        run(handler, pdq_message(query, limit=2, pointer=str(second["dsc"]), control_id="P3"))
    )
    assert third["qak"] == ["PDQ-1", "OK", "5", "1", "0"] and third["dsc"] is None
    everyone = first["pids"] + second["pids"] + third["pids"]  # type: ignore[operator]
    assert sorted(p.split("^")[0] for p in everyone) == sorted(smiths)
    # a used pointer is gone
    again = summary(run(handler, pdq_message(query, limit=2, pointer=str(first["dsc"]))))
    assert again["msa"] == "AE" and again["err"] == ("DSC^1^1^1", "204") and again["pids"] == []


def test_unknown_pointer_and_pointer_of_another_sender(
    ctx: ServiceContext, smiths: list[str]
) -> None:
    handler = PdqQueryHandler(ctx)
    got = summary(run(handler, pdq_message("@PID.5.1.1^SMITH", limit=2, pointer="NOPE")))
    assert (
        got["msa"] == "AE"
        and got["qak"][:2] == ["PDQ-1", "AE"]
        and got["err"] == ("DSC^1^1^1", "204")
    )  # type: ignore[index]
    first = summary(run(handler, pdq_message("@PID.5.1.1^SMITH", limit=2)))
    other = pdq_message(
        "@PID.5.1.1^SMITH", limit=2, pointer=str(first["dsc"]), sender="OTHER|ELSEWHERE"
    )
    assert summary(run(handler, other))["err"] == ("DSC^1^1^1", "204")
    wrong_tag = pdq_message("@PID.5.1.1^SMITH", limit=2, pointer=str(first["dsc"]), tag="PDQ-2")
    assert summary(run(handler, wrong_tag))["err"] == ("DSC^1^1^1", "204")


def test_cancel_discards_the_chain(ctx: ServiceContext, smiths: list[str]) -> None:
    handler = PdqQueryHandler(ctx)
    first = summary(run(handler, pdq_message("@PID.5.1.1^SMITH", limit=2)))
    assert len(handler.chains) == 1
    raw = cancel_message("PDQ-1")
    ack = answer(handler.handle(parsed(raw), raw))
    msa = ack.segment("MSA")
    assert (
        ack.msh.field(9) == "ACK^J01^ACK"
        and msa is not None
        and (msa.get(1), msa.get(2)) == ("AA", "C1")
    )
    assert len(handler.chains) == 0
    after = summary(
        run(handler, pdq_message("@PID.5.1.1^SMITH", limit=2, pointer=str(first["dsc"])))
    )
    assert after["err"] == ("DSC^1^1^1", "204")


def test_chains_expire_and_are_bounded() -> None:
    now = [0.0]
    chains = ContinuationStore(ttl=10, max_chains=2, clock=lambda: now[0])
    key = ("T", "A", "F")
    p1 = chains.start(key, [], 1)
    p2 = chains.start(key, [], 1)
    p3 = chains.start(key, [], 1)
    assert len(chains) == 2 and chains.take(p1, key) is None  # the oldest went first
    now[0] = 11
    assert chains.take(p2, key) is None and chains.take(p3, key) is None and len(chains) == 0


def test_unknown_requested_domains_are_each_located(ctx: ServiceContext, smiths: list[str]) -> None:
    got = summary(
        run(
            PdqQueryHandler(ctx), pdq_message("@PID.5.1.1^SMITH", "^^^NORTHGEN~^^^NOPE~^^^&9.9&ISO")
        )
    )
    assert got["msa"] == "AE" and got["qak"][:2] == ["PDQ-1", "AE"]  # type: ignore[index]
    assert got["err"] == ("QPD^1^8^2~QPD^1^8^3", "204") and got["pids"] == []


def test_requested_domain_restricts_pid3(ctx: ServiceContext, smiths: list[str]) -> None:
    message = run(PdqQueryHandler(ctx), pdq_message("@PID.5.1.1^SMITH", "^^^RIVERCL"))
    assert [p.field(3) for p in message.all("PID")] == ["RC-0^^^RIVERCL&2.999.10.2&ISO^PI"]


@pytest.mark.parametrize(
    ("params", "err"),
    [
        ("@PID.5.1.1^SMITH~@PID.18.1^ACCT", ("QPD^1^3^2", "103")),
        ("@PID.7.1^19701340", ("QPD^1^3^1", "102")),
        ("@PID.8^M", ("QPD^1^3", "101")),
        ("@PID.3.1^NG-0~@PID.3.4.1^NOWHERE", ("QPD^1^3^2", "204")),
        ("@PID.21.1^M-1~@PID.21.4.2^9.9.9", ("QPD^1^3^2", "204")),
        ("@PID.3.1^NG-*", ("QPD^1^3^1", "103")),
    ],
)
def test_bad_criteria(
    ctx: ServiceContext, smiths: list[str], params: str, err: tuple[str, str]
) -> None:
    got = summary(run(PdqQueryHandler(ctx), pdq_message(params)))
    assert got["msa"] == "AE" and got["err"] == err


def test_fuzzy_threshold_in_qpd4(ctx: ServiceContext, smiths: list[str]) -> None:
    add_patient(ctx.store, "RIVERCL", "RC-SM", patient("SMYTH", "JOHNB"))
    query = "@PID.5.1.1^SMITH~@PID.5.2^JOHNB~@PID.7^19700412"
    exact = summary(run(PdqQueryHandler(ctx), pdq_message(query)))
    assert exact["pids"] == [f"{smiths[1]}^^^MPI&2.999.1&ISO^PI"]
    message = run(PdqQueryHandler(ctx), pdq_message(query, extra_qpd="50|||"))
    pids = [p.field(3) for p in message.all("PID")]
    scores = [float(q.get(1)) for q in message.all("QRI")]
    assert pids[0].startswith(smiths[1]) and any("RC-SM" in p for p in pids)
    assert "NG-J" not in str(pids) and all(s >= 0.5 for s in scores)
    assert scores == sorted(scores, reverse=True)
    bad = summary(run(PdqQueryHandler(ctx), pdq_message("@PID.5.1.1^SMITH", extra_qpd="lots|||")))
    assert bad["err"] == ("QPD^1^4", "102")


@pytest.mark.parametrize("charset", ["UNICODE UTF-8", "8859/1"])
def test_umlaut_query_and_answer_in_the_request_charset(ctx: ServiceContext, charset: str) -> None:
    add_patient(
        ctx.store,
        "NORTHGEN",
        "NG-U",
        patient("Müller", "Jörg", mother_maiden_name=PersonName("Schäfer")),
    )
    raw = pdq_message("@PID.5.1.1^MÜLLER~@PID.5.2^jörg", charset=charset)
    data = PdqQueryHandler(ctx).handle(parsed(raw), raw)
    codec = "utf-8" if charset == "UNICODE UTF-8" else "latin-1"
    assert "Müller^Jörg".encode(codec) in data and "Schäfer".encode(codec) in data
    assert answer(data).msh.field(18) == charset


def test_escaped_query_value_matches_the_decoded_stored_value(ctx: ServiceContext) -> None:
    add_patient(ctx.store, "NORTHGEN", "NG-E", patient("O&BRIEN", "SEAN"))
    got = summary(run(PdqQueryHandler(ctx), pdq_message("@PID.5.1.1^O\\T\\BRIEN")))
    assert got["qak"][1] == "OK" and len(got["pids"]) == 1  # type: ignore[index,arg-type]
