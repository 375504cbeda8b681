#!/usr/bin/env python3
"""Detection on real text: build the corpus, measure the masker on it, or label files.

``build`` writes the corpus of AWS's own examples (positives, labelled by an independent
labeller) and of other packages' look-alikes (negatives) to ``.corpus/`` (git-ignored; the pinned
wheels are fetched once). ``report`` prints recall per type, false positives per MB, the round
trip and the worst documents (building the corpus first if it is missing); its exit status is 1
when a target of issue 14 is missed. ``labels`` prints what the labeller finds in text files.
``--sample N`` keeps one positive document in N and every negative (what CI runs).

    .venv/bin/python scripts/corpus.py build [--sample N] [--out FILE]
    .venv/bin/python scripts/corpus.py report [--sample N] [--worst 15] [--misses TYPE] [--depth D]
    .venv/bin/python scripts/corpus.py labels FILE... [--service S]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "addon")]

from awsmasker.catalogue import BY_NAME  # noqa: E402

from testsupport.labels import label  # noqa: E402
from testsupport.realcorpus import CACHE, TARGET_TYPE, Result, build, load, measure  # noqa: E402


def print_report(res: Result, worst: int, misses_of: str | None) -> None:
    print(f"{'type':<22}{'labelled':>9}{'leaked':>8}{'recall':>9}")
    for t in sorted(res.total):
        flag = "" if res.recall(t) >= TARGET_TYPE else "  < target"
        print(f"{t:<22}{res.total[t]:>9}{res.leaked[t]:>8}{res.recall(t):>9.4f}{flag}")
    print(f"{'all types':<22}{sum(res.total.values()):>9}{sum(res.leaked.values()):>8}"
          f"{res.recall_all:>9.4f}")
    print(f"documents: {res.docs} positive, {res.docs_leaking} leak at least one value;"
          f" negatives {res.neg_bytes / 1e6:.2f} MB")
    print(f"false positives: {len(res.fp_spans)} spans = {res.fp_per_mb:.2f}/MB")
    for doc, t, v in res.fp_spans[:10]:
        print(f"  FP {t:<14} {v!r:<40} {doc}")
    print(f"round trip: {res.roundtrip_checked - len(res.roundtrip_failed)}/"
          f"{res.roundtrip_checked} documents without a secret restored byte for byte")
    if worst:
        print("worst documents (values leaked):")
        for doc, k in res.doc_leaks.most_common(worst):
            print(f"  {k:>4}  {doc}")
    for t in [misses_of] if misses_of else [t for t in sorted(res.misses) if res.misses[t]]:
        ms = res.misses.get(t, [])
        print(f"misses of {t} ({len(ms)}):" + (" first 8" if not misses_of else ""))
        for doc, v in ms if misses_of else ms[:8]:
            print(f"  {v!r:<50} {doc}")
    if unknown := [t for t in res.total if t not in BY_NAME]:
        print(f"label classes with no catalogue type: {unknown}")
    fails = res.failures()
    print("targets: " + ("all met" if not fails else "MISSED: " + "; ".join(fails)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("build", "report"):
        p = sub.add_parser(name)
        p.add_argument("--sample", type=int, default=1, help="one document in N (CI: 15)")
        p.add_argument("--out" if name == "build" else "--corpus", type=Path, dest="path",
                       help="default: .corpus/corpus.jsonl, or sampleN.jsonl with --sample")
    p.add_argument("--worst", type=int, default=15)
    p.add_argument("--depth", type=int, default=1,
                   help="the text as JSON nested this deep in JSON strings (2: tool calls)")
    p.add_argument("--misses", default=None, help="list every miss of this type")
    p = sub.add_parser("labels", help="print the labels of text files, one a line")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--service", default="", help="the AWS service the files document")
    args = ap.parse_args()
    if args.command == "labels":
        prefixes: list[str] = []  # EC2's ID prefixes, from a built corpus if there is one
        if (corpus := CACHE / "corpus.jsonl").exists():
            with corpus.open(encoding="utf-8") as f:
                meta = [json.loads(ln) for ln in f if ln.startswith('{"id": "#ec2-prefixes"')]
            prefixes = meta[0]["prefixes"] if meta else []
        for path in args.files:
            for cls, value in sorted(label(path.read_text(encoding="utf-8"), prefixes,
                                           args.service)):
                print(f"{path}\t{cls}\t{value}")
        return 0
    path = args.path or CACHE / ("corpus.jsonl" if args.sample <= 1
                                 else f"sample{args.sample}.jsonl")
    if args.command == "build" or not path.exists():
        stats = build(path, args.sample)
        print(f"{path}: {stats['pos_docs']} documents, {stats['labels']} labelled values;"
              f" negatives {stats['neg_docs']} files, {stats['neg_bytes'] / 1e6:.2f} MB")
    if args.command == "build":
        return 0
    res = measure(load(path), depth=args.depth)
    print_report(res, args.worst, args.misses)
    return 1 if res.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
