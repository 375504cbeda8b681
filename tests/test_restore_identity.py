"""Restored SSE streams keep every event's identity and look like streams.

Issue 20 item 6 and issue 19 item 3: the restorer never adds an event (a token cut across deltas
is restored inside the model's own deltas), so every ``sequence_number`` and index that comes out
came in, in order, once; and no delta comes out empty that came in with text (a delta that was all
token prefix is merged into the next one). Checked on random texts cut at random points, every
cut of one text, and every byte offset of one stream per API, with the text restored exactly.
"""

from __future__ import annotations

import json
import random
import re

import pytest
from awsmasker.restore import select_restorer
from awsmasker.restore.events import MAX_QUEUED

from tests.restore_helpers import (
    TOKEN_MAP,
    anthropic_channels,
    anthropic_stream,
    byte_cuts,
    chat_channels,
    chat_stream,
    feed_all,
    mask,
    parse_sse,
    responses_channels,
    responses_stream,
    splits,
    sse,
)

ORIGINALS = list(TOKEN_MAP.values())
WORDS = [*ORIGINALS, "A", "AW", "AWS", "AWS_", "Alpha", "x", "é", '"q"', "\n", "AWS_EC2_0011"]


def restore_stream(stream: bytes, pieces: list[bytes] | None = None) -> bytes:
    r = select_restorer("text/event-stream", "/v1/x", TOKEN_MAP)
    assert r is not None
    out = feed_all(r, pieces if pieces is not None else [stream])
    assert "error" not in r.flags
    return out


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))


def cut(text: str, rng: random.Random) -> list[str]:
    """``text`` in random pieces; some pieces are a token's start alone (a masked text is dense
    in them)."""
    if len(text) < 2:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def args_of(text: str) -> str:
    return json.dumps({"a": text}, ensure_ascii=False)


# -- what a stream says about its events ------------------------------------------------------


def anthropic_deltas(stream: bytes) -> list[tuple]:
    """(index, delta type, text) of every delta, in order."""
    out = []
    for _, ev in parse_sse(stream):
        assert isinstance(ev, dict)
        if ev["type"] == "content_block_delta":
            d = ev["delta"]
            field = {"text_delta": "text", "input_json_delta": "partial_json",
                     "thinking_delta": "thinking", "signature_delta": "signature"}[d["type"]]
            out.append((ev["index"], d["type"], d[field]))
    return out


def is_subsequence(small: list, big: list) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def tagged(stream: bytes) -> bytes:
    """A chat stream whose chunks each carry their own ``obfuscation`` (as the API's do): it tells
    which chunk is which on the way out."""
    n = iter(range(10**6))
    return re.sub(rb"(data: \{.*)\}\n\n",
                  lambda m: m.group(1) + b',"obfuscation":"o%d"}\n\n' % next(n), stream)


def check_anthropic(stream: bytes, out: bytes) -> None:
    events_in, events_out = parse_sse(stream), parse_sse(out)
    assert len(events_out) <= len(events_in)
    din, dout = anthropic_deltas(stream), anthropic_deltas(out)
    # the same events in the same order, some merged into the next one: their kinds and indexes
    # are a subsequence of the input's
    assert is_subsequence([d[:2] for d in dout], [d[:2] for d in din])
    empty_in = sum(1 for d in din if d[2] == "")
    assert sum(1 for d in dout if d[2] == "") <= empty_in
    # thinking and signatures are untouched, event for event
    assert [d for d in dout if d[1] in ("thinking_delta", "signature_delta")] == [
        d for d in din if d[1] in ("thinking_delta", "signature_delta")]


def check_chat(stream: bytes, out: bytes) -> None:
    def chunks(s: bytes) -> dict[str, dict]:
        return {ev["obfuscation"]: ev for _, ev in parse_sse(s)[:-1]}  # type: ignore[index]

    cin, cout = chunks(stream), chunks(out)
    tags_in, tags_out = list(cin), [ev["obfuscation"] for _, ev in parse_sse(out)[:-1]]
    assert len(tags_out) == len(set(tags_out)) and is_subsequence(tags_out, tags_in)
    for tag, ev in cout.items():
        for ch, ch_in in zip(ev["choices"], cin[tag]["choices"], strict=True):
            assert ch["index"] == ch_in["index"]
            d, d_in = ch["delta"], ch_in["delta"]
            if d.get("content") == "":
                assert d_in.get("content") == ""
            for tc, tc_in in zip(d.get("tool_calls") or (), d_in.get("tool_calls") or (),
                                 strict=True):
                assert tc["index"] == tc_in["index"]
                if tc["function"]["arguments"] == "":
                    assert tc_in["function"]["arguments"] == ""


