"""Classroom assignments: student copies, an offline autograder and a grade sheet.

* ``./course assign CHAPTER_OR_NOTEBOOK... --out DIR`` (:func:`assign`) writes ``DIR/student/``
  (solutions and expected values removed), ``DIR/key/`` (answers filled in) and the teacher-private
  ``DIR/autograder/*.json``.
* ``./course grade DIR/autograder SUBMISSIONS --csv grades.csv`` (:func:`grade`) runs every
  submission in a fresh kernel, evaluates each hidden expected value in that same kernel right after
  the student's check cell, and writes the grade sheet and ``graded/<student>.ipynb``.

The master notebooks follow the convention of :mod:`emergent.classroom.notebook` (solutions in their
own cells tagged ``solution``, ``grader-skip`` on widget-only cells); ``scripts/mark_solutions.py``
applies it. ``book/teaching.md`` is the teacher's guide. Grading executes students' code: contain it.
"""
from __future__ import annotations

from .assign import assign, resolve
from .grade import grade, grade_notebook
from .notebook import exercises, mark_grader_skip, mark_solutions

__all__ = ["assign", "exercises", "grade", "grade_notebook", "mark_grader_skip", "mark_solutions", "resolve"]
