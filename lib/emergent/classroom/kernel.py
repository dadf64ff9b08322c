"""What the grader runs *inside* a submission's kernel (``./course grade``).

:func:`setup` runs first (fixed seeds). Right after each exercise's check cell, :func:`grade` reads
the answer the student's ``exercises.check`` call recorded, computes the hidden expected value from
the same kernel's variables (so an answer that depends on the student's own run is compared with
that run), and publishes the result as one output of MIME type :data:`MIME`. The hidden lines run
in a copy of the notebook's namespace, with the random generators' states saved and restored, so
grading leaves the student's run as it was.
"""
from __future__ import annotations

import random
import traceback
from typing import Any

import numpy as np

MIME = "application/vnd.emergent.grade+json"
EXPECTED_NAME = "__emergent_expected__"
_MISSING = object()


def setup(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch, and forget any recorded answer."""
    from emergent import exercises
    from emergent.runtime import seed_everything

    seed_everything(seed)
    exercises.RECORDED.clear()
    print(f"[grader] seeds fixed to {seed}")


def _short(value: Any, n: int = 120) -> str:
    try:
        if isinstance(value, (float, np.floating)):
            text = f"{float(value):.6g}"
        elif hasattr(value, "detach"):
            text = repr(value.detach().cpu().numpy())
        else:
            text = repr(value)
    except Exception as e:  # a student's object whose repr fails
        text = f"<unprintable {type(value).__name__}: {type(e).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


def _rng_state() -> tuple:
    state: list = [random.getstate(), np.random.get_state()]
    try:
        import torch

        state.append(torch.get_rng_state())
        state.append(torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    except Exception:
        pass
    return tuple(state)


def _set_rng_state(state: tuple) -> None:
    random.setstate(state[0])
    np.random.set_state(state[1])
    if len(state) > 2:
        import torch

        torch.set_rng_state(state[2])
        if state[3] is not None:
            torch.cuda.set_rng_state_all(state[3])


def expected_value(code: str, namespace: dict) -> Any:
    """Run an exercise's hidden lines in a copy of ``namespace``; return the expected value."""
    state = _rng_state()
    scope = dict(namespace)
    try:
        exec(compile(code, "<expected value>", "exec"), scope)
    finally:
        _set_rng_state(state)
    if EXPECTED_NAME not in scope:
        raise LookupError("the hidden lines did not compute the expected value (a condition was false)")
    return scope[EXPECTED_NAME]


def grade(ex_id: str, code: str, rtol: float, atol: float, namespace: dict, points: float = 1.0) -> dict:
    """Grade exercise ``ex_id`` now; publish and return the result (see the module's docstring)."""
    from IPython.display import display

    from emergent import exercises

    res: dict[str, Any] = {"id": ex_id, "points": 0.0, "max": float(points), "answered": False,
                           "correct": False, "error": None}
    answer = exercises.RECORDED.get(ex_id, _MISSING)
    if answer is _MISSING:
        res["error"] = "the check cell did not run to its exercises.check call"
    elif answer is None:
        res["answered"] = False
    else:
        res["answered"] = True
        res["answer"] = _short(answer)
    try:
        expected = expected_value(code, namespace)
        res["expected"] = _short(expected)
        res["expected_form"] = exercises.form_of(expected)
    except BaseException as e:  # noqa: BLE001 - whatever the student's kernel state does to the hidden lines
        if isinstance(e, KeyboardInterrupt):
            raise
        res["error"] = res["error"] or ("the expected value could not be computed: "
                                        + "".join(traceback.format_exception_only(type(e), e)).strip())
        expected = _MISSING
    if res["answered"] and expected is not _MISSING:
        res["correct"] = exercises.matches(answer, expected, rtol=rtol, atol=atol)
        if res["correct"]:
            res["points"] = float(points)
    if not res["answered"] and res["error"] is None:
        verdict = "not answered"
    elif res["error"]:
        verdict = "not graded: " + res["error"]
    else:
        verdict = "correct" if res["correct"] else "wrong"
    line = (f"[grader] {ex_id}: {res['points']:g}/{points:g} {verdict}; answer {res.get('answer', '—')}, "
            f"expected {res.get('expected', '—')} (rtol {rtol:g}, atol {atol:g})")
    display({MIME: res, "text/plain": line}, raw=True)
    return res
