"""The students' website (``./course build --student``): check cells without their expected values.

sphinx-exercise's ``hide_solutions`` hides the ``{solution}`` blocks; the code of a check cell would
still show how its expected value is computed. :func:`read_student` is MyST-NB's reader of ``.ipynb``
files in that build (``nb_custom_formats``): it rewrites every check cell as in a student copy
(``answer = None`` and ``exercises.check("ID", answer)``). ``scripts/build_book.py --student``
executes the notebooks rewritten the same way, so the execution cache matches.
"""
from __future__ import annotations

from typing import Any

import nbformat

from .notebook import exercises


def student_view(nb: Any) -> Any:
    """``nb`` (in place, and returned) with every check cell reduced to its student form."""
    for ex in exercises(nb):
        nb.cells[ex.cell].source = ex.student_source()
    return nb


def read_student(text: str) -> Any:
    """MyST-NB reader: a notebook's JSON text, read and rewritten by :func:`student_view`."""
    return student_view(nbformat.reads(text, as_version=4))
