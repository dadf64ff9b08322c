"""Sphinx extension: ship every JavaScript asset the website needs, so it works with no network.

* plotly.js — copied from the installed ``plotly`` Python package into ``_static/plotly.min.js`` and
  loaded on every page *before* require.js (so it defines the global ``Plotly`` rather than an AMD
  module). Notebook figures are emitted by :mod:`emergent.viz` without an inlined plotly.js.
* require.js and the ipywidgets html-manager (``embed-amd.js`` and its fonts) — myst-nb adds them
  to pages with widgets through ``nb_ipywidgets_js`` in ``_config.yml``; this extension provides
  the files in ``_static``.
* MathJax 3 — served from ``_static/mathjax`` (``mathjax_path`` is set here).

The npm packages are fetched once with ``npm pack`` (npm's registry is the only network needed,
and only at the first build) into ``.cache/js`` (or ``$EMERGENT_JS_CACHE``) and copied at build time.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]

# npm package -> list of (path inside the package, destination inside _static)
PACKAGES = {
    "requirejs@2.3.8": [("require.js", "require.min.js")],
    "@jupyter-widgets/html-manager@1.0.15": [("dist", ".")],
    "mathjax@3.2.2": [("es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"), ("es5/input", "mathjax/input"),
                      ("es5/output/chtml", "mathjax/output/chtml"), ("es5/ui", "mathjax/ui"),
                      ("es5/a11y", "mathjax/a11y"), ("es5/adaptors", "mathjax/adaptors")],
}
SKIP_SUFFIXES = (".map", ".LICENSE.txt")
SKIP_NAMES = {"embed.js", "libembed-amd.js"}


def js_cache() -> Path:
    return Path(os.environ.get("EMERGENT_JS_CACHE", ROOT / ".cache" / "js"))


def package_dir(spec: str) -> Path:
    return js_cache() / spec.replace("/", "__").replace("@", "_at_").lstrip("_")


def ensure_package(spec: str) -> Path:
    """Unpack ``spec`` (``name@version``) into the cache with ``npm pack`` unless it is already there."""
    target = package_dir(spec)
    if (target / "package.json").exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"emergent_assets: {spec} is not in {js_cache()} and npm is not installed. "
                           "Install Node.js/npm (or run scripts/fetch_js.sh on a machine with npm and copy .cache/js).")
    tmp = js_cache() / "_tgz"
    tmp.mkdir(parents=True, exist_ok=True)
    logger.info(f"emergent_assets: fetching {spec} with npm pack")
    out = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", str(tmp)], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tmp / out) as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    (staging / "package").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    (tmp / out).unlink()
    return target


def copy_tree(src: Path, dst: Path) -> None:
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return
    for path in src.rglob("*"):
        if path.is_dir() or path.name in SKIP_NAMES or path.name.endswith(SKIP_SUFFIXES):
            continue
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)


def on_config_inited(app: Sphinx, config) -> None:
    config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static: no CDN


def on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    for spec in PACKAGES:  # fail early, before hours of notebook execution, if npm cannot deliver
        ensure_package(spec)


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import plotly

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static / "plotly.min.js")
    for spec, items in PACKAGES.items():
        root = ensure_package(spec)
        for inner, dest in items:
            copy_tree(root / inner, static / dest)


def setup(app: Sphinx) -> dict:
    # priority < 500: before require.js (myst-nb adds it at the default 500), so plotly sets window.Plotly
    app.add_js_file("plotly.min.js", priority=200)
    app.connect("config-inited", on_config_inited)
    app.connect("builder-inited", on_builder_inited)
    app.connect("build-finished", on_build_finished)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
