"""Reading the course's master notebooks: solution blocks, exercise check cells, widget-only cells.

The convention (enforced by ``tests/test_classroom.py``, applied by ``scripts/mark_solutions.py``):

* every ``{solution}`` block of sphinx-exercise sits alone in a markdown cell tagged ``solution``;
* a code cell tagged ``solution`` (and ``remove-cell``, so the website hides it) may hold a
  reference answer;
* a code cell that only builds a widget is tagged ``grader-skip``;
* an exercise's check cell sets ``answer = None`` and calls ``exercises.check("ID", answer, EXPR)``
  (``rtol=``/``atol=`` optional). Its other lines, if any, compute EXPR. Cell metadata
  ``{"grader": {"points": 2, "from_run": true}}`` overrides the defaults (1 point; ``from_run``
  inferred: whether EXPR reads a variable of the notebook rather than only modules and functions).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import nbformat

SOLUTION = "solution"
GRADER_SKIP = "grader-skip"
REMOVE_CELL = "remove-cell"
EXPECTED_NAME = "__emergent_expected__"

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{solution\}")
_CHECK_CALL = "exercises.check"
WIDGET_CALLS = ("live", "select", "run_button")


def tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def add_tag(cell: Any, tag: str) -> bool:
    """Add ``tag`` to ``cell`` (in place); return whether it was new."""
    t = tags(cell)
    if tag in t:
        return False
    cell.setdefault("metadata", {})["tags"] = t + [tag]
    return True


# --- solution blocks -------------------------------------------------------------------------------

@dataclass
class Segment:
    text: str
    solution: bool


def split_markdown(source: str) -> list[Segment] | None:
    """Split a markdown cell into segments: each ``{solution}`` block alone, the text between kept.

    Blank lines between segments are dropped (they only separate blocks); every other character is
    kept as it is. Returns ``None`` when a solution fence is never closed.
    """
    lines = source.split("\n")
    segments: list[Segment] = []
    buf: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            buf.append(lines[i])
            i += 1
            continue
        char, n = m.group("fence")[0], len(m.group("fence"))
        close = re.compile(r"^ {0,3}" + re.escape(char) + "{" + str(n) + r",}\s*$")
        j = next((k for k in range(i + 1, len(lines)) if close.match(lines[k])), None)
        if j is None:
            return None
        segments.append(Segment("\n".join(buf), False))
        segments.append(Segment("\n".join(lines[i:j + 1]), True))
        buf = []
        i = j + 1
    segments.append(Segment("\n".join(buf), False))
    out = []
    for s in segments:
        text = s.text
        if not s.solution:
            text = _strip_blank_lines(text)
            if not text:
                continue
        out.append(Segment(text, s.solution))
    return out


def _strip_blank_lines(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def has_solution_block(source: str) -> bool:
    return any(_OPEN.match(line) for line in source.split("\n"))


def is_lone_solution(cell: Any) -> bool:
    """Whether a markdown cell holds exactly one ``{solution}`` block and nothing else."""
    if cell.cell_type != "markdown" or not has_solution_block(cell.source):
        return False
    segs = split_markdown(cell.source)
    return segs is not None and len(segs) == 1 and segs[0].solution


def _new_id(base: str, k: int, taken: set[str]) -> str:
    n = 0
    while True:
        cid = hashlib.sha1(f"{base}/{k}/{n}".encode()).hexdigest()[:8]
        if cid not in taken:
            taken.add(cid)
            return cid
        n += 1


def mark_solutions(nb: Any) -> list[str]:
    """Rewrite ``nb`` (in place) to the convention: each solution block in its own markdown cell
    tagged ``solution``. Idempotent. Returns what it changed, one line per change."""
    changes: list[str] = []
    taken = {c.get("id") for c in nb.cells if c.get("id")}
    cells = []
    for idx, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or not has_solution_block(cell.source):
            if cell.cell_type == "markdown" and SOLUTION in tags(cell):
                changes.append(f"cell {idx}: markdown tagged {SOLUTION!r} without a solution block (left as is)")
            cells.append(cell)
            continue
        segs = split_markdown(cell.source)
        if segs is None:
            changes.append(f"cell {idx}: a {{solution}} fence is never closed (left as is)")
            cells.append(cell)
            continue
        if len(segs) == 1:
            if add_tag(cell, SOLUTION):
                changes.append(f"cell {idx}: tagged {SOLUTION!r}")
            cells.append(cell)
            continue
        base_tags = [t for t in tags(cell) if t != SOLUTION]
        for k, seg in enumerate(segs):
            if k == 0:
                new = cell
                new.source = seg.text
                if SOLUTION in tags(new):
                    if base_tags:
                        new.metadata["tags"] = list(base_tags)
                    else:
                        del new.metadata["tags"]
            else:
                new = nbformat.v4.new_markdown_cell(seg.text)
                if cell.get("id"):
                    new["id"] = _new_id(cell["id"], k, taken)
                elif "id" in new:
                    del new["id"]
            if seg.solution:
                add_tag(new, SOLUTION)
            cells.append(new)
        n_sol = sum(s.solution for s in segs)
        changes.append(f"cell {idx}: split into {len(segs)} cells ({n_sol} solution block(s) on their own)")
    nb.cells = cells
    return changes


# --- python helpers --------------------------------------------------------------------------------

def parse_code(source: str) -> ast.Module | None:
    """Parse a code cell (IPython magics and shell lines blanked out); ``None`` on a syntax error."""
    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def bound_names(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                out.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, ast.arg):
            out.add(n.arg)
    return out


def loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def free_names(tree: ast.AST) -> set[str]:
    """Names a cell reads without binding them itself (approximately: ignores scopes)."""
    return loaded_names(tree) - bound_names(tree)


def static_names(nb: Any) -> set[str]:
    """Names the notebook binds by ``import``, ``def`` or ``class`` at top level: modules and
    functions, not data of a run."""
    out: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = parse_code(cell.source)
        if tree is None:
            continue
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                out |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(stmt.name)
    return out


def _is_widget_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in WIDGET_CALLS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "widgets")


def widget_only_cells(nb: Any) -> list[int]:
    """Indices of code cells that only build a widget: the cell ends with ``widgets.live``,
    ``widgets.select`` or ``widgets.run_button``, binds nothing a later cell reads, mutates nothing it
    did not create, and is no exercise. Such cells can be skipped when grading."""
    code = [(i, c, parse_code(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    out = []
    for k, (i, cell, tree) in enumerate(code):
        if tree is None or not tree.body or _CHECK_CALL in cell.source:
            continue
        last = tree.body[-1]
        if not (isinstance(last, ast.Expr) and _is_widget_call(last.value)):
            continue
        if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(tree)):
            continue
        mine = {n for stmt in tree.body for n in bound_names(stmt)}
        mutates_other = False
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for n in ast.walk(stmt):
                if isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, ast.Store):
                    root = n.value
                    while isinstance(root, (ast.Attribute, ast.Subscript)):
                        root = root.value
                    if not (isinstance(root, ast.Name) and root.id in mine):
                        mutates_other = True
        if mutates_other:
            continue
        later: set[str] = set()
        for _, _, t in code[k + 1:]:
            if t is None:  # a later cell we cannot read: be safe
                later = mine
                break
            later |= free_names(t)
        if mine & later:
            continue
        out.append(i)
    return out


def mark_grader_skip(nb: Any) -> list[str]:
    """Tag every widget-only cell (:func:`widget_only_cells`) ``grader-skip``; return the changes."""
    changes = []
    for i in widget_only_cells(nb):
        if add_tag(nb.cells[i], GRADER_SKIP):
            changes.append(f"cell {i}: tagged {GRADER_SKIP!r} (widget only)")
    return changes


def source_hash(source: str) -> str:
    """A hash of a cell's source, blind to whitespace at line ends and blank lines."""
    norm = "\n".join(ln.rstrip() for ln in source.strip().split("\n") if ln.strip())
    return hashlib.sha1(norm.encode()).hexdigest()[:16]


