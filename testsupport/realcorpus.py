"""The real-text detection corpus and its measure (issue 14), for ``scripts/corpus.py`` and
the tests.

Positives: the examples shipped in the ``awscli`` wheel (``awscli/examples/**/*.rst``, one
document per file) and in the ``botocore`` wheel (``botocore/data/*/*/examples-1.json``, one
document per example, as indented JSON), and the API reference's prose, the documentation
strings of each service model (its latest API version; HTML read as the text a reader copies
from the page, cut at line ends into documents of about :data:`DOCS_CUT` characters), labelled
by ``testsupport.labels``. Negatives: files of
other packages full of look-alikes that must stay (UUIDs, hashes, semantic and four-part
versions, timestamps, phone numbers, base64); a negative holds no identifier, so every span the
masker finds there is a false positive. The wheels are pinned and fetched with ``pip download``
into ``.corpus/wheels`` (once); the corpus is the same on every machine. A sample of N keeps every
positive document whose name hashes to 0 mod N, and all the negatives.

:func:`measure` sends each document, as the proxy sees it, as the text of an Anthropic Messages
request body: the real masker plans it, a memory store mints the tokens, and the real reply
restorer puts the originals back. A labelled value is *leaked* when its exact text is still in
the masked document (not as part of a longer run of letters, digits, ``_`` and ``-``); the unit
is a distinct (document, value) pair. A false positive is a span masked in a negative document.
The round trip must give the body back byte for byte for every document without a secret.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from awsmasker.body import Masker
from awsmasker.catalogue import EC2_PREFIXES
from awsmasker.restore import restore_body
from awsmasker.store.memory import MemoryStore

from testsupport.labels import ec2_prefixes_from_model, example_text, label

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".corpus"
AWSCLI = "awscli==1.46.2"
BOTOCORE = "botocore==1.44.2"
#: negatives: (requirement, files in the wheel (prefix match), bytes at most per file)
NEGATIVES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    # browser user agents: four-part versions (Chrome/120.0.6099.109), dotted quads
    ("fake-useragent==2.2.0", ("fake_useragent/data/browsers.jsonl",), 1_500_000),
    # PEM base64, hex fingerprints and serial numbers, dates
    ("certifi==2026.10.18", ("certifi/cacert.pem",), 400_000),
    # phone numbers: example numbers and number patterns of every region
    ("phonenumbers==9.0.43", ("phonenumbers/data/region_",), 20_000),
    # timestamps and time-zone rules
    ("tzdata==2026.6", ("tzdata/zoneinfo/tzdata.zi", "tzdata/zoneinfo/zone"), 200_000),
    # a CycloneDX SBOM: UUIDs, SHA-256 hashes, semantic versions, git URLs; and wheel RECORDs
    # (base64 SHA-256 of every file)
    (
        "mitmproxy-rs==0.12.15",
        ("mitmproxy_rs-0.12.15.dist-info/sboms/", "mitmproxy_rs-0.12.15.dist-info/RECORD"),
        500_000,
    ),
)
MAX_DOC = 400_000  # characters: a larger document is cut (none of the pinned ones is)
DOCS_CUT = 60_000  # characters: a service's API reference prose is cut into documents this long


def wheel(req: str) -> Path:
    """The pinned wheel, downloaded into the cache the first time."""
    d = CACHE / "wheels"
    d.mkdir(parents=True, exist_ok=True)
    name, version = req.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    with (d / ".lock").open("w") as lock:  # test workers may ask at once: one downloads
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(p for p in d.glob("*.whl") if p.name.lower().startswith(stem.lower()))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            cmd += ["--python-version", "3.12", "--platform", "manylinux2014_x86_64"]
            cmd += ["--platform", "any", "-q", "-d", str(d), req]
            subprocess.run(cmd, check=True, timeout=600)
            found = sorted(p for p in d.glob("*.whl")
                           if p.name.lower().startswith(stem.lower()))
    if not found:
        raise SystemExit(f"pip download gave no wheel for {req}")
    return found[0]


def _keep(name: str, sample: int) -> bool:
    return sample <= 1 or int(hashlib.sha1(name.encode()).hexdigest(), 16) % sample == 0


def ec2_prefixes(bc: zipfile.ZipFile, cli: zipfile.ZipFile) -> set[str]:
    """EC2's ID prefixes, from its service model and its examples (see testsupport.labels)."""
    names = bc.namelist()
    model = _read_model(bc, latest_models(bc)["ec2"])
    examples = [
        json.loads(bc.read(n))
        for n in names
        if n.startswith("botocore/data/ec2/") and n.endswith("examples-1.json")
    ]
    texts = [
        cli.read(n).decode()
        for n in cli.namelist()
        if n.startswith("awscli/examples/ec2/") and n.endswith(".rst")
    ]
    return ec2_prefixes_from_model(model, examples, texts)


