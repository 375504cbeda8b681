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


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportCollector(), "aws-masker-report")
