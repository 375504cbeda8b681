"""The test report that the README's test command writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_report_counts_each_suite_and_includes_benchmarks(tmp_path):
    (tmp_path / "bench-example.md").write_text("| mode | ratio |\n|---|---|\n| addon | 0.97 |\n")
    env = {**os.environ, "AWS_MASKER_REPORT_DIR": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_config.py",
         "-k", "host_matching or bad_values"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    report = (tmp_path / "summary.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| tests/test_config.py"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    passed = int(re.search(r"(\d+) passed", p.stdout).group(1))  # what pytest itself counted
    assert passed > 1 and int(cells[1]) == passed and cells[2] == "0"
    assert "## Latest benchmark figures" in report and "| addon | 0.97 |" in report
    # the report says it is a part of the suite, how it was narrowed and what was left out
    deselected = int(re.search(r"(\d+) deselected", p.stdout).group(1))
    assert "**Selection: part of the suite**" in report
    assert f"`-k host_matching or bad_values`: {passed} tests run, {deselected} left out" in report
    assert "only `tests/test_config.py` (of " in report


def test_report_of_the_whole_suite_says_so():
    import pytest

    from tests.report_plugin import selection_lines

    config = pytest.Config.fromdictargs({}, [])
    config.args = [str(ROOT / "tests")]
    config.option.keyword = ""
    config.option.markexpr = ""
    assert selection_lines(config, 12, 0) == ["Selection: the whole suite (12 tests)."]


def test_readme_catalogue_lists_every_type():
    from awsmasker.catalogue import CATALOGUE, EC2_PREFIXES

    readme = (ROOT / "README.md").read_text()
    prefix_of = {t: p for p, t in EC2_PREFIXES.items()}
    for entry in CATALOGUE:
        name = entry.type_name
        listed = f"| {name} |" in readme or f"| {name}," in readme
        if name in prefix_of:
            listed = listed or f"`{prefix_of[name]}-`" in readme
        assert listed, f"README's catalogue table does not mention {name}"
