"""SSE restore for Anthropic Messages, OpenAI Chat Completions and OpenAI Responses (no proxy)."""

from __future__ import annotations

import json

import httpx
import pytest
from awsmasker.restore import select_restorer
from awsmasker.restore.sse import SSERestorer

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
    tokens_in,
)

TEXT = (
    "Instance i-0123456789abcdef0 (vpc-0a1b2c3d)\n\"quoted\" 10.0.1.2 — données-bucket-é, "
    "arn:aws:iam::123456789012:role/\"quoted\"\\back."
)
ARGS_OBJ = {"instance": "i-0123456789abcdef0", "note": "in \"vpc-0a1b2c3d\"\n",
            "role": 'arn:aws:iam::123456789012:role/"quoted"\\back', "b": "données-bucket-é"}
MASKED_TEXT = mask(TEXT)
# Masking works on decoded strings: the JSON text carries the tokens unescaped.
MASKED_ARGS = json.dumps({k: mask(v) for k, v in ARGS_OBJ.items()}, ensure_ascii=False)


def restorer() -> SSERestorer:
    r = select_restorer("text/event-stream; charset=utf-8", "/v1/messages", TOKEN_MAP)
    assert isinstance(r, SSERestorer)
    return r


def assert_anthropic(out: bytes, thinking: str | None = None) -> None:
    ch = anthropic_channels(out)
    assert ch[(0, "text")] == TEXT
    assert json.loads(ch[(1, "partial_json")]) == ARGS_OBJ
    if thinking is not None:
        assert ch[(2, "thinking")] == thinking  # thinking is never restored
        assert ch[(2, "signature")] == "c2lnAWS_"


# -- Anthropic -------------------------------------------------------------------------------


def test_anthropic_every_text_split() -> None:
    assert "AWS_ARN_010" in MASKED_TEXT and "AWS_EC2_001" in MASKED_ARGS
    for tp, ap in zip(splits(MASKED_TEXT), splits(MASKED_ARGS), strict=False):
        stream = anthropic_stream([("text", tp), ("tool", ap), ("thinking", tp)])
        r = restorer()
        out = feed_all(r, [stream])
        assert_anthropic(out, thinking="".join(tp))
        assert r.restored == tokens_in(MASKED_TEXT, MASKED_ARGS) and r.flags == set()


def test_anthropic_every_byte_offset_and_interleaved() -> None:
    pieces = [MASKED_TEXT[i : i + 5] for i in range(0, len(MASKED_TEXT), 5)]
    apieces = [MASKED_ARGS[i : i + 3] for i in range(0, len(MASKED_ARGS), 3)]
    stream = anthropic_stream([("text", pieces), ("tool", apieces), ("thinking", pieces)],
                              interleave=True)
    expected = None
    for cut in byte_cuts(stream):
        out = feed_all(restorer(), cut)
        if expected is None:
            expected = out
            assert_anthropic(out, thinking=MASKED_TEXT)
        assert out == expected


def test_anthropic_crlf_and_cr_framing() -> None:
    for eol in ("\r\n", "\r"):
        stream = anthropic_stream([("text", list(MASKED_TEXT)), ("tool", list(MASKED_ARGS))],
                                  eol=eol)
        for cut in [[stream], [stream[i : i + 1] for i in range(len(stream))]]:
            out = feed_all(restorer(), cut)
            assert_anthropic(out)
            assert b"\n\n" not in out  # framing kept


def test_events_without_tokens_are_byte_identical() -> None:
    stream = anthropic_stream([("text", ["Hello ", "world, ", "no ids here.", " AWS_EC2_0011"]),
                               ("thinking", ["AWS_EC2_001 thought"])])
    r = restorer()
    assert feed_all(r, [stream]) == stream
    assert r.restored == {} and r.flags == set()
    r = restorer()
    assert b"".join(r.feed(stream[i : i + 1]) for i in range(len(stream))) + r.finish() == stream


def test_unknown_and_token_shaped_text_unchanged() -> None:
    text = "AWS_EC2_0011 AWS_AWS_EC2_001 AWS_EC2_002 AWS_PRIVATE_IP_123 AWS_"
    for tp in splits(text):
        out = feed_all(restorer(), [anthropic_stream([("text", tp)])])
        assert anthropic_channels(out)[(0, "text")] == (
            "AWS_EC2_0011 AWS_i-0123456789abcdef0 AWS_EC2_002 AWS_PRIVATE_IP_123 AWS_")


