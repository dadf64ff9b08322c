"""scripts/build_book.py's configuration copies (the preview of a cold ./course serve, the students'
site): what they change, and that their local extension paths still resolve from elsewhere."""
import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
build_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_book)


def test_preview_config_executes_nothing_and_says_so():
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg = yaml.safe_load(build_book.preview_config(ROOT).read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["html"]["announcement"] == build_book.PREVIEW_NOTE
    for name, path in cfg["sphinx"]["local_extensions"].items():
        assert Path(path).is_absolute() and (Path(path) / f"{name}.py").exists()
    # nothing else changes
    for key in ("title", "parse", "bibtex_bibfiles", "launch_buttons"):
        assert cfg[key] == original[key]


def test_student_config_hides_solutions_and_shares_the_cache(tmp_path):
    cfg = yaml.safe_load(build_book.student_config(ROOT, tmp_path / "cache").read_text())
    assert cfg["sphinx"]["config"]["hide_solutions"] is True
    assert cfg["execute"]["cache"] == str(tmp_path / "cache")
    assert cfg["execute"]["execute_notebooks"] == "cache"
