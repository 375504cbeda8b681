"""Writes ``test-report/summary.md`` after every pytest run: pass/fail counts and durations per
suite (test file), the slowest tests, and the latest benchmark figures found in ``test-report/``."""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections import defaultdict
from pathlib import Path

import pytest

REPORT_DIR = Path(
    os.environ.get("AWS_MASKER_REPORT_DIR", Path(__file__).resolve().parent.parent / "test-report")
)


class ReportCollector:
    def __init__(self) -> None:
        self.by_suite: dict[str, dict[str, float]] = defaultdict(
            lambda: {"passed": 0, "failed": 0, "skipped": 0, "error": 0, "seconds": 0.0}
        )
        self.durations: list[tuple[float, str]] = []
        self.deselected = 0
        self.selected = 0

    def pytest_deselected(self, items) -> None:
        self.deselected += len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items) -> None:
        self.selected = len(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        suite = report.nodeid.split("::", 1)[0]
        row = self.by_suite[suite]
        row["seconds"] += report.duration
        if report.when == "call":
            self.durations.append((report.duration, report.nodeid))
            row[report.outcome] += 1
        elif report.failed:
            row["error"] += 1
        elif report.skipped:
            row["skipped"] += 1

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.by_suite:
            return
        REPORT_DIR.mkdir(exist_ok=True)
        lines = [
            "# aws-masker test report",
            "",
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} · Python {platform.python_version()}"
            f" · exit status {exitstatus}",
            "",
            # under xdist the workers collect: count what they ran
            *selection_lines(session.config, self.selected or len(self.durations),
                             self.deselected),
            "",
            "| suite | passed | failed | errors | skipped | seconds |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        total = defaultdict(float)
        for suite, row in sorted(self.by_suite.items()):
            lines.append(f"| {suite} | {row['passed']:.0f} | {row['failed']:.0f} | "
                         f"{row['error']:.0f} | {row['skipped']:.0f} | {row['seconds']:.1f} |")
            for k, v in row.items():
                total[k] += v
        lines.append(f"| **total** | {total['passed']:.0f} | {total['failed']:.0f} | "
                     f"{total['error']:.0f} | {total['skipped']:.0f} | {total['seconds']:.1f} |")
        lines += ["", "## Slowest tests", ""]
        for secs, nodeid in sorted(self.durations, reverse=True)[:10]:
            lines.append(f"- {secs:.1f} s `{nodeid}`")
        benches = sorted(REPORT_DIR.glob("bench-*.md"))
        if benches:
            lines += ["", "## Latest benchmark figures", ""]
            for b in benches:
                lines += [f"### {b.name}", "", b.read_text(encoding="utf-8").strip(), ""]
        (REPORT_DIR / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def selection_lines(config: pytest.Config, selected: int, deselected: int) -> list[str]:
    """What part of the suite this run is: the whole of it, or the filters and paths that
    narrowed it and how many tests (or test files) they left out."""
    filters = []
    if config.option.keyword:
        filters.append(f"`-k {config.option.keyword}`")
    if config.option.markexpr:
        filters.append(f"`-m {config.option.markexpr}`")
    root = Path(str(config.rootpath))
    testpaths = [root / p for p in config.getini("testpaths")] or [root]
    args = [Path(a.split("::", 1)[0]).resolve() for a in config.args]
    narrowed = [a for a in args if a not in testpaths]
    if not filters and not narrowed:
        return [f"Selection: the whole suite ({selected} tests)."]
    parts = []
    if filters:
        parts.append(f"filtered by {' and '.join(filters)}: {selected} tests run, "
                     f"{deselected} left out")
    if narrowed:
        every = sum(len(list(p.rglob("test_*.py"))) for p in testpaths if p.is_dir())
        named = ", ".join(f"`{a.relative_to(root) if a.is_relative_to(root) else a}`"
                          for a in narrowed)
        parts.append(f"only {named} (of {every} test files in the suite)")
    return [f"**Selection: part of the suite** — {'; '.join(parts)}. "
            f"Counts below are for this part only."]


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportCollector(), "aws-masker-report")
