"""``./course grade AUTOGRADER SUBMISSIONS --csv grades.csv``: grade a folder of submissions, offline.

Each submission runs in a fresh kernel (nbclient; errors allowed; a per-cell timeout; cells tagged
``grader-skip`` or ``solution`` left out, also when a student's copy lost its tags; seeds fixed;
``EMERGENT_HEADLESS=1``; its own empty results cache unless ``shared_cache``). Right after each
exercise's check cell a hidden cell (:mod:`emergent.classroom.kernel`) computes the expected value in
the *same* kernel and compares. A notebook that cannot be read, a missing check cell, a cell past the
timeout or a kernel that dies give a row with a status, never a crash of the whole run.

SUBMISSIONS is a folder of ``<student>.ipynb`` (one notebook per student), or of ``<student>/``
folders holding the assignment's notebooks under their own names.

Grading runs the students' code: run it as a separate user or in a container (``book/teaching.md``).
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import nbformat

from . import notebook as nbk
from .kernel import MIME

STATUSES = ("ok", "cell-error", "timeout", "kernel-died", "error")
GRADER_TAG = "grader"
_TIMEOUT_NAME = "GraderTimeout"


def load_specs(autograder: Path) -> dict[str, dict]:
    """The assignment's specs (``autograder/*.json``), by notebook file name."""
    autograder = Path(autograder)
    files = [autograder] if autograder.is_file() else sorted(autograder.glob("*.json"))
    specs = {}
    for f in files:
        spec = json.loads(f.read_text())
        if spec.get("format") != "emergent-autograder/1":
            continue
        specs[spec["notebook"]] = spec
    if not specs:
        raise SystemExit(f"no autograder spec (*.json written by `./course assign`) in {autograder}")
    return specs


def discover(submissions: Path, specs: dict[str, dict]) -> list[tuple[str, Path, str | None]]:
    """(student, notebook file, spec name or None) for every submitted notebook."""
    submissions = Path(submissions)
    names = sorted(specs)

    def match(path: Path, only: bool) -> tuple[str | None, str]:
        if path.name in specs:
            return path.name, ""
        for n in names:
            stem = Path(n).stem
            if stem in path.stem:
                return n, path.stem.replace(stem, "").strip("_- .")
        if only and len(names) == 1:
            return names[0], path.stem
        return None, path.stem

    def notebooks(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.suffix == ".ipynb" and p.is_file()
                      and not p.name.startswith("."))

    out: list[tuple[str, Path, str | None]] = []
    if submissions.is_file():
        spec, rest = match(submissions, True)
        return [(rest or submissions.stem, submissions, spec)]
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or entry.name == ".ipynb_checkpoints":
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            spec, rest = match(entry, True)
            out.append((rest or entry.stem, entry, spec))
        elif entry.is_dir():
            nbs = notebooks(entry)
            for p in nbs:
                spec, _ = match(p, len(nbs) == 1)
                out.append((entry.name, p, spec))
    return out


def _hidden_setup(seed: int) -> Any:
    cell = nbformat.v4.new_code_cell(
        f'__import__("emergent.classroom.kernel", fromlist=["setup"]).setup({int(seed)})')
    cell.metadata["tags"] = [GRADER_TAG]
    return cell


def _hidden_grade(ex: dict) -> Any:
    cell = nbformat.v4.new_code_cell(
        f'__import__("emergent.classroom.kernel", fromlist=["grade"]).grade(\n'
        f'    {ex["id"]!r}, {ex["code"]!r},\n'
        f'    {float(ex["rtol"])!r}, {float(ex["atol"])!r}, globals(), {float(ex["points"])!r})')
    cell.metadata["tags"] = [GRADER_TAG]
    cell.metadata["emergent_grader"] = {"exercise": ex["id"]}
    return cell


def prepare(sub: Any, spec: dict, seed: int) -> tuple[Any, dict[str, int], set[int], dict[str, str]]:
    """The notebook to run: the submission with outputs cleared, a seeding cell first and a hidden
    grading cell after each exercise's (last) check cell. Returns it, the index of each exercise's
    grading cell, the indices of the cells not to run, and each exercise's check-cell source."""
    skip_hashes = set(spec.get("skip_hashes", []))
    cells = [_hidden_setup(seed)]
    skipped: set[int] = set()
    for cell in sub.cells:
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            t = nbk.tags(cell)
            if nbk.GRADER_SKIP in t or nbk.SOLUTION in t or GRADER_TAG in t or \
                    nbk.source_hash(cell.source) in skip_hashes:
                skipped.add(len(cells))
        cells.append(cell)
    where: dict[str, int] = {}
    sources: dict[str, str] = {}
    for ex in spec["exercises"]:
        pat = nbk.check_cell_pattern(ex["id"])
        hits = [i for i, c in enumerate(cells) if c.cell_type == "code" and i not in skipped and pat.search(c.source)]
        if hits:
            where[ex["id"]] = hits[-1]
            sources[ex["id"]] = cells[hits[-1]].source
    # insert the grading cells from the bottom up, so that earlier indices stay valid
    order = sorted(spec["exercises"], key=lambda e: where.get(e["id"], -1), reverse=True)
    for ex in order:
        if ex["id"] in where:
            at = where[ex["id"]] + 1
            cells.insert(at, _hidden_grade(ex))
            skipped = {i + 1 if i >= at else i for i in skipped}
    grade_at = {c.metadata["emergent_grader"]["exercise"]: i for i, c in enumerate(cells)
                if c.cell_type == "code" and "emergent_grader" in c.metadata}
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(sub.get("metadata", {})))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb, grade_at, skipped, sources


