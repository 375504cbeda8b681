"""A mitmweb/mitmproxy content view that shows a masked body with its tokens marked.

Tokens are wrapped in ``⟦…⟧`` and a header line counts them per type, so a reviewer sees at a
glance what the addon replaced. It shows tokens only, never originals.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter

from mitmproxy import contentviews

from awsmasker.tokens import TOKEN_RE

OPEN, CLOSE = "⟦", "⟧"


def mark_tokens(text: str) -> tuple[str, Counter[str]]:
    counts: Counter[str] = Counter()

    def mark(m) -> str:
        counts[m.group("type")] += 1
        return f"{OPEN}{m.group(0)}{CLOSE}"

    return TOKEN_RE.sub(mark, text), counts


class MaskedBodyContentview(contentviews.Contentview):
    @property
    def name(self) -> str:
        return "aws-masker"

    @property
    def syntax_highlight(self) -> contentviews.SyntaxHighlight:
        return "yaml"  # mitmproxy highlights JSON with its YAML highlighter

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        text = data.decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        marked, counts = mark_tokens(text)
        if counts:
            summary = ", ".join(f"{t}×{n}" for t, n in sorted(counts.items()))
            header = f"# aws-masker: {sum(counts.values())} tokens ({summary})"
        else:
            header = "# aws-masker: no tokens"
        return f"{header}\n{marked}"

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        # Chosen by default (above the JSON view's 1) only for bodies that carry tokens.
        if len(data) <= 8 * 1024 * 1024 and TOKEN_RE.search(data.decode("utf-8", "replace")):
            return 1.5
        return -1


class MaskerContentview:
    """Addon that registers the content view for the life of the proxy."""

    def __init__(self) -> None:
        self.view = MaskedBodyContentview()

    def load(self, loader) -> None:
        contentviews.add(self.view)
