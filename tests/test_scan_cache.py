"""The scan cache (``scan_cache_bytes``): a masker that remembers the findings of pieces it has
seen plans every body exactly as one that scans it whole, over conversations replayed turn by
turn, edited, compacted, reordered, with repeated blocks and moving ``cache_control`` markers;
its memory stays under its bound; it keeps no secret."""

from __future__ import annotations

import gc
import json
import random
import types

import pytest
from awsmasker import scan_cache
from awsmasker.body import Masker
from awsmasker.scanner import available_engines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENGINES = available_engines()
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDHhBTEXAMPLETOKENxyz0123456789abcdef0123"
#: text for strings: identifiers of most kinds, accounts named in one place and bare in
#: another, secrets, tokens already masked, escapes, words that only look like context
SNIPPETS = (
    "instance i-0abc1234def567890 in vpc-0123abcd, subnet-0a1b2c3d4e5f60718",
    "arn:aws:iam::123456789012:role/Admin",
    "the account 210987654321 owns it",
    "123456789012",
    "210987654321",
    "987654321098 is just a number",
    f"aws_secret_access_key = {SECRET}",
    f"session_token: {TOKEN}",
    "host 10.0.1.25/24, version 10.1.2.3",
    "s3://my-data-bucket-01/key and bucket: logs-archive-7",
    "AWS_EC2_001 is already a token, AWS_ACCOUNT_002 too",
    'quoted "vpc-0123abcd" and a backslash \\ and \\n',
    "caf\u00e9 \u2603 i-0123456789abcdef0",
    "sg-0a1b2c3d plain words {\"type\": not a block} ,\"cache_control\": no",
    "AKIAIOSFODNN7EXAMPLE then ec2-54-1-2-3.compute-1.amazonaws.com",
    "kms key/1234abcd-12ab-34cd-56ef-1234567890ab, hosted zone Z1D633PJN98FT9",
    "x" * 300,
    # a name found in context above, bare here: a rule that reads the whole body would mask it
    "copied to my-data-bucket-01 and key 1234abcd-12ab-34cd-56ef-1234567890ab",
)

text = st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=4).map(" ".join)


@st.composite
def blocks(draw):
    kind = draw(st.sampled_from(["text", "thinking", "tool_use", "tool_result", "result_list"]))
    body = draw(text)
    if kind == "text":
        return {"type": "text", "text": body}
    if kind == "thinking":
        return {"type": "thinking", "thinking": body, "signature": "c2lnbmF0dXJl" * 8}
    if kind == "tool_use":
        inputs = {"command": body}
        if draw(st.booleans()):
            inputs["account_id"] = draw(st.sampled_from([123456789012, 210987654321, 5]))
        return {"type": "tool_use", "id": f"toolu_{draw(st.integers(0, 99))}",
                "name": "Bash", "input": inputs}
    if kind == "tool_result":
        return {"type": "tool_result", "tool_use_id": "toolu_1", "content": body}
    return {"type": "tool_result", "tool_use_id": "toolu_2",
            "content": [{"type": "text", "text": body}]}


messages = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), st.lists(blocks(), min_size=1, max_size=3)),
    min_size=1, max_size=8,
)


def request(msgs, system: str) -> dict:
    out = [{"role": r, "content": json.loads(json.dumps(c))} for r, c in msgs]
    out[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": system}],
            "messages": out}


def encode(req: dict, style: int) -> str:
    """Compact (Claude Code), Python's defaults, ASCII-only escapes, or ``\\/`` escapes."""
    if style == 0:
        return json.dumps(req, separators=(",", ":"), ensure_ascii=False)
    if style == 1:
        return json.dumps(req)
    if style == 2:
        return json.dumps(req, separators=(",", ":"))
    return json.dumps(req, separators=(",", ":")).replace("/", "\\/")


