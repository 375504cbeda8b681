"""The addon's hooks with mitmproxy's taddons/tflow: scope, masking, fail-closed paths, restore."""

from __future__ import annotations

import gzip
import json
from typing import Optional

import pytest
from awsmasker.request_masking import RequestMasking
from awsmasker.response_restoring import ResponseRestoring
from awsmasker.state import MaskerState
from awsmasker.store.base import StoreError
from awsmasker.tokens import TOKEN_RE
from mitmproxy import hooks
from mitmproxy.test import taddons, tflow, tutils

from testsupport.samples import ORIGINALS, PROMPT, SECRET, SECRET_LINE


def anthropic_flow(body: dict | bytes, host: str = "api.anthropic.com",
                   path: str = "/v1/messages", headers: dict | None = None) -> tflow.HTTPFlow:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = tutils.treq(host=host, port=443, scheme=b"https", path=path.encode(), method=b"POST",
                      content=content)
    req.headers["content-type"] = "application/json"
    for k, v in (headers or {}).items():
        req.headers[k] = v
    return tflow.tflow(req=req)


def messages(text: str = PROMPT) -> dict:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}


async def test_target_request_is_masked_and_token_map_kept(env):
    _tctx, state, a = env
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    sent = f.request.get_text()
    assert f.response is None
    for value in ORIGINALS:
        assert value not in sent
    json.loads(sent)  # still valid JSON
    fs = state.flows.get(f)
    assert set(fs.token_map.values()) >= set(ORIGINALS)
    assert {m.group(0) for m in TOKEN_RE.finditer(sent)} <= set(fs.token_map)
    assert f.request.headers["accept-encoding"] == "identity"
    assert f.request.headers["content-length"] == str(len(f.request.raw_content))
    n = sum(fs.masked_counts.values())
    assert n >= len(ORIGINALS) and f.comment == f"{n} masked"  # short: the list's column
    assert f.marked == ":heavy_check_mark:"  # a character text fonts have (✔)


async def test_masking_sets_each_header_it_writes_in_place_once(env):
    _, _, a = env
    f = anthropic_flow(messages())
    f.request.headers.fields = ((b"Host", b"api.anthropic.com"), (b"Accept-Encoding", b"gzip"),
                                (b"X-A", b"1"), (b"accept-encoding", b"br"),
                                (b"Content-Type", b"application/json"),
                                (b"Content-Length", b"%d" % len(f.request.raw_content)))
    await a["RequestMasking"].request(f)
    body = f.request.raw_content
    assert f.request.headers.fields == (
        (b"Host", b"api.anthropic.com"), (b"Accept-Encoding", b"identity"), (b"X-A", b"1"),
        (b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body)))


async def test_same_value_same_token_across_requests(env):
    _, _, a = env
    f1, f2 = anthropic_flow(messages()), anthropic_flow(messages())
    await a["RequestMasking"].request(f1)
    await a["RequestMasking"].request(f2)
    assert f1.request.content == f2.request.content


async def test_non_target_flow_is_not_touched(env):
    _, state, a = env
    f = anthropic_flow(messages(), host="example.com")
    before = f.request.copy()
    await a["RequestMasking"].requestheaders(f)
    await a["RequestMasking"].request(f)
    assert f.request.content == before.content
    assert f.request.headers == before.headers
    assert state.flows.get(f) is None and f.response is None


async def test_host_suffix_is_not_a_substring_match(env):
    _, _, a = env
    f = anthropic_flow(messages(), host="api.anthropic.com.evil.example")
    await a["RequestMasking"].request(f)
    assert "i-0a1b2c3d4e5f67890" in f.request.get_text()


async def test_gzip_request_is_masked_and_stays_gzip(env):
    _, _, a = env
    f = anthropic_flow(gzip.compress(json.dumps(messages()).encode()),
                       headers={"content-encoding": "gzip"})
    await a["RequestMasking"].request(f)
    assert f.request.headers["content-encoding"] == "gzip"
    text = gzip.decompress(f.request.raw_content).decode()
    assert "vpc-0123abcd" not in text and "AWS_VPC_" in text