def test_flush_at_end_of_stream_without_stop_events() -> None:
    for tp in splits("see AWS_EC2_001"):
        stream = anthropic_stream([("text", tp)], stop=False)
        out = feed_all(restorer(), [stream])
        assert anthropic_channels(out)[(0, "text")] == "see i-0123456789abcdef0"


def test_held_text_goes_out_in_the_model_s_own_events_before_the_stop() -> None:
    """A token cut across deltas is restored in the deltas themselves: no event is added, and the
    delta that was all token prefix is merged into the next one."""
    stream = anthropic_stream([("text", ["a AWS_", "EC2_0", "01 b"])])
    events = [ev for _, ev in parse_sse(feed_all(restorer(), [stream]))]
    deltas = [ev["delta"]["text"] for ev in events if ev["type"] == "content_block_delta"]
    assert deltas == ["a ", "i-0123456789abcdef0 b"]
    assert len(events) == len(parse_sse(stream)) - 1


def test_content_block_start_text_and_tool_input() -> None:
    stream = sse("content_block_start", {"type": "content_block_start", "index": 0,
                 "content_block": {"type": "text", "text": "x AWS_EC2_0"}})
    stream += sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                  "delta": {"type": "text_delta", "text": "01 y"}})
    stream += sse("content_block_start", {"type": "content_block_start", "index": 1,
                  "content_block": {"type": "tool_use", "id": "t", "name": "n",
                                    "input": {"id": "AWS_ARN_010"}}})
    events = [ev for _, ev in parse_sse(feed_all(restorer(), [stream]))]
    assert events[0]["content_block"]["text"] + events[1]["delta"]["text"] == (
        "x i-0123456789abcdef0 y")
    assert events[2]["content_block"]["input"]["id"] == TOKEN_MAP["AWS_ARN_010"]


def test_oversized_event_passes_through_flagged() -> None:
    big = sse("content_block_delta", {"type": "content_block_delta", "index": 0,
              "delta": {"type": "text_delta", "text": "AWS_EC2_001 " * 2000}})
    small = anthropic_stream([("text", ["AWS_", "VPC_002"])])
    stream = big + small
    for cut in [[stream], [stream[i : i + 997] for i in range(0, len(stream), 997)]]:
        r = SSERestorer(TOKEN_MAP, max_event=4096)
        out = feed_all(r, cut)
        assert out.startswith(big)  # unchanged
        assert "event_too_large" in r.flags
        assert anthropic_channels(out[len(big) :])[(0, "text")] == "vpc-0a1b2c3d"


def test_invalid_json_event_passes_through() -> None:
    stream = b"event: content_block_delta\ndata: {not json AWS_EC2_001\n\n"
    r = restorer()
    assert feed_all(r, [stream]) == stream
    assert "invalid_event" in r.flags


