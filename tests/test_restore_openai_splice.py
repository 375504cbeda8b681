"""Splice fast path for OpenAI Chat and Responses deltas, and the LF-only SSE boundary search.

A delta spelled as the APIs write it is restored by splicing the new string into its raw bytes
(the rest of the event stays byte-identical); any other spelling takes the parsing path. Both must
say the same thing: the tests run the same streams with the fast path disabled and compare.
"""

from __future__ import annotations

import json
import random

import pytest
from awsmasker.restore import apis, select_restorer

from tests.restore_helpers import (
    TOKEN_MAP,
    byte_cuts,
    chat_stream,
    feed_all,
    parse_sse,
    responses_stream,
)

EC2 = TOKEN_MAP["AWS_EC2_001"]


def restore_all(stream: bytes, pieces: list[bytes] | None = None) -> tuple[bytes, object]:
    r = select_restorer("text/event-stream", "/v1/chat/completions", TOKEN_MAP)
    assert r is not None
    out = feed_all(r, pieces if pieces is not None else [stream])
    return out, (dict(r.restored), set(r.flags))


def chat_event(content: str, *, spaced: bool = False, extra: str = "", tool: bool = False
               ) -> bytes:
    sep = (", ", ": ") if spaced else (",", ":")
    delta: dict = {"content": content}
    if tool:
        delta = {"tool_calls": [{"index": 1, "function": {"arguments": content}}]}
    obj = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 7,
           "model": "m" + extra, "system_fingerprint": "fp_1",
           "choices": [{"index": 0, "delta": delta, "logprobs": None,
                        "finish_reason": None}],
           "usage": None, "obfuscation": "x1"}
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=sep).encode() + b"\n\n"


def responses_event(delta: str, *, kind: str = "output_text") -> bytes:
    obj: dict = {"type": f"response.{kind}.delta", "sequence_number": 4, "item_id": "msg_1",
                 "output_index": 0}
    if kind == "output_text":
        obj["content_index"] = 0
    obj["delta"] = delta
    if kind == "output_text":
        obj["logprobs"] = []
    obj["obfuscation"] = "abc"
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


@pytest.mark.parametrize(
    "ev",
    [
        chat_event("see AWS_EC2_001 now", spaced=True),
        chat_event("see AWS_EC2_001 now"),
        responses_event("see AWS_EC2_001 now"),
        responses_event('{"id": "AWS_EC2_001"}', kind="function_call_arguments"),
        chat_event('{"id": "AWS_EC2_001"}', spaced=True, tool=True),
    ],
)
def test_delta_is_spliced_in_place(ev: bytes) -> None:
    out, (counts, flags) = restore_all(ev)
    original = EC2 if b"arguments" not in ev else json.dumps(EC2)[1:-1]  # JSON text: escaped
    assert out == ev.replace(b"AWS_EC2_001", original.encode())  # every other byte kept
    assert counts == {"AWS_EC2_001": 1} and not flags


def test_non_ascii_outside_the_string_takes_the_parsing_path() -> None:
    ev = chat_event("see AWS_EC2_001 now", spaced=True, extra="é")
    out, (counts, _) = restore_all(ev)
    assert out != ev.replace(b"AWS_EC2_001", EC2.encode())  # re-serialised (compact)
    [(_, obj)] = parse_sse(out)
    assert isinstance(obj, dict) and obj["choices"][0]["delta"]["content"] == f"see {EC2} now"
    assert obj["model"] == "mé" and counts == {"AWS_EC2_001": 1}


def test_token_split_across_spliced_deltas() -> None:
    stream = chat_event("a AWS_EC") + chat_event("2_001 b") + b"data: [DONE]\n\n"
    for pieces in byte_cuts(stream):
        out, (counts, _) = restore_all(stream, pieces)
        text = "".join(o["choices"][0]["delta"]["content"] for _, o in parse_sse(out)[:-1])
        assert text == f"a {EC2} b" and counts == {"AWS_EC2_001": 1}


def _random_pieces(rng: random.Random) -> list[str]:
    words = [*TOKEN_MAP, "x", "A", "AW", "AWS", "AWS_", " é", "\n", '"q"', "AWS_EC2_0011"]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 10)))
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def test_fast_path_says_the_same_as_the_parsing_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    streams = []
    for i in range(150):
        if i % 2:
            streams.append(chat_stream([(_random_pieces(rng), [_random_pieces(rng)]),
                                        (_random_pieces(rng), [])], done=rng.random() < 0.7))
        else:
            streams.append(responses_stream(_random_pieces(rng), _random_pieces(rng)))
    cut_sets = [sorted(rng.sample(range(1, len(s)), 4)) for s in streams]

    def run_all() -> list:
        results = []
        for s, cuts in zip(streams, cut_sets, strict=True):
            pieces = [s[a:b] for a, b in zip([0, *cuts], [*cuts, len(s)], strict=True)]
            out, state = restore_all(s, pieces)
            results.append((parse_sse(out), state))
        return results

    fast = run_all()
    # the OpenAI spellings not recognised: every event takes the parsing path
    monkeypatch.setattr(apis, "SPLICES", apis.SPLICES[:1])
    assert run_all() == fast


def test_lf_stream_with_a_crlf_event_is_framed_the_same_whatever_the_chunking() -> None:
    # The separator is learnt as "\n\n"; a later event ends in CRLFs and one has a lone CR.
    stream = (chat_event("a AWS_EC") + chat_event("2_001 b").replace(b"\n", b"\r\n")
              + b'data: {"x":1}\r\r' + chat_event("AWS_EC2_001") + b"data: [DONE]\n\n")
    whole, state = restore_all(stream)
    assert whole.count(EC2.encode()) == 2 and state[0] == {"AWS_EC2_001": 2}
    for pieces in byte_cuts(stream):
        assert restore_all(stream, pieces) == (whole, state)
