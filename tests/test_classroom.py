"""Classroom assignments (``./course assign`` / ``./course grade``, :mod:`emergent.classroom`).

What a teacher relies on: a student copy gives no answer away (no solution, no expected value), it
runs; the key gets full marks and an untouched copy 0; one wrong answer loses exactly its exercise;
answers computed from the student's own run are compared with that run (on any seed); a timeout, a
corrupt file, a missing check cell or a dying kernel is a row with a status. And the convention of
the master notebooks (each ``{solution}`` in its own cell tagged ``solution``) holds everywhere.

Fixture: ``tests/fixtures/classroom/toy.ipynb`` (a seeded "training run", three exercises); the real
chapter run is notebook 4.1, the fastest.
"""
from __future__ import annotations

import ast
import copy
import csv
import json
import os
from pathlib import Path

import nbformat
import pytest

from emergent import exercises as ex_mod
from emergent.classroom import notebook as nbk
from emergent.classroom.assign import assign
from emergent.classroom.grade import grade

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "classroom" / "toy.ipynb"
REAL = ROOT / "chapters" / "04_information_in_weights" / "01_how_much_does_a_network_remember.ipynb"
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

#: Notebooks not yet rewritten to the solution convention by ``scripts/mark_solutions.py`` (their
#: authors were editing them). Run the script on each, then delete its entry; empty the dict when done.
PENDING_MIGRATION: dict[str, str] = {}
QUIET = dict(log=lambda _: None)


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def check_cell(nb, ex_id: str):
    return next(c for c in nb.cells if c.cell_type == "code" and f'check("{ex_id}"' in c.source)


# --- the convention -------------------------------------------------------------------------------

