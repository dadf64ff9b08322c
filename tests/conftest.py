"""Test configuration: headless widgets, and a per-notebook timing table at the end of the run."""
from __future__ import annotations

import os
from collections import defaultdict

os.environ.setdefault("EMERGENT_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_durations: dict[str, float] = defaultdict(float)
_failed: set[str] = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _durations[path] += report.duration
        if report.failed:
            _failed.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    tr = terminalreporter
    tr.section("notebook execution times (seconds, summed over cells)")
    for path, secs in sorted(_durations.items()):
        tr.write_line(f"{secs:8.1f}  {path}{'  FAILED' if path in _failed else ''}")
    tr.write_line(f"{sum(_durations.values()):8.1f}  total over {len(_durations)} notebooks")
