"""Build the book like ``jupyter-book build``, with the notebooks executed in parallel first.

``jupyter-book build`` (1.x) executes notebooks one after another and has no ``-j`` option
(jupyter-book #1735). Sphinx's own parallel read does not work for this book: ``sphinx_proof`` cannot
merge its domain data across processes, and MyST-NB's forked readers share one SQLite connection to
the execution cache ("attempt to write a readonly database"). So this script does what MyST-NB's
``cache`` execution mode would do, only ``--jobs`` notebooks at a time:

1. every notebook of ``_toc.yml`` whose code is not in the execution cache
   (``<output>/_build/.jupyter_cache``, where MyST-NB looks) is executed exactly as MyST-NB executes
   it (``jupyter_cache``'s ``single_nb_execution`` in the notebook's folder, the book's cell timeout,
   errors not allowed), in a pool of ``--jobs`` processes; the parent alone writes the results to the
   cache (one writer for SQLite);
2. ``jupyter-book build`` then finds every notebook in the cache and only renders. A notebook that
   failed in step 1 is not cached, so step 2 executes it again and fails the build with its traceback.

    python scripts/build_book.py [--jobs N] ROOT [jupyter-book build options...]

e.g. ``python scripts/build_book.py --jobs 2 . -W -n --keep-going --path-output /tmp/book``.
``--jobs`` defaults to ``$JOBS``, else 2. Progress: one line per notebook as it finishes.

``--preview ROOT [options]`` builds the site without executing anything (text and code, a note on every
page that the outputs are coming) into ``ROOT/_build/preview/_build/html``: what a cold
``./course serve`` shows while the notebooks run.

``--student`` (first, or after ``--jobs N``) builds the site for students: the same book with
sphinx-exercise's ``hide_solutions`` on and every exercise check cell without its expected value
(read through ``emergent.classroom.site``), from a copy of ``_config.yml`` with those overrides (its
relative extension paths made absolute), into ``ROOT/_build/student/_build/html`` unless
``--path-output`` says otherwise. It shares the default build's execution cache (where the two
versions of a notebook are cached side by side).
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


def toc_notebooks(root: Path) -> list[Path]:
    """The ``.ipynb`` files that ``_toc.yml`` lists, in its order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def book_settings(root: Path) -> tuple[int, bool]:
    """The per-cell timeout and ``allow_errors`` of ``_config.yml`` (jupyter-book's defaults otherwise)."""
    import yaml

    execute = (yaml.safe_load((root / "_config.yml").read_text()) or {}).get("execute", {}) or {}
    return int(execute.get("timeout", 30)), bool(execute.get("allow_errors", False))


def _read(path: str | Path, student: bool = False):
    """A notebook as MyST-NB reads it: as it is, or for the students' site (check cells without
    their expected values, ``emergent.classroom.site``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if student:
        from emergent.classroom.site import student_view

        nb = student_view(nb)
    return nb


def _execute(path: str, timeout: int, allow_errors: bool,
             student: bool = False) -> tuple[str, dict | None, float, str | None]:
    """Run one notebook as MyST-NB does (in a worker process); return it executed, or the error."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = _read(path, student)
    res = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=allow_errors,
                              meta_override=True)
    if res.err is not None:
        return path, None, res.time, res.exc_string
    return path, nb, res.time, None