async def test_secret_is_masked_but_not_restorable(env):
    _, state, a = env
    f = anthropic_flow(messages(SECRET_LINE))
    await a["RequestMasking"].request(f)
    assert SECRET not in f.request.get_text()
    assert SECRET not in state.flows.get(f).token_map.values()


def assert_blocked(f: tflow.HTTPFlow, status: int, shape: str = "anthropic") -> dict:
    assert f.response is not None, "the flow was not blocked"
    assert f.response.status_code == status
    body = json.loads(f.response.content)
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["message"].startswith("aws-masker:")
    else:
        assert body["error"]["message"].startswith("aws-masker:")
    assert f.response.headers["x-aws-masker"].startswith("blocked")
    return body


class FailingStore:
    name = "failing"

    async def resolve(self, findings, present_tokens=()):
        raise StoreError("connection refused")

    async def close(self):
        pass


async def test_store_failure_blocks_with_503(env):
    _, state, a = env
    state.store = FailingStore()
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    body = assert_blocked(f, 503)
    assert "mapping store unavailable" in body["error"]["message"]
    assert state.totals.blocked_by_reason["store_error"] == 1


async def test_internal_error_blocks_with_500(env, monkeypatch):
    _, state, a = env

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(state.masker, "plan", boom)
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    assert_blocked(f, 500)


async def test_openai_paths_get_openai_error_shape(env):
    _, state, a = env
    state.store = FailingStore()
    f = anthropic_flow({"model": "m", "messages": [{"role": "user", "content": PROMPT}]},
                       path="/v1/chat/completions")
    await a["RequestMasking"].request(f)
    body = assert_blocked(f, 503, shape="openai")
    assert body["error"]["type"] == "server_error"


async def test_undecodable_body_blocks(env):
    _, _, a = env
    f = anthropic_flow(b"not gzip at all", headers={"content-encoding": "gzip"})
    await a["RequestMasking"].request(f)
    assert_blocked(f, 500)


async def test_oversized_body_blocks_with_413(env):
    tctx, _state, a = env
    tctx.options.update(max_request_size=2048)
    f = anthropic_flow(messages(PROMPT * 10))
    await a["RequestMasking"].request(f)
    assert_blocked(f, 413)


async def test_broken_configuration_blocks_target_flows():
    state = MaskerState()
    state.config_error = "store: expected one of 'memory', 'redis'"
    rm = RequestMasking(state)
    with taddons.context(rm):
        f = anthropic_flow(messages())
        await rm.request(f)
        body = assert_blocked(f, 500)
        assert "configuration error" in body["error"]["message"]


async def test_stream_large_bodies_kills_target_flow(env):
    tctx, _, a = env
    # stream_large_bodies belongs to mitmproxy's proxyserver addon, absent from taddons
    tctx.options.add_option("stream_large_bodies", Optional[str], None, "")  # noqa: UP045
    tctx.options.update(stream_large_bodies="1k")
    f = anthropic_flow(messages(PROMPT * 20))
    f.request.stream = True  # what mitmproxy does for a body over the limit
    await a["RequestMasking"].requestheaders(f)
    assert f.error is not None and "killed" in f.error.msg.lower()
    # chunked (size unknown) is refused as well
    g = anthropic_flow(messages())
    del g.request.headers["content-length"]
    g.request.headers["transfer-encoding"] = "chunked"
    await a["RequestMasking"].requestheaders(g)
    assert g.error is not None and "killed" in g.error.msg.lower()
    # a small body with a known length is fine
    h = anthropic_flow(messages())
    await a["RequestMasking"].requestheaders(h)
    assert h.error is None
    # whatever the method: a chunked GET may carry a body past the limit
    get = anthropic_flow(b"")
    get.request.method = "GET"
    del get.request.headers["content-length"]
    get.request.headers["transfer-encoding"] = "chunked"
    await a["RequestMasking"].requestheaders(get)
    assert get.error is not None
    # HTTP/2 frames its own body: without a content-length it may run past the limit
    h2 = anthropic_flow(b"")
    h2.request.method = "OPTIONS"
    h2.request.http_version = "HTTP/2.0"
    del h2.request.headers["content-length"]
    await a["RequestMasking"].requestheaders(h2)
    assert h2.error is not None
    # HTTP/1 without content-length or transfer-encoding has no body: nothing to stream
    empty = anthropic_flow(b"")
    del empty.request.headers["content-length"]
    await a["RequestMasking"].requestheaders(empty)
    assert empty.error is None