# --- exercises -------------------------------------------------------------------------------------

class ExerciseError(ValueError):
    """A check cell that does not follow the convention."""


@dataclass
class Exercise:
    id: str
    cell: int
    expr: str
    code: str
    rtol: float
    atol: float
    points: float
    from_run: bool
    answer_line: str
    key_body: str
    master_source: str
    form: str | None = None
    reference: str | None = None
    extra: dict = field(default_factory=dict)

    def check_call(self, form: str | None = None) -> str:
        args = [json.dumps(self.id, ensure_ascii=False), "answer"]
        f = form if form is not None else self.form
        if f:
            args.append(f"form={json.dumps(f, ensure_ascii=False)}")
        if self.from_run:
            args.append("from_run=True")
        return f"exercises.check({', '.join(args)});"

    def student_source(self, form: str | None = None) -> str:
        return f"{self.answer_line}\n{self.check_call(form)}"

    def key_source(self, form: str | None = None) -> str:
        return f"{self.key_body}\n{self.check_call(form)}"

    def spec(self) -> dict:
        d = asdict(self)
        for k in ("key_body", "master_source", "extra"):
            d.pop(k)
        return d


def _is_check(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "check"
            and ((isinstance(f.value, ast.Name) and f.value.id == "exercises")
                 or (isinstance(f.value, ast.Attribute) and f.value.attr == "exercises")))


def _statements(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    for stmt in body:
        yield stmt
        for name in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(stmt, name, []) or [])
        for h in getattr(stmt, "handlers", []) or []:
            yield from _statements(h.body)


def is_check_cell(cell: Any) -> bool:
    return cell.cell_type == "code" and _CHECK_CALL in cell.source