def edits(draw, msgs):
    """The conversation's later requests: what an agent and its user do to the history."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["grow", "edit", "compact", "reorder", "repeat", "marker"]))
        msgs = [(r, list(c)) for r, c in msgs]
        i = draw(st.integers(0, len(msgs) - 1))
        if op == "grow":
            msgs.append(draw(messages)[0])
        elif op == "edit":  # a block that begins as before and goes on (or is cut)
            c = msgs[i][1]
            b = dict(c[0])
            key = {"text": "text", "thinking": "thinking", "tool_result": "content"}.get(b["type"])
            if key and isinstance(b[key], str):
                old = b[key]
                b[key] = draw(st.sampled_from([old + " " + draw(text), old[: len(old) // 2]]))
            c[0] = b
        elif op == "compact":  # old turns rewritten as one summary
            msgs = [("user", [{"type": "text", "text": "Summary: " + draw(text)}]), *msgs[i + 1:]]
        elif op == "reorder":
            msgs[i][1].reverse()
            msgs.insert(0, msgs.pop(i))
        elif op == "repeat":
            msgs[i][1].append(msgs[i][1][0])
            msgs.append(msgs[i])
        else:  # the marker moves: put on the first message too
            c = msgs[0][1]
            c[0] = {**c[0], "cache_control": {"type": "ephemeral"}}
        out.append(msgs)
    return out


@st.composite
def sessions(draw):
    msgs = draw(messages)
    system = draw(text)
    style = draw(st.integers(0, 3))
    history = [msgs[:k] for k in range(1, len(msgs) + 1)] + edits(draw, msgs)
    return [encode(request(h, system), style) for h in history]


def same_plan(cached: Masker, full: Masker, body: str) -> None:
    a = full.plan(body, is_json=True)
    b = cached.plan(body, is_json=True)
    assert (b.findings, b.edits, b.counts, b.present_tokens) == (
        a.findings, a.edits, a.counts, a.present_tokens)
    tokens = [f"AWS_T_{i:03d}" for i in range(len(a.findings))]
    assert b.apply(tokens) == a.apply(tokens)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("cache_bytes", "min_piece"), [(64 << 20, 0), (6000, 0),
                                                       (64 << 20, scan_cache.MIN_PIECE)])
def test_cached_plans_equal_whole_scans_over_replayed_sessions(engine, cache_bytes, min_piece,
                                                               monkeypatch):
    """``min_piece`` 0: a piece at every cut, so that most blocks are pieces of their own."""
    monkeypatch.setattr(scan_cache, "MIN_PIECE", min_piece)
    full = Masker(engine=engine)
    cached = Masker(engine=engine, scan_cache_bytes=cache_bytes)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sessions())
    def check(bodies):
        for body in bodies:
            same_plan(cached, full, body)

    check()
    assert cached.cache.hits > 0  # the bodies did share pieces


@pytest.mark.parametrize("engine", ENGINES)
def test_cached_plans_equal_whole_scans_on_text_that_is_not_json(engine, monkeypatch):
    """Fragments glued at random (unbalanced quotes, stray backslashes, cut markers inside
    strings): whatever the cache does with them, the plan is the whole scan's."""
    monkeypatch.setattr(scan_cache, "MIN_PIECE", 0)
    full = Masker(engine=engine)
    cached = Masker(engine=engine, scan_cache_bytes=1 << 20)
    parts = ['{"type":', '{"role": ', ',"cache_control":', ', "cache_control" :', '"', '\\',
             '\\"', '\\\\', "}", "]", ",", "[", ":", '"thinking":"', *SNIPPETS]

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(parts), min_size=1, max_size=40), st.integers(0, 40))
    def check(pieces, cut):
        body = "".join(pieces)
        for b in (body, body + "".join(pieces[:cut]), "".join(pieces[cut:]) + body):
            same_plan(cached, full, b)

    check()


def test_agent_session_scans_only_new_pieces():
    """A session re-sent turn after turn: from the second turn on, the pieces of the earlier
    turns come from the cache (the moved cache_control marker included)."""
    full, cached = Masker(), Masker(scan_cache_bytes=64 << 20)
    rng = random.Random(7)
    msgs = []
    for turn in range(12):
        msgs.append(("assistant", [{"type": "text", "text": rng.choice(SNIPPETS)},
                                   {"type": "tool_use", "id": f"t{turn}", "name": "Bash",
                                    "input": {"command": rng.choice(SNIPPETS)}}]))
        msgs.append(("user", [{"type": "tool_result", "tool_use_id": f"t{turn}",
                               "content": " ".join(rng.choices(SNIPPETS, k=20))}]))
        misses = cached.cache.misses
        same_plan(cached, full, encode(request(msgs, "system " * 100), 0))
        if turn >= 2:  # the new assistant message, the new result, the end of the body (the
            # first body is scanned whole, its pieces one by one from their second sighting)
            assert cached.cache.misses - misses <= 4


def test_memory_stays_under_its_bound_least_recently_used_first():
    bound = 20_000
    cached = Masker(scan_cache_bytes=bound)
    keep = encode(request([("user", [{"type": "text", "text": SNIPPETS[1] * 20}])], "s" * 1500), 0)
    for i in range(200):
        body = encode(request([("user", [{"type": "text", "text": f"{SNIPPETS[0]} {i} " * 20}]),
                               ("user", [{"type": "text", "text": SNIPPETS[2] * 20}])],
                              "s" * 1500), 0)
        cached.plan(body, is_json=True)
        cached.plan(keep, is_json=True)  # used every time: never the least recent
        assert cached.cache.nbytes <= bound
    assert 0 < len(cached.cache) < 200
    hits = cached.cache.hits
    cached.plan(keep, is_json=True)
    assert cached.cache.hits > hits


def test_zero_bytes_turns_the_cache_off():
    assert Masker(scan_cache_bytes=0).cache is None


def _reachable_strings(root) -> list[str | bytes]:
    seen, out, todo = set(), [], [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes)):
            out.append(obj)
        elif not isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            todo.extend(gc.get_referents(obj))  # the data, not the code that made it
    return out


