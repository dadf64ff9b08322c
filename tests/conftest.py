"""Test configuration: headless widgets, and a per-notebook timing table at the end of the run.

The table names every notebook over the budget of the ground rules (``NOTEBOOK_BUDGET_S``: 120 s at
the fast scale inside ``./course test``, 2 workers, cold cache).
"""
from __future__ import annotations

import os
from collections import defaultdict

os.environ.setdefault("EMERGENT_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

NOTEBOOK_BUDGET_S = float(os.environ.get("EMERGENT_NOTEBOOK_BUDGET", 120))
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
        over = "  OVER BUDGET" if secs > NOTEBOOK_BUDGET_S else ""
        tr.write_line(f"{secs:8.1f}  {path}{'  FAILED' if path in _failed else ''}{over}")
    tr.write_line(f"{sum(_durations.values()):8.1f}  total over {len(_durations)} notebooks")
    over = [p for p, s in _durations.items() if s > NOTEBOOK_BUDGET_S]
    if over:
        tr.write_line(f"notebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {', '.join(sorted(over))}", red=True)
    else:
        tr.write_line(f"every notebook within the {NOTEBOOK_BUDGET_S:.0f} s budget")

