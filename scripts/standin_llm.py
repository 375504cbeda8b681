#!/usr/bin/env python3
"""A stand-in LLM API to try the proxy without an API key (loopback only).

It answers the Anthropic Messages API (streamed or not; Claude Code works against it) and the
OpenAI Chat Completions and Responses APIs. Each answer repeats the aws-masker tokens it found in
the request, so what it prints and records shows what the proxy let through: tokens, never the
originals. It calls the ``Bash`` tool (to echo those tokens) only when the latest prompt names
Bash; a turn that carries the tool's result gets text only, so ``claude -p`` ends.

    python scripts/standin_llm.py [--port 8787] [--tls] [--record FILE] [--first-byte-ms 0]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testsupport.standin import (
    StandinConfig,
    StandinServer,
    self_signed_localhost,
    server_tls,
)

DEFAULT_PORT = 8787  # not the proxy's 8080, nor mitmweb's 8081


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"default {DEFAULT_PORT}; 0: a free port")
    ap.add_argument("--tls", action="store_true",
                    help="serve HTTPS as localhost with a self-signed certificate (its path is "
                    "printed; mitmdump needs --set ssl_insecure=true to talk to it)")
    ap.add_argument("--record", type=Path, metavar="FILE",
                    help="append every request received to FILE, one JSON object a line")
    ap.add_argument("--first-byte-ms", type=int, default=0, help="delay before each answer")
    ap.add_argument("--seed", type=int, default=1234, help="where streamed replies are cut")
    args = ap.parse_args()
    cfg = StandinConfig(seed=args.seed, first_byte_ms=args.first_byte_ms, record_bodies=False,
                        tool_call="when-asked", record_file=args.record)
    tls = None
    if args.tls:
        cert, key = self_signed_localhost(Path(tempfile.mkdtemp(prefix="standin-tls-")))
        tls = server_tls(cert, key)
        print(f"certificate: {cert}", flush=True)
    try:
        srv = StandinServer(cfg, args.port, tls=tls)
    except OSError as e:
        print(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    host = "localhost" if tls else "127.0.0.1"
    print(f"stand-in LLM API on {'https' if tls else 'http'}://{host}:{srv.port}", flush=True)
    if args.record:
        print(f"recording requests to {args.record}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
