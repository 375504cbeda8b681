"""The watcher (``python -m awsmasker watch``) as a subprocess against a real redis-server."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from awsmasker.events import make_event

from testsupport.redis_server import RedisServer as OwnRedis

ADDON = Path(__file__).resolve().parent.parent / "addon"
CHANNEL = "masker:events"
WAIT = 30.0  # generous upper bound for anything to show up on a busy 2-core machine


class Watcher:
    """The watcher process, with its stdout and stderr collected line by line."""

    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awsmasker", "watch", "--redis-url", url, "--channel", CHANNEL,
             *args],
            env={**os.environ, "PYTHONPATH": str(ADDON)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._new: queue.Queue[None] = queue.Queue()
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    def _pump(self, stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            self._new.put(None)

    def wait_for(self, predicate, what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._new.empty()):
                raise AssertionError(f"watcher never showed {what}\nstdout={self.out}\n"
                                     f"stderr={self.err}")
            with contextlib.suppress(queue.Empty):
                self._new.get(timeout=min(left, 0.2))

    def signal(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=WAIT)
        finally:
            self.kill()
        time.sleep(0.05)  # let the pumps drain
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def event_lines(self) -> list[str]:
        return [line for line in self.out if " flow=" in line]


@pytest.fixture
def url(redis_proc, redisdb) -> str:
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.fixture
def watchers():
    started: list[Watcher] = []

    def start(url: str, *args: str) -> Watcher:
        w = Watcher(url, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def wait_subscribed(client, n: int = 1) -> None:
    for _ in range(int(WAIT / 0.05)):
        if dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the watcher never subscribed")


def event(kind: str, flow_id: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("counts", {"EC2": 2, "VPC": 1})
    kw.setdefault("tokens", ["AWS_EC2_001", "AWS_EC2_002", "AWS_VPC_001"])
    e = make_event(kind, flow_id=flow_id, host="api.anthropic.com", path="/v1/messages", **kw)
    e["sampling_rate"] = 1.0
    return e


def batch(events: list[dict[str, Any]], **dropped: int) -> str:
    return json.dumps({"type": "batch", "schema": 1, "publisher": "p1", "flush": "full",
                       "dropped": dropped, "events": events})


def test_prints_one_line_per_event_and_a_summary_on_sigterm(url, redisdb, watchers):
    w = watchers(url, "--summary-every", "0")
    wait_subscribed(redisdb)
    redisdb.publish(CHANNEL, json.dumps(event("masked", "flow-a", bytes=512, duration_ms=2.5)))
    redisdb.publish(CHANNEL, batch([event("restored", "flow-a"),
                                    event("blocked", "flow-b", reason="store_down")]))
    w.wait_for(lambda: len(w.event_lines()) == 3, "three event lines")
    masked, restored, blocked = w.event_lines()
    assert re.search(r"masked\s+flow=flow-a api\.anthropic\.com/v1/messages EC2=2,VPC=1 512B "
                     r"2\.5ms AWS_EC2_001,AWS_EC2_002,AWS_VPC_001", masked), masked
    assert "restored" in restored and "flow=flow-a" in restored
    assert "blocked" in blocked and "reason=store_down" in blocked
    assert w.signal(signal.SIGTERM) == 0
    (summary,) = [line for line in w.out if line.startswith("[summary total")]
    assert "3 events" in summary and "masked=1" in summary and "masks EC2=2 VPC=1" in summary


def test_rate_limit_prints_a_suppressed_line(url, redisdb, watchers):
    w = watchers(url, "--max-lines-per-sec", "5", "--summary-every", "0")
    wait_subscribed(redisdb)
    redisdb.publish(CHANNEL, batch([event("masked", f"f{i}") for i in range(50)]))
    w.wait_for(lambda: any("suppressed" in line for line in w.out), "a suppressed line")
    assert w.signal() == 0
    suppressed = [int(m.group(1)) for line in w.out
                  if (m := re.match(r"\.\.\. (\d+) suppressed", line))]
    shown = len(w.event_lines())
    assert 0 < shown < 50
    assert shown + sum(suppressed) == 50


def test_json_mode_prints_one_event_per_line(url, redisdb, watchers):
    w = watchers(url, "--json", "--summary-every", "0")
    wait_subscribed(redisdb)
    sent = [event("masked", "j1"), event("restored", "j1"), event("masked", "j2")]
    redisdb.publish(CHANNEL, batch(sent[:2]))
    redisdb.publish(CHANNEL, json.dumps(sent[2]))
    w.wait_for(lambda: len(w.out) == 3, "three JSON lines")
    assert w.signal() == 0
    got = [json.loads(line) for line in w.out]  # stdout is pure JSON lines, even at exit
    assert got == sent
    assert any(line.startswith("[summary total") for line in w.err)


def test_quiet_mode_prints_flow_type_and_duration(url, redisdb, watchers):
    w = watchers(url, "--quiet", "--summary-every", "0")
    wait_subscribed(redisdb)
    redisdb.publish(CHANNEL, batch([event("masked", "q1", duration_ms=1.5),
                                    event("restored", "q1", duration_ms=0.25)]))
    w.wait_for(lambda: len(w.out) >= 2, "two quiet lines")
    assert w.out[:2] == ["q1 masked 1.5ms", "q1 restored 0.25ms"]
    assert w.signal(signal.SIGINT) == 0


def test_periodic_summary_has_rates_percentiles_and_proxy_drops(url, redisdb, watchers):
    w = watchers(url, "--summary-every", "0.5", "--max-lines-per-sec", "1")
    wait_subscribed(redisdb)
    events = [event("masked", f"s{i}", duration_ms=float(i), counts={"EC2": 1})
              for i in range(1, 101)]
    redisdb.publish(CHANNEL, batch(events, dropped_queue_full=7, dropped_redis_error=3))
    w.wait_for(lambda: any(line.startswith("[summary last") and "100 events" in line
                           for line in w.out), "a summary of the batch")
    (line,) = [ln for ln in w.out if ln.startswith("[summary last") and "100 events" in ln]
    assert "masked=100" in line and "masks EC2=100" in line
    assert "p50=50.00 p99=99.00" in line
    assert "proxy dropped queue_full=7 redis_error=3" in line
    assert re.search(r"\(\d+\.\d/s\)", line)
    assert w.signal() == 0


def test_stream_replay_from_start_and_follow_from_now(url, redisdb, watchers):
    old = [event("masked", f"old{i}") for i in range(3)]
    for e in old:
        redisdb.xadd(CHANNEL, {"data": json.dumps(e)})
    replay = watchers(url, "--stream", "--from-start", "--quiet", "--summary-every", "0")
    replay.wait_for(lambda: len(replay.out) >= 3, "the replayed events")
    assert [line.split()[0] for line in replay.out[:3]] == ["old0", "old1", "old2"]

    follow = watchers(url, "--stream", "--quiet", "--summary-every", "0")
    follow.wait_for(lambda: any("reading stream" in line for line in follow.err), "connected")
    redisdb.xadd(CHANNEL, {"data": batch([event("masked", "new1")])})
    follow.wait_for(lambda: follow.out, "the new event")
    replay.wait_for(lambda: len(replay.out) >= 4, "the new event (replaying watcher)")
    assert follow.signal() == 0 and replay.signal() == 0
    assert [line.split()[0] for line in follow.out if not line.startswith("[")] == ["new1"]


def test_reconnects_after_a_redis_restart(tmp_path, watchers):
    import redis

    own = OwnRedis(tmp_path)
    own.start()
    try:
        w = watchers(own.url, "--quiet", "--summary-every", "0", "--max-backoff", "1")
        client = redis.Redis(port=own.port)
        wait_subscribed(client)
        client.publish(CHANNEL, json.dumps(event("masked", "before")))
        w.wait_for(lambda: any(line.startswith("before ") for line in w.out), "first event")
        client.close()

        own.stop()
        w.wait_for(lambda: any("connection lost" in line for line in w.err), "the outage")
        time.sleep(3)  # several retries (--max-backoff 1) while Redis is down
        own.start()
        client = redis.Redis(port=own.port)
        wait_subscribed(client)
        client.publish(CHANNEL, json.dumps(event("masked", "after")))
        w.wait_for(lambda: any(line.startswith("after ") for line in w.out), "event after")
        client.close()
        assert any(line.startswith("[watch] reconnected after ") for line in w.err)
        # one line when the connection is lost and one when it is back, however many retries
        assert len([line for line in w.err if "connection lost" in line]) == 1, w.err
        assert w.signal() == 0
    finally:
        own.stop()


def test_waits_for_a_redis_that_is_not_there_yet_and_exits_cleanly(tmp_path, watchers):
    own = OwnRedis(tmp_path)  # not started
    w = watchers(own.url, "--summary-every", "0", "--max-backoff", "1")
    w.wait_for(lambda: any("cannot connect" in line for line in w.err), "a retry notice")
    assert w.signal() == 0
    assert any(line.startswith("[summary total") and "] 0 events" in line
               and "p50=0.00 p99=0.00" in line for line in w.out)


def test_malformed_messages_are_counted_not_printed(url, redisdb, watchers):
    w = watchers(url, "--summary-every", "0")
    wait_subscribed(redisdb)
    for bad in ("[1, 2]", '{"no": "event_type"}', "not json", '{"type": "batch"}'):
        redisdb.publish(CHANNEL, bad)
    redisdb.publish(CHANNEL, json.dumps(event("masked", "ok")))
    w.wait_for(lambda: len(w.event_lines()) == 1, "the one event")
    assert w.signal() == 0
    (summary,) = [line for line in w.out if line.startswith("[summary total")]
    assert "] 1 events" in summary and "malformed 4" in summary


def test_a_stream_that_is_not_written_says_which_setting_writes_it(url, redisdb, watchers):
    w = watchers(url, "--stream", "--from-start", "--summary-every", "0")
    w.wait_for(lambda: any("does not exist yet" in line for line in w.err), "the hint")
    (line,) = [ln for ln in w.err if "does not exist yet" in ln]
    assert "event_sink: stream or both" in line
    assert w.signal() == 0


def test_window_summaries_count_the_drops_of_the_window(url, redisdb, watchers):
    """The proxies report cumulative drop counts: a window shows how much they grew in it, the
    final summary the whole count."""
    w = watchers(url, "--summary-every", "0.5")
    wait_subscribed(redisdb)

    def window_with(text: str) -> bool:
        return any(line.startswith("[summary last") and text in line for line in w.out)

    redisdb.publish(CHANNEL, batch([event("masked", "a")], dropped_queue_full=5))
    w.wait_for(lambda: window_with("proxy dropped queue_full=5"), "the first drops")
    w.wait_for(lambda: window_with("proxy dropped none"), "a window without drops")
    redisdb.publish(CHANNEL, batch([event("masked", "b")], dropped_queue_full=7))
    w.wait_for(lambda: window_with("proxy dropped queue_full=2"), "the growth")
    assert w.signal() == 0
    (total,) = [line for line in w.out if line.startswith("[summary total")]
    assert "proxy dropped queue_full=7" in total
