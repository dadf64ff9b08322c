"""Write a notebook from a list of cells: ``md("...")`` and ``code("...")``.

Authors may also edit notebooks in JupyterLab; this helper only makes writing them as plain text
easy. Outputs are never written (the build and the tests execute the notebooks).
"""
from __future__ import annotations

import sys
import textwrap

import nbformat


def md(src: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(src).strip("\n"))


def code(src: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(textwrap.dedent(src).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write(path: str, cells: list) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):  # stable ids so diffs stay small
        c["id"] = f"c{i:02d}"
    nbformat.write(nb, path)
    print("wrote", path, file=sys.stderr)
