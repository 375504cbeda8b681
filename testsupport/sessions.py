"""Agent sessions for ``bench_proxy.py --meter replay`` and its tests, built from real text.

A coding agent resends its whole conversation every turn. These sessions are that traffic in
the Anthropic Messages shape Claude Code sends: a long system prompt, then per turn an assistant
message (a signed thinking block, a line of text, a ``Bash`` ``tool_use``) and a user message
with its ``tool_result``; the cache breakpoint (``cache_control``) sits on the newest message's
last block, so it moves every turn. The text is real: the system prompt from the AWS CLI's topic
guides, the commands and their output from the AWS CLI's examples (identifiers on most lines),
both read from the ``awscli`` wheel the real-text corpus pins (``testsupport.realcorpus``:
downloaded once into ``.corpus/wheels``, git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from testsupport.realcorpus import AWSCLI, wheel

_EXAMPLE = re.compile(
    r"::\n\n((?:    aws .*\n)(?:    .*\n)*?)\n(?:.*\n){0,3}?Output::\n\n((?:(?:    .*)?\n)+)"
)


def _dedent(block: str) -> str:
    return "\n".join(line[4:] for line in block.rstrip("\n").split("\n"))


@lru_cache(maxsize=4)
def cli_examples(source: Path) -> tuple[tuple[str, str], ...]:
    """(command, output) pairs of the AWS CLI's examples in the wheel ``source``, in a fixed
    order."""
    out: list[tuple[str, str]] = []
    with zipfile.ZipFile(source) as z:
        for name in sorted(z.namelist()):
            if not (name.startswith("awscli/examples/") and name.endswith(".rst")):
                continue
            text = z.read(name).decode("utf-8", "replace")
            for m in _EXAMPLE.finditer(text):
                cmd = " ".join(_dedent(m.group(1)).replace("\\\n", " ").split())
                output = _dedent(m.group(2))
                if len(output) > 200:
                    out.append((cmd, output))
    return tuple(out)


@lru_cache(maxsize=4)
def system_prompt(source: Path) -> str:
    """About 24 KB of prose: the AWS CLI's configuration guides."""
    with zipfile.ZipFile(source) as z:
        parts = [z.read(f"awscli/topics/{n}.rst").decode() for n in ("config-vars", "s3-config")]
    return "\n\n".join(parts)[:24 * 1024]


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() * 4  # shaped like one, never checked


class Session:
    """One agent session: ``body(k)`` is the request of turn ``k`` (1-based, ``turns`` of them).

    ``seed`` picks where in the examples the session starts; ``result_bytes`` is about how much
    output each tool call returns; ``source``: the awscli wheel (default: the corpus's).
    """

    def __init__(self, *, turns: int = 60, seed: int = 0, result_bytes: int = 4000,
                 source: Path | None = None) -> None:
        source = source or wheel(AWSCLI)
        ex = cli_examples(source)
        self.turns = turns
        self.system = system_prompt(source)
        self.steps: list[tuple[str, str]] = []  # (command, output) per turn
        i = (seed * 7919) % len(ex)
        for _ in range(turns):
            cmds, outs = [], []
            while sum(map(len, outs)) < result_bytes:
                cmd, output = ex[i % len(ex)]
                cmds.append(cmd)
                outs.append(output)
                i += 1
            self.steps.append((" && ".join(cmds), "\n".join(outs)))

    def messages(self, k: int) -> list[dict]:
        msgs: list[dict] = [{"role": "user", "content": [
            {"type": "text", "text": "Look at our AWS account and tell me what is running."}]}]
        for n, (cmd, output) in enumerate(self.steps[: k - 1]):
            tid = f"toolu_{n:04d}{hashlib.sha1(cmd.encode()).hexdigest()[:16]}"
            thought = f"Next I should run {cmd.split(' && ')[0]} to see more."
            msgs.append({"role": "assistant", "content": [
                {"type": "thinking", "thinking": thought, "signature": _signature(thought)},
                {"type": "text", "text": "Let me check that with the CLI."},
                {"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": cmd}},
            ]})
            msgs.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tid, "content": output}]})
        msgs[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        return msgs

    def request(self, k: int) -> dict:
        return {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "stream": True,
            "system": [{"type": "text", "text": self.system,
                        "cache_control": {"type": "ephemeral"}}],
            "messages": self.messages(k),
            "tools": [{"name": "Bash", "description": "Run a shell command.",
                       "input_schema": {"type": "object",
                                        "properties": {"command": {"type": "string"}},
                                        "required": ["command"]}}],
        }

    def body(self, k: int) -> bytes:
        """Turn ``k``'s request body, as Claude Code writes it (compact JSON)."""
        return json.dumps(self.request(k), separators=(",", ":")).encode()