def check_responses(stream: bytes, out: bytes) -> None:
    by_seq = {ev["sequence_number"]: ev for _, ev in parse_sse(stream)}  # type: ignore[index]
    seqs = [ev["sequence_number"] for _, ev in parse_sse(out)]  # type: ignore[index]
    assert seqs == sorted(set(seqs)) and set(seqs) <= set(by_seq)
    for _, ev in parse_sse(out):
        assert isinstance(ev, dict)
        src = by_seq[ev["sequence_number"]]
        assert ev["type"] == src["type"]
        if ev["type"].endswith(".delta") and ev["delta"] == "":
            assert src["delta"] == ""
        if not ev["type"].endswith(".delta") and "AWS_" not in json.dumps(src):
            assert ev == src  # only deltas move text


# -- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("interleave", [False, True])
def test_anthropic_random_cuts(interleave: bool) -> None:
    rng = random.Random(11 + interleave)
    for _ in range(150):
        text, args_text = random_text(rng), random_text(rng)
        tp, ap = cut(mask(text), rng), cut(args_of(mask(args_text)), rng)
        stream = anthropic_stream([("text", tp), ("tool", ap), ("thinking", tp)],
                                  interleave=interleave)
        out = restore_stream(stream)
        ch = anthropic_channels(out)
        assert ch[(0, "text")] == text
        assert json.loads(ch[(1, "partial_json")]) == {"a": args_text}
        assert ch[(2, "thinking")] == mask(text)
        check_anthropic(stream, out)


def test_anthropic_every_cut_of_a_text() -> None:
    text = "see " + " ".join(ORIGINALS) + " A AWS"
    for tp in splits(mask(text)):
        stream = anthropic_stream([("text", tp)])
        out = restore_stream(stream)
        assert anthropic_channels(out)[(0, "text")] == text
        check_anthropic(stream, out)
        if "" not in tp:
            assert all(d[2] for d in anthropic_deltas(out))


def test_chat_random_cuts() -> None:
    rng = random.Random(21)
    for _ in range(150):
        texts = [random_text(rng) for _ in range(2)]
        args = [random_text(rng) for _ in range(3)]
        stream = tagged(chat_stream([
            (cut(mask(texts[0]), rng), [cut(args_of(mask(args[0])), rng),
                                        cut(args_of(mask(args[1])), rng)]),
            (cut(mask(texts[1]), rng), [cut(args_of(mask(args[2])), rng)]),
        ]))
        out = restore_stream(stream)
        ch = chat_channels(out)
        assert ch[("c", 0)] == texts[0] and ch[("c", 1)] == texts[1]
        assert [json.loads(ch[k])["a"] for k in (("t", 0, 0), ("t", 0, 1), ("t", 1, 0))] == args
        check_chat(stream, out)


def test_responses_random_cuts() -> None:
    rng = random.Random(31)
    for _ in range(150):
        text, args_text = random_text(rng), random_text(rng)
        stream = responses_stream(cut(mask(text), rng), cut(args_of(mask(args_text)), rng))
        out = restore_stream(stream)
        acc = responses_channels(out)
        assert acc["text"] == text and json.loads(acc["args"]) == {"a": args_text}  # type: ignore[arg-type]
        assert acc["response.output_text.done"]["text"] == text  # type: ignore[index]
        check_responses(stream, out)


def test_every_byte_offset_keeps_the_events() -> None:
    text = "see " + " ".join(ORIGINALS[:3]) + " A"
    tp = [mask(text)[i : i + 4] for i in range(0, len(mask(text)), 4)]
    ap = [args_of(mask(text))[i : i + 7] for i in range(0, len(args_of(mask(text))), 7)]
    streams = [
        (anthropic_stream([("text", tp), ("tool", ap)]), check_anthropic),
        (tagged(chat_stream([(tp, [ap])])), check_chat),
        (responses_stream(tp, ap), check_responses),
    ]
    for stream, check in streams:
        whole = restore_stream(stream)
        check(stream, whole)
        assert whole.count(b"i-0123456789abcdef0") >= 2
        for pieces in list(byte_cuts(stream))[::5]:
            assert restore_stream(stream, pieces) == whole