def _row(student: str, spec_name: str | None, spec: dict | None) -> dict:
    exs = spec["exercises"] if spec else []
    return {"student": student, "notebook": spec_name or "", "status": "ok", "flags": [],
            "total": 0.0, "max": float(sum(e["points"] for e in exs)),
            "exercises": {e["id"]: {"id": e["id"], "points": 0.0, "max": float(e["points"])} for e in exs},
            "seconds": 0.0}


def grade_notebook(path: Path, spec: dict | None, *, student: str | None = None, timeout: float = 300,
                   seed: int = 0, kernel_name: str = "python3", shared_cache: bool = False,
                   graded_path: Path | None = None, spec_name: str | None = None) -> dict:
    """Grade one submitted notebook; return its row (never raises for a bad submission)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    t0 = time.perf_counter()
    path = Path(path)
    student = student or path.stem
    row = _row(student, spec_name or (spec or {}).get("notebook"), spec)
    if spec is None:
        row.update(status="error", flags=[f"{path.name}: not a notebook of this assignment"])
        return row
    try:
        sub = nbformat.read(str(path), as_version=4)
        if not isinstance(sub.get("cells"), list):
            raise ValueError("no list of cells")
    except Exception as e:  # truncated JSON, not a notebook, unreadable file...
        row.update(status="error", flags=[f"unreadable notebook: {type(e).__name__}: {str(e)[:200]}"])
        row["seconds"] = round(time.perf_counter() - t0, 1)
        return row
    try:
        nb, grade_at, skipped, sources = prepare(sub, spec, seed)
    except Exception as e:  # a malformed cell
        row.update(status="error", flags=[f"malformed notebook: {type(e).__name__}: {str(e)[:200]}"])
        row["seconds"] = round(time.perf_counter() - t0, 1)
        return row

    errors: list[int] = []
    timeouts: list[int] = []

    def on_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
        if (execute_reply or {}).get("content", {}).get("ename") == _TIMEOUT_NAME:
            timeouts.append(cell_index)
        else:
            errors.append(cell_index)

    def cell_timeout(cell: Any) -> int:
        return int(max(timeout, 120) if GRADER_TAG in nbk.tags(cell) else timeout)

    status, flags = "ok", []
    with tempfile.TemporaryDirectory(prefix="emergent-grade-") as work:
        env = {**os.environ, "EMERGENT_HEADLESS": "1", "PYTHONHASHSEED": str(seed), "MPLBACKEND": "Agg"}
        if not shared_cache:
            env["EMERGENT_CACHE"] = str(Path(work) / "cache")
        client = NotebookClient(
            nb, timeout=int(timeout), timeout_func=cell_timeout, kernel_name=kernel_name, allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=180, record_timing=False, shutdown_kernel="immediate",
            error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": f"a cell ran past the timeout of {timeout:g} s",
                              "traceback": []},
            on_cell_error=on_error, resources={"metadata": {"path": work}})
        ran_to = -1
        try:
            with client.setup_kernel(env=env, cwd=work):
                for i, cell in enumerate(nb.cells):
                    ran_to = i
                    if cell.cell_type != "code" or i in skipped:
                        continue
                    client.execute_cell(cell, i, execution_count=None)
            ran_to = len(nb.cells)
        except DeadKernelError:
            status = "kernel-died"
            flags.append(f"the kernel died in cell {ran_to} (the cells after it did not run)")
        except Exception as e:  # the kernel would not start, a lost connection...
            status = "error"
            flags.append(f"execution stopped in cell {ran_to}: {type(e).__name__}: {str(e)[:200]}")
    ex_cells = set(grade_at.values())
    student_errors = [i for i in errors if i not in ex_cells]
    if status == "ok" and timeouts:
        status = "timeout"
    if timeouts:
        flags.append(f"cell(s) {', '.join(map(str, timeouts))} ran past the {timeout:g} s timeout (interrupted)")
    if status == "ok" and student_errors:
        status = "cell-error"
    if student_errors:
        flags.append(f"cell(s) {', '.join(map(str, student_errors))} raised an error")

    for ex in spec["exercises"]:
        res = row["exercises"][ex["id"]]
        if ex["id"] not in grade_at:
            res["error"] = "no check cell for this exercise in the submission"
            flags.append(f"{ex['id']}: check cell missing")
            continue
        cell = nb.cells[grade_at[ex["id"]]]
        data = next((o.get("data", {}).get(MIME) for o in cell.get("outputs", [])
                     if o.get("output_type") == "display_data" and MIME in o.get("data", {})), None)
        if data is None:
            why = ("the kernel died before it" if status == "kernel-died" else
                   "its check ran past the timeout" if grade_at[ex["id"]] in timeouts else
                   "the grading cell did not run")
            res["error"] = f"not graded: {why}"
            flags.append(f"{ex['id']}: not graded ({why})")
            continue
        res.update(data)
        if data.get("error"):
            flags.append(f"{ex['id']}: {data['error']}")
        if ex.get("from_run") and data.get("answered") and nbk.literal_answer(sources.get(ex["id"], "")):
            res["literal"] = True
            flags.append(f"{ex['id']}: a typed-in number where an expression from the run is expected (review)")
    row["total"] = float(sum(r.get("points", 0.0) for r in row["exercises"].values()))
    row["status"], row["flags"] = status, flags
    row["seconds"] = round(time.perf_counter() - t0, 1)
    if graded_path is not None:
        graded_path.parent.mkdir(parents=True, exist_ok=True)
        nb.metadata["emergent_grade"] = {k: row[k] for k in ("student", "notebook", "status", "total", "max", "flags")}
        nbformat.write(nb, str(graded_path))
    return row


def _grade_job(args: tuple) -> dict:
    path, spec, kwargs = args
    return grade_notebook(path, spec, **kwargs)


def columns(specs: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(column name, notebook, exercise id) of every exercise column of the grade sheet."""
    prefix = len(specs) > 1
    return [(f"{Path(n).stem}:{e['id']}" if prefix else e["id"], n, e["id"])
            for n in sorted(specs) for e in specs[n]["exercises"]]


