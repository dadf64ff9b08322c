"""Checking exercise answers in a notebook cell, without ever failing the notebook.

``check("1a", answer, expected)`` prints whether ``answer`` matches ``expected`` (numbers within a
tolerance, anything else by equality). An unanswered exercise (``answer is None``) prints a reminder.
The result is also returned (``True``, ``False`` or ``None``), so an autograder can collect it.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def check(name: str, answer: Any, expected: Any, rtol: float = 1e-2, atol: float = 1e-3) -> bool | None:
    if answer is None:
        print(f"Exercise {name}: not answered yet — replace None with your answer and run the cell again.")
        return None
    try:
        ok = bool(np.allclose(np.asarray(answer, dtype=float), np.asarray(expected, dtype=float),
                              rtol=rtol, atol=atol))
    except (TypeError, ValueError):
        ok = answer == expected
    print(f"Exercise {name}: " + ("correct." if ok else "not quite — try again (or open the solution)."))
    return ok
