"""End to end: what a person sees of masked flows in a real mitmweb (through its HTTP API), in a
flow file a real mitmdump saves, and in mitmdump's log."""

from __future__ import annotations

import json
import re
from io import BytesIO

import pytest
from awsmasker.contentview import event_texts
from mitmproxy import io

from tests.clients import anthropic_client
from testsupport.mitmdump import Mitmweb, run_mitmdump_expecting_exit
from testsupport.samples import ORIGINALS, PROMPT, SECRET, SECRET_LINE

pytestmark = pytest.mark.e2e

TOKEN = re.compile(rb"AWS_[A-Z][A-Z0-9_]*_[0-9]{3,9}")
SUMMARY = re.compile(r"(\d+) masked · (\d+) restored")


def tokens_in_reply(body: bytes) -> list[bytes]:
    """Tokens in a reply; an event stream's are whole only in its joined text."""
    joined = "".join(event_texts(body).values()).encode()
    return TOKEN.findall(body) + TOKEN.findall(joined)


def assert_no_original(data: bytes, where: str) -> None:
    for value in (*ORIGINALS, SECRET):
        for form in {value, value.replace("/", "\\/")}:
            assert form.encode() not in data, f"{value} is in {where}"


def ask(client, *, stream: bool) -> None:
    """One Messages request whose reply (the stand-in's) repeats every token it was sent."""
    args = dict(model="m", max_tokens=5,
                messages=[{"role": "user", "content": f"{PROMPT}\n{SECRET_LINE}"}])
    if stream:
        with client.messages.stream(**args) as s:
            text = s.get_final_message().content[0].text
    else:
        text = client.messages.create(**args).content[0].text
    # the client gets the originals; the secret's token stays a token (one-way)
    assert all(value in text for value in ORIGINALS) and SECRET not in text


@pytest.fixture
def web(tmp_path):
    with Mitmweb(tmp_path, options=["targets=127.0.0.1"]) as mw:
        yield mw


def test_mitmweb_shows_the_reply_as_sent_and_stores_no_original(web, standin):
    client = anthropic_client(web, standin)
    ask(client, stream=True)
    ask(client, stream=False)
    with web.api() as api:
        flows = api.get("/flows").json()
        assert len(flows) == 2
        for f in flows:
            # the list: a short comment and a marker that text fonts have
            m = SUMMARY.fullmatch(f["comment"])
            assert m and int(m.group(1)) >= len(ORIGINALS) and int(m.group(2)) >= 1, f["comment"]
            assert f["marked"] == "✔"
            # the Response tab: the reply as the model sent it, tokens and no original
            assert f["response"]["contentLength"] > 0
            reply = api.get(f"/flows/{f['id']}/response/content.data").content
            assert reply.startswith(b"event: message_start") or json.loads(reply)["content"]
            assert_no_original(reply, "the kept reply")
            request = api.get(f"/flows/{f['id']}/request/content.data").content
            assert_no_original(request, "the request")
            # the aws-masker view marks the tokens (of an event stream: in its joined text);
            # it is the view picked for a body with tokens
            shown = api.get(f"/flows/{f['id']}/response/content/auto.json").json()
            assert shown["view_name"] == "aws-masker"
            text = shown["text"]
            assert text.startswith("# aws-masker: ") and "⟦AWS_EC2_001⟧" in text
            assert text.count("⟦AWS_") >= int(m.group(2))  # every token restored, and more
            assert_no_original(text.encode(), "the aws-masker view")
        sse = next(f for f in flows if "event-stream" in json.dumps(f["response"]["headers"]))
        json_flow = next(f for f in flows if f is not sse)
        # picked by hand, "aws-masker restored" puts the originals back, from memory only
        for f in (sse, json_flow):
            restored = api.get(
                f"/flows/{f['id']}/response/content/aws-masker restored.json").json()
            assert restored["view_name"] == "aws-masker restored"
            text = restored["text"]
            assert text.startswith("# aws-masker restored: ") and "originals put back" in text
            for value in ("i-0a1b2c3d4e5f67890", "vpc-0123abcd", "10.20.30.40"):
                assert value in text
            assert SECRET not in text  # secrets are one-way
        again = api.get(f"/flows/{json_flow['id']}/response/content.data").content
        assert_no_original(again, "the kept reply after the restored view")
        # mitmweb's "Save": the flow file holds no original anywhere
        dump = api.get("/flows/dump").content
    assert_no_original(dump, "mitmweb's saved flows")
    saved = list(io.FlowReader(BytesIO(dump)).stream())
    assert len(saved) == 2
    for f in saved:
        assert tokens_in_reply(f.response.content) and SUMMARY.fullmatch(f.comment)
    assert_no_original(web.output().encode(), "mitmweb's log")


def test_mitmweb_shows_the_comment_column(web):
    with web.api() as api:
        columns = api.get("/options").json()["web_columns"]["value"]
    assert "comment" in columns and columns[:2] == ["tls", "icon"]  # mitmweb's, plus ours


def test_mitmdump_flow_file_and_log_line(proxy_factory, standin, tmp_path):
    saved = tmp_path / "flows.mitm"
    proxy = proxy_factory("targets=127.0.0.1", "flow_detail=1", f"save_stream_file={saved}")
    client = anthropic_client(proxy, standin)
    ask(client, stream=True)
    ask(client, stream=False)
    proxy.stop()
    log = proxy.output()
    replies = re.findall(r"<< 200 OK (\S+)", log)
    assert len(replies) == 2 and "(content" not in log, log
    assert_no_original(saved.read_bytes(), "the flow file")
    with saved.open("rb") as fh:
        flows = list(io.FlowReader(fh).stream())
    assert len(flows) == 2
    for f in flows:
        assert tokens_in_reply(f.response.content), f.response.content[:200]
        assert SUMMARY.fullmatch(f.comment) and f.marked == ":heavy_check_mark:"


def test_mitmdump_log_line_without_keeping_bodies(proxy_factory, standin):
    """Plain mitmdump (nothing keeps bodies): a restored stream's line gives its size."""
    proxy = proxy_factory("targets=127.0.0.1", "flow_detail=1")
    ask(anthropic_client(proxy, standin), stream=True)
    proxy.stop()
    log = proxy.output()
    assert re.search(r"<< 200 OK \d+(\.\d+)?k", log) and "content missing" not in log, log


def test_store_streamed_bodies_is_refused(tmp_path):
    code, output = run_mitmdump_expecting_exit(tmp_path, ["store_streamed_bodies=true"])
    assert code != 0
    assert "store_streamed_bodies would keep each restored reply" in output