def sse(events: list[dict]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


async def test_streamed_reply_is_restored_and_reported(env):
    _, state, a = env
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    fs = state.flows.get(f)
    token = next(t for t, v in fs.token_map.items() if v == "vpc-0123abcd")
    reply = sse([
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": f"see {token[:6]}"}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": f"{token[6:]} now"}},
        {"type": "content_block_stop", "index": 0},
    ])
    f.response = tutils.tresp(content=b"")
    f.response.headers["content-type"] = "text/event-stream"
    f.response.headers["content-length"] = str(len(reply))
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)
    assert "content-length" not in f.response.headers
    out = b""
    for i in range(0, len(reply), 7):
        got = f.response.stream(reply[i:i + 7])
        assert got != b"", "b'' mid-stream would end a chunked reply"
        out += got if isinstance(got, bytes) else b"".join(got)
    tail = f.response.stream(b"")
    out += tail if isinstance(tail, bytes) else b"".join(tail)
    texts = [json.loads(line[6:])["delta"]["text"] for line in out.decode().splitlines()
             if line.startswith("data: ") and "text_delta" in line]
    assert "".join(texts) == "see vpc-0123abcd now"
    a["ResponseRestoring"].response(f)
    assert f.comment.endswith(" · 1 restored")
    assert state.totals.restored_by_type["VPC"] == 1
    assert state.flows.get(f) is None


async def test_unstreamed_reply_fallback_restores_json(env):
    _, state, a = env
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    token = next(t for t, v in state.flows.get(f).token_map.items() if v == "10.20.30.40")
    f.response = tutils.tresp(content=json.dumps({"content": [{"type": "text",
                                                               "text": f"ip {token}"}]}).encode())
    f.response.headers["content-type"] = "application/json"
    a["ResponseRestoring"].response(f)
    assert json.loads(f.response.content)["content"][0]["text"] == "ip 10.20.30.40"


async def test_unknown_token_and_other_flows_tokens_are_not_restored(env):
    _, state, a = env
    f1 = anthropic_flow(messages("only vpc-0123abcd here"))
    f2 = anthropic_flow(messages("only 10.20.30.40 here"))
    await a["RequestMasking"].request(f1)
    await a["RequestMasking"].request(f2)
    foreign = next(iter(state.flows.get(f1).token_map))
    f2.response = tutils.tresp(content=f"{foreign} AWS_EC2_999".encode())
    f2.response.headers["content-type"] = "text/plain"
    ResponseRestoring.response(a["ResponseRestoring"], f2)
    assert f2.response.content == f"{foreign} AWS_EC2_999".encode()


async def test_masker_stats_command_reports_totals_without_values(env):
    tctx, _state, a = env
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    out = json.loads(tctx.command(a["MaskerStats"].stats_json))
    assert out["flows_masked"] == 1 and out["masked_by_type"]["EC2"] >= 1
    assert out["store"] == "memory"
    line = tctx.command(a["MaskerStats"].stats)  # what mitmweb's command bar shows
    assert line.startswith("aws-masker totals: 1 target flows, 1 masked (")
    assert f"EC2 {out['masked_by_type']['EC2']}" in line and "\n" not in line
    for value in ORIGINALS:
        assert value not in json.dumps(out) and value not in line


async def test_content_view_marks_tokens_of_a_masked_body(env):
    from mitmproxy import contentviews

    _, _, a = env
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    view = contentviews.registry["aws-masker"]
    meta = contentviews.Metadata(flow=f, http_message=f.request, content_type="application/json")
    assert view.render_priority(f.request.content, meta) > 1  # chosen over the JSON view
    shown = view.prettify(f.request.content, meta)
    assert shown.startswith("# aws-masker: ")
    assert "⟦AWS_EC2_001⟧" in shown and "EC2×" in shown.splitlines()[1]
    for value in ORIGINALS:
        assert value not in shown
    plain = b'{"text": "nothing to see"}'
    assert view.render_priority(plain, meta) < 0


