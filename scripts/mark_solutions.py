"""Rewrite notebooks to the classroom convention (see ``emergent.classroom.notebook``).

* Every ``{solution}`` block of sphinx-exercise moves into its own markdown cell, tagged
  ``solution``. The text is kept exactly as it was; only the blank lines that separated the block
  from its neighbours become a cell boundary (the website renders the same).
* Every code cell that only builds a widget (``widgets.live``/``select``/``run_button`` last, binding
  nothing that a later cell reads) is tagged ``grader-skip`` (``--no-grader-skip`` to leave them).

Idempotent: a notebook that already follows the convention is left byte-for-byte as it is.

    python scripts/mark_solutions.py [--check] [--no-grader-skip] NOTEBOOK...

``--check`` writes nothing and exits 1 if any notebook would change.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat


def _load_convention():
    """``emergent.classroom.notebook``, loaded from its file (light: no torch, works uninstalled)."""
    path = Path(__file__).resolve().parents[1] / "lib" / "emergent" / "classroom" / "notebook.py"
    spec = importlib.util.spec_from_file_location("_emergent_classroom_notebook", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_conv = _load_convention()
mark_grader_skip, mark_solutions = _conv.mark_grader_skip, _conv.mark_solutions


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook would change")
    p.add_argument("--no-grader-skip", dest="grader_skip", action="store_false",
                   help="do not tag widget-only cells grader-skip")
    args = p.parse_args(argv)
    would_change = False
    for path in args.notebooks:
        raw = path.read_text(encoding="utf-8")
        nb = nbformat.reads(raw, as_version=4)
        changes = mark_solutions(nb)
        if args.grader_skip:
            changes += mark_grader_skip(nb)
        new = nbformat.writes(nb) + "\n"
        if new == raw:
            print(f"{path}: follows the convention")
            continue
        would_change = True
        for c in changes:
            print(f"{path}: {c}")
        if not args.check:
            path.write_text(new, encoding="utf-8")
    return 1 if (args.check and would_change) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