def execute_notebooks(root: Path, output: Path, jobs: int, student: bool = False) -> int:
    """Step 1: execute the uncached notebooks ``jobs`` at a time into the execution cache.

    Returns the number of notebooks that failed (they are left out of the cache). ``student``: the
    notebooks as the students' site reads them.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(output / "_build" / ".jupyter_cache"))
    todo = []
    for path in toc_notebooks(root):
        try:
            cache.match_cache_notebook(_read(path, student))
        except KeyError:
            todo.append(path)
    if not todo:
        print("[book] every notebook is in the execution cache", flush=True)
        return 0
    timeout, allow_errors = book_settings(root)
    print(f"[book] executing {len(todo)} notebook(s), {jobs} at a time", flush=True)
    failed = 0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, str(p), timeout, allow_errors, student) for p in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            path, nb, seconds, err = fut.result()
            rel = Path(path).relative_to(root)
            if err is not None:
                failed += 1
                print(f"[book] {k}/{len(todo)} FAILED after {seconds:.0f} s: {rel} "
                      "(the build below shows the traceback)", flush=True)
                continue
            record = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"[book] {k}/{len(todo)} executed in {seconds:5.0f} s: {rel}", flush=True)
    print(f"[book] notebooks executed in {time.perf_counter() - t0:.0f} s", flush=True)
    return failed


def _config_copy(root: Path, edit, prefix: str) -> Path:
    """A copy of ``root/_config.yml`` changed by ``edit(config)``, its extension paths made absolute
    (the copy lives elsewhere), written to a temporary folder; returns its path."""
    import tempfile

    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    sphinx = config.setdefault("sphinx", {}) or {}
    config["sphinx"] = sphinx
    local = sphinx.get("local_extensions") or {}
    sphinx["local_extensions"] = {name: str((root / path).resolve()) for name, path in local.items()} or None
    if sphinx["local_extensions"] is None:
        del sphinx["local_extensions"]
    edit(config)
    path = Path(tempfile.mkdtemp(prefix=prefix)) / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def student_config(root: Path, cache: Path) -> Path:
    """A copy of ``root/_config.yml`` for the students' site: solutions hidden (sphinx-exercise's
    ``hide_solutions``), the execution cache ``cache`` shared with the default build."""
    def edit(config: dict) -> None:
        sphinx = config["sphinx"]
        sphinx.setdefault("config", {})["hide_solutions"] = True
        # check cells without their expected values (emergent.classroom.site)
        sphinx["config"]["nb_custom_formats"] = {".ipynb": "emergent.classroom.site.read_student"}
        config.setdefault("execute", {})["cache"] = str(cache)

    return _config_copy(root, edit, "emergent-student-book-")


PREVIEW_NOTE = ("The notebooks are still running: this page shows their text and code, not yet their "
                "figures. Reload in a few minutes.")


def preview_config(root: Path) -> Path:
    """A copy of ``root/_config.yml`` that executes nothing and says so on every page: the site a cold
    ``./course serve`` shows while the notebooks run."""
    def edit(config: dict) -> None:
        config.setdefault("execute", {})["execute_notebooks"] = "off"
        config.setdefault("html", {})["announcement"] = PREVIEW_NOTE

    return _config_copy(root, edit, "emergent-preview-book-")


def main(argv: list[str]) -> None:
    jobs = int(os.environ.get("JOBS", "2"))
    student = False
    if argv[:1] == ["--student"]:
        student, argv = True, argv[1:]
    if argv[:1] == ["--jobs"]:
        jobs, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--student"]:
        student, argv = True, argv[1:]
    if argv[:1] == ["--preview"]:
        # text and code only, nothing executed, into ROOT/_build/preview/_build/html
        root = Path((argv[1:] or ["."])[0]).resolve()
        from jupyter_book.cli import main as jb_cli

        jb_cli.main(["build", str(root), "--config", str(preview_config(root)), "--path-output",
                     str(root / "_build" / "preview"), *argv[2:]], standalone_mode=True)
        return
    if jobs < 1:
        raise SystemExit(f"--jobs must be >= 1, got {jobs}")
    argv = argv or ["."]
    root = Path(argv[0]).resolve()
    output = root
    if "--path-output" in argv:
        output = Path(argv[argv.index("--path-output") + 1]).resolve()
    if student:
        # the students' site: its own config and output, the default build's execution cache
        cache = output / "_build" / ".jupyter_cache"
        if "--config" not in argv:
            argv = [*argv, "--config", str(student_config(root, cache))]
        if "--path-output" not in argv:
            argv = [*argv, "--path-output", str(root / "_build" / "student")]
        print(f"[book] students' site (solutions hidden): "
              f"{Path(argv[argv.index('--path-output') + 1]) / '_build' / 'html'}", flush=True)
    execute_notebooks(root, output, jobs, student)
    from jupyter_book.cli import main as jb_cli

    jb_cli.main(["build", *argv], standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