async def test_blocked_and_flagged_flows_are_marked(env):
    _, state, a = env
    state.store = FailingStore()
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    assert f.marked == ":heavy_multiplication_x:" and f.comment == "blocked (store_error)"


def json_reply(flow: tflow.HTTPFlow, value: str) -> bytes:
    token = next(t for t, v in flow_states(flow).token_map.items() if v == value)
    return json.dumps({"content": [{"type": "text", "text": f"see {token} now"}]}).encode()


def flow_states(flow):
    return flow._test_state.flows.get(flow)


async def masked_flow(state, a) -> tflow.HTTPFlow:
    f = anthropic_flow(messages())
    await a["RequestMasking"].request(f)
    f._test_state = state
    return f


def reply_headers(f: tflow.HTTPFlow, body: bytes, **headers: str) -> None:
    """A reply as mitmproxy has it at ``responseheaders``: headers, no body yet."""
    f.response = tutils.tresp(content=b"")
    f.response.headers["content-type"] = "application/json"
    f.response.headers["content-length"] = str(len(body))
    for k, v in headers.items():
        f.response.headers[k.replace("_", "-")] = v


async def test_small_json_reply_is_buffered_and_restored_whole(env):
    _, state, a = env
    f = await masked_flow(state, a)
    body = json_reply(f, "vpc-0123abcd")
    reply_headers(f, body)
    a["ResponseRestoring"].responseheaders(f)
    assert not f.response.stream  # mitmproxy buffers it: no chunked framing, no callable
    assert flow_states(f).restore_whole
    f.response.set_content(body)  # mitmproxy read the whole body
    a["ResponseRestoring"].response(f)
    out = f.response.content
    assert json.loads(out)["content"][0]["text"] == "see vpc-0123abcd now"
    assert f.response.headers["content-length"] == str(len(out)) != str(len(body))
    assert "transfer-encoding" not in f.response.headers
    assert f.comment.endswith(" · 1 restored")
    assert state.totals.restored_by_type["VPC"] == 1
    assert state.flows.get(f) is None


@pytest.mark.parametrize("case", ["sse", "chunked", "gzip", "over_limit", "over_cap"])
async def test_replies_that_cannot_be_buffered_are_streamed(env, case):
    tctx, state, a = env
    from awsmasker.response_restoring import BUFFER_LIMIT

    f = await masked_flow(state, a)
    body = json_reply(f, "vpc-0123abcd")
    reply_headers(f, body)
    h = f.response.headers
    if case == "sse":
        h["content-type"] = "text/event-stream"
        token = next(t for t, v in flow_states(f).token_map.items() if v == "vpc-0123abcd")
        body = sse([{"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": f"see {token} now"}}])
    elif case == "chunked":
        del h["content-length"]
        h["transfer-encoding"] = "chunked"
    elif case == "gzip":
        h["content-encoding"] = "gzip"
    elif case == "over_limit":
        h["content-length"] = str(BUFFER_LIMIT + 1)
    else:  # the declared length is over max_response_size (the minimum, 1 KiB)
        tctx.options.update(max_response_size=1024)
        h["content-length"] = "1025"
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)
    assert not flow_states(f).restore_whole
    assert "content-length" not in f.response.headers
    if case == "gzip":
        body = gzip.compress(body)
    out = f.response.stream(body)
    out = (out if isinstance(out, bytes) else b"".join(out)) + f.response.stream(b"")
    assert b"vpc-0123abcd" in out


@pytest.mark.parametrize(("case", "streams"), [
    ("sse", True), ("sse_with_length", True), ("chunked", True), ("json", False),
    ("gzip_json", False), ("head", False), ("no_content", False), ("non_target", False)])