def write_csv(rows: list[dict], specs: dict[str, dict], path: Path) -> None:
    cols = columns(specs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", *[c[0] for c in cols], "total", "max", "status", "flags", "seconds"])
        for r in rows:
            cells = []
            for _, n, ex_id in cols:
                cells.append(f"{r['exercises'][ex_id]['points']:g}" if r["notebook"] == n and ex_id in r["exercises"]
                             else "")
            w.writerow([r["student"], r["notebook"], *cells, f"{r['total']:g}", f"{r['max']:g}", r["status"],
                        "; ".join(r["flags"]), f"{r['seconds']:.1f}"])


def grade(autograder: Path, submissions: Path, csv_path: Path, *, graded: Path | None = None,
          timeout: float = 300, seed: int = 0, jobs: int = 1, kernel_name: str = "python3",
          shared_cache: bool = False, log: Callable[[str], None] = print) -> list[dict]:
    """Grade every submission; write the grade sheet ``csv_path`` and ``graded/<student>.ipynb``."""
    specs = load_specs(Path(autograder))
    found = discover(Path(submissions), specs)
    if not found:
        raise SystemExit(f"no submitted notebook (*.ipynb) in {submissions}")
    graded = Path(graded) if graded else Path(csv_path).resolve().parent / "graded"
    jobs_args = []
    for student, path, name in found:
        out = graded / (f"{student}.ipynb" if len(specs) == 1 else f"{student}/{name or path.name}")
        kwargs = dict(student=student, timeout=timeout, seed=seed, kernel_name=kernel_name,
                      shared_cache=shared_cache, graded_path=out, spec_name=name)
        jobs_args.append((path, specs.get(name) if name else None, kwargs))
    t0 = time.perf_counter()
    log(f"[grade] {len(found)} submission(s), {sum(len(s['exercises']) for s in specs.values())} exercise(s), "
        f"cell timeout {timeout:g} s, seed {seed}, {jobs} at a time")
    rows: list[dict] = []

    def done(k: int, row: dict) -> None:
        rows.append(row)
        log(f"[grade] {k}/{len(found)} {row['student']} ({row['notebook'] or '?'}): "
            f"{row['total']:g}/{row['max']:g} {row['status']} in {row['seconds']:.1f} s"
            + (f" — {'; '.join(row['flags'])}" if row["flags"] else ""))

    if jobs > 1 and len(jobs_args) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for k, row in enumerate(pool.map(_grade_job, jobs_args), 1):
                done(k, row)
    else:
        for k, a in enumerate(jobs_args, 1):
            done(k, _grade_job(a))
    write_csv(rows, specs, Path(csv_path))
    log(f"[grade] wrote {csv_path} ({len(rows)} row(s)) and {graded}/ in {time.perf_counter() - t0:.0f} s")
    return rows
