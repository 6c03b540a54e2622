"""Tests of the feed benchmarks' helpers (benchmarks/feed_common.py, feed_agreement.py)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.feed_agreement import pair_scores
from benchmarks.feed_common import (
    DOMAINS,
    FeedResult,
    Subscriber,
    adt_a01,
    config_text,
    domain_of,
    feed,
)
from hl7.codec import decode
from hl7.messages import PatientFeed, parse_request
from hl7.mllp import send
from mpi.mllp import MllpServer, Router
from mpi.settings import load_settings
from tests.mpi.mllp.doubles import RecordingHandler

ROW = {
    "record_id": "R00000002",
    "given_name": "Stefanie",
    "middle_name": "",
    "family_name": "Mühleller",
    "birth_date": "1995-08-22",
    "sex": "F",
    "street": "Blumenstraße 4",
    "city": "Dortmund",
    "postcode": "44161",
    "phone": "0231-155 6622",
    "national_id": "47940383300",
    "mother_maiden_name": "Woderstone",
    "email": "s@example.org",
}


def test_adt_carries_the_row_in_its_domain() -> None:
    request = parse_request(decode(adt_a01(ROW, "C1")))
    assert isinstance(request, PatientFeed)
    ident = request.patient.identifiers[0]
    namespace, oid, app, _ = domain_of("R00000002")
    assert (ident.id, ident.authority.namespace, ident.authority.universal_id) == (
        "R00000002",
        namespace,
        oid,
    )
    assert request.header.sending_application.namespace == app
    name = request.patient.names[0]
    assert (name.family, name.given) == ("Mühleller", "Stefanie")
    assert request.patient.birth_date == "19950822"
    assert request.patient.national_id is not None
    assert request.patient.national_id.id == "47940383300"


def test_domains_spread_and_config_is_valid(tmp_path: Path) -> None:
    seen = {domain_of(f"R{i:08d}")[0] for i in range(50)}
    assert seen == {d[0] for d in DOMAINS}
    path = tmp_path / "mpi.toml"
    path.write_text(config_text())
    settings = load_settings(path, environ={})
    assert [d.namespace for d in settings.domains] == [d[0] for d in DOMAINS]


async def test_the_subscriber_acks_and_counts_and_the_config_names_it(tmp_path: Path) -> None:
    with Subscriber() as subscriber:
        path = tmp_path / "mpi.toml"
        path.write_text(config_text(subscriber.port))
        (configured,) = load_settings(path, environ={}).subscribers
        assert configured.port == subscriber.port
        assert set(configured.domains) == {d[0] for d in DOMAINS} | {"MPI"}
        notification = (
            b"MSH|^~\\&|EMPI|MPIHOST|BENCH_HIE|BENCH|20260101||ADT^A31^ADT_A05|N1|P|2.5\r"
            b"EVN|A31|20260101\rPID|1||E000000001^^^MPI||DOE^JANE\rPV1||N\r"
        )
        for _ in range(2):
            answer = decode(await send("127.0.0.1", subscriber.port, notification, timeout=10))
            msa = answer.segment("MSA")
            assert msa is not None and (msa.get(1), msa.get(2)) == ("AA", "N1")
        assert subscriber.received == 2


def test_pair_scores_against_reference() -> None:
    reference = {"a": "1", "b": "1", "c": "1", "d": "2"}
    assert pair_scores(reference, reference).f1 == 1.0
    split = {"a": "x", "b": "x", "c": "y", "d": "z"}
    scores = pair_scores(split, reference)
    assert (scores.precision, scores.recall) == (1.0, 1 / 3)


def test_percentiles() -> None:
    result = FeedResult(100, 2.0, latencies=[i / 1000 for i in range(1, 101)])
    assert result.rate == 50
    assert result.percentile(0.5) == 0.051
    assert result.percentile(0.99) == 0.1


async def test_feed_measures_every_answer() -> None:
    handler = RecordingHandler()
    async with MllpServer(Router(feed=handler), "127.0.0.1", 0) as server:
        messages = [adt_a01({**ROW, "record_id": f"R{i:08d}"}, f"C{i}") for i in range(30)]
        result = await feed(server.port, messages, 4)
    assert result.answers == {"AA": 30}
    assert len(result.latencies) == 30
    assert sorted(r.header.control_id for r, _ in handler.calls) == sorted(
        f"C{i}" for i in range(30)
    )


def test_the_message_log_is_filled_with_earlier_answers_of_the_benchmarks_senders(
    db_url: str,
) -> None:
    from benchmarks.feed_bench import fill_message_log
    from mpi.domain import SourceSystem
    from mpi.store import Store

    fill_message_log(db_url, 10)
    store = Store.open(db_url, upgrade=False)
    try:
        with store.unit_of_work(readonly=True) as uow:
            senders = [SourceSystem(app, fac) for *_, app, fac in DOMAINS]
            asked = [(s, f"H{i:09d}") for s in senders for i in range(11)]
            found = uow.messages.logged(asked)
            entry = uow.messages.get(senders[1], "H000000001")
    finally:
        store.dispose()
    # Ten answers, the senders taking turns: H0, H3, H6, H9 from the first, and so on.
    assert len(found) == 10
    assert (senders[0], "H000000009") in found and (senders[1], "H000000001") in found
    assert (senders[0], "H000000001") not in found
    assert entry is not None and entry.response == b"MSH|"