def positives(sample: int, prefixes: set[str]) -> Iterator[dict]:
    with zipfile.ZipFile(wheel(AWSCLI)) as cli:
        for n in sorted(cli.namelist()):
            if not (n.startswith("awscli/examples/") and n.endswith(".rst")) or not _keep(
                n, sample
            ):
                continue
            text = cli.read(n).decode("utf-8")[:MAX_DOC]
            service = n.split("/")[2]
            yield {"id": n, "kind": "pos", "text": text, "labels": label(text, prefixes, service)}
    with zipfile.ZipFile(wheel(BOTOCORE)) as bc:
        for n in sorted(bc.namelist()):
            if not (n.startswith("botocore/data/") and n.endswith("examples-1.json")):
                continue
            service = n.split("/")[2]
            doc = json.loads(bc.read(n))
            for op, exs in sorted(doc.get("examples", {}).items()):
                for k, ex in enumerate(exs):
                    did = f"{n}#{op}/{k}"
                    if not _keep(did, sample):
                        continue
                    text = example_text(ex)[:MAX_DOC]
                    labels = label(text, prefixes, service)
                    yield {"id": did, "kind": "pos", "text": text, "labels": labels}


def latest_models(bc: zipfile.ZipFile) -> dict[str, str]:
    """Service → the path of its latest model in the botocore wheel."""
    latest: dict[str, str] = {}
    for n in bc.namelist():
        parts = n.split("/")
        if len(parts) == 5 and parts[4].startswith("service-2.json"):
            latest[parts[2]] = max(latest.get(parts[2], ""), n)  # versions are dates
    return latest


def _read_model(bc: zipfile.ZipFile, path: str) -> dict:
    raw = bc.read(path)
    return json.loads(gzip.decompress(raw) if path.endswith(".gz") else raw)


def service_models(bc: zipfile.ZipFile) -> Iterator[tuple[str, str, dict]]:
    """(service, path, model) of each service's latest model in the botocore wheel."""
    for service, n in sorted(latest_models(bc).items()):
        yield service, n, _read_model(bc, n)


_TWELVE_DIGITS = re.compile(r"\^?(?:\\d|\[0-9\])\{12\}\$?")


def account_members(bc: zipfile.ZipFile) -> set[str]:
    """Every member name, in any service model, whose shape is a string of 12 digits: an account
    ID (``registryId``, ``AwsAccountId`` …)."""
    out: set[str] = set()
    for _, _, model in service_models(bc):
        shapes = model.get("shapes", {})
        twelve = {k for k, v in shapes.items()
                  if v.get("type") == "string" and _TWELVE_DIGITS.fullmatch(v.get("pattern", ""))}
        for v in shapes.values():
            out.update(m for m, spec in v.get("members", {}).items() if spec["shape"] in twelve)
    return out


def service_docs(sample: int, prefixes: set[str]) -> Iterator[dict]:
    """The documentation strings of each service's latest model, as text (see the module's)."""
    with zipfile.ZipFile(wheel(BOTOCORE)) as bc:
        for service, n, model in service_models(bc):
            text = "\n".join(_as_text(d) for d in _documentation(model))
            for k, doc in enumerate(_cut(text, DOCS_CUT)):
                did = f"{n}#docs/{k}"
                if _keep(did, sample):
                    yield {"id": did, "kind": "pos", "text": doc,
                           "labels": label(doc, prefixes, service)}


def _documentation(v: object) -> Iterator[str]:
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "documentation" and isinstance(x, str):
                yield x
            else:
                yield from _documentation(x)
    elif isinstance(v, list):
        for x in v:
            yield from _documentation(x)


_BLOCK_TAG = re.compile(r"</?(?:p|li|ul|ol|br|dl|dt|dd|h[1-6]|div|note|important|table|tr|t[dh])"
                        r"\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def _as_text(doc: str) -> str:
    """HTML as a reader copies it from the page: a line per block, inline markup dropped."""
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", doc)))


def _cut(text: str, size: int) -> Iterator[str]:
    """``text`` in pieces of about ``size`` characters, cut at line ends."""
    lines: list[str] = []
    n = 0
    for line in text.split("\n"):
        lines.append(line)
        n += len(line) + 1
        if n > size:
            yield "\n".join(lines)
            lines, n = [], 0
    if lines:
        yield "\n".join(lines)


def negatives() -> Iterator[dict]:
    """Every negative file, in the sample too (2.8 MB: a sample of them would find too little)."""
    for req, prefixes, cap in NEGATIVES:
        with zipfile.ZipFile(wheel(req)) as z:
            for n in sorted(z.namelist()):
                if not n.startswith(prefixes) or n.endswith("/"):
                    continue
                try:
                    text = z.read(n).decode("utf-8")[:cap]
                except UnicodeDecodeError:
                    continue
                yield {"id": f"{req}:{n}", "kind": "neg", "text": text, "labels": set()}


def build(out: Path, sample: int = 1) -> dict[str, int]:
    """Write the corpus (one JSON document a line); returns its size."""
    with zipfile.ZipFile(wheel(AWSCLI)) as cli, zipfile.ZipFile(wheel(BOTOCORE)) as bc:
        prefixes = ec2_prefixes(bc, cli)
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = {"pos_docs": 0, "labels": 0, "neg_docs": 0, "neg_bytes": 0}
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # another worker may build it too
    with tmp.open("w", encoding="utf-8") as f:
        for d in (*positives(sample, prefixes), *service_docs(sample, prefixes), *negatives()):
            d["labels"] = sorted(d["labels"])
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            if d["kind"] == "pos":
                stats["pos_docs"] += 1
                stats["labels"] += len(d["labels"])
            else:
                stats["neg_docs"] += 1
                stats["neg_bytes"] += len(d["text"].encode())
        f.write(json.dumps({"id": "#ec2-prefixes", "kind": "meta", "prefixes": sorted(prefixes)}))
        f.write("\n")
    tmp.replace(out)
    return stats


#: targets (issue 14): all types together, each type, false-positive spans per MB of negatives
TARGET_ALL = 0.995
TARGET_TYPE = 0.98
TARGET_FP_PER_MB = 1.0


def type_of(label_class: str) -> str:
    """The catalogue type of a label class (``EC2:<prefix>`` → the prefix's type)."""
    if label_class.startswith("EC2:"):
        prefix = label_class[4:]
        return EC2_PREFIXES.get(prefix, f"(no type: {prefix}-)")
    return label_class


def present(value: str, text: str) -> bool:
    """Is ``value`` in ``text`` as a whole (not inside a longer run of letters and digits, as
    ``123456789012`` is inside a UUID's last group)?"""
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(value)}(?![A-Za-z0-9_-])", text) is not None