def test_no_secret_is_kept_in_the_cache():
    cached = Masker(scan_cache_bytes=1 << 20)
    body = encode(request([("user", [{"type": "text", "text": SNIPPETS[6] + " x" * 600}]),
                           ("user", [{"type": "text", "text": SNIPPETS[7] + " " + SNIPPETS[1]}])],
                          "s" * 1500), 0)
    for _ in range(4):  # seen, then its pieces kept (a share of the body per sighting)
        plan = cached.plan(body, is_json=True)
        assert {f.value for f in plan.findings} >= {SECRET, TOKEN}
    del plan
    assert cached.cache.hits >= 3  # the last plan was made of kept pieces
    kept = _reachable_strings(cached.cache)
    assert "SESSION_TOKEN" in kept  # the walk reached the findings kept (their types)
    for secret in (SECRET, TOKEN):
        assert not any(secret in s for s in kept if isinstance(s, str))
        assert not any(secret.encode() in s for s in kept if isinstance(s, bytes))
    # nor the body's other text: pieces are known by digests only
    assert not any("arn:aws:iam::123456789012:role/Admin" in s for s in kept
                   if isinstance(s, str))


def _blocks_body(*texts: str) -> str:
    """A compact request whose user message holds one text block per text (each a piece)."""
    return encode(request([("user", [{"type": "text", "text": t} for t in texts])], "s" * 1500), 0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_piece_seen_without_a_name_is_scanned_again_once_the_body_names_it(engine):
    """The piece that holds a bucket bare is cached from bodies that do not name it; once a
    body names it in another piece, the bare occurrence is masked as by a whole scan."""
    full, cached = Masker(engine=engine), Masker(engine=engine, scan_cache_bytes=1 << 20)
    bare = "copied to my-data-bucket-01 yesterday " + "x" * 1200
    filler = "nothing here " * 100
    for body in (_blocks_body(bare, filler), _blocks_body(bare, filler),
                 _blocks_body("the bucket: my-data-bucket-01 " + "y" * 1200, bare, filler)):
        same_plan(cached, full, body)
    plan = cached.plan(body, is_json=True)
    assert plan.counts.get("S3_BUCKET") == 2
    start = body.index("copied to ") + len("copied to ")
    assert any(s == start for s, *_ in plan.edits)  # the bare one, in the cached piece


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("first", ["bucket", "kms"])
def test_a_name_found_as_two_types_has_one_type_whichever_comes_first(engine, first):
    """A UUID after ``bucket:`` and after ``key/``: every occurrence gets the same type,
    whichever context comes first and whichever piece it is in."""
    uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
    texts = [f"bucket: {uuid} " + "y" * 1200, f"kms key/{uuid} " + "z" * 1200,
             f"and {uuid} alone " + "x" * 1200]
    if first == "kms":
        texts[:2] = texts[1::-1]
    full, cached = Masker(engine=engine), Masker(engine=engine, scan_cache_bytes=1 << 20)
    body = _blocks_body(*texts)
    for _ in range(3):
        same_plan(cached, full, body)
    plan = full.plan(body, is_json=True)
    assert [f.type_name for f in plan.findings if f.value == uuid] == ["KMS_KEY"]
    assert plan.counts["KMS_KEY"] == 3


def _counting(masker: Masker) -> list[int]:
    """The length of each text ``masker``'s scanner scans from now on."""
    scanned: list[int] = []
    scan = masker.scanner.scan_full

    def counted(text, *args, **kwargs):
        scanned.append(len(text))
        return scan(text, *args, **kwargs)

    masker.scanner.scan_full = counted
    return scanned


def test_new_mixes_of_known_blocks_cost_about_one_whole_scan():
    """Bodies that each mix blocks of a pool anew (a piece's text recurs, but rarely with the
    same neighbours): a body whose text is mostly in no kept piece is scanned whole, plus at most
    a sixteenth of it and one piece more on its own to warm the cache; and the plans stay the
    whole scans'."""
    rng = random.Random(3)
    # (no backslashes: a string whose text may be JSON itself is scanned again, decoded, which
    # this count of whole scans would take for pieces)
    plain = [t for t in SNIPPETS if "\\" not in t]
    pool = [" ".join(rng.choices(plain, k=12)) + f" block {i}" for i in range(40)]
    full, cached = Masker(), Masker(scan_cache_bytes=64 << 20)
    scanned = _counting(cached)
    biggest = 0
    for _ in range(30):
        texts = rng.sample(pool, 12)
        body = _blocks_body(*texts)
        biggest = max(biggest, *(len(t) + 100 for t in texts), 1600)
        kept_before = cached.cache.hits
        scanned.clear()
        same_plan(cached, full, body)
        assert len(scanned) >= 1
        if scanned[-1] >= len(body) - 100:  # scanned whole (the view may drop a few escapes)
            assert sum(scanned[:-1]) <= len(body) // scan_cache.WARM_SHARE + biggest
        else:  # planned piece by piece: at least half of it was kept
            assert cached.cache.hits > kept_before
    assert cached.cache.hits > 0  # pieces were kept from their second sighting on
