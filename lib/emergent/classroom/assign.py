"""``./course assign CHAPTER_OR_NOTEBOOK... --out DIR``: hand a chapter out as an assignment.

Writes, for every notebook:

* ``DIR/student/<name>.ipynb``: solutions removed (``{solution}`` blocks and cells tagged
  ``solution``), outputs cleared, each check cell reduced to ``answer = None`` and
  ``exercises.check("ID", answer, form=..., from_run=...)``: no expected value, no line computing it.
  Run in class it says "answer recorded" and whether the answer has the expected form. With
  ``practice=True`` the check cells keep their expected values (students see correct / not quite).
* ``DIR/autograder/<name>.json`` (teacher-private): per exercise its id, EXPR and the hidden lines
  computing it, tolerances, points, and whether EXPR depends on the student's own run.
* ``DIR/key/<name>.ipynb``: the student version with every answer filled in (``answer = EXPR``).

Unless ``check=False``, the key is then graded like a submission (one run of the notebook): it must
get full marks, and the expected values' forms (number, integer, tuple...) go into the student
copies' public checks and the reference values into the spec.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Callable

import nbformat

from . import notebook as nbk

NOTE = ("**Assignment copy.** Replace each `answer = None` with your answer (an expression computed "
        "from the notebook's variables where the exercise says so), run the notebook from the top, save "
        "it and hand in the `.ipynb` file. `exercises.check` records your answer and checks its form; "
        "the grader runs your notebook again from the top and compares each answer with the value "
        "computed in *your* run.")
NOTE_PRACTICE = ("**Practice copy.** Replace each `answer = None` with your answer and run the cell: "
                 "the check says whether it is correct.")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def resolve(targets: list[str], root: Path | None = None) -> list[Path]:
    """Notebooks named by paths (a notebook or a folder of them) or by number: ``4`` (a chapter),
    ``4.1``, ``2.5b`` (one notebook)."""
    root = root or repo_root()
    out: list[Path] = []
    for t in targets:
        p = Path(t)
        if p.suffix == ".ipynb" and p.is_file():
            out.append(p)
            continue
        if p.is_dir():
            nbs = sorted(q for q in p.glob("*.ipynb") if q.is_file())
            if not nbs:
                raise SystemExit(f"no notebook in {p}")
            out += nbs
            continue
        m = re.fullmatch(r"(\d+)(?:\.(\d+)([a-z]?))?", t)
        if not m:
            raise SystemExit(f"{t!r} is neither a notebook, a folder nor a chapter number like 4 or 4.1")
        chapters = sorted((root / "chapters").glob(f"{int(m.group(1)):02d}_*"))
        if not chapters:
            raise SystemExit(f"no chapter {m.group(1)} under {root / 'chapters'}")
        if m.group(2) is None:
            out += sorted(chapters[0].glob("*.ipynb"))
            continue
        prefix = f"{int(m.group(2)):02d}{m.group(3)}_"
        hits = sorted(chapters[0].glob(prefix + "*.ipynb"))
        if not hits:
            raise SystemExit(f"no notebook {t} ({chapters[0].name}/{prefix}*.ipynb)")
        out += hits
    return out


def _clear(cell) -> None:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata.pop("execution", None)


def remove_solutions(nb) -> None:
    """Drop every solution from ``nb`` (in place): cells tagged ``solution`` and ``{solution}``
    blocks inside other markdown cells (a notebook not yet migrated to the convention)."""
    cells = []
    for cell in nb.cells:
        if nbk.SOLUTION in nbk.tags(cell):
            continue
        if cell.cell_type == "markdown" and nbk.has_solution_block(cell.source):
            segs = nbk.split_markdown(cell.source)
            if segs is None:
                raise SystemExit("a {solution} fence is never closed: fix the notebook first")
            kept = [s.text for s in segs if not s.solution]
            if not kept:
                continue
            cell.source = "\n\n".join(kept)
        cells.append(cell)
    nb.cells = cells


def _versions(master, exercises: list[nbk.Exercise], forms: dict[str, str], practice: bool):
    """The student and key notebooks of ``master``."""
    by_cell = {e.cell: e for e in exercises}
    student = copy.deepcopy(master)
    key = copy.deepcopy(master)
    for i, ex in by_cell.items():
        f = forms.get(ex.id)
        student.cells[i].source = ex.master_source if practice else ex.student_source(f)
        key.cells[i].source = ex.key_source(f)
    # reference answers in code cells tagged solution stay in the key only
    for nb, note in ((student, NOTE_PRACTICE if practice else NOTE), (key, None)):
        for c in nb.cells:
            _clear(c)
        if note:
            cell = nbformat.v4.new_markdown_cell(note)
            cell.metadata["tags"] = ["assignment-note"]
            cell.pop("id", None)
            nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    remove_solutions(student)
    for nb in (student, key):
        for k, c in enumerate(nb.cells):  # fresh, unique cell ids
            c["id"] = hashlib.sha1(f"{k}/{c.source}".encode()).hexdigest()[:8]
        nb.metadata.pop("widgets", None)
    return student, key


def spec_of(path: Path, master, exercises: list[nbk.Exercise], practice: bool) -> dict:
    skip = [nbk.source_hash(c.source) for c in master.cells
            if c.cell_type == "code" and (nbk.GRADER_SKIP in nbk.tags(c) or nbk.SOLUTION in nbk.tags(c))]
    try:
        source = str(path.resolve().relative_to(repo_root()))
    except ValueError:
        source = str(path)
    return {"format": "emergent-autograder/1", "notebook": path.name, "source": source,
            "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "mode": "practice" if practice else "graded", "skip_hashes": skip,
            "exercises": [e.spec() for e in exercises]}


def assign(targets: list[str], out: Path, *, practice: bool = False, check: bool = True, timeout: float = 300,
           log: Callable[[str], None] = print) -> dict[str, dict]:
    """Write ``out/student``, ``out/key`` and ``out/autograder`` for the notebooks ``targets``.

    Returns the specs by notebook name. Raises ``SystemExit`` when a key does not get full marks.
    """
    from .grade import grade_notebook

    out = Path(out)
    paths = resolve(targets)
    for sub in ("student", "key", "autograder"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    specs: dict[str, dict] = {}
    failed = []
    for path in paths:
        master = nbformat.read(str(path), as_version=4)
        try:
            exs = nbk.exercises(master)
        except nbk.ExerciseError as e:
            raise SystemExit(f"{path}: {e}") from None
        spec = spec_of(path, master, exs, practice)
        forms: dict[str, str] = {}
        student, key = _versions(master, exs, forms, practice)
        if check and exs:
            with tempfile.TemporaryDirectory() as tmp:
                key_path = Path(tmp) / path.name
                nbformat.write(key, str(key_path))
                row = grade_notebook(key_path, spec, student="key", timeout=timeout)
            for e in spec["exercises"]:
                r = row["exercises"][e["id"]]
                e["reference"] = r.get("expected")
                e["form"] = r.get("expected_form")
                if r.get("expected_form"):
                    forms[e["id"]] = r["expected_form"]
            student, key = _versions(master, exs, forms, practice)
            verdict = f"key graded {row['total']:g}/{row['max']:g} ({row['status']}) in {row['seconds']:.0f} s"
            if row["total"] != row["max"] or row["status"] != "ok":
                failed.append(f"{path.name}: {verdict}: {'; '.join(row['flags'])}")
        else:
            verdict = "key not run (--no-check)" if exs else "no exercise"
        nbformat.write(student, str(out / "student" / path.name))
        nbformat.write(key, str(out / "key" / path.name))
        (out / "autograder" / f"{path.stem}.json").write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n")
        specs[path.name] = spec
        n_run = sum(e.from_run for e in exs)
        log(f"[assign] {path.name}: {len(exs)} exercise(s) ({n_run} from the student's run), {verdict}")
    log(f"[assign] wrote {out}/student (hand out), {out}/key and {out}/autograder (keep private)")
    if failed:
        raise SystemExit("[assign] the key does not get full marks:\n  " + "\n  ".join(failed))
    return specs
