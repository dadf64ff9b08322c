"""Repository hygiene: notebooks without outputs, environment.yml consistent with pyproject.toml."""
from __future__ import annotations

import json
import re
import sys
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


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [str(nb.relative_to(ROOT)) for nb in NOTEBOOKS if str(nb.relative_to(ROOT).with_suffix("")) not in toc]
    assert not missing, missing


def _pins(lines):
    out = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*\"?([A-Za-z0-9_.\-]+)\s*(==|>=|<=|~=|<|>)\s*([^\s\",;#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = (m.group(2), m.group(3))
    return out


def test_environment_yml_pins_match_pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    py_pins = _pins(declared)
    env_text = (ROOT / "environment.yml").read_text()
    env_pins = _pins(env_text.splitlines())
    assert "python=3.11" in env_text.replace(" ", "")
    shared = set(py_pins) & set(env_pins)
    assert {"torch", "plotly", "ipywidgets", "jupyterlab"} <= shared, shared
    for name in shared:
        assert env_pins[name] == py_pins[name], f"{name}: environment.yml {env_pins[name]} vs pyproject {py_pins[name]}"
    assert "-e ." in env_text or "- ." in env_text, "environment.yml must install the package itself"