def test_held_back_data_is_bounded() -> None:
    """Every delta ends in a token prefix: one event at a time is held, whatever the length."""
    r = restorer()
    stream = anthropic_stream([("text", ["x AWS_EC2_00"] * 2000)])
    one = len(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": "x AWS_EC2_00"}}))
    fed, outs = 0, []
    for i in range(0, len(stream), 64):
        piece = stream[i : i + 64]
        fed += len(piece)
        outs.append(r.feed(piece))
        # one held event, its tail moved into the next one, a partial event
        assert fed - sum(map(len, outs)) < 2 * one + 64 + 40
    out = b"".join(outs) + r.finish()
    assert len(out) == len(stream)  # no known token: the same bytes, text moved between events
    assert anthropic_channels(out)[(0, "text")] == "x AWS_EC2_00" * 2000


# -- OpenAI Chat Completions -----------------------------------------------------------------


def test_chat_every_text_split_several_choices_and_tools() -> None:
    for tp, ap in zip(splits(MASKED_TEXT), splits(MASKED_ARGS), strict=False):
        stream = chat_stream([(tp, [ap, ["{}"]]), (["AWS_VPC", "_002"], [ap])])
        out = feed_all(restorer(), [stream])
        ch = chat_channels(out)
        assert ch[("c", 0)] == TEXT and ch[("c", 1)] == "vpc-0a1b2c3d"
        assert json.loads(ch[("t", 0, 0)]) == ARGS_OBJ == json.loads(ch[("t", 1, 0)])
        assert ch[("t", 0, 1)] == "{}"


def test_chat_every_byte_offset() -> None:
    stream = chat_stream([([MASKED_TEXT[i : i + 4] for i in range(0, len(MASKED_TEXT), 4)],
                           [[MASKED_ARGS[i : i + 6] for i in range(0, len(MASKED_ARGS), 6)]])])
    expected = feed_all(restorer(), [stream])
    ch = chat_channels(expected)
    assert ch[("c", 0)] == TEXT and json.loads(ch[("t", 0, 0)]) == ARGS_OBJ
    for cut in byte_cuts(stream):
        assert feed_all(restorer(), cut) == expected


def test_chat_finish_chunk_with_content_and_missing_done() -> None:
    meta = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    stream = sse(None, {**meta, "choices": [{"index": 0, "delta": {"content": "a AWS_EC"},
                                             "finish_reason": None}]})
    stream += sse(None, {**meta, "choices": [{"index": 0, "delta": {"content": "2_001"},
                                              "finish_reason": "stop"}]})
    events = [ev for _, ev in parse_sse(feed_all(restorer(), [stream]))]
    assert "".join(ev["choices"][0]["delta"]["content"] for ev in events) == (
        "a i-0123456789abcdef0")
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    stream = chat_stream([(["x AWS_EC2_001"], [])], done=False)
    events = [ev for _, ev in parse_sse(feed_all(restorer(), [stream]))]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == (
        "x i-0123456789abcdef0")


# -- OpenAI Responses ------------------------------------------------------------------------


def test_responses_every_split_and_done_events() -> None:
    for tp, ap in zip(splits(MASKED_TEXT), splits(MASKED_ARGS), strict=False):
        out = feed_all(restorer(), [responses_stream(tp, ap)])
        acc = responses_channels(out)
        assert acc["text"] == TEXT and json.loads(acc["args"]) == ARGS_OBJ
        assert acc["response.output_text.done"]["text"] == TEXT
        assert json.loads(acc["response.function_call_arguments.done"]["arguments"]) == ARGS_OBJ
        assert acc["response.content_part.done"]["part"]["text"] == TEXT
        final = acc["response.completed"]["response"]["output"]
        assert final[0]["content"][0]["text"] == TEXT
        assert json.loads(final[1]["arguments"]) == ARGS_OBJ


def test_responses_every_byte_offset() -> None:
    stream = responses_stream([MASKED_TEXT[i : i + 9] for i in range(0, len(MASKED_TEXT), 9)],
                              [MASKED_ARGS[i : i + 9] for i in range(0, len(MASKED_ARGS), 9)])
    expected = feed_all(restorer(), [stream])
    assert responses_channels(expected)["text"] == TEXT
    for cut in list(byte_cuts(stream))[::3]:
        assert feed_all(restorer(), cut) == expected


# -- the official SDKs parse the restored streams --------------------------------------------


def _client_for(body: bytes, sdk: object) -> object:
    """An HTTP client of the package ``sdk`` uses (httpx or httpx2) that answers with ``body``."""
    try:
        import httpx2  # type: ignore[import-not-found]

        uses_httpx2 = "httpx2" in sdk._base_client.__dict__  # type: ignore[attr-defined]
    except ImportError:
        uses_httpx2 = False
    h = httpx2 if uses_httpx2 else httpx

    def handler(request: object) -> object:
        return h.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return h.Client(transport=h.MockTransport(handler))


@pytest.mark.parametrize("cut", [1, 7, 1 << 16])
def test_anthropic_sdk_final_message(cut: int) -> None:
    anthropic = pytest.importorskip("anthropic")
    tp = [MASKED_TEXT[i : i + 3] for i in range(0, len(MASKED_TEXT), 3)]
    ap = [MASKED_ARGS[i : i + 5] for i in range(0, len(MASKED_ARGS), 5)]
    stream = anthropic_stream([("text", tp), ("tool", ap)])
    out = feed_all(restorer(), [stream[i : i + cut] for i in range(0, len(stream), cut)])
    http = _client_for(out, anthropic)
    client = anthropic.Anthropic(api_key="k", base_url="http://test", http_client=http)
    with client.messages.stream(model="claude-test", max_tokens=10,
                                messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        msg = s.get_final_message()
    assert text == TEXT
    assert msg.content[0].text == TEXT and msg.content[1].input == ARGS_OBJ


def test_openai_sdk_chat_and_responses() -> None:
    openai = pytest.importorskip("openai")
    tp = [MASKED_TEXT[i : i + 3] for i in range(0, len(MASKED_TEXT), 3)]
    ap = [MASKED_ARGS[i : i + 5] for i in range(0, len(MASKED_ARGS), 5)]
    out = feed_all(restorer(), [chat_stream([(tp, [ap])])])
    http = _client_for(out, openai)
    client = openai.OpenAI(api_key="k", base_url="http://test/v1", http_client=http)
    content, args = "", ""
    for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
        for ch in chunk.choices:
            content += ch.delta.content or ""
            for tc in ch.delta.tool_calls or ():
                args += tc.function.arguments or ""
    assert content == TEXT and json.loads(args) == ARGS_OBJ

    out = feed_all(restorer(), [responses_stream(tp, ap)])
    http = _client_for(out, openai)
    client = openai.OpenAI(api_key="k", base_url="http://test/v1", http_client=http)
    with client.responses.stream(model="m", input="hi") as s:
        deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert deltas == TEXT and final.output_text == TEXT
    assert json.loads(final.output[1].arguments) == ARGS_OBJ


def _events_of(stream: bytes) -> list[bytes]:
    """An LF-framed stream cut at its event boundaries (each piece one whole event)."""
    return [e + b"\n\n" for e in stream.split(b"\n\n") if e]


@pytest.mark.parametrize("framing", ["lf", "crlf", "lf_crlf", "crlf_lf"])
@pytest.mark.parametrize("group", [1, 2, 3])
def test_whole_events_per_chunk_restore_as_the_whole_stream(group: int, framing: str) -> None:
    """Chunks of whole events (how a model's stream usually arrives): events with nothing to
    restore pass through, and single events skip the framing loop; the output is the whole
    stream's. Tokens cut across events, a text ending in "A" or "AWS", thinking, and other
    tokens' events are among them; events end in LF LF, CRLF CRLF, or each in turn."""
    blocks = [
        ("thinking", ["about ", mask("i-0123456789abcdef0"), " ok"]),
        ("text", ["plain words ", "more words ", "ends in A", "WS", "_EC2_001 tail ",
                  mask("i-0123456789abcdef0")[:6], mask("i-0123456789abcdef0")[6:], " done"]),
        ("tool", ['{"id": "', mask("vpc-0a1b2c3d"), '"}']),
    ]
    lf = _events_of(anthropic_stream(blocks))
    crlf = [e[:-2].replace(b"\n", b"\r\n") + b"\r\n\r\n" for e in lf]
    events = {"lf": lf, "crlf": crlf,
              "lf_crlf": [(lf, crlf)[i % 2][i] for i in range(len(lf))],
              "crlf_lf": [(crlf, lf)[i % 2][i] for i in range(len(lf))]}[framing]
    stream = b"".join(events)
    whole = feed_all(restorer(), [stream])
    chunks = [b"".join(events[i : i + group]) for i in range(0, len(events), group)]
    assert feed_all(restorer(), chunks) == whole
    assert b"i-0123456789abcdef0" in whole and b"vpc-0a1b2c3d" in whole
    # the thinking block comes back as it was sent (tokens left in it)
    assert mask("i-0123456789abcdef0").encode() in whole


@pytest.mark.parametrize("per_event", [True, False])
def test_an_internal_error_loses_no_held_text(monkeypatch, per_event: bool) -> None:
    """A bug while a channel holds the start of a token: the held text goes out unrestored,
    before the failing event, and no byte of the text is lost."""
    import awsmasker.restore.events as events_module

    token = mask("i-0123456789abcdef0")
    real = events_module.restore

    def failing(s, table, counts, final):  # type: ignore[no-untyped-def]
        if isinstance(s, str) and token in s:
            raise RuntimeError("bug")
        return real(s, table, counts, final)

    monkeypatch.setattr(events_module, "restore", failing)
    stream = anthropic_stream([("text", ["see " + token[:6], token[6:] + " now", " end"])])
    r = restorer()
    out = feed_all(r, _events_of(stream) if per_event else [stream])
    assert anthropic_channels(out)[(0, "text")] == "see " + token + " now end"
    assert "error" in r.flags
