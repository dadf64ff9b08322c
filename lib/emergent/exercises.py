"""Checking exercise answers in a notebook cell, without ever failing the notebook.

``check("1a", answer, expected)`` prints whether ``answer`` matches ``expected`` (numbers within a
tolerance, anything else by equality). An unanswered exercise (``answer is None``) prints a reminder.
The result is also returned (``True``, ``False`` or ``None``).

In a student copy made by ``./course assign`` (see :mod:`emergent.classroom`) the expected value is
left out: ``check("1a", answer, form="number >= 0", from_run=True)`` records the answer and runs
only *public* checks that give nothing away (its form: number, integer, string, tuple, array shape;
its sign or range; whether it should be computed from the student's own run). The hidden value is
compared later, by ``./course grade``, in the same kernel. Every call records its answer in
:data:`RECORDED`, which is where the grader reads it.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

#: The answer of every ``check`` call of this kernel, by exercise name (the grader reads it).
RECORDED: dict[str, Any] = {}


class _Hidden:
    def __repr__(self) -> str:
        return "<hidden>"


#: Default of ``expected``: the value is hidden (a student copy); the answer is only recorded.
HIDDEN: Any = _Hidden()


def _plain(x: Any) -> Any:
    """A torch tensor as a NumPy array (anything else as it is)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        try:
            return x.detach().cpu().numpy()
        except Exception:
            return x
    return x


def matches(answer: Any, expected: Any, rtol: float = 1e-2, atol: float = 1e-3) -> bool:
    """Whether ``answer`` matches ``expected``: numbers (and arrays of the same shape) within
    ``rtol``/``atol`` as in :func:`numpy.allclose`, anything else (strings, objects) by equality."""
    answer, expected = _plain(answer), _plain(expected)
    try:
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        try:
            return bool(answer == expected)
        except Exception:  # an ambiguous or failing comparison is not a match
            return False
    if a.shape != e.shape:
        return False
    return bool(np.allclose(a, e, rtol=rtol, atol=atol))


def describe(value: Any) -> str:
    """A short description of a value for a student: its kind, and the value when it is small."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return f"a boolean ({bool(value)})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return f"a {kind} of {len(value)}"
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return f"an array of shape {tuple(value.shape)}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return f"a {type(value).__name__}"
    if isinstance(value, (int, np.integer)) or (hasattr(value, "dtype") and "int" in str(value.dtype)):
        return f"an integer ({int(x)})"
    return f"a number ({x:.4g})"


def form_of(value: Any) -> str:
    """The public *form* of an expected value, in the little language of :func:`form_problem`.

    ``number``, ``integer`` (each maybe with `` >= 0``, `` <= 0`` or `` in [0, 1]``), ``string``,
    ``boolean``, ``tuple(F1, F2, ...)``, ``array[d1, d2]``, or ``object:TYPENAME``.
    """
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (tuple, list)) and 0 < len(value) <= 6:
        return "tuple(" + ", ".join(form_of(v) for v in value) + ")"
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return "array[" + ", ".join(str(int(d)) for d in value.shape) + "]"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return f"object:{type(value).__name__}"
    integral = isinstance(value, (int, np.integer)) or (hasattr(value, "dtype") and "int" in str(value.dtype))
    kind = "integer" if integral else "number"
    if not math.isfinite(x):
        return kind
    if 0 <= x <= 1 and not integral:
        return f"{kind} in [0, 1]"
    if x >= 0:
        return f"{kind} >= 0"
    return f"{kind} <= 0"


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


_NUMERIC = re.compile(r"^(number|integer)(?:\s*(>=\s*0|<=\s*0|in\s*\[0,\s*1\]))?$")


def form_problem(answer: Any, form: str) -> str | None:
    """What is wrong with the *form* of ``answer`` (``None`` when nothing is): see :func:`form_of`."""
    form = form.strip()
    m = _NUMERIC.match(form)
    if m:
        kind, bound = m.group(1), (m.group(2) or "").replace(" ", "")
        want = "a single number" if kind == "number" else "a whole number (an integer)"
        if isinstance(answer, (str, bool, np.bool_)):
            return f"it is {describe(answer)}, and {want} is expected"
        try:
            a = np.asarray(answer, dtype=float)
        except (TypeError, ValueError, RuntimeError):
            return f"it is {describe(answer)}, and {want} is expected"
        if a.ndim != 0:
            return f"it is {describe(answer)}, and {want} is expected"
        x = float(a)
        if kind == "integer" and not (math.isfinite(x) and x == round(x)):
            return f"it is {x:.4g}, and a whole number is expected"
        if bound == ">=0" and x < 0:
            return "it is negative, and the answer is >= 0"
        if bound == "<=0" and x > 0:
            return "it is positive, and the answer is <= 0"
        if bound == "in[0,1]" and not 0 <= x <= 1:
            return "it is outside [0, 1], where the answer lies"
        return None
    if form == "string":
        return None if isinstance(answer, str) else f"it is {describe(answer)}, and a string is expected"
    if form == "boolean":
        ok = isinstance(answer, (bool, np.bool_))
        return None if ok else f"it is {describe(answer)}, and True or False is expected"
    if form.startswith("tuple(") and form.endswith(")"):
        items = _split_top(form[len("tuple("):-1])
        if not isinstance(answer, (tuple, list)) or len(answer) != len(items):
            return f"it is {describe(answer)}, and a tuple of {len(items)} is expected: {form}"
        for k, (a, f) in enumerate(zip(answer, items)):
            p = form_problem(a, f)
            if p:
                return f"in item {k} of the tuple, {p}"
        return None
    if form.startswith("array[") and form.endswith("]"):
        shape = tuple(int(d) for d in _split_top(form[len("array["):-1]))
        got = tuple(np.shape(answer)) if not isinstance(answer, str) else None
        return None if got == shape else f"it is {describe(answer)}, and an array of shape {shape} is expected"
    if form.startswith("object:"):
        name = form[len("object:"):]
        return None if type(answer).__name__ == name else f"it is {describe(answer)}, and a {name} is expected"
    return None


def check(name: str, answer: Any, expected: Any = HIDDEN, rtol: float = 1e-2, atol: float = 1e-3, *,
          form: str | None = None, from_run: bool = False) -> bool | None:
    """Check (or, in a student copy, record) the answer to exercise ``name``.

    With ``expected``: print and return whether ``answer`` matches it (:func:`matches`). Without it
    (a student copy): record the answer, print whether it has the expected ``form`` (see
    :func:`form_of`) and return ``None``; ``from_run`` says that the answer comes from the student's
    own run. ``answer is None`` always prints a reminder and returns ``None``.
    """
    RECORDED[name] = answer
    if answer is None:
        print(f"Exercise {name}: not answered yet — replace None with your answer and run the cell again.")
        return None
    if expected is HIDDEN:
        problem = form_problem(answer, form) if form else None
        if problem:
            msg = f"Exercise {name}: answer recorded, but {problem}."
        else:
            msg = f"Exercise {name}: answer recorded ({describe(answer)}"
            msg += f"; the expected form is {form})." if form else ")."
        if from_run:
            msg += (" This answer comes from your own run: compute it from the notebook's variables "
                    "(a typed-in number is flagged for review).")
        print(msg + " It is graded when you hand the notebook in.")
        return None
    ok = matches(answer, expected, rtol=rtol, atol=atol)
    print(f"Exercise {name}: " + ("correct." if ok else "not quite — try again (or open the solution)."))
    return ok