# -- the edges of the contract ----------------------------------------------------------------


def test_an_all_prefix_delta_is_merged_into_the_next_one() -> None:
    stream = responses_stream(["see ", "AWS_", "EC2", "_001", " ok"], ["{}"])
    events = [ev for _, ev in parse_sse(restore_stream(stream))]
    deltas = [(ev["sequence_number"], ev["delta"]) for ev in events
              if ev["type"] == "response.output_text.delta"]
    # "AWS_", "EC2" and "_001" (a whole token, until " ok" shows it does not go on) said
    # nothing but text: merged into " ok", which goes out with its own number
    assert deltas == [(3, "see "), (7, "i-0123456789abcdef0 ok")]


def test_a_held_delta_that_carries_more_than_text_is_kept() -> None:
    """Log-probabilities are the event's own: a delta that carries them is not merged away (it
    goes out with the text before its tail, here none)."""
    def ev(seq: int, delta: str, logprobs: list) -> bytes:
        return sse("response.output_text.delta", {
            "type": "response.output_text.delta", "sequence_number": seq, "item_id": "m",
            "output_index": 0, "content_index": 0, "delta": delta, "logprobs": logprobs})

    stream = ev(1, "AWS_EC", [{"token": "AWS_EC", "logprob": -0.1}]) + ev(
        2, "2_001", [{"token": "2_001", "logprob": -0.2}])
    events = [e for _, e in parse_sse(restore_stream(stream))]
    assert [(e["sequence_number"], e["delta"]) for e in events] == [
        (1, ""), (2, "i-0123456789abcdef0")]
    assert [e["logprobs"][0]["logprob"] for e in events] == [-0.1, -0.2]


def test_a_chat_choice_moving_to_a_tool_call_ends_its_content() -> None:
    """Content that ends in a token goes out as soon as its choice moves on to a tool call, not
    at the finish chunk."""
    stream = chat_stream([(["see AWS_EC2_001"], [['{"a":', ' "AWS_VPC_002"}']])])
    events = [e + b"\n\n" for e in stream.split(b"\n\n") if e]
    r = select_restorer("text/event-stream", "/v1/chat/completions", TOKEN_MAP)
    assert r is not None
    first_args = next(i for i, e in enumerate(events) if b'"arguments":"{' in e)
    early = b"".join(r.feed(e) for e in events[: first_args + 1])
    assert b"see i-0123456789abcdef0" in early
    rest = b"".join(r.feed(e) for e in events[first_args + 1 :]) + r.finish()
    ch = chat_channels(early + rest)
    assert json.loads(ch[("t", 0, 0)]) == {"a": "vpc-0a1b2c3d"}


def test_events_waiting_behind_a_held_one_are_bounded() -> None:
    """Choice 0 holds the start of a token while choice 1 goes on for long: past MAX_QUEUED
    waiting events the held one goes out as it came and the stream flows on (a token completed
    only after so long stays as the model wrote it)."""
    meta = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(ci: int, content: str) -> bytes:
        return sse(None, {**meta, "choices": [
            {"index": ci, "delta": {"content": content}, "finish_reason": None}]})

    stream = chunk(0, "AWS_EC") + b"".join(chunk(1, f"w{n} ") for n in range(500))
    stream += chunk(0, "2_001") + b"data: [DONE]\n\n"
    r = select_restorer("text/event-stream", "/v1/chat/completions", TOKEN_MAP)
    assert r is not None
    step = len(chunk(1, "w100 "))
    fed, outs = 0, []
    for i in range(0, len(stream), 97):
        fed += len(stream[i : i + 97])
        outs.append(r.feed(stream[i : i + 97]))
        assert fed - sum(map(len, outs)) <= (MAX_QUEUED + 2) * step
    ch = chat_channels(b"".join(outs) + r.finish())
    assert ch[("c", 0)] == "AWS_EC2_001"
    assert ch[("c", 1)] == "".join(f"w{n} " for n in range(500))
    # within the bound a stalled channel is still restored
    short = chunk(0, "AWS_EC") + b"".join(chunk(1, f"w{n} ") for n in range(MAX_QUEUED - 2))
    short += chunk(0, "2_001") + b"data: [DONE]\n\n"
    assert chat_channels(restore_stream(short))[("c", 0)] == "i-0123456789abcdef0"
