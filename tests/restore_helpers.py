"""Builders and parsers of SSE replies for the restore tests (no mitmproxy)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from awsmasker.tokens import TOKEN_RE

TOKEN_MAP = {
    "AWS_EC2_001": "i-0123456789abcdef0",
    "AWS_VPC_002": "vpc-0a1b2c3d",
    "AWS_ARN_010": 'arn:aws:iam::123456789012:role/"quoted"\\back',  # needs JSON escapes
    "AWS_PRIVATE_IP_1234": "10.0.1.2",
    "AWS_S3_BUCKET_003": "données-bucket-é",  # non-ASCII original
}


def tokens_in(*texts: str) -> dict[str, int]:
    """Occurrences of each known token in ``texts`` (what restoring them records)."""
    out: dict[str, int] = {}
    for text in texts:
        for m in TOKEN_RE.finditer(text):
            if m.group() in TOKEN_MAP:
                out[m.group()] = out.get(m.group(), 0) + 1
    return out


def mask(text: str) -> str:
    for tok, orig in sorted(TOKEN_MAP.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(orig, tok)
    return text


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sse(name: str | None, obj: object, eol: str = "\n") -> bytes:
    head = f"event: {name}{eol}" if name else ""
    return f"{head}data: {dumps(obj)}{eol}{eol}".encode()


# -- Anthropic -------------------------------------------------------------------------------


def anthropic_stream(blocks: list[tuple[str, list[str]]], *, interleave: bool = False,
                     eol: str = "\n", stop: bool = True) -> bytes:
    """blocks: (kind, pieces) with kind text | tool | thinking."""
    out = [sse("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1}}}, eol)]
    for i, (kind, _) in enumerate(blocks):
        cb = {"text": {"type": "text", "text": ""},
              "tool": {"type": "tool_use", "id": f"toolu_{i}", "name": "run", "input": {}},
              "thinking": {"type": "thinking", "thinking": "", "signature": ""}}[kind]
        out.append(sse("content_block_start",
                       {"type": "content_block_start", "index": i, "content_block": cb}, eol))
    deltas: list[list[bytes]] = []
    for i, (kind, pieces) in enumerate(blocks):
        evs = []
        for p in pieces:
            d = {"text": {"type": "text_delta", "text": p},
                 "tool": {"type": "input_json_delta", "partial_json": p},
                 "thinking": {"type": "thinking_delta", "thinking": p}}[kind]
            evs.append(sse("content_block_delta",
                           {"type": "content_block_delta", "index": i, "delta": d}, eol))
        if kind == "thinking":
            evs.append(sse("content_block_delta", {"type": "content_block_delta", "index": i,
                           "delta": {"type": "signature_delta", "signature": "c2lnAWS_"}}, eol))
        deltas.append(evs)
    if interleave:
        longest = max(len(d) for d in deltas)
        for k in range(longest):
            out.extend(d[k] for d in deltas if k < len(d))
    else:
        for d in deltas:
            out.extend(d)
    if not stop:
        return b"".join(out)
    for i in range(len(blocks)):
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}, eol))
    out.append(sse("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}}, eol))
    out.append(sse("message_stop", {"type": "message_stop"}, eol))
    return b"".join(out)


# -- OpenAI ----------------------------------------------------------------------------------

_META = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test"}


def chat_stream(choices: list[tuple[list[str], list[list[str]]]], *, done: bool = True) -> bytes:
    """choices: (content pieces, [argument pieces per tool call]). Each choice writes its content,
    then each tool call in turn (as the API does); the choices' chunks are interleaved."""
    per_choice: list[list[bytes]] = []
    for ci, (content, calls) in enumerate(choices):
        evs = [sse(None, {**_META, "choices": [
            {"index": ci, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
        evs += [sse(None, {**_META, "choices": [
            {"index": ci, "delta": {"content": p}, "finish_reason": None}]}) for p in content]
        for ti, args in enumerate(calls):
            evs.append(sse(None, {**_META, "choices": [{"index": ci, "delta": {"tool_calls": [
                {"index": ti, "id": f"call_{ci}_{ti}", "type": "function",
                 "function": {"name": "run", "arguments": ""}}]}, "finish_reason": None}]}))
            evs += [sse(None, {**_META, "choices": [{"index": ci, "delta": {"tool_calls": [
                {"index": ti, "function": {"arguments": p}}]}, "finish_reason": None}]})
                for p in args]
        per_choice.append(evs)
    out = []
    for k in range(max(len(evs) for evs in per_choice)):
        out.extend(evs[k] for evs in per_choice if k < len(evs))
    if not done:
        return b"".join(out)
    for ci, (_, calls) in enumerate(choices):
        out.append(sse(None, {**_META, "choices": [{"index": ci, "delta": {},
                   "finish_reason": "tool_calls" if calls else "stop"}]}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def responses_stream(text_pieces: list[str], arg_pieces: list[str]) -> bytes:
    text, args = "".join(text_pieces), "".join(arg_pieces)
    seq = iter(range(10**6))
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": text, "annotations": []}]}
    fc = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "run",
          "arguments": args, "status": "completed"}
    resp = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-test",
            "output": [], "status": "in_progress", "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": []}

    def ev(t: str, **kw: object) -> bytes:
        return sse(t, {"type": t, "sequence_number": next(seq), **kw})

    out = [ev("response.created", response=resp)]
    out.append(ev("response.output_item.added", output_index=0,
                  item={**msg, "status": "in_progress", "content": []}))
    out.append(ev("response.content_part.added", item_id="msg_1", output_index=0,
                  content_index=0, part={"type": "output_text", "text": "", "annotations": []}))
    out += [ev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0,
               delta=p, logprobs=[]) for p in text_pieces]
    out.append(ev("response.output_text.done", item_id="msg_1", output_index=0,
                  content_index=0, text=text, logprobs=[]))
    out.append(ev("response.content_part.done", item_id="msg_1", output_index=0,
                  content_index=0, part={"type": "output_text", "text": text, "annotations": []}))
    out.append(ev("response.output_item.done", output_index=0, item=msg))
    out.append(ev("response.output_item.added", output_index=1,
                  item={**fc, "arguments": "", "status": "in_progress"}))
    out += [ev("response.function_call_arguments.delta", item_id="fc_1", output_index=1,
               delta=p) for p in arg_pieces]
    out.append(ev("response.function_call_arguments.done", item_id="fc_1", output_index=1,
                  arguments=args))
    out.append(ev("response.output_item.done", output_index=1, item=fc))
    out.append(ev("response.completed",
                  response={**resp, "status": "completed", "output": [msg, fc]}))
    return b"".join(out)


# -- parsing ---------------------------------------------------------------------------------


def parse_sse(stream: bytes) -> list[tuple[str | None, object]]:
    """Events as (name, decoded JSON data | raw data string); any line ending accepted."""
    text = stream.decode("utf-8")
    events: list[tuple[str | None, object]] = []
    name, data = None, []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                raw = "\n".join(data)
                try:
                    events.append((name, json.loads(raw)))
                except ValueError:
                    events.append((name, raw))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    assert not data, "incomplete event at the end of the stream"
    return events


def anthropic_channels(stream: bytes) -> dict[tuple[int, str], str]:
    acc: dict[tuple[int, str], str] = {}
    stopped: set[int] = set()
    for _, ev in parse_sse(stream):
        assert isinstance(ev, dict)
        if ev["type"] == "content_block_delta":
            assert ev["index"] not in stopped, "delta after content_block_stop"
            d = ev["delta"]
            field = {"text_delta": "text", "input_json_delta": "partial_json",
                     "thinking_delta": "thinking", "signature_delta": "signature"}[d["type"]]
            acc[(ev["index"], field)] = acc.get((ev["index"], field), "") + d[field]
        elif ev["type"] == "content_block_stop":
            stopped.add(ev["index"])
    return acc


def chat_channels(stream: bytes) -> dict[tuple, str]:
    acc: dict[tuple, str] = {}
    finished: set[int] = set()
    events = parse_sse(stream)
    assert events[-1][1] == "[DONE]"
    for _, ev in events[:-1]:
        assert isinstance(ev, dict)
        for ch in ev["choices"]:
            ci = ch["index"]
            assert ci not in finished, "delta after finish_reason"
            d = ch["delta"]
            if d.get("content") is not None:
                acc[("c", ci)] = acc.get(("c", ci), "") + d["content"]
            for tc in d.get("tool_calls") or ():
                key = ("t", ci, tc["index"])
                acc[key] = acc.get(key, "") + tc["function"]["arguments"]
            if ch["finish_reason"] is not None:
                finished.add(ci)
    return acc


def responses_channels(stream: bytes) -> dict[str, object]:
    acc: dict[str, object] = {"text": "", "args": ""}
    for name, ev in parse_sse(stream):
        assert isinstance(ev, dict) and ev["type"] == name
        t = ev["type"]
        if t == "response.output_text.delta":
            acc["text"] += ev["delta"]  # type: ignore[operator]
        elif t == "response.function_call_arguments.delta":
            acc["args"] += ev["delta"]  # type: ignore[operator]
        elif t.endswith(".done") or t == "response.completed":
            assert "text_done" not in acc or t != "response.output_text.done"
            acc[t] = ev
    return acc


def splits(text: str) -> Iterator[list[str]]:
    """The text cut in two at every character, then one character per piece."""
    for k in range(len(text) + 1):
        yield [text[:k], text[k:]]
    yield list(text)


def feed_all(restorer: object, pieces: Iterable[bytes]) -> bytes:
    out = b"".join(restorer.feed(p) for p in pieces)  # type: ignore[attr-defined]
    return out + restorer.finish()  # type: ignore[attr-defined]


def byte_cuts(stream: bytes) -> Iterator[list[bytes]]:
    """The stream whole, in two pieces at every byte offset, and one byte at a time."""
    yield [stream]
    for k in range(1, len(stream)):
        yield [stream[:k], stream[k:]]
    yield [stream[i : i + 1] for i in range(len(stream))]
