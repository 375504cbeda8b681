"""The agent-session replay: the sessions it builds, and ``scripts/bench_proxy.py --meter replay
--quick`` end to end (no timing assertions: it only proves the run starts every mode, including
the Redis store, and prints a ratio for each). Both read a small wheel made here, shaped like
awscli's (the benchmark itself reads the real one), so nothing leaves loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from testsupport.sessions import Session

ROOT = Path(__file__).resolve().parent.parent
MODES = ("plain", "addon", "addon-no-cache", "addon-redis")  # the replay meter's defaults

EXAMPLE = """**Example {n}: To describe an instance**

The following ``describe-instances`` example describes it. ::

    aws ec2 describe-instances \\
        --instance-ids i-{n:04d}567890abcdef0

Output::

    {{
        "Reservations": [
            {{
                "OwnerId": "123456789012",
                "Instances": [
                    {{
                        "InstanceId": "i-{n:04d}567890abcdef0",
                        "SubnetId": "subnet-04a636d18e83cfacb",
                        "IamInstanceProfile": {{
                            "Arn": "arn:aws:iam::123456789012:instance-profile/Role{n}"
                        }},
                        "PrivateIpAddress": "10.0.{n}.157"
                    }}
                ]
            }}
        ]
    }}

For more information, see the guide.
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel with awscli's layout: examples with commands and output, two topic guides."""
    path = tmp_path_factory.mktemp("wheel") / "awscli-0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for n in range(40):
            z.writestr(f"awscli/examples/ec2/describe-{n}.rst", EXAMPLE.format(n=n))
        for topic in ("config-vars", "s3-config"):
            z.writestr(f"awscli/topics/{topic}.rst", "Configure the CLI with care. " * 500)
    return path


def test_sessions_grow_turn_by_turn_with_the_breakpoint_on_the_newest_message(wheel):
    s = Session(turns=6, result_bytes=2000, source=wheel)
    reqs = [json.loads(s.body(k)) for k in range(1, 7)]
    sizes = [len(s.body(k)) for k in range(1, 7)]
    assert sizes == sorted(sizes) and sizes[-1] - sizes[0] > 5 * 2000
    for k, req in enumerate(reqs, start=1):
        msgs = req["messages"]
        assert len(msgs) == 2 * k - 1
        marked = [i for i, m in enumerate(msgs) if any("cache_control" in b for b in m["content"])]
        assert marked == [len(msgs) - 1]
        assert msgs[:-1] == reqs[-1]["messages"][: len(msgs) - 1]  # earlier turns unchanged
    kinds = {b["type"] for m in reqs[-1]["messages"] for b in m["content"]}
    assert kinds == {"text", "thinking", "tool_use", "tool_result"}
    results = [b["content"] for m in reqs[-1]["messages"] for b in m["content"]
               if b["type"] == "tool_result"]
    assert all("arn:aws:iam::123456789012:" in r and '"OwnerId"' in r for r in results)
    assert reqs[0]["system"][0]["text"].startswith("Configure the CLI")


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_replay_prints_a_ratio_for_every_mode(tmp_path, wheel):
    out = tmp_path / "replay.md"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_proxy.py"), "--meter", "replay", "--quick",
         "--wheel", str(wheel), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for mode in MODES:
        pattern = (rf"^{re.escape(mode)}\s+turns>=10 cpu vs plain x\d+\.\d\d \(quartiles "
                   r"\d+\.\d\d-\d+\.\d\d\)\s+added per turn: start [+-]\d+\.\d\d ms, "
                   r"end [+-]\d+\.\d\d ms$")
        assert any(re.match(pattern, ln) for ln in p.stdout.splitlines()), mode
    assert re.search(r"with the cache \d+\.\d\d ms per turn .*, \d+ MB/s of new content",
                     p.stdout)
    assert "| addon-redis |" in out.read_text()
