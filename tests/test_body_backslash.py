"""JSON bodies with escaped backslashes (``\\\\``) on the hyperscan fast path:
``Scanner.json_triggers_raw`` finds the triggers in the raw body and says whether it holds an
escaped backslash; the view is then made with the JSON view's pairing (escaped backslashes -> two
``\\x01`` first, then ``\\n``). Each body must be masked as the ``re`` engine masks it (it
always takes the JSON view)."""

from __future__ import annotations

import json

import pytest
from awsmasker.body import _json_view, json_view
from awsmasker.scanner import (
    ESCAPE_KEY,
    Match,
    Scanner,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_cases import (
    HS,
    IDS,
    RE,
    assert_raw_triggers_cover_view,
    masked,
    needs_hyperscan,
)

pytestmark = needs_hyperscan

BS2 = "\\\\"  # an escaped backslash, as raw JSON text
BACKSLASHES = ["\\\\", "\\\\n", '\\\\\\"', "\\\\\\n", "\\\\\\\\"]


def fixed_view(raw: str) -> str:
    """``raw`` with escaped backslashes, then ``\\n`` replaced (the JSON view's pairing)."""
    return raw.replace("\\\\", "\x01\x01").replace("\\n", "\n\n")


def triggers(body: str) -> tuple[dict[int, list[int]], bool] | None:
    """json_triggers_raw, with whether an escaped backslash occurs (its start checked)."""
    found = HS.scanner.json_triggers_raw(body)
    if found is None:
        return None
    hits, pair = found
    assert pair == body.find(BS2)
    return hits, pair >= 0


def body_of(*strings: str) -> str:
    parts = ", ".join(f'"s{i}": "{s}"' for i, s in enumerate(strings))
    return "{" + parts + ', "n": 123456789012, "m": [111122223333]}'


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", BACKSLASHES)
def test_escaped_backslash_takes_the_fast_path(esc: str, ident: str) -> None:
    body = body_of(f'x{esc}{ident}{esc}\\n\\"y', f'say \\"{ident}\\" account 123456789012')
    found = triggers(body)
    assert found is not None
    hits, pairs = found
    assert ESCAPE_KEY not in hits and pairs
    out = masked(HS, body)
    assert out == masked(RE, body)
    json.loads(out[0])
    assert '"n": "AWS_ACCOUNT_' in out[0]  # the quote parity held after the backslashes


def test_cli_output_serialised_twice() -> None:
    """A tool_result holding CLI JSON with quoted strings: ``\\\\\\"`` around the values."""
    cli = json.dumps(
        {
            "Instances": [{"InstanceId": "i-0123456789abcdef0", "PrivateIpAddress": "10.0.1.5"}],
            "Tags": [{"Key": "Name", "Value": 'web "1"'}],
            "Owner": "123456789012",
        },
        indent=2,
    )
    policy = json.dumps({"Resource": "arn:aws:s3:::my-bucket/*", "Path": "C:\\new\\tmp"})
    body = json.dumps(
        {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": cli}]}],
         "policy": json.dumps(policy), "n": 123456789012}
    )  # fmt: skip
    assert '\\\\\\"' in body
    assert triggers(body) is not None
    out, findings, _ = masked(HS, body)
    assert (out, findings) == masked(RE, body)[:2]
    values = {f.value for f in findings}
    assert {"i-0123456789abcdef0", "10.0.1.5", "123456789012"} <= values
    assert "arn:aws:s3:::my-bucket/*" in values
    assert json.loads(out)["n"].startswith("AWS_ACCOUNT_")


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", ["\\t", "\\u00e9", "\\/"])
def test_escaped_backslash_with_rarer_escapes(esc: str, ident: str) -> None:
    # the JSON view is made from the fixed text (pairs already replaced)
    body = body_of(f"a\\\\{esc}{ident}{esc}\\\\n{ident}", "account 123456789012")
    found = triggers(body)
    assert found is not None and ESCAPE_KEY in found[0]
    assert masked(HS, body) == masked(RE, body)


def test_json_view_from_fixed_text_equals_json_view() -> None:
    raw = '"a\\\\\\tb\\\\n\\u00e9\\"c\\/\\\\"'
    assert _json_view(raw, [fixed_view(raw)], pairs_done=True)[:2] == json_view(raw)


def test_escaped_backslashes_far_apart_in_a_long_body() -> None:
    filler = "lorem ipsum " * 500
    for gap in (0, 1, 5, 64, 200):
        pad = " " * gap
        s = f"{filler}i-0123456789abcdef0 10.1.2.3{pad}\\\\nat-0123456789abcdef0{pad}\\\\10.2.3.4"
        body = body_of(s, f"{filler}\\\\\\nsg-0123abcd account 123456789012")
        assert triggers(body) is not None
        out, findings, _ = masked(HS, body)
        assert (out, findings) == masked(RE, body)[:2]
        assert {"nat-0123456789abcdef0", "10.2.3.4", "sg-0123abcd"} <= {f.value for f in findings}


def test_thinking_block_after_escaped_backslash() -> None:
    thought = 'path C:\\new "i-0123456789abcdef0"\n'
    block = {"type": "thinking", "thinking": thought, "signature": "s"}
    body = json.dumps(
        {"messages": [{"role": "assistant", "content": [block]}], "x": 'a\\"b i-0123456789abcdef1'}
    )
    assert triggers(body) is not None
    out = masked(HS, body)
    assert out == masked(RE, body)
    assert json.loads(out[0])["messages"][0]["content"][0] == block  # left byte-identical
    assert "i-0123456789abcdef1" not in out[0]


def test_json_triggers_raw_escape_flags() -> None:
    sc = HS.scanner
    assert sc.json_triggers_raw('{"a": "x\\\\ \\') is None  # ends in a backslash
    assert Scanner(engine="re").json_triggers_raw('{"a": "x\\"y"}') is None  # only hyperscan
    cases = {
        '{"a": "x\\"y\\nz"}': (False, False),
        '{"a": "x\\\\ty"}': (False, True),  # an escaped backslash, then a plain "t"
        '{"a": "x\\\\\\ty"}': (True, True),  # an escaped backslash, then a tab
        '{"a": "x\\\\\\\\ty"}': (False, True),
        '{"a": "x\\ty"}': (True, False),
        '{"a": "x\\u00e9"}': (True, False),
        '{"a": "x\\\ny"}': (True, False),  # a backslash before a raw newline (invalid JSON)
        '{"a": "x\\qy"}': (True, False),  # not a JSON escape
    }
    for raw, (escapes, pairs) in cases.items():
        found = triggers(raw)
        assert found is not None, raw
        assert (ESCAPE_KEY in found[0], found[1]) == (escapes, pairs), raw
        assert masked(HS, raw) == masked(RE, raw)


FRAGMENTS = [*IDS, *BACKSLASHES, '\\\\"', "\\n", '\\"', "\\t", "\\u00e9", "\\u0031"]
FRAGMENTS += ['"', " ", "x", "0"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25), st.integers(0, 80))
def test_raw_triggers_cover_the_json_view(pieces: list[str], lead: int) -> None:
    """Every trigger position in the JSON view is among json_triggers_raw's, and the masking
    equals the ``re`` engine's."""
    body = '{"a": "' + "x" * lead + "".join(pieces) + '", "n": 123456789012}'
    found = assert_raw_triggers_cover_view(body)
    if found is not None:
        assert found[1] == body.find(BS2)
    assert masked(HS, body) == masked(RE, body)


