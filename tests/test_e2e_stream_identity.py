"""End to end: restored streams keep every event's identity, through a real mitmdump with the
addon, read by the official SDKs.

A loopback upstream answers with the request's tokens cut across deltas at every point, and with
deltas that are nothing but the start of a token (``AWS_``, then ``EC2``), written in writes cut
at random. The SDKs must assemble the originals, see unique, increasing sequence numbers that the
upstream sent, and no empty delta (the upstream sent none).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

import pytest

from tests.clients import anthropic_client, openai_client
from tests.restore_helpers import anthropic_stream, chat_stream, responses_stream
from testsupport.samples import ORIGINALS
from testsupport.stream_upstream import SSE_HEADERS, UpstreamServer

pytestmark = pytest.mark.e2e

# one identifier of each of several families, in the order the request names them
SENT = [*ORIGINALS[:6], "10.20.30.40", "arn:aws:iam::123456789012:role/DeployRole"]
PROMPT = "Look at " + " | ".join(SENT)


def pieces_for(tokens: list[str]) -> list[str]:
    """Text deltas naming every token many times: cut in two at every point, in three with
    deltas that are only a token's start, and at the very end (held until the channel ends)."""
    out = ["Found:"]
    for t in tokens:
        for k in range(1, len(t)):
            out += [f" {t[:k]}", t[k:]]
        out += [" ", t[:4], t[4:7], t[7:], "."]
    return [*out, " and ", tokens[0][:5], tokens[0][5:]]  # the text ends in a token


def arg_pieces_for(tokens: list[str]) -> list[str]:
    args = json.dumps({"ids": tokens})
    return [args[i : i + 3] for i in range(0, len(args), 3)]


def restored(text: str, tokens: list[str]) -> str:
    for t, original in sorted(zip(tokens, SENT, strict=True), key=lambda p: -len(p[0])):
        text = text.replace(t, original)
    return text


def cut_writes(body: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    i = 0
    while i < len(body):
        n = rng.randint(1, 300)
        yield body[i : i + n]
        i += n


@pytest.fixture
def upstream() -> Iterator[Callable[[Callable[[list[str]], bytes]], UpstreamServer]]:
    servers: list[UpstreamServer] = []

    def start(build: Callable[[list[str]], bytes]) -> UpstreamServer:
        def reply(tokens: list[str]):
            assert len(tokens) == len(SENT), tokens  # one token per identifier sent
            return SSE_HEADERS, cut_writes(build(tokens), len(tokens))

        srv = UpstreamServer(reply).__enter__()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.__exit__(None, None, None)


def sent_tokens(srv: UpstreamServer) -> list[str]:
    [seen] = srv.seen
    return seen.tokens


def test_openai_responses_sdk_sees_the_model_s_events(proxy, upstream) -> None:
    sent: dict[str, bytes] = {}

    def build(tokens: list[str]) -> bytes:
        sent["body"] = responses_stream(pieces_for(tokens), arg_pieces_for(tokens))
        return sent["body"]

    srv = upstream(build)
    client = openai_client(proxy, srv)
    events = list(client.responses.create(model="gpt-test", input=PROMPT, stream=True))
    tokens = sent_tokens(srv)
    n_sent = sent["body"].count(b"\n\n")
    expected = restored("".join(pieces_for(tokens)), tokens)

    seqs = [e.sequence_number for e in events]
    assert seqs == sorted(set(seqs)), "a sequence number repeats or goes back"
    assert set(seqs) <= set(range(n_sent)) and len(events) < n_sent  # none added, some merged
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert all(deltas), "an empty delta came out"
    assert "".join(deltas) == expected
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == expected
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"ids": SENT}

    # the SDK's own accumulation of the same stream
    with client.responses.stream(model="gpt-test", input=PROMPT) as s:
        streamed = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert streamed == final.output_text == expected
    call = next(o for o in final.output if o.type == "function_call")
    assert json.loads(call.arguments) == {"ids": SENT}


def test_anthropic_sdk_stream_helper_assembles_the_originals(proxy, upstream) -> None:
    def build(tokens: list[str]) -> bytes:
        return anthropic_stream([("text", pieces_for(tokens)), ("tool", arg_pieces_for(tokens))])

    srv = upstream(build)
    client = anthropic_client(proxy, srv)
    with client.messages.stream(model="claude-test", max_tokens=100,
                                messages=[{"role": "user", "content": PROMPT}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    tokens = sent_tokens(srv)
    expected = restored("".join(pieces_for(tokens)), tokens)
    assert text == final.content[0].text == expected
    assert final.content[1].input == {"ids": SENT}


def test_anthropic_sdk_event_by_event(proxy, upstream) -> None:
    sent: dict[str, bytes] = {}

    def build(tokens: list[str]) -> bytes:
        sent["body"] = anthropic_stream([("text", pieces_for(tokens)),
                                         ("tool", arg_pieces_for(tokens))])
        return sent["body"]

    srv = upstream(build)
    client = anthropic_client(proxy, srv)
    stream = client.messages.create(model="claude-test", max_tokens=100, stream=True,
                                    messages=[{"role": "user", "content": PROMPT}])
    events = list(stream)
    tokens = sent_tokens(srv)
    expected = restored("".join(pieces_for(tokens)), tokens)
    assert len(events) < sent["body"].count(b"\n\n")  # none added, some merged
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    texts = [d.text for d in deltas if d.type == "text_delta"]
    assert all(texts), "an empty text delta came out"
    assert "".join(texts) == expected
    partial = "".join(d.partial_json for d in deltas if d.type == "input_json_delta")
    assert json.loads(partial) == {"ids": SENT}
    assert [e.index for e in events if e.type == "content_block_delta"] == sorted(
        e.index for e in events if e.type == "content_block_delta")


def test_openai_chat_sdk_sees_no_empty_delta(proxy, upstream) -> None:
    sent: dict[str, bytes] = {}

    def build(tokens: list[str]) -> bytes:
        sent["body"] = chat_stream([(pieces_for(tokens), [arg_pieces_for(tokens)])])
        return sent["body"]

    srv = upstream(build)
    client = openai_client(proxy, srv)
    chunks = list(client.chat.completions.create(model="gpt-test", stream=True,
                                                 messages=[{"role": "user", "content": PROMPT}]))
    tokens = sent_tokens(srv)
    expected = restored("".join(pieces_for(tokens)), tokens)
    assert len(chunks) < sent["body"].count(b"\n\n") - 1  # [DONE] is not a chunk
    contents = [c.choices[0].delta.content for c in chunks
                if c.choices[0].delta.content is not None]
    assert contents[0] == ""  # the role chunk, as sent
    assert all(contents[1:]), "an empty content delta came out"
    assert "".join(contents) == expected
    args = "".join(tc.function.arguments or "" for c in chunks
                   for tc in c.choices[0].delta.tool_calls or ())
    assert json.loads(args) == {"ids": SENT}
