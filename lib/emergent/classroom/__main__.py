"""Command line: ``python -m emergent.classroom assign|grade ...`` (what ``./course assign|grade`` run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("assign", help="write student copies, a key and the autograder's spec",
                       description="Write DIR/student (hand out), DIR/key and DIR/autograder (keep private).")
    a.add_argument("targets", nargs="+", metavar="CHAPTER_OR_NOTEBOOK",
                   help="a notebook, a chapter folder, or a number: 4 (chapter 4), 4.1, 2.5b")
    a.add_argument("--out", required=True, type=Path, help="the assignment folder to write")
    a.add_argument("--practice", action="store_true",
                   help="keep the expected values in the checks (students see correct / not quite)")
    a.add_argument("--no-check", dest="check", action="store_false",
                   help="do not run the key once to check it gets full marks (and to learn the answers' forms)")
    a.add_argument("--timeout", type=float, default=300, help="per-cell timeout of the key's run (s, default 300)")
    g = sub.add_parser("grade", help="grade a folder of submissions into a CSV grade sheet",
                       description="Run every submission in a fresh kernel and grade it (offline). "
                                   "This executes the students' code: see book/teaching.md.")
    g.add_argument("autograder", type=Path, help="DIR/autograder written by assign")
    g.add_argument("submissions", type=Path,
                   help="a folder of <student>.ipynb, or of <student>/ folders with the notebooks")
    g.add_argument("--csv", required=True, type=Path, help="the grade sheet to write")
    g.add_argument("--graded", type=Path, default=None,
                   help="where the executed notebooks go (default: graded/ next to the CSV)")
    g.add_argument("--timeout", type=float, default=300, help="per-cell timeout in seconds (default 300)")
    g.add_argument("--seed", type=int, default=0, help="the seed fixed before each run (default 0)")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded at a time (default 1)")
    g.add_argument("--kernel", default="python3", help="the Jupyter kernel to run them in (default python3)")
    g.add_argument("--shared-cache", action="store_true",
                   help="let runs use (and fill) the course's results cache instead of an empty one each")
    args = p.parse_args(argv)
    if args.cmd == "assign":
        from .assign import assign

        assign(args.targets, args.out, practice=args.practice, check=args.check, timeout=args.timeout)
        return 0
    from .grade import grade

    grade(args.autograder, args.submissions, args.csv, graded=args.graded, timeout=args.timeout, seed=args.seed,
          jobs=args.jobs, kernel_name=args.kernel, shared_cache=args.shared_cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
