"""Linearity on adversarial input: does 10x the input take 10x the time (not 100x)?

For the masker and each restorer (SSE, JSON, text) it times input of size N and 10N of several
adversarial shapes — runs of near-identifiers, backslashes, deep nesting, pathological
whitespace, one huge SSE event, 1-byte chunks — side by side (interleaved, best of several
repeats) and prints the time ratio. A linear engine gives ~10; a ratio >= 20 is flagged as
super-linear and the exit status is 1. Bounded: under a minute here.
The 1-byte-chunk cases use 0.4 N (20 KB vs 200 KB by default).

    .venv/bin/python scripts/bench_linearity.py [--size 50000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from awsmasker.body import Masker
from awsmasker.restore import select_restorer
from awsmasker.restore.stream import StreamRestore

FLAG_RATIO = 20.0
#: Chunk size of the multi-chunk cases: small enough that N bytes already span several chunks.
#: With 64 KiB chunks an N-byte event arrived whole and took the restorers' one-event shortcut
#: while the 10N one was buffered across chunks: two code paths, each linear, ~2x apart per
#: byte, which read as a ratio of 20-40.
CHUNK = 8 * 1024
TOKEN_MAP = {f"AWS_EC2_{n:03d}": f"i-{n:017x}" for n in range(1, 100)}
TOKEN_MAP |= {"AWS_VPC_001": "vpc-0badf00d", "AWS_PRIVATE_IP_001": "10.1.2.3",
              "AWS_ARN_001": 'arn:aws:iam::123456789012:role/"q"\\b'}
CTYPES = {"sse": "text/event-stream", "json": "application/json", "text": "text/plain"}


def repeat_to(unit: str | bytes, size: int):
    return (unit * (size // len(unit) + 1))[:size]


# -- masker inputs (str) -------------------------------------------------------------------------

def m_near_ids(n: int) -> str:
    rnd = random.Random(1)
    parts, total = [], 0
    while total < n:
        total += len(parts[-1]) if parts else 0
        parts.append(rnd.choice([
            f"i-{rnd.getrandbits(28):07x} ", f"i-{rnd.getrandbits(72):018x} ", "arn:aws:",
            "arn:aws:iam::12345678901", f"{rnd.randrange(300)}.{rnd.randrange(300)}.",
            "AKIA", "vpc-", "sg-0", "10.0.0.", "ip-10-0-", ".ec2.internal", "123456789012",
        ]))
    return "".join(parts)[:n]


def m_json_near_ids(n: int) -> str:
    body = m_near_ids(n - 40).replace("\\", "")
    return '{"messages":[{"role":"user","content":"' + body + '"}]}'


def m_backslashes(n: int) -> str:
    return '{"content":"' + "\\" * (n - 20) + 'i-0123456789abcdef0"}'


def m_escape_runs(n: int) -> str:
    return '{"content":"' + repeat_to("\\\\\\n\\t\\/\\u0041\\\"i-", n - 20) + '"}'


def m_whitespace(n: int) -> str:
    return repeat_to(" \t\r\n\u00a0\u2028 \u3000", n) + "10.0.0.1"


def m_deep_json(n: int) -> str:
    depth = n // 12
    return '{"a":' * depth + '"i-0123456789abcdef0"' + "}" * depth


def m_dotted(n: int) -> str:
    return repeat_to("1.2.3.4.5.6.7.8.9.", n)


def m_latin1(n: int) -> str:
    return random.Random(2).randbytes(n).decode("latin-1")


def m_real_ids(n: int) -> str:
    rnd = random.Random(3)
    out, total = [], 0
    while total < n:
        out.append(f"instance i-{rnd.getrandbits(68):017x} in vpc-{rnd.getrandbits(32):08x}; ")
        total += len(out[-1])
    return "".join(out)[:n]


def m_thinking_blocks(n: int) -> str:
    """Many thinking blocks, each followed by a text block with an ID and a ``\\/`` escape."""
    unit = ('{"type":"thinking","thinking":"hmm i-0123456789abcdef0","signature":"s"},'
            '{"type":"text","text":"vpc-0a1b2c3d a\\/b"},')
    head = '{"messages":[{"role":"assistant","content":['
    return head + repeat_to(unit, n - len(head) - 5).rsplit("},", 1)[0] + "}]}]}"


# -- restorer inputs (bytes) ---------------------------------------------------------------------

def sse_event(text: str) -> bytes:
    return (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"' + text.encode() + b'"}}\n\n')


def r_near_tokens(n: int, kind: str) -> bytes:
    unit = "AWS_EC2_00 AWS_ AWS_EC2_0011 AWS_EC2_001 AWS_VPC_00"
    if kind == "sse":
        return repeat_to(sse_event(unit), n)
    return repeat_to(unit.encode() + b" ", n)


def r_backslashes(n: int, kind: str) -> bytes:
    if kind == "sse":
        return sse_event("\\\\" * (n // 2 - 60) + "AWS_EC2_001")
    return b'{"text":"' + b"\\\\" * (n // 2 - 20) + b'AWS_EC2_001"}'


def r_one_event(n: int, kind: str) -> bytes:
    """One huge event (SSE) / one huge string (JSON, text) full of tokens."""
    body = repeat_to("AWS_EC2_001 filler AWS_VPC_001 ", n - 120)
    if kind == "sse":
        return sse_event(body)
    return b'{"text":"' + body.encode() + b'"}'


def r_many_events(n: int, kind: str) -> bytes:
    if kind != "sse":
        return repeat_to(b'{"a":"AWS_EC2_001"}\n', n)
    return repeat_to(sse_event("x AWS_EC2_001 y"), n)


def r_unterminated(n: int, kind: str) -> bytes:
    """SSE: one event that never ends (no blank line): held, searched again on every feed."""
    return b"data: " + repeat_to(b"AWS_EC2_001 x ", n - 6) if kind == "sse" else \
        repeat_to(b"AWS_EC2_00", n)


def r_cr_only(n: int, kind: str) -> bytes:
    return r_many_events(n, kind).replace(b"\n", b"\r")


def r_thinking(n: int, kind: str) -> bytes:
    inner = repeat_to("AWS_EC2_001 \\\\\\\" ", n - 80)
    if kind == "sse":
        return (b'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
                b'"thinking":"' + inner.encode() + b'"}}\n\n')
    return b'{"type":"thinking","thinking":"' + inner.encode() + b'","signature":"s"}'


# -- runners ---------------------------------------------------------------------------------

MASKER = Masker()


def run_masker(text: str) -> None:
    plan = MASKER.plan(text)
    plan.apply([f"AWS_X_{i + 1:03d}" for i in range(len(plan.findings))])


def restore_runner(kind: str, chunk: int) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        s = StreamRestore(select_restorer(CTYPES[kind], "/v1/messages", TOKEN_MAP),
                          max_bytes=1 << 30)
        for i in range(0, len(data), chunk):
            s(data[i : i + chunk])
        s(b"")
        assert "error" not in s.flags, s.flags
    return run


@dataclass
class Case:
    component: str
    shape: str
    build: Callable[[int], object]
    run: Callable[[object], None]
    scale: float = 1.0  # fraction of --size used (1-byte chunk cases are slower per byte)


def cases() -> list[Case]:
    out = [Case("masker", name, fn, run_masker) for name, fn in [
        ("near-ids text", m_near_ids), ("near-ids JSON", m_json_near_ids),
        ("backslashes JSON", m_backslashes), ("escape runs JSON", m_escape_runs),
        ("whitespace", m_whitespace), ("deep JSON", m_deep_json), ("dotted quads", m_dotted),
        ("latin-1 bytes", m_latin1), ("1% real IDs", m_real_ids),
        ("thinking blocks JSON", m_thinking_blocks)]]
    shapes = [("near-tokens", r_near_tokens), ("backslashes", r_backslashes),
              ("one huge event", r_one_event), ("many events", r_many_events),
              ("unterminated", r_unterminated), ("CR-only", r_cr_only),
              ("thinking", r_thinking)]
    for kind in CTYPES:
        for name, fn in shapes:
            if name == "CR-only" and kind != "sse":
                continue
            build = (lambda f, k: lambda n: f(n, k))(fn, kind)
            out.append(Case(kind, name + ", 8 KiB chunks", build, restore_runner(kind, CHUNK)))
        for name, fn in [("one huge event", r_one_event), ("near-tokens", r_near_tokens),
                         ("unterminated", r_unterminated), ("backslashes", r_backslashes)]:
            build = (lambda f, k: lambda n: f(n, k))(fn, kind)
            out.append(Case(kind, name + ", 1-byte chunks", build, restore_runner(kind, 1),
                            scale=0.4))
    return out


def best_time(fn: Callable[[object], None], arg: object) -> float:
    t = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=50_000, help="N in bytes (default 50000)")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="N/5, 2 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.repeats = args.size // 5, 2
    flagged = []
    started = time.perf_counter()
    print(f"{'component':<9} {'shape':<34} {'N':>8} {'t(N) ms':>9} {'t(10N) ms':>10} "
          f"{'ratio':>6}")
    for case in cases():
        n = int(args.size * case.scale)
        small, big = case.build(n), case.build(10 * n)
        case.run(small)  # warm caches
        ts, tb = [], []
        for attempt in range(2):  # a flagged ratio is measured again: load on 2 cores is noisy
            for _ in range(args.repeats * (1 + 2 * attempt)):  # interleaved: drift hits both
                ts.append(best_time(case.run, small))
                tb.append(best_time(case.run, big))
            ratio = min(tb) / max(min(ts), 1e-9)
            if ratio < FLAG_RATIO or attempt:
                break
        mark = "  <-- SUPER-LINEAR" if ratio >= FLAG_RATIO else ""
        if mark:
            flagged.append(f"{case.component}: {case.shape} ({ratio:.1f})")
        print(f"{case.component:<9} {case.shape:<34} {len(small):>8} {min(ts) * 1e3:>9.2f} "
              f"{min(tb) * 1e3:>10.2f} {ratio:>6.1f}{mark}", flush=True)
    print(f"\n{len(cases())} cases in {time.perf_counter() - started:.0f} s; linear = 10, "
          f"flag at >= {FLAG_RATIO:.0f}")
    if flagged:
        print("SUPER-LINEAR: " + "; ".join(flagged))
        return 1
    print("all linear")
    return 0


if __name__ == "__main__":
    sys.exit(main())
