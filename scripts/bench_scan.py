"""Masking-engine speed: MB/s of complete masking (plan + store + apply) on a realistic 1 MB body.

Builds one mixed body (prose, AWS CLI JSON and tables, CloudTrail, Terraform, logs; about 1% of
the characters are identifiers) both as an Anthropic Messages JSON request (text blocks,
tool_use inputs, tool_result contents, so plenty of ``\\n``/``\\"`` escapes), again with tabs and
``\\u2002`` escapes (the JSON path for rarer escapes), and as plain text, then times every
installed trigger engine side by side, interleaved. Runs in well under 60 s.

``--bodies overhead`` also times ``Masker.plan`` alone on the denser bodies that
scripts/bench_proxy.py sends (``Bodies().body(1 << 20, n)``: a long Anthropic conversation,
about 1,000 identifiers per MB), a distinct body per repeat, and prints MB/s and findings/MB.

    .venv/bin/python scripts/bench_scan.py [--size 1000000] [--repeats 7] [--bodies overhead]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from awsmasker.body import Masker
from awsmasker.scanner import available_engines
from awsmasker.store.memory import MemoryStore

from testsupport.corpus import Gen


def build_text(size: int, seed: int = 7) -> tuple[str, list[str]]:
    """Plain text pieces: mostly prose, some AWS documents; ~1% identifier characters."""
    g = Gen(seed)
    pieces: list[str] = []
    total = 0
    while total < size:
        doc = g.document() if g.r.random() < 0.025 else g.prose(60) + ". " + g.negative() + ".\n"
        pieces.append(doc)
        total += len(doc)
    return "".join(pieces), pieces


def build_json(pieces: list[str], seed: int = 7) -> str:
    r = random.Random(seed)
    messages = []
    i = 0
    n = 0
    while i < len(pieces):
        chunk = "\n".join(pieces[i : i + 6])
        i += 6
        n += 1
        if n % 3 == 1:
            messages.append({"role": "user", "content": [{"type": "text", "text": chunk}]})
        elif n % 3 == 2:
            messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Running the command."},
                        {
                            "type": "tool_use",
                            "id": f"toolu_{r.randrange(10**12)}",
                            "name": "bash",
                            "input": {"command": "aws ec2 describe-instances", "note": chunk},
                        },
                    ],
                }
            )
        else:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"toolu_{r.randrange(10**12)}",
                            "content": [{"type": "text", "text": chunk}],
                        },
                    ],
                }
            )
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "continue"})
    return json.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": "You are a helpful AWS assistant.",
            "messages": messages,
        }
    )


def mask_once(masker: Masker, store: MemoryStore, text: str, is_json: bool) -> str:
    plan = masker.plan(text, is_json=is_json)
    tokens = [store.token_for(f) for f in plan.findings]
    return plan.apply(tokens)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--bodies",
        choices=("scan", "overhead"),
        default="scan",
        help="overhead: also time plan on bench_proxy's denser 1 MB request bodies",
    )
    args = ap.parse_args()
    text, pieces = build_text(args.size)
    body = build_json(pieces)
    # the same with tab-separated tables and non-ASCII escaped: escapes other than \n and \"
    rare = build_json([p.replace("  ", "\t").replace(". ", ".\u2002") for p in pieces])
    inputs = {"json": (body, True), "text": (text, False), "json_rare": (rare, True)}
    engines = available_engines()
    maskers = {e: Masker(engine=e) for e in engines}
    store = MemoryStore()
    # identical output from every engine (also checked by the tests)
    ref = {k: mask_once(maskers["re"], store, t, j) for k, (t, j) in inputs.items()}
    for e in engines:
        for k, (t, j) in inputs.items():
            assert mask_once(maskers[e], store, t, j) == ref[k], f"{e} differs on {k}"
    plan = maskers[engines[-1]].plan(body, is_json=True)
    found = sum(plan.counts.values())
    tplan = maskers[engines[-1]].plan(text, is_json=False)
    share = sum(e[1] - e[0] for e in tplan.edits) / len(text)
    print(
        f"body: JSON {len(body) / 1e6:.2f} MB, text {len(text) / 1e6:.2f} MB; "
        f"{found} identifiers in the JSON body ({share:.1%} of the text's characters); "
        f"engines: {', '.join(engines)}"
    )
    times: dict[tuple[str, str], list[float]] = {(e, k): [] for e in engines for k in inputs}
    deadline = time.monotonic() + 40
    for _ in range(args.repeats):
        for e in engines:
            for k, (t, j) in inputs.items():
                t0 = time.perf_counter()
                mask_once(maskers[e], store, t, j)
                times[(e, k)].append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    rare_head = "JSON \\t \\u MB/s (best / median)"
    print(
        f"{'engine':<10} {'JSON MB/s (best / median)':>27} {'text MB/s (best / median)':>27}"
        f" {rare_head:>30}"
    )
    for e in engines:
        cols = []
        for k, (t, _j) in inputs.items():
            ts = times[(e, k)]
            mb = len(t.encode()) / 1e6
            cols.append(f"{mb / min(ts):9.0f} / {mb / statistics.median(ts):6.0f}")
        print(f"{e:<10} {cols[0]:>27} {cols[1]:>27} {cols[2]:>30}")
    asyncio.run(store.close())
    if args.bodies == "overhead":
        bench_dense(engines, args.repeats)


def bench_dense(engines: list[str], repeats: int, size: int = 1 << 20) -> None:
    """``Masker.plan`` on bench_proxy's request bodies: a distinct body per repeat (the same
    bodies for every engine, interleaved), one masker per engine kept across bodies as in the
    proxy."""
    from testsupport.corpus import Bodies

    gen = Bodies()
    bodies = [gen.body(size, n).decode() for n in range(max(2, repeats))]
    maskers = {e: Masker(engine=e) for e in engines}
    ref = [maskers["re"].plan(b, is_json=True) for b in bodies[:2]]
    for e in engines:  # identical plans from every engine
        for b, p in zip(bodies[:2], ref, strict=True):
            q = maskers[e].plan(b, is_json=True)
            assert (q.edits, q.findings) == (p.edits, p.findings), f"{e} differs on a dense body"
    found = sum(sum(p.counts.values()) for p in ref) / sum(len(b) for b in bodies[:2]) * 1e6
    times: dict[str, list[float]] = {e: [] for e in engines}
    deadline = time.monotonic() + 40
    for b in bodies:
        for e in engines:
            t0 = time.perf_counter()
            maskers[e].plan(b, is_json=True)
            times[e].append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    mb = size / 1e6
    print(f"dense bodies (bench_proxy, {size >> 20} MB, {found:.0f} findings/MB): plan only")
    print(f"{'engine':<10} {'plan MB/s (best / median)':>27} {'ms per body (median)':>22}")
    for e in engines:
        ts = times[e]
        med = statistics.median(ts)
        print(f"{e:<10} {mb / min(ts):9.0f} / {mb / med:6.0f} {med * 1e3:22.2f}")


if __name__ == "__main__":
    main()