def convention_problems(nb) -> list[str]:
    problems = [f"would change: {c}" for c in nbk.mark_solutions(copy.deepcopy(nb))]
    for i, c in enumerate(nb.cells):
        t = nbk.tags(c)
        if nbk.SOLUTION in t and c.cell_type == "markdown" and not nbk.is_lone_solution(c):
            problems.append(f"cell {i}: tagged solution but not one {{solution}} block alone")
        if nbk.SOLUTION in t and c.cell_type == "code" and nbk.REMOVE_CELL not in t:
            problems.append(f"cell {i}: a solution code cell must also be tagged {nbk.REMOVE_CELL!r}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_follows_the_solution_convention(path):
    if rel(path) in PENDING_MIGRATION:
        pytest.skip(f"not migrated yet ({PENDING_MIGRATION[rel(path)]}): python scripts/mark_solutions.py {rel(path)}")
    nb = nbformat.read(str(path), as_version=4)
    assert not convention_problems(nb), convention_problems(nb)
    nbk.exercises(nb)  # every check cell follows the convention too


def test_pending_migration_list_is_current():
    for name in PENDING_MIGRATION:
        path = ROOT / name
        if path.exists():
            assert convention_problems(nbformat.read(str(path), as_version=4)), \
                f"{name} follows the convention now: remove it from PENDING_MIGRATION"


def test_mark_solutions_splits_keeps_the_text_and_is_idempotent(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mark_solutions", ROOT / "scripts" / "mark_solutions.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = ("## Exercises\n\n```{exercise} A\n:label: a\n\nQ?\n```\n\n````{solution} a\n:class: dropdown\n\n"
            "Inner:\n\n```text\nx\n```\nA!\n````\n\n```{exercise} B\n:label: b\n\nQ2\n```\n"
            "::::{solution} b\nA2\n::::\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("1")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert script.main(["--check", str(path)]) == 1
    assert script.main([str(path)]) == 0
    assert "split" in capsys.readouterr().out
    cells = nbformat.read(str(path), as_version=4).cells
    kinds = [("solution" in nbk.tags(c), c.source.split("\n")[0]) for c in cells[:-1]]
    assert kinds == [(False, "## Exercises"), (True, "````{solution} a"), (False, "```{exercise} B"),
                     (True, "::::{solution} b")]
    assert all(c.source in text for c in cells[:-1])  # each piece verbatim
    lines = [ln for c in cells[:-1] for ln in c.source.split("\n") if ln.strip()]
    assert lines == [ln for ln in text.split("\n") if ln.strip()]  # nothing lost, nothing added
    before = path.read_bytes()
    assert script.main(["--check", str(path)]) == 0
    script.main([str(path)])
    assert path.read_bytes() == before


# --- student copies -------------------------------------------------------------------------------

def assert_gives_nothing_away(master_path: Path, student_path: Path, spec: dict) -> None:
    master = nbformat.read(str(master_path), as_version=4)
    student = nbformat.read(str(student_path), as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "{solution}" not in text
    assert not [c for c in student.cells if nbk.SOLUTION in nbk.tags(c)]
    for c in master.cells:  # no line of any solution, reference answer or hidden computation
        if c.cell_type == "markdown" and nbk.has_solution_block(c.source):
            for seg in nbk.split_markdown(c.source):
                if seg.solution:
                    body = [ln for ln in seg.text.split("\n")[1:-1] if len(ln.strip()) > 25]
                    assert not [ln for ln in body if ln in text], (student_path.name, body)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    public = "\n".join(c.source for c in master.cells if c.cell_type == "code" and not nbk.is_check_cell(c)
                       and nbk.SOLUTION not in nbk.tags(c))
    for e in spec["exercises"]:
        cell = check_cell(student, e["id"])
        call = [s for s in nbk.parse_code(cell.source).body if isinstance(s, ast.Expr)][-1].value
        assert len(call.args) == 2 and {k.arg for k in call.keywords} <= {"form", "from_run"}, cell.source
        hidden = [ln.strip() for ln in e["code"].split("\n") if ln.strip()] + [e["expr"]]
        leaked = [h for h in hidden if h in code and h not in public]
        assert not leaked, (student_path.name, e["id"], leaked)


def test_no_student_copy_of_any_chapter_gives_an_answer_away(tmp_path):
    specs = assign([str(p) for p in NOTEBOOKS], tmp_path, check=False, **QUIET)
    assert set(specs) == {p.name for p in NOTEBOOKS}
    for p in NOTEBOOKS:
        spec = specs[p.name]
        assert 1 <= len(spec["exercises"]), p.name
        assert_gives_nothing_away(p, tmp_path / "student" / p.name, spec)
        key = nbformat.read(str(tmp_path / "key" / p.name), as_version=4)
        for e in spec["exercises"]:
            assert f"answer = ({e['expr']})" in check_cell(key, e["id"]).source


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_assignment")
    specs = assign([str(TOY)], out, check=True, timeout=60, **QUIET)  # runs the key once
    return out, specs["toy.ipynb"]


def test_toy_student_copy(toy):
    out, spec = toy
    assert_gives_nothing_away(TOY, out / "student" / "toy.ipynb", spec)
    student = nbformat.read(str(out / "student" / "toy.ipynb"), as_version=4)
    text = json.dumps(student)
    assert "SECRET-SOLUTION-TEXT" not in text and "REFERENCE-ANSWER-CELL" not in text
    assert "math.log(6)" not in text and "best = min(losses)" not in text
    assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")
    by_id = {e["id"]: e for e in spec["exercises"]}
    assert [by_id[k]["from_run"] for k in ("T.1", "T.2", "T.3")] == [False, True, True]
    assert by_id["T.3"]["form"] == "tuple(integer >= 0, number in [0, 1])"
    assert 'form="tuple(integer >= 0, number in [0, 1])", from_run=True' in check_cell(student, "T.3").source


def test_public_checks_give_form_feedback_only(capsys):
    assert ex_mod.check("x", 0.5, form="number in [0, 1]") is None
    assert "answer recorded (a number (0.5)" in capsys.readouterr().out
    ex_mod.check("x", "0.5", form="number >= 0", from_run=True)
    out = capsys.readouterr().out
    assert "a single number is expected" in out and "your own run" in out
    ex_mod.check("x", (3, 0.2), form="tuple(integer >= 0, number in [0, 1])")
    assert "but" not in capsys.readouterr().out
    ex_mod.check("x", (3.5, 0.2), form="tuple(integer >= 0, number in [0, 1])")
    assert "whole number" in capsys.readouterr().out
    assert ex_mod.RECORDED["x"] == (3.5, 0.2)
    assert ex_mod.form_of(-2.0) == "number <= 0" and ex_mod.form_of(7) == "integer >= 0"
    assert ex_mod.matches((1, 2.0), [1, 2.001]) and not ex_mod.matches([1.0], 1.0)


def test_student_version_of_a_real_chapter_executes(tmp_path):
    from nbclient import NotebookClient

    assign([str(REAL)], tmp_path, check=False, **QUIET)
    nb = nbformat.read(str(tmp_path / "student" / REAL.name), as_version=4)
    env = {**os.environ, "EMERGENT_HEADLESS": "1", "EMERGENT_CACHE": str(tmp_path / "cache")}
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
    outputs = "".join(o.get("text", "") for c in nb.cells if nbk.is_check_cell(c) for o in c.outputs)
    assert outputs.count("not answered yet") == 4


# --- grading --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(toy, tmp_path_factory):
    out, spec = toy
    subs = tmp_path_factory.mktemp("submissions")
    key = nbformat.read(str(out / "key" / "toy.ipynb"), as_version=4)

    def variant(name: str, edit=None) -> None:
        nb = copy.deepcopy(key)
        if edit:
            edit(nb)
        nbformat.write(nb, str(subs / f"{name}.ipynb"))

    def times15(nb):
        c = check_cell(nb, "T.2")
        c.source = c.source.replace("answer = (", "answer = 1.5 * (", 1)

    def insert_after(ex_id: str, source: str):
        def edit(nb):
            nb.cells.insert(nb.cells.index(check_cell(nb, ex_id)) + 1, nbformat.v4.new_code_cell(source))
        return edit

    variant("key")
    nbformat.write(nbformat.read(str(out / "student" / "toy.ipynb"), as_version=4), str(subs / "untouched.ipynb"))
    variant("times15", times15)
    variant("slow", insert_after("T.1", "import time\ntime.sleep(300)"))
    def dies(nb):  # its kernel dies after T.1, and its T.3 check cell was deleted
        insert_after("T.1", "import os\nos._exit(1)")(nb)
        nb.cells.remove(check_cell(nb, "T.3"))

    variant("dies", dies)
    (subs / "corrupt.ipynb").write_text((subs / "key.ipynb").read_text()[:400])
    sheet = subs.parent / "grades.csv"
    rows = grade(out / "autograder", subs, sheet, timeout=5, seed=0, jobs=2, **QUIET)
    return {r["student"]: r for r in rows}, sheet


def points(row) -> dict:
    return {k: v["points"] for k, v in row["exercises"].items()}


def test_key_gets_full_marks_and_untouched_copy_zero(graded):
    rows, _ = graded
    assert rows["key"]["status"] == "ok" and rows["key"]["total"] == rows["key"]["max"] == 3
    assert not rows["key"]["flags"]  # the grader-skip cell (it raises) did not run
    assert rows["untouched"]["status"] == "ok" and rows["untouched"]["total"] == 0


def test_one_answer_times_1_5_loses_exactly_that_exercise(graded):
    rows, _ = graded
    assert points(rows["times15"]) == {"T.1": 1, "T.2": 0, "T.3": 1}


def test_cell_past_the_timeout_is_a_status_and_the_rest_is_graded(graded):
    rows, _ = graded
    assert rows["slow"]["status"] == "timeout"
    assert points(rows["slow"]) == {"T.1": 1, "T.2": 1, "T.3": 1}


def test_corrupt_dying_and_incomplete_notebooks_are_rows(graded):
    rows, sheet = graded
    assert rows["corrupt"]["status"] == "error" and rows["corrupt"]["total"] == 0
    assert "unreadable" in rows["corrupt"]["flags"][0]
    assert rows["dies"]["status"] == "kernel-died" and points(rows["dies"]) == {"T.1": 1, "T.2": 0, "T.3": 0}
    assert any("T.2: not graded (the kernel died" in f for f in rows["dies"]["flags"])
    assert any("T.3: check cell missing" in f for f in rows["dies"]["flags"])
    with sheet.open() as f:
        table = {r["student"]: r for r in csv.DictReader(f)}
    assert set(table) == set(rows)
    assert list(table["key"])[:2] == ["student", "notebook"]
    assert (table["times15"]["T.2"], table["times15"]["total"], table["times15"]["max"]) == ("0", "2", "3")
    assert table["corrupt"]["status"] == "error"
    assert (sheet.parent / "graded" / "key.ipynb").exists()


def test_answers_from_the_run_are_graded_on_any_seed(toy, graded, tmp_path):
    out, spec = toy
    rows0, _ = graded
    typed = rows0["key"]["exercises"]["T.2"]["expected"]  # the seed-0 run's final loss, as printed
    key = nbformat.read(str(out / "key" / "toy.ipynb"), as_version=4)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(key, str(subs / "key.ipynb"))
    c = check_cell(key, "T.2")
    c.source = f'answer = {typed}\nexercises.check("T.2", answer)'
    nbformat.write(key, str(subs / "typed.ipynb"))
    rows = {r["student"]: r for r in grade(out / "autograder", subs, tmp_path / "g.csv", seed=1, jobs=2, **QUIET)}
    assert rows["key"]["total"] == 3 and rows["key"]["status"] == "ok"
    assert rows["key"]["exercises"]["T.2"]["expected"] != typed  # another seed, another run
    assert points(rows["typed"])["T.2"] == 0
    assert any("T.2: a typed-in number" in f for f in rows["typed"]["flags"])


# --- the students' website -------------------------------------------------------------------------

@pytest.mark.book
def test_student_site_hides_solutions_and_expected_values(tmp_path):
    """``./course build --student`` (``scripts/build_book.py --student``) on a two-page book with a
    local extension (its path must survive the copied config); the default build shows everything."""
    import subprocess
    import sys

    (tmp_path / "_ext").mkdir()
    (tmp_path / "_ext" / "mini_ext.py").write_text("def setup(app):\n    return {'parallel_read_safe': True}\n")
    (tmp_path / "_config.yml").write_text(
        "title: Mini\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: cache\n"
        "sphinx:\n  local_extensions:\n    mini_ext: _ext\n  extra_extensions:\n    - sphinx_exercise\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (tmp_path / "intro.md").write_text("# Mini\n\n```{exercise} Q\n:label: q\n\nWhat?\n```\n\n"
                                       "```{solution} q\n:class: dropdown\n\nSOLUTION-MARKER\n```\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell("from emergent import exercises\nHIDDEN = 41"),
        nbformat.v4.new_code_cell('answer = None   # the answer\nexercises.check("m.1", answer, HIDDEN + 1000001);')],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(tmp_path / "page.ipynb"))
    build = [sys.executable, str(ROOT / "scripts" / "build_book.py")]
    env = {**os.environ, "EMERGENT_HEADLESS": "1"}
    for extra in (["--student"], []):
        proc = subprocess.run(build + extra + [str(tmp_path), "-W", "-n", "--keep-going"], capture_output=True,
                              text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = {k: (tmp_path / d / "intro.html").read_text() + (tmp_path / d / "page.html").read_text()
            for k, d in (("student", "_build/student/_build/html"), ("default", "_build/html"))}
    assert "What?" in html["student"] and "SOLUTION-MARKER" not in html["student"]
    assert "1000001" not in html["student"] and "not answered yet" in html["student"]
    assert "SOLUTION-MARKER" in html["default"] and "1000001" in html["default"]
