"""Detection on real text: recall per type, false positives per MB, round trip, worst documents.

Reads the corpus that scripts/corpus_build.py writes (building it first if it is missing). Each
document goes, as the proxy sees it, as the text of an Anthropic Messages request body; the real
masker plans it, a memory store mints the tokens, and the real reply restorer puts the originals
back. A labelled value is *leaked* when its exact text is still in the masked document (not as
part of a longer run of letters, digits, ``_`` and ``-``); the unit is a distinct (document,
value) pair. A false positive is a span masked in a negative document. The round trip must give
the body back byte for byte for every document without a secret.

    .venv/bin/python scripts/corpus_report.py [--sample N] [--worst 15] [--misses TYPE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "addon"))

from awsmasker.body import Masker  # noqa: E402
from awsmasker.catalogue import BY_NAME, EC2_PREFIXES  # noqa: E402
from awsmasker.restore import restore_body  # noqa: E402
from awsmasker.store.memory import MemoryStore  # noqa: E402

from scripts.corpus_build import CACHE, build  # noqa: E402

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


def _present(value: str, text: str) -> bool:
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


def measure(docs: list[dict], masker: Masker | None = None) -> Result:
    masker = masker or Masker()
    res = Result()
    for d in docs:
        text = d["text"]
        body = json.dumps({"messages": [{"role": "user", "content": text}]}, ensure_ascii=False)
        plan = masker.plan(body, is_json=True)
        store = MemoryStore()
        tokens = [store.token_for(f) for f in plan.findings]
        masked_body = plan.apply(tokens)
        masked = json.loads(masked_body)["messages"][0]["content"]
        if d["kind"] == "neg":
            res.neg_bytes += len(text.encode())
            res.fp_spans += [(d["id"], f.type_name, f.value) for f in plan.findings]
            continue
        res.docs += 1
        leaks = 0
        for cls, value in {tuple(x) for x in d["labels"]}:
            t = type_of(cls)
            res.total[t] += 1
            if _present(value, masked):
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


def print_report(res: Result, worst: int, misses_of: str | None) -> None:
    print(f"{'type':<22}{'labelled':>9}{'leaked':>8}{'recall':>9}")
    for t in sorted(res.total):
        flag = "" if res.recall(t) >= TARGET_TYPE else "  < target"
        print(f"{t:<22}{res.total[t]:>9}{res.leaked[t]:>8}{res.recall(t):>9.4f}{flag}")
    n = sum(res.total.values())
    print(f"{'all types':<22}{n:>9}{sum(res.leaked.values()):>8}{res.recall_all:>9.4f}")
    print(
        f"documents: {res.docs} positive, {res.docs_leaking} leak at least one value;"
        f" negatives {res.neg_bytes / 1e6:.2f} MB"
    )
    print(f"false positives: {len(res.fp_spans)} spans = {res.fp_per_mb:.2f}/MB")
    for doc, t, v in res.fp_spans[:10]:
        print(f"  FP {t:<14} {v!r:<40} {doc}")
    print(
        f"round trip: {res.roundtrip_checked - len(res.roundtrip_failed)}/{res.roundtrip_checked}"
        " documents without a secret restored byte for byte"
    )
    if worst:
        print("worst documents (values leaked):")
        for doc, k in res.doc_leaks.most_common(worst):
            print(f"  {k:>4}  {doc}")
    shown = [misses_of] if misses_of else [t for t in sorted(res.misses) if res.misses[t]]
    for t in shown:
        ms = res.misses.get(t, [])
        print(f"misses of {t} ({len(ms)}):" + (" first 8" if not misses_of else ""))
        for doc, v in ms if misses_of else ms[:8]:
            print(f"  {v!r:<50} {doc}")
    fails = res.failures()
    print("targets: " + ("all met" if not fails else "MISSED: " + "; ".join(fails)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=1, help="build/read one document in N")
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--worst", type=int, default=15)
    ap.add_argument("--misses", default=None, help="list every miss of this type")
    args = ap.parse_args()
    path = args.corpus or CACHE / (
        "corpus.jsonl" if args.sample <= 1 else f"sample{args.sample}.jsonl"
    )
    if not path.exists():
        build(path, args.sample)
    res = measure(load(path))
    print_report(res, args.worst, args.misses)
    unknown = [t for t in res.total if t not in BY_NAME]
    if unknown:
        print(f"label classes with no catalogue type: {unknown}")
    sys.exit(1 if res.failures() else 0)


if __name__ == "__main__":
    main()