async def test_reply_with_nothing_to_restore_streams_when_read_as_written(env, case, streams):
    """A target flow whose request held no identifier has nothing to restore; its reply passes
    through unchanged. An SSE or length-less one must go as it comes (mitmproxy would hold it
    whole and the client would see a streamed answer only once it is complete); one with a
    length is left to mitmproxy. Flows of other hosts are not touched."""
    _, state, a = env
    host = "example.com" if case == "non_target" else "api.anthropic.com"
    f = anthropic_flow(messages("Nothing to mask here."), host=host)
    if case == "head":
        f.request.method = "HEAD"
    await a["RequestMasking"].request(f)
    if case != "non_target":
        assert state.flows.get(f) is not None and not state.flows.get(f).token_map
    reply_headers(f, b'{"content": []}')
    h = f.response.headers
    if case in ("sse", "sse_with_length"):
        h["content-type"] = "text/event-stream; charset=utf-8"
        if case == "sse":
            del h["content-length"]
            h["transfer-encoding"] = "chunked"
    elif case == "chunked":
        del h["content-length"]
        h["transfer-encoding"] = "chunked"
    elif case == "gzip_json":
        h["content-encoding"] = "gzip"
    elif case == "no_content":
        f.response.status_code = 204
        del h["content-length"]
    a["ResponseRestoring"].responseheaders(f)
    assert f.response.stream is streams  # True: passed through as it comes, no restorer
    if case != "non_target":
        a["ResponseRestoring"].response(f)
        assert state.flows.get(f) is None
        assert not f.marked


@pytest.mark.parametrize("keeper", ["flow_detail", "view", "save_stream_file"])
async def test_replies_stream_when_mitmproxy_keeps_bodies(env, keeper):
    """A buffered reply would hold the originals in the flow, where mitmdump's flow_detail 3,
    mitmweb's view or a flow file would show or store them (DESIGN invariant 4)."""
    tctx, state, a = env
    if keeper == "view":
        from mitmproxy.addons.view import View

        tctx.master.addons.add(View())
    elif keeper == "flow_detail":
        tctx.options.add_option("flow_detail", int, 1, "")
        tctx.options.update(flow_detail=3)
    else:
        tctx.options.add_option("save_stream_file", Optional[str], None, "")  # noqa: UP045
        tctx.options.update(save_stream_file="flows.mitm")
    a["ResponseRestoring"].configure({keeper})
    f = await masked_flow(state, a)
    reply_headers(f, json_reply(f, "vpc-0123abcd"))
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)


async def test_whole_reply_restore_failure_passes_the_reply_unchanged(env, monkeypatch):
    import awsmasker.restore as restore_pkg

    class Broken:
        def __init__(self) -> None:
            self.restored: dict = {}
            self.flags: set = set()

        def feed(self, data: bytes) -> bytes:
            raise RuntimeError("bug")

        finish = abort = lambda self: b""

    _, state, a = env
    monkeypatch.setattr(restore_pkg, "select_restorer", lambda *args: Broken())
    f = await masked_flow(state, a)
    body = json_reply(f, "vpc-0123abcd")
    reply_headers(f, body)
    a["ResponseRestoring"].responseheaders(f)
    f.response.set_content(body)
    a["ResponseRestoring"].response(f)
    assert f.response.content == body
    assert f.marked == ":warning:" and f.comment.endswith(" · error")
    assert state.totals.flagged_by_reason["error"] == 1


async def test_masked_request_gets_new_length_and_identity_encoding(env):
    _, _state, a = env
    f = anthropic_flow(messages(), headers={"accept-encoding": "gzip, br"})
    f.request.headers.add("accept-encoding", "identity")  # a repeated field is replaced too
    before = f.request.raw_content
    await a["RequestMasking"].request(f)
    assert f.request.raw_content != before
    assert f.request.headers["content-length"] == str(len(f.request.raw_content))
    assert f.request.headers.get_all("accept-encoding") == ["identity"]


