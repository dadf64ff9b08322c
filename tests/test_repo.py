"""Repository hygiene: notebooks without outputs, the house standard, the table of contents.

(The lock and what installs it are checked in test_lock.py.)"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


def test_notebooks_are_committed_without_outputs():
    dirty = []
    for nb in NOTEBOOKS:
        if ".ipynb_checkpoints" in nb.parts:
            continue
        cells = json.loads(nb.read_text())["cells"]
        if any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"):
            dirty.append(str(nb.relative_to(ROOT)))
    assert not dirty, f"strip outputs (jupyter nbconvert --clear-output --inplace): {dirty}"


def test_notebooks_follow_the_house_standard():
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        src = "".join(first_code["source"])
        assert "emergent.scale()" in src and "describe" in src, f"{nb.name}: first code cell must pick the scale"
        text = "".join("".join(c["source"]) for c in cells)
        assert "{exercise}" in text, f"{nb.name}: needs exercises"
        assert "torchvision" not in "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code" and
                                            "import torchvision" in "".join(c["source"])), nb.name


def test_notebook_links_open_in_jupyterlab_too():
    # {doc} shows as raw text in JupyterLab (jupyterlab-myst); a Markdown link to the file works in both
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "{doc}`" not in text, f"{nb.name}: use [Title](path.ipynb) instead of {{doc}}"


def code_cells():
    """``(where, source)`` for every code cell of every notebook; ``where`` names notebook and cell."""
    for nb in NOTEBOOKS:
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            if c["cell_type"] == "code":
                yield f"{nb.relative_to(ROOT)} cell {i}", "".join(c["source"])


def test_notebook_code_lines_fit_the_website_column():
    # issue 15: code lines over 100 characters scroll sideways on the website
    long = [f"{where}: {len(line)} chars" for where, src in code_cells()
            for line in src.splitlines() if len(line) > 100]
    assert not long, "\n".join(long)


def test_no_notebook_fixes_a_figure_width():
    # issue 15: a figure with a fixed width (say width=900) reaches past the website's column; the
    # figures size to their column instead (tests/test_book.py checks the widest pages in a browser)
    fixed = [f"{where}: {m.group(0)}" for where, src in code_cells()
             for m in re.finditer(r"(?<![\w.])width\s*=\s*\d{3,}", src)]
    assert not fixed, "\n".join(fixed)


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [str(nb.relative_to(ROOT)) for nb in NOTEBOOKS if str(nb.relative_to(ROOT).with_suffix("")) not in toc]
    assert not missing, missing