def parse_exercise(cell: Any, index: int, static: set[str]) -> Exercise:
    """Read one master check cell (see the module's docstring)."""
    src = cell.source
    tree = parse_code(src)
    if tree is None:
        raise ExerciseError(f"cell {index}: cannot parse the check cell")
    lines = src.split("\n")
    checks = [s for s in _statements(tree.body) if isinstance(s, ast.Expr) and _is_check(s.value)]
    if len(checks) != 1:
        raise ExerciseError(f"cell {index}: {len(checks)} exercises.check calls (want exactly one, as a statement)")
    stmt = checks[0]
    call = stmt.value
    if not call.args or not isinstance(call.args[0], ast.Constant) or not isinstance(call.args[0].value, str):
        raise ExerciseError(f"cell {index}: the first argument of exercises.check must be the exercise id, a string")
    ex_id = call.args[0].value
    if len(call.args) < 2 or not (isinstance(call.args[1], ast.Name) and call.args[1].id == "answer"):
        raise ExerciseError(f"cell {index} ({ex_id}): the second argument of exercises.check must be `answer`")
    kw = {k.arg: k.value for k in call.keywords}
    expected = call.args[2] if len(call.args) > 2 else kw.get("expected")
    if expected is None:
        raise ExerciseError(f"cell {index} ({ex_id}): no expected value (is this already a student copy?)")
    tol = {"rtol": 1e-2, "atol": 1e-3}
    for pos, name in ((3, "rtol"), (4, "atol")):
        node = call.args[pos] if len(call.args) > pos else kw.get(name)
        if node is not None:
            try:
                tol[name] = float(ast.literal_eval(node))
            except ValueError:
                raise ExerciseError(f"cell {index} ({ex_id}): {name} must be a number literal") from None
    answers = [s for s in tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
               and isinstance(s.targets[0], ast.Name) and s.targets[0].id == "answer"]
    if not answers:
        raise ExerciseError(f"cell {index} ({ex_id}): no top-level `answer = None` line")
    ans = answers[0]
    expr = ast.get_source_segment(src, expected)
    ans_lines = set(range(ans.lineno - 1, ans.end_lineno))
    chk_first, chk_last = stmt.lineno - 1, stmt.end_lineno - 1
    indent = " " * stmt.col_offset
    hidden, key = [], []
    for k, line in enumerate(lines):
        if k in ans_lines:
            key.append(line)
            continue
        if chk_first <= k <= chk_last:
            if k == chk_first:
                hidden.append(f"{indent}{EXPECTED_NAME} = ({expr})")
                key.append(f"{indent}answer = ({expr})")
            continue
        hidden.append(line)
        key.append(line)
    code = "\n".join(hidden).strip("\n")
    htree = parse_code(code)
    if htree is None:
        raise ExerciseError(f"cell {index} ({ex_id}): the hidden code does not parse")
    reads = free_names(htree) - set(dir(builtins)) - static
    meta = cell.get("metadata", {}).get("grader", {}) or {}
    answer_line = "\n".join(lines[ans.lineno - 1:ans.end_lineno])
    return Exercise(id=ex_id, cell=index, expr=expr, code=code, rtol=tol["rtol"], atol=tol["atol"],
                    points=float(meta.get("points", 1)), from_run=bool(meta.get("from_run", bool(reads))),
                    answer_line=answer_line, key_body="\n".join(key).rstrip("\n"), master_source=src,
                    extra={"reads": sorted(reads)})


def exercises(nb: Any) -> list[Exercise]:
    """Every exercise check cell of a master notebook, in order. Raises :class:`ExerciseError` on a
    check cell that does not follow the convention, a duplicate id, or a name bound by a check cell's
    hidden lines that a later cell reads (the student copy would not have it)."""
    static = static_names(nb)
    out = []
    for i, cell in enumerate(nb.cells):
        if is_check_cell(cell) and SOLUTION not in tags(cell):
            out.append(parse_exercise(cell, i, static))
    ids = [e.id for e in out]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ExerciseError(f"duplicate exercise ids: {dup}")
    code = [(i, parse_code(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for ex in out:
        tree = parse_code(ex.code)
        helpers = {n for stmt in tree.body for n in bound_names(stmt)} - {EXPECTED_NAME}
        later: set[str] = set()
        for i, t in code:
            if i > ex.cell and t is not None:
                later |= free_names(t)
        if helpers & later:
            raise ExerciseError(f"{ex.id}: later cells read {sorted(helpers & later)}, computed in its check "
                                "cell, which the student copy leaves out: compute them in an earlier cell")
    return out


def check_cell_pattern(ex_id: str) -> re.Pattern:
    """Finds the check call of exercise ``ex_id`` in a (student's) cell."""
    return re.compile(r"check\(\s*(['\"])" + re.escape(ex_id) + r"\1")


def literal_answer(source: str) -> bool:
    """Whether a check cell sets ``answer`` to a bare number (or a tuple/list of numbers)."""
    tree = parse_code(source)
    if tree is None:
        return False
    value = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "answer" for t in stmt.targets):
            value = stmt.value
    if value is None:
        return False

    def numeric(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, (int, float, complex)) and not isinstance(node.value, bool)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return numeric(node.operand)
        if isinstance(node, (ast.Tuple, ast.List)):
            return bool(node.elts) and all(numeric(e) for e in node.elts)
        return False

    return numeric(value)