def test_resolve_longest_first_and_match_fields() -> None:
    sc = Scanner(engine="re")
    view = "x 10.1.2.3/24 AKIAABCDEFGHIJKLMNOP"
    cands = [(2, 10, "PRIVATE_IP"), (2, 13, "PRIVATE_IP"), (2, 13, "PRIVATE_IP"), (5, 9, "HOST")]
    cands.append((14, 34, "SECRET_KEY"))
    out = sc._resolve(view, cands, [])
    assert out == [
        Match(2, 13, "PRIVATE_IP", "10.1.2.3/24", True),
        Match(14, 34, "SECRET_KEY", "AKIAABCDEFGHIJKLMNOP", False),
    ]
    assert all(type(m) is Match for m in out) and out[1].reversible is False


@pytest.mark.parametrize("where", [0.05, 0.5, 0.95])
def test_first_escaped_backslash_early_or_late(where: float) -> None:
    # a late first escaped backslash: only the text from it needs its pairs replaced
    filler = 'lorem ipsum i-0123456789abcdef0 \\n 10.1.2.3 \\"x\\" ' * 200
    k = int(len(filler) * where)
    s = filler[:k] + ' \\\\nat-0123456789abcdef0 \\\\\\n10.2.3.4 \\\\\\"q\\\\\\" ' + filler[k:]
    body = body_of(s, "account 123456789012 \\\\n")
    found = triggers(body)
    assert found is not None and found[1] and ESCAPE_KEY not in found[0]
    out, findings, _ = masked(HS, body)
    assert (out, findings) == masked(RE, body)[:2]
    assert {"nat-0123456789abcdef0", "10.2.3.4", "10.1.2.3"} <= {f.value for f in findings}
    json.loads(out)
