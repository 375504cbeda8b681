"""Speed of the Bedrock event-stream restore: µs per frame, MB/s, and linearity in size.

A Bedrock ``InvokeModelWithResponseStream`` reply (``chunk`` frames, each an Anthropic
``text_delta`` in base64; tokens split across frames) and a ``ConverseStream`` reply are
restored through ``StreamRestore`` as the proxy does it, fed in 16 KiB pieces and one byte at a
time. Each case runs at size N and 10 N (alternated, best of ``--repeats``); the ratio of the two
times is ~10 for a linear restore, and a ratio >= 20 is flagged (exit status 1). The same events
as Anthropic SSE are timed too, for comparison.

    .venv/bin/python scripts/bench_eventstream.py [--size 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

# this checkout's addon, whatever the current directory and PYTHONPATH
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

from awsmasker.restore import select_restorer
from awsmasker.restore.eventstream import encode_frame, encode_headers
from awsmasker.restore.stream import StreamRestore

FLAG_RATIO = 20.0
TOKEN_MAP = {f"AWS_EC2_{n:03d}": f"i-{n:017x}" for n in range(1, 100)}
CHUNK_HEADERS = encode_headers({":event-type": "chunk", ":content-type": "application/json",
                                ":message-type": "event"})
DELTA_HEADERS = encode_headers({":event-type": "contentBlockDelta",
                                ":content-type": "application/json", ":message-type": "event"})
#: a reply's text, cut into deltas of 1-12 characters: tokens fall across frames. DENSE has a
#: token in about every third frame, SPARSE one every ~200 characters (about every 30th frame).
DENSE = "Instance AWS_EC2_001 restarted; AWS_EC2_002 is fine, check AWS_EC2_003 logs. "
SPARSE = "The service restarted cleanly and the health checks pass again. " * 3 + \
    "See AWS_EC2_001. "
CUTS = [3, 12, 7, 1, 9, 5, 11, 2, 8, 6, 10, 4]


def pieces(n_bytes: int, frame_bytes: int, text: str = DENSE) -> list[str]:
    out, i, k = [], 0, 0
    text = text * (n_bytes // frame_bytes * 12 // len(text) + 2)
    while len(out) * frame_bytes < n_bytes:
        c = CUTS[k % len(CUTS)]
        out.append(text[i : i + c])
        i, k = i + c, k + 1
    return out


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def delta(piece: str) -> dict:
    return {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}


def invoke_stream(n: int, text: str = DENSE) -> tuple[bytes, int]:
    frames = [encode_frame(CHUNK_HEADERS, dumps({"bytes": base64.b64encode(dumps(delta(p)))
                                                 .decode(), "p": "abcdefgh"}))
              for p in pieces(n, 190, text)]
    return b"".join(frames), len(frames)


def invoke_sparse(n: int) -> tuple[bytes, int]:
    return invoke_stream(n, SPARSE)


def converse_stream(n: int) -> tuple[bytes, int]:
    frames = [encode_frame(DELTA_HEADERS, dumps({"contentBlockIndex": 0, "delta": {"text": p},
                                                 "p": "abcdefgh"}))
              for p in pieces(n, 150)]
    return b"".join(frames), len(frames)


def sse_stream(n: int) -> tuple[bytes, int]:
    events = [b"event: content_block_delta\ndata: " + dumps(delta(p)) + b"\n\n"
              for p in pieces(n, 110)]
    return b"".join(events), len(events)


CASES: dict[str, tuple[Callable[[int], tuple[bytes, int]], str]] = {
    "invoke chunk frames": (invoke_stream, "application/vnd.amazon.eventstream"),
    "invoke, sparse tokens": (invoke_sparse, "application/vnd.amazon.eventstream"),
    "converse frames": (converse_stream, "application/vnd.amazon.eventstream"),
    "anthropic SSE (ref)": (sse_stream, "text/event-stream"),
}


def run_once(data: bytes, ctype: str, chunk: int) -> float:
    s = StreamRestore(select_restorer(ctype, "/", TOKEN_MAP), max_bytes=len(data) + 1)
    started = time.perf_counter()
    for i in range(0, len(data), chunk):
        s(data[i : i + chunk])
    s(b"")
    elapsed = time.perf_counter() - started
    assert not s.flags, s.flags
    assert sum(s.restored.values()) > 0
    return elapsed


def best_pair(small: bytes, large: bytes, ctype: str, chunk: int,
              repeats: int) -> tuple[float, float]:
    """Best time of each, the two runs alternated so that a busy phase of the host weighs on
    both alike."""
    t_small, t_large = [], []
    for _ in range(repeats):
        t_small.append(run_once(small, ctype, chunk))
        t_large.append(run_once(large, ctype, chunk))
    return min(t_small), min(t_large)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="N in bytes (16 KiB pieces)")
    ap.add_argument("--byte-size", type=int, default=50_000,
                    help="N in bytes for the one-byte-at-a-time feed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.size, args.byte_size, args.repeats = 60_000, 10_000, 1
    flagged = False
    print(f"{'case':22} {'feed':>7} {'N':>9} {'frames':>7} {'us/frame':>9} {'MB/s':>7} "
          f"{'10N/N':>6}")
    for name, (make, ctype) in CASES.items():
        for feed, n, chunk in (("16KiB", args.size, 16384), ("1 byte", args.byte_size, 1)):
            small, _ = make(n)
            large, large_frames = make(10 * n)
            t_small, t_large = best_pair(small, large, ctype, chunk, args.repeats)
            ratio = t_large / t_small
            flag = "  SUPER-LINEAR" if ratio >= FLAG_RATIO else ""
            flagged = flagged or bool(flag)
            print(f"{name:22} {feed:>7} {len(large):>9} {large_frames:>7} "
                  f"{t_large / large_frames * 1e6:>9.2f} {len(large) / t_large / 1e6:>7.2f} "
                  f"{ratio:>6.1f}{flag}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
