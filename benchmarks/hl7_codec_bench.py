"""Micro-benchmark: decode an ADT, read it as a typed request, build its ACK — ours vs hl7apy.

Seeded and reproducible: the messages are generated from ``--seed`` (names with
umlauts, several identifiers, Latin-1 and UTF-8). Prints one row per path:
messages, seconds, messages/s, microseconds per message (mean and p99) and
peak traced memory.

    python benchmarks/hl7_codec_bench.py [--messages 20000] [--oracle-messages 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hl7.codec import decode
from hl7.messages import PixQuery, parse_request
from hl7.model import AssigningAuthority, Identifier
from hl7.responses import build_ack, build_pix_response

FAMILIES = ["MÜLLER", "SCHMIDT", "SMITH", "O'NEIL", "GARCÍA", "NGUYEN", "KOWALSKI", "JOHNSON"]
GIVENS = ["JÜRGEN", "ANNA", "JOHN", "MARÍA", "LI", "ÖZLEM", "PETER", "SARAH"]
STREETS = ["HAUPTSTRAßE", "HIGH STREET", "MAIN ST", "RUE DE LA PAIX", "KÖNIGSALLEE"]


def make_adt(rng: random.Random, n: int) -> bytes:
    charset, encoding = rng.choice([("8859/1", "latin-1"), ("UNICODE UTF-8", "utf-8")])
    fam, giv = rng.choice(FAMILIES), rng.choice(GIVENS)
    event = rng.choice(["A01", "A04", "A08"])
    segs = [
        f"MSH|^~\\&|NG_ADT|NORTHGEN|EMPI|MPIHOST|20240315{n % 1000000:06d}||ADT^{event}^ADT_A01|"
        f"MSG{n:08d}|P|2.3.1||||||{charset}",
        f"EVN|{event}|20240315101500",
        f"PID|1||NG-{n}^^^NORTHGEN&2.999.10.1&ISO^MR~{rng.randrange(10**8)}^^^&2.999.10.2&ISO^PI||"
        f"{fam}^{giv}^^^^^L~{fam}^{giv[0]}^^^^^A|{rng.choice(FAMILIES)}|"
        f"{rng.randrange(1930, 2020)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}|"
        f"{rng.choice('MF')}|||{rng.randrange(1, 200)} {rng.choice(STREETS)}^^BERLIN^^"
        f"{rng.randrange(10000, 99999)}^DE^H||030-{rng.randrange(10**6):06d}^PRN^PH|||||||"
        f"{rng.randrange(10**9)}",
        "PV1||I",
    ]
    return ("\r".join(segs) + "\r").encode(encoding)


def make_pix(n: int) -> bytes:
    return (
        f"MSH|^~\\&|PIX_CONSUMER|CITYHIE|EMPI|MPIHOST|20240315120000||QBP^Q23^QBP_Q21|Q{n}|P|2.5\r"
        f"QPD|IHE PIX Query|TAG{n}|NG-{n}^^^NORTHGEN&2.999.10.1&ISO^MR|^^^RIVERCL&2.999.10.2&ISO\r"
        "RCP|I\r"
    ).encode()


def ours_adt_ack(data: bytes) -> bytes:
    request = parse_request(decode(data))
    return build_ack(request.header)


FOUND = [Identifier("R-77", AssigningAuthority("RIVERCL", "2.999.10.2", "ISO"), "PI")]


def ours_pix_rsp(data: bytes) -> bytes:
    request = parse_request(decode(data))
    assert isinstance(request, PixQuery)
    return build_pix_response(request.header, request.qpd, FOUND)


def hl7apy_adt_ack(data: bytes) -> bytes:
    from hl7apy.core import Message
    from hl7apy.parser import parse_message

    text = data.decode("utf-8" if b"UTF-8" in data[:200] else "latin-1")
    msg = parse_message(text, find_groups=False)
    _ = (msg.pid.pid_3.value, msg.pid.pid_5.value, msg.pid.pid_7.value, msg.pid.pid_11.value)
    ack = Message("ACK", version="2.3.1")
    ack.msh.msh_3 = msg.msh.msh_5.value
    ack.msh.msh_4 = msg.msh.msh_6.value
    ack.msh.msh_5 = msg.msh.msh_3.value
    ack.msh.msh_6 = msg.msh.msh_4.value
    ack.msh.msh_9 = "ACK^" + msg.msh.msh_9.msh_9_2.value + "^ACK"
    ack.msh.msh_10 = "ACK" + msg.msh.msh_10.value
    ack.msh.msh_11 = "P"
    ack.msa.msa_1 = "AA"
    ack.msa.msa_2 = msg.msh.msh_10.value
    return ack.to_er7().encode("utf-8")


def measure(fn: Callable[[bytes], bytes], inputs: list[bytes]) -> tuple[float, list[float], float]:
    """Time every call (no tracing), then trace memory over a short second pass."""
    for data in inputs[:50]:  # warm-up
        fn(data)
    times: list[float] = []
    clock = time.perf_counter
    start = clock()
    for data in inputs:
        t0 = clock()
        fn(data)
        times.append(clock() - t0)
    total = clock() - start
    tracemalloc.start()
    for data in inputs[:200]:
        fn(data)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return total, times, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--oracle-messages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    adts = [make_adt(rng, n) for n in range(args.messages)]
    pix = [make_pix(n) for n in range(args.messages)]
    rows = [
        ("ours: ADT parse + ACK", ours_adt_ack, adts),
        ("ours: QBP^Q23 parse + RSP^K23", ours_pix_rsp, pix),
        ("hl7apy: ADT parse + ACK", hl7apy_adt_ack, adts[: args.oracle_messages]),
    ]
    print(f"seed={args.seed}  python {sys.version.split()[0]}")
    header = f"{'path':32} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'mean us':>8} {'p99 us':>8} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    results: dict[str, float] = {}
    for name, fn, inputs in rows:
        total, times, peak = measure(fn, inputs)
        times.sort()
        mean_us = statistics.fmean(times) * 1e6
        p99_us = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6
        results[name] = mean_us
        print(
            f"{name:32} {len(inputs):9d} {total:8.3f} {len(inputs) / total:9.0f} "
            f"{mean_us:8.1f} {p99_us:8.1f} {peak:8.2f}"
        )
    speedup = results["hl7apy: ADT parse + ACK"] / results["ours: ADT parse + ACK"]
    print(f"\nours vs hl7apy (ADT + ACK): {speedup:.0f}x faster")


if __name__ == "__main__":
    main()
