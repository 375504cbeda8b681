#!/usr/bin/env python3
"""The addon's engine in one process, no proxy: the masker, the reply restorers, the store.

Each subcommand is bounded, and what it compares runs side by side, interleaved, in one run
(README.md, "Benchmarks", says what each measures). ``restore`` and ``linearity`` time every
case at N and 10N bytes: linear is a ratio of 10, and a ratio >= 20 is flagged as super-linear
(exit status 1).

    .venv/bin/python scripts/bench_engine.py scan [--size 1000000] [--bodies overhead]
    .venv/bin/python scripts/bench_engine.py restore [--formats F,..] [--chunks 65536,7,1]
    .venv/bin/python scripts/bench_engine.py linearity [--size 50000]
    .venv/bin/python scripts/bench_engine.py store [--findings 50] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "addon")]

from awsmasker.body import Masker  # noqa: E402
from awsmasker.restore import select_restorer  # noqa: E402
from awsmasker.restore.eventstream import encode_frame, encode_headers  # noqa: E402
from awsmasker.restore.stream import StreamRestore  # noqa: E402
from awsmasker.store.memory import MemoryStore  # noqa: E402

FLAG_RATIO = 20.0
TOKEN_MAP = {f"AWS_EC2_{n:03d}": f"i-{n:017x}" for n in range(1, 200)}
TOKEN_MAP |= {f"AWS_VPC_{n:03d}": f"vpc-{n:08x}" for n in range(1, 50)}
TOKEN_MAP |= {"AWS_PRIVATE_IP_001": "10.1.2.3", "AWS_ARN_001": 'arn:aws:iam::1234:role/"q"\\b'}
TOKENS = list(TOKEN_MAP)
WORDS = ("the", "instance", "is", "running", "in", "a", "private", "subnet", "with", "security",
         "group", "rules", "and", "\n")


def interleaved(runs: dict[object, tuple[Callable, object]], repeats: int,
                seconds: float = 40) -> dict[object, list[float]]:
    """Times of every run, one of each per round for ``repeats`` rounds (or ``seconds``): a busy
    phase of the host weighs on all of them alike."""
    times: dict[object, list[float]] = {k: [] for k in runs}
    deadline = time.monotonic() + seconds
    for _ in range(repeats):
        for k, (fn, arg) in runs.items():
            t = time.perf_counter()
            fn(arg)
            times[k].append(time.perf_counter() - t)
        if time.monotonic() > deadline:
            break
    return times


@dataclass
class Case:
    component: str
    shape: str
    build: Callable[[int], tuple[object, int]]  # input of about n bytes, and its events (or 0)
    run: Callable[[object], None]
    scale: float = 1.0  # of the size (the 1-byte feeds are slower per byte)


def scaling(cases: list[Case], size: int, repeats: int) -> int:
    """Each case at N and 10N, the two alternated, best of ``repeats`` (a ratio at the flag is
    measured again, three times as long: load on 2 cores is noisy). Exit status: 1 if any
    ratio is still at or above the flag."""
    flagged = []
    print(f"{'component':<21} {'shape':<36} {'10N':>8} {'t(N) ms':>9} {'t(10N) ms':>10} "
          f"{'ratio':>6} {'MB/s':>7} {'µs/event':>9}")
    for case in cases:
        n = int(size * case.scale)
        (small, _), (big, events) = case.build(n), case.build(10 * n)
        case.run(small)  # warm caches
        for attempt in range(2):
            t = interleaved({0: (case.run, small), 1: (case.run, big)},
                            repeats * (1 + 2 * attempt), seconds=600)
            ratio = min(t[1]) / max(min(t[0]), 1e-9)
            if ratio < FLAG_RATIO or attempt:
                break
        mark = "  <-- SUPER-LINEAR" if ratio >= FLAG_RATIO else ""
        if mark:
            flagged.append(f"{case.component}: {case.shape} ({ratio:.1f})")
        per_event = f"{min(t[1]) / events * 1e6:9.2f}" if events else f"{'-':>9}"
        print(f"{case.component:<21} {case.shape:<36} {len(big):>8} {min(t[0]) * 1e3:>9.2f} "
              f"{min(t[1]) * 1e3:>10.2f} {ratio:>6.1f} {len(big) / min(t[1]) / 1e6:>7.1f} "
              f"{per_event}{mark}", flush=True)
    print(f"\n{len(cases)} cases; linear = 10, flagged at >= {FLAG_RATIO:.0f}")
    if flagged:
        print("SUPER-LINEAR: " + "; ".join(flagged))
    return 1 if flagged else 0


def restorer(ctype: str, chunk: int, must_restore: bool = False) -> Callable[[bytes], None]:
    """Feeds a reply to a ``StreamRestore`` in ``chunk``-byte pieces, as the proxy does."""
    def run(data: bytes) -> None:
        s = StreamRestore(select_restorer(ctype, "/v1/messages", TOKEN_MAP), max_bytes=1 << 30)
        for i in range(0, len(data), chunk):
            s(data[i : i + chunk])
        s(b"")
        assert "error" not in s.flags, s.flags
        assert sum(s.restored.values()) or not must_restore, "nothing restored"
    return run


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sse(name: str | None, obj: object) -> bytes:
    return (f"event: {name}\n" if name else "").encode() + b"data: " + dumps(obj) + b"\n\n"


def delta(piece: str) -> dict:
    return {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}


def pieces(rnd: random.Random, longest: int, share: float) -> Iterator[str]:
    """Endless prose cut into pieces of 1..``longest`` characters (tokens fall across them); a
    word is a token with probability ``share`` (the first always is)."""
    buf = rnd.choice(TOKENS) + " "
    while True:
        while len(buf) < longest:
            buf += (rnd.choice(TOKENS) if rnd.random() < share else rnd.choice(WORDS)) + " "
        k = rnd.randint(1, longest)
        yield buf[:k]
        buf = buf[k:]


def events(make: Callable[[str], bytes], longest: int = 60, share: float = 0.006):
    """A reply builder: events of ``make(piece)`` up to n bytes, and how many."""
    def build(n: int) -> tuple[bytes, int]:
        out, total = [], 0
        for p in pieces(random.Random(n), longest, share):
            if total >= n:
                break
            out.append(make(p))
            total += len(out[-1])
        return b"".join(out), len(out)
    return build


def text(n: int) -> str:
    return events(str.encode)(n)[0].decode()


CHAT = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
EVENTSTREAM = "application/vnd.amazon.eventstream"
INVOKE = encode_headers({":event-type": "chunk", ":content-type": "application/json",
                         ":message-type": "event"})
CONVERSE = encode_headers({":event-type": "contentBlockDelta",
                           ":content-type": "application/json", ":message-type": "event"})


def chat_chunk(choice: int, text: str) -> bytes:
    return sse(None, {**CHAT, "choices": [{"index": choice, "delta": {"content": text},
                                           "finish_reason": None}]})


def invoke_frame(piece: str) -> bytes:
    return encode_frame(INVOKE, dumps({"bytes": base64.b64encode(dumps(delta(piece))).decode(),
                                       "p": "abcdefgh"}))


#: name → (content type, reply builder). The Bedrock frames carry 1–12 characters each, a token
#: in about every fourth frame (dense) or every ~30th (sparse).
FORMATS: dict[str, tuple[str, Callable[[int], tuple[bytes, int]]]] = {
    "anthropic-sse": ("text/event-stream",
                      events(lambda p: sse("content_block_delta", delta(p)))),
    "openai-chat-sse": ("text/event-stream", events(lambda p: chat_chunk(0, p))),
    "openai-responses": ("text/event-stream", events(lambda p: sse(
        "response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1",
                                       "output_index": 0, "content_index": 0, "delta": p}))),
    "json": ("application/json", lambda n: (dumps({"id": "msg", "content": [
        {"type": "text", "text": text(4096 + k)} for k in range(n // 4200 + 1)]}), 0)),
    "text": ("text/plain", lambda n: (text(n).encode(), 0)),
    "bedrock-invoke": (EVENTSTREAM, events(invoke_frame, 12, 0.3)),
    "bedrock-invoke-sparse": (EVENTSTREAM, events(invoke_frame, 12, 0.03)),
    "bedrock-converse": (EVENTSTREAM, events(lambda p: encode_frame(CONVERSE, dumps(
        {"contentBlockIndex": 0, "delta": {"text": p}, "p": "abcdefgh"})), 12, 0.3)),
}


def repeat_to(unit: str | bytes, size: int):
    return (unit * (size // len(unit) + 1))[:size]


def m_near_ids(n: int) -> str:
    rnd = random.Random(1)
    units = [f"i-{rnd.getrandbits(28):07x} ", f"i-{rnd.getrandbits(72):018x} ", "arn:aws:",
             "arn:aws:iam::12345678901", f"{rnd.randrange(300)}.{rnd.randrange(300)}.", "AKIA",
             "vpc-", "sg-0", "10.0.0.", "ip-10-0-", ".ec2.internal", "123456789012"]
    return "".join(rnd.choice(units) for _ in range(n // 6 + 1))[:n]


def m_real_ids(n: int) -> str:
    rnd = random.Random(3)
    return "".join(f"instance i-{rnd.getrandbits(68):017x} in vpc-{rnd.getrandbits(32):08x}; "
                   for _ in range(n // 40 + 1))[:n]


def m_thinking_blocks(n: int) -> str:
    """Many thinking blocks, each followed by a text block with an ID and a ``\\/`` escape."""
    unit = ('{"type":"thinking","thinking":"hmm i-0123456789abcdef0","signature":"s"},'
            '{"type":"text","text":"vpc-0a1b2c3d a\\/b"},')
    head = '{"messages":[{"role":"assistant","content":['
    return head + repeat_to(unit, n - len(head) - 5).rsplit("},", 1)[0] + "}]}]}"


MASKER_SHAPES: dict[str, Callable[[int], str]] = {
    "near-ids text": m_near_ids,
    "near-ids JSON": lambda n: ('{"messages":[{"role":"user","content":"'
                                + m_near_ids(n - 40) + '"}]}'),
    "backslashes JSON": lambda n: '{"content":"' + "\\" * (n - 20) + 'i-0123456789abcdef0"}',
    "escape runs JSON": lambda n: '{"content":"' + repeat_to('\\\\\\n\\t\\/\\u0041\\"i-',
                                                             n - 20) + '"}',
    "whitespace": lambda n: repeat_to(" \t\r\n\u00a0\u2028 \u3000", n) + "10.0.0.1",
    "deep JSON": lambda n: '{"a":' * (n // 12) + '"i-0123456789abcdef0"' + "}" * (n // 12),
    "dotted quads": lambda n: repeat_to("1.2.3.4.5.6.7.8.9.", n),
    "latin-1 bytes": lambda n: random.Random(2).randbytes(n).decode("latin-1"),
    "1% real IDs": m_real_ids,
    "thinking blocks JSON": m_thinking_blocks,
}


def sse_text(text: str) -> bytes:
    """A text delta with ``text`` written into its JSON as it is (escapes included)."""
    return (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"' + text.encode() + b'"}}\n\n')


def r_near_tokens(n: int, kind: str) -> bytes:
    unit = "AWS_EC2_00 AWS_ AWS_EC2_0011 AWS_EC2_001 AWS_VPC_00"
    return repeat_to(sse_text(unit) if kind == "sse" else unit.encode() + b" ", n)


def r_one_event(n: int, kind: str) -> bytes:
    """One huge event (SSE) / one huge string (JSON, text) full of tokens."""
    body = repeat_to("AWS_EC2_001 filler AWS_VPC_001 ", n - 120)
    return sse_text(body) if kind == "sse" else b'{"text":"' + body.encode() + b'"}'


def r_backslashes(n: int, kind: str) -> bytes:
    if kind == "sse":
        return sse_text("\\\\" * (n // 2 - 60) + "AWS_EC2_001")
    return b'{"text":"' + b"\\\\" * (n // 2 - 20) + b'AWS_EC2_001"}'


def r_many_events(n: int, kind: str) -> bytes:
    if kind != "sse":
        return repeat_to(b'{"a":"AWS_EC2_001"}\n', n)
    return repeat_to(sse_text("x AWS_EC2_001 y"), n)


def r_thinking(n: int, kind: str) -> bytes:
    inner = repeat_to("AWS_EC2_001 \\\\\\\" ", n - 80).encode()
    if kind == "sse":
        return (b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
                b'"thinking":"' + inner + b'"}}\n\n')
    return b'{"type":"thinking","thinking":"' + inner + b'","signature":"s"}'


RESTORE_SHAPES: dict[str, Callable[[int, str], bytes]] = {
    "near-tokens": r_near_tokens,
    "backslashes": r_backslashes,
    "one huge event": r_one_event,
    "many events": r_many_events,
    # SSE: one event that never ends (no blank line): held, searched again on every feed
    "unterminated": lambda n, kind: (b"data: " + repeat_to(b"AWS_EC2_001 x ", n - 6)
                                     if kind == "sse" else repeat_to(b"AWS_EC2_00", n)),
    "CR-only": lambda n, kind: r_many_events(n, kind).replace(b"\n", b"\r"),
    "thinking": r_thinking,
    # deltas that are all token prefix ("AWS_", "EC2"), each held and merged into the next
    "held-prefix merges": lambda n, kind: repeat_to(b"".join(
        sse_text(p) for p in ("AWS_", "EC2", "_00", "1 ", "A", "WS")), n),
    # chat choice 0 holds a token's start while choice 1 writes 100 chunks, again and again:
    # events wait behind the held one up to the queue's bound, then it goes out as it came
    "stalled chat choice": lambda n, kind: repeat_to(
        chat_chunk(0, "AWS_EC") + chat_chunk(1, "x AWS_EC2_001 A") * 100, n),
}
SSE_ONLY = {"CR-only", "held-prefix merges", "stalled chat choice"}
#: the shapes also fed one byte at a time
ONE_BYTE = {"near-tokens", "backslashes", "one huge event", "unterminated", "held-prefix merges",
            "stalled chat choice"}
CTYPES = {"sse": "text/event-stream", "json": "application/json", "text": "text/plain"}
#: Chunk size of the multi-chunk cases: small enough that N bytes already span several chunks
#: (with 64 KiB an N-byte event came whole and a 10N one across chunks: two code paths).
CHUNK = 8 * 1024
MASKER = Masker()


def run_masker(text: str) -> None:
    plan = MASKER.plan(text)
    plan.apply([f"AWS_X_{i + 1:03d}" for i in range(len(plan.findings))])


def linearity_cases() -> list[Case]:
    out = [Case("masker", name, (lambda f: lambda n: (f(n), 0))(fn), run_masker)
           for name, fn in MASKER_SHAPES.items()]
    for kind, ctype in CTYPES.items():
        shapes = {name: (lambda f, k: lambda n: (f(n, k), 0))(fn, kind)
                  for name, fn in RESTORE_SHAPES.items() if kind == "sse" or name not in SSE_ONLY}
        out += [Case(kind, f"{name}, 8 KiB chunks", build, restorer(ctype, CHUNK))
                for name, build in shapes.items()]
        out += [Case(kind, f"{name}, 1-byte chunks", build, restorer(ctype, 1), scale=0.4)
                for name, build in shapes.items() if name in ONE_BYTE]
    return out


def scan(args: argparse.Namespace) -> int:
    from awsmasker.scanner import available_engines

    from testsupport.corpus import Bodies, conversation, mixed_pieces

    parts = mixed_pieces(7, args.size, 0.025)

    def body(ps: list[str]) -> str:
        return json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 1024,
                           "system": "You are a helpful AWS assistant.",
                           "messages": conversation(ps)})

    # the JSON again with tab-separated tables and non-ASCII escaped: escapes other than \n, \"
    rare = [p.replace("  ", "\t").replace(". ", ".\u2002") for p in parts]
    inputs = {"JSON": (body(parts), True), "text": ("".join(parts), False),
              "JSON \\t \\u": (body(rare), True)}
    engines = available_engines()
    maskers = {e: Masker(engine=e) for e in engines}
    store = MemoryStore()

    def mask(e: str, k: str) -> str:
        plan = maskers[e].plan(inputs[k][0], is_json=inputs[k][1])
        return plan.apply([store.token_for(f) for f in plan.findings])

    for e in engines:  # identical output from every engine (the tests check it too)
        for k in inputs:
            assert mask(e, k) == mask(engines[0], k), f"{e} differs on {k}"
    plan = maskers[engines[-1]].plan(inputs["text"][0], is_json=False)
    share = sum(e[1] - e[0] for e in plan.edits) / len(inputs["text"][0])
    print(f"bodies: JSON {len(inputs['JSON'][0]) / 1e6:.2f} MB, text "
          f"{len(inputs['text'][0]) / 1e6:.2f} MB, {len(plan.findings)} identifiers "
          f"({share:.1%} of the text); engines: {', '.join(engines)}")
    times = interleaved({(e, k): ((lambda a: mask(*a)), (e, k)) for e in engines for k in inputs},
                        args.repeats)
    print(f"{'engine':<10} " + " ".join(f"{k + ' MB/s (best / median)':>32}" for k in inputs))
    for e in engines:
        cols = [f"{len(t.encode()) / 1e6 / min(times[(e, k)]):9.0f} / "
                f"{len(t.encode()) / 1e6 / statistics.median(times[(e, k)]):6.0f}"
                for k, (t, _) in inputs.items()]
        print(f"{e:<10} " + " ".join(f"{c:>32}" for c in cols))
    asyncio.run(store.close())
    if args.bodies == "overhead":  # plan alone on bench_proxy's bodies, a new one per round
        size, bodies = 1 << 20, Bodies()
        dense = [bodies.body(size, n).decode() for n in range(max(2, args.repeats))]
        ref = [maskers[engines[0]].plan(b, is_json=True) for b in dense[:2]]
        for e in engines:
            for b, p in zip(dense[:2], ref, strict=True):
                q = maskers[e].plan(b, is_json=True)
                assert (q.edits, q.findings) == (p.edits, p.findings), f"{e} differs"
        found = sum(len(p.findings) for p in ref) / sum(len(b) for b in dense[:2]) * 1e6
        t = interleaved({(i, e): (lambda b, e=e: maskers[e].plan(b, is_json=True), b)
                         for i, b in enumerate(dense) for e in engines}, 1)
        times = {e: [t[(i, e)][0] for i in range(len(dense))] for e in engines}
        print(f"dense bodies (bench_proxy, 1 MB, {found:.0f} findings/MB): plan only")
        print(f"{'engine':<10} {'plan MB/s (best / median)':>27} {'ms per body (median)':>22}")
        for e, ts in times.items():
            med = statistics.median(ts)
            print(f"{e:<10} {size / 1e6 / min(ts):9.0f} / {size / 1e6 / med:6.0f} "
                  f"{med * 1e3:22.2f}")
    return 0


async def store_rows(url: str, n: int, rounds: int) -> dict[str, float]:
    from awsmasker.redis_client import SharedRedis
    from awsmasker.store.base import Finding
    from awsmasker.store.keys import derive_keys
    from awsmasker.store.redis_store import RedisStore

    async def median_ms(fn) -> float:
        samples = []
        for i in range(rounds):
            t = time.perf_counter()
            await fn(i)
            samples.append(time.perf_counter() - t)
        return statistics.median(samples) * 1000

    shared = SharedRedis(url)
    store = RedisStore(shared, derive_keys(os.urandom(32)), namespace="bench", ttl=600)
    memory = MemoryStore()
    known = [Finding("EC2", f"i-{i:017x}") for i in range(n)]
    await store.resolve(known)
    await memory.resolve(known)
    present = (await store.resolve(known)).tokens

    async def hashes(_: int) -> None:  # the client-side work of every resolve, no I/O
        for f in known:
            store.lookup_hash(f)

    rows = {
        f"memory  resolve {n} known": await median_ms(lambda i: memory.resolve(known)),
        f"redis   resolve {n} known": await median_ms(lambda i: store.resolve(known)),
        f"redis   resolve {n} known + {n} present tokens":
            await median_ms(lambda i: store.resolve(known, present)),
        f"redis   resolve {n} new (minting)": await median_ms(lambda i: store.resolve(
            [Finding("VPC", f"vpc-{i:06d}{j:04d}") for j in range(n)])),
        f"redis   client-side lookup hashes of {n}": await median_ms(hashes),
    }
    await shared.close()
    return rows


def store(args: argparse.Namespace) -> int:
    from testsupport.redis_server import REDIS_SERVER, RedisServer

    if not Path(REDIS_SERVER).is_absolute():
        print("redis-server not found on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        server = RedisServer(Path(d), durable=False)
        server.start()
        try:
            rows = asyncio.run(store_rows(server.url, args.findings, args.rounds))
        finally:
            server.stop()
    base = next(iter(rows.values()))
    for name, ms in rows.items():
        print(f"{name:<48} {ms:8.3f} ms  ({ms / base:7.1f}x memory)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scan", help="masking MB/s per trigger engine")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--bodies", choices=("scan", "overhead"), default="scan",
                   help="overhead: also time plan on bench_proxy's denser 1 MB bodies")
    p = sub.add_parser("restore", help="each restorer at N and 10N bytes")
    p.add_argument("--formats", default=",".join(FORMATS), help="from: " + ",".join(FORMATS))
    p.add_argument("--chunks", default="65536,7,1", help="feed sizes in bytes (1 byte: N/10)")
    p.add_argument("--size", type=int, default=1_000_000, help="N in bytes")
    p.add_argument("--repeats", type=int, default=2)
    p = sub.add_parser("linearity", help="adversarial inputs at N and 10N (exit 1: flagged)")
    p.add_argument("--size", type=int, default=50_000, help="N in bytes (1-byte feeds: 0.4 N)")
    p.add_argument("--repeats", type=int, default=4)
    for p in sub.choices["restore"], sub.choices["linearity"]:
        p.add_argument("--quick", action="store_true", help="N/20 (restore), N/5 (linearity)")
    p = sub.add_parser("store", help="resolve() latency, Redis vs memory")
    p.add_argument("--findings", type=int, default=50)
    p.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    started = time.perf_counter()
    if args.command == "restore":
        if unknown := set(args.formats.split(",")) - set(FORMATS):
            ap.error(f"unknown formats {sorted(unknown)}")
        cases = [Case(name, f"{chunk} B chunks", FORMATS[name][1],
                      restorer(FORMATS[name][0], chunk, must_restore=True),
                      scale=0.1 if chunk == 1 else 1.0)
                 for name in args.formats.split(",") for chunk in map(int, args.chunks.split(","))]
        status = scaling(cases, args.size // (20 if args.quick else 1), args.repeats)
    elif args.command == "linearity":
        status = scaling(linearity_cases(), args.size // (5 if args.quick else 1),
                         2 if args.quick else args.repeats)
    else:
        status = {"scan": scan, "store": store}[args.command](args)
    print(f"took {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
