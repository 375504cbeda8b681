"""Benchmark the response restorers: cost per byte and per event, flat in reply size.

Feeds each restorer (Anthropic SSE, OpenAI chat SSE, OpenAI Responses SSE, JSON, text) a reply
with ~1% identifiers in 64 KiB, 7-byte and 1-byte chunks, at 1 MB and 10 MB (1-byte: 0.25 MB and
1 MB), and prints ns/byte, MB/s and µs/event side by side with the 10 MB / 1 MB ratio (1.0 = flat).
Targets (issue 6): <= 20 µs per SSE event, >= 50 MB/s in bulk. Runs in well under 2 minutes.

    .venv/bin/python scripts/bench_restore.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from awsmasker.restore import select_restorer

TOKEN_MAP = {f"AWS_EC2_{n:03d}": f"i-{n:017x}" for n in range(1, 200)}
TOKEN_MAP |= {f"AWS_VPC_{n:03d}": f"vpc-{n:08x}" for n in range(1, 50)}
TOKEN_MAP |= {"AWS_ARN_001": 'arn:aws:iam::123456789012:role/"x"'}
TOKENS = list(TOKEN_MAP)
WORDS = [
    *("the", "instance", "is", "running", "in", "a", "private", "subnet", "with", "security"),
    *("group", "rules", "and", "\n"),
]


def text_of(size: int, rnd: random.Random) -> str:
    """Prose with about 1.5% of its bytes in tokens (one word in 170)."""
    parts, n = [], 0
    while n < size:
        w = rnd.choice(TOKENS) if rnd.random() < 0.006 else rnd.choice(WORDS)
        parts.append(w)
        n += len(w) + 1
    return " ".join(parts)


def pieces(text: str, rnd: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        k = rnd.randint(5, 60)
        out.append(text[i : i + k])
        i += k
    return out


def ev(name: str | None, obj: object) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(obj, separators=(',', ':'))}\n\n"


def anthropic(size: int, rnd: random.Random) -> tuple[bytes, int]:
    out = [ev("message_start", {"type": "message_start", "message": {"content": []}})]
    out.append(ev("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}))
    for p in pieces(text_of(size // 5, rnd), rnd):
        out.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": p}}))
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return "".join(out).encode(), len(out)


def chat(size: int, rnd: random.Random) -> tuple[bytes, int]:
    meta = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    out = []
    for p in pieces(text_of(size // 5, rnd), rnd):
        out.append(ev(None, {**meta, "choices": [{"index": 0, "delta": {"content": p},
                                                 "finish_reason": None}]}))
    out.append(ev(None, {**meta, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    out.append("data: [DONE]\n\n")
    return "".join(out).encode(), len(out)


def responses(size: int, rnd: random.Random) -> tuple[bytes, int]:
    out = []
    for n, p in enumerate(pieces(text_of(size // 5, rnd), rnd)):
        out.append(ev("response.output_text.delta", {
            "type": "response.output_text.delta", "sequence_number": n, "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "delta": p}))
    out.append(ev("response.output_text.done", {
        "type": "response.output_text.done", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "text": "done"}))
    return "".join(out).encode(), len(out)


def json_body(size: int, rnd: random.Random) -> tuple[bytes, int]:
    blocks = [{"type": "text", "text": text_of(4096, rnd)} for _ in range(size // 4200)]
    return json.dumps({"id": "msg", "content": blocks}).encode(), 0


def text_body(size: int, rnd: random.Random) -> tuple[bytes, int]:
    return text_of(size, rnd).encode(), 0


FORMATS = [
    ("anthropic-sse", "text/event-stream", anthropic),
    ("openai-chat-sse", "text/event-stream", chat),
    ("openai-responses", "text/event-stream", responses),
    ("json", "application/json", json_body),
    ("text", "text/plain", text_body),
]


def measure(ctype: str, body: bytes, chunk: int) -> tuple[float, int]:
    r = select_restorer(ctype, "/", TOKEN_MAP)
    assert r is not None
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    feed = r.feed
    t0 = time.perf_counter()
    for c in chunks:
        feed(c)
    r.finish()
    dt = time.perf_counter() - t0
    return dt, sum(r.restored.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller replies (a smoke run)")
    quick = ap.parse_args().quick
    mb = 1_000_000
    plan = [(1 << 16, mb, 10 * mb), (7, mb, 10 * mb), (1, mb // 4, mb)]
    if quick:
        plan = [(1 << 16, mb // 4, mb), (7, mb // 10, mb // 4), (1, mb // 20, mb // 10)]
    print(f"{'format':18} {'chunk':>6} {'small':>6} {'large':>6} {'ns/B small':>10} "
          f"{'ns/B large':>10} {'ratio':>6} {'MB/s':>7} {'µs/event':>9}")
    t_start = time.perf_counter()
    for name, ctype, make in FORMATS:
        bodies = {}
        for chunk, small, large in plan:
            row = []
            for size in (small, large):
                if size not in bodies:
                    bodies[size] = make(size, random.Random(size))
                body, events = bodies[size]
                dt, restored = measure(ctype, body, chunk)
                assert restored > 0
                row.append((dt, len(body), events))
            (dt_s, n_s, _), (dt_l, n_l, ev_l) = row
            ns_s, ns_l = dt_s / n_s * 1e9, dt_l / n_l * 1e9
            per_ev = f"{dt_l / ev_l * 1e6:9.2f}" if ev_l else f"{'-':>9}"
            print(f"{name:18} {chunk:>6} {n_s / mb:>5.2f}M {n_l / mb:>5.1f}M {ns_s:>10.1f} "
                  f"{ns_l:>10.1f} {ns_l / ns_s:>6.2f} {n_l / dt_l / mb:>7.1f} {per_ev}")
    print(f"total {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