@dataclass
class Result:
    total: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    misses: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    doc_leaks: Counter[str] = field(default_factory=Counter)
    docs: int = 0
    docs_leaking: int = 0
    fp_spans: list[tuple[str, str, str]] = field(default_factory=list)
    neg_bytes: int = 0
    roundtrip_checked: int = 0
    roundtrip_failed: list[str] = field(default_factory=list)

    @property
    def recall_all(self) -> float:
        n = sum(self.total.values())
        return 1 - sum(self.leaked.values()) / n if n else 1.0

    def recall(self, t: str) -> float:
        return 1 - self.leaked[t] / self.total[t] if self.total[t] else 1.0

    @property
    def fp_per_mb(self) -> float:
        return len(self.fp_spans) / (self.neg_bytes / 1e6) if self.neg_bytes else 0.0

    def failures(self) -> list[str]:
        """The targets missed, in words (empty: all met)."""
        out = []
        if self.recall_all < TARGET_ALL:
            out.append(f"recall over all types {self.recall_all:.4f} < {TARGET_ALL}")
        out += [
            f"recall of {t} {self.recall(t):.4f} < {TARGET_TYPE}"
            for t in sorted(self.total)
            if self.recall(t) < TARGET_TYPE
        ]
        if self.fp_per_mb > TARGET_FP_PER_MB:
            out.append(f"false positives {self.fp_per_mb:.2f}/MB > {TARGET_FP_PER_MB}")
        if self.roundtrip_failed:
            out.append(f"round trip failed for {self.roundtrip_failed[:5]}")
        return out


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [d for d in map(json.loads, f) if d["kind"] != "meta"]


def wrap(text: str, depth: int = 1) -> str:
    """A request body that carries ``text`` in a JSON string; ``depth`` > 1: the text is JSON
    in that string, nested that many levels (an OpenAI tool call's ``arguments``, a JSON file
    an agent writes), so its escapes are escaped again at each level."""
    for _ in range(depth - 1):
        text = json.dumps({"text": text})
    return json.dumps({"messages": [{"role": "user", "content": text}]}, ensure_ascii=False)


def unwrap(body: str, depth: int = 1) -> str:
    """The text :func:`wrap` put in ``body`` (a masked body must still decode at every level)."""
    text = json.loads(body)["messages"][0]["content"]
    for _ in range(depth - 1):
        text = json.loads(text)["text"]
    return text


def measure(docs: list[dict], masker: Masker | None = None, depth: int = 1) -> Result:
    """The masker on the corpus, each document's text in a body as :func:`wrap` nests it."""
    masker = masker or Masker()
    res = Result()
    for d in docs:
        text = d["text"]
        body = wrap(text, depth)
        plan = masker.plan(body, is_json=True)
        store = MemoryStore()
        tokens = [store.token_for(f) for f in plan.findings]
        masked_body = plan.apply(tokens)
        masked = unwrap(masked_body, depth)
        if d["kind"] == "neg":
            res.neg_bytes += len(text.encode())
            res.fp_spans += [(d["id"], f.type_name, f.value) for f in plan.findings]
            continue
        res.docs += 1
        leaks = 0
        for cls, value in {tuple(x) for x in d["labels"]}:
            t = type_of(cls)
            res.total[t] += 1
            if present(value, masked):
                res.leaked[t] += 1
                leaks += 1
                res.misses[t].append((d["id"], value))
        if leaks:
            res.docs_leaking += 1
            res.doc_leaks[d["id"]] = leaks
        if all(f.reversible for f in plan.findings):
            token_map = {tok: f.value for tok, f in zip(tokens, plan.findings, strict=True)}
            out = restore_body(
                "application/json", "/v1/messages", token_map, masked_body.encode()
            ).body
            res.roundtrip_checked += 1
            if out != body.encode():
                res.roundtrip_failed.append(d["id"])
    return res