async def test_capped_reply_is_marked_and_passes_the_rest_unchanged(env):
    tctx, state, a = env
    tctx.options.update(max_response_size=1024)
    f = await masked_flow(state, a)
    token = next(t for t, v in flow_states(f).token_map.items() if v == "vpc-0123abcd")
    body = (f"{token} " * 400).encode()  # ~5 KB of text, capped at 1 KB
    reply_headers(f, body, content_type="text/plain")
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)  # over the cap: streamed, never buffered
    out = f.response.stream(body) + f.response.stream(b"")
    a["ResponseRestoring"].response(f)
    assert out.startswith(b"vpc-0123abcd ")
    assert out.endswith(f"{token} ".encode())  # past the cap: unchanged
    assert f.marked == ":warning:" and " restored" in f.comment
    assert f.comment.endswith(" · size cap")
    assert state.totals.flagged_by_reason["size_cap"] == 1


async def test_mitmproxy_runs_the_one_addon_object_like_the_parts(monkeypatch, tmp_path):
    """The object the entry script registers: options, masking, restoring and the command."""
    from awsmasker.addon import make_addon
    from mitmproxy.proxy.layers.http import HttpRequestHook

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_MASKER_CONFIG", raising=False)
    state = MaskerState()
    masker = make_addon(state)
    with taddons.context(masker) as tctx:
        tctx.master.addons.invoke_addon_sync(masker, hooks.ConfigureHook(set(tctx.options.keys())))
        assert state.ready and "masker_config" in tctx.options
        f = anthropic_flow(messages())
        await tctx.master.addons.handle_lifecycle(HttpRequestHook(f))
        sent = f.request.get_text()
        assert all(value not in sent for value in ORIGINALS)
        out = json.loads(tctx.master.commands.execute("masker.stats_json"))
        assert out["flows_masked"] == 1


async def test_the_entry_script_puts_the_masker_last_in_the_chain(monkeypatch, tmp_path):
    """``addon/aws_masker.py`` as mitmproxy's ScriptLoader runs it: the masker is added at the
    end of the addon chain (after map_remote, modify_body, modify_headers and later scripts),
    options load, a flow is masked and the command answers."""
    import asyncio

    from mitmproxy.addons import mapremote, modifybody, script
    from mitmproxy.proxy.layers.http import HttpRequestHook

    from testsupport.mitmdump import ENTRY

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_MASKER_CONFIG", raising=False)
    loader = script.ScriptLoader()
    with taddons.context(loader, mapremote.MapRemote(), modifybody.ModifyBody()) as tctx:
        tctx.configure(loader, scripts=[str(ENTRY)])
        for _ in range(200):  # the script's watcher task loads it
            if loader.addons[0].ns is not None:
                break
            await asyncio.sleep(0.02)
        assert loader.addons[0].ns is not None
        chain = tctx.master.addons.chain
        assert type(chain[-1]).__name__ == "AwsMasker"
        assert [type(a).__name__ for a in chain].index("MapRemote") < len(chain) - 1
        assert "masker_config" in tctx.options
        # modify_body puts an identifier into the body before the masker sees it
        tctx.options.update(modify_body=["|~q|PLACEHOLDER|i-0a1b2c3d4e5f60718"])
        f = anthropic_flow(messages(PROMPT + " PLACEHOLDER"))
        await tctx.master.addons.handle_lifecycle(HttpRequestHook(f))
        sent = f.request.get_text()
        assert "PLACEHOLDER" not in sent and "i-0a1b2c3d4e5f60718" not in sent
        assert all(value not in sent for value in ORIGINALS)
        assert json.loads(tctx.master.commands.execute("masker.stats_json"))["flows_masked"] == 1
        from mitmproxy import contentviews

        assert "aws-masker" in contentviews.registry  # the content view, added on load


async def test_the_per_flow_log_line_is_info_and_holds_no_value(env, caplog):
    import logging

    _, _, a = env
    caplog.set_level(logging.DEBUG, logger="awsmasker")
    await a["RequestMasking"].request(anthropic_flow(messages(PROMPT + " " + SECRET_LINE)))
    (record,) = [r for r in caplog.records if r.getMessage().startswith("aws-masker: masked ")]
    assert record.levelno == logging.INFO  # termlog_verbosity=warn hides it
    assert "SECRET_KEY 1" in record.getMessage()
    assert all(v not in record.getMessage() for v in [*ORIGINALS, SECRET])
