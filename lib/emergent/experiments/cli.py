"""The command line shared by the experiment modules of every chapter.

    python -m emergent.experiments.<module> FIGURE|all [--scale fast|full] [--seeds N]
                                            [--set KEY=VALUE ...] [--tag TAG]

Every check happens before any training: the scale, the device (``EMERGENT_DEVICE``), ``--seeds``
and the ``--set`` keys of every figure to run; a failure is an ``argparse`` error (exit status 2, no
traceback). Each figure's result is written to
``results/ch<chapter>_<figure>_<scale>[_<n>seeds][_<tag>].json`` with a ``"run"`` record
(:func:`emergent.runtime.run_info`): where, with what, how long and when it was made.
"""
from __future__ import annotations

import argparse
import copy
import time
from typing import Any, Callable, Mapping, Sequence

from .. import cache
from ..runtime import device, run_info, scale as _scale


def figure_defaults(configs: Mapping[str, Mapping[str, dict]], figure: str, scale: str | None) -> dict:
    """A copy of ``configs[figure][scale]`` (the per-figure, per-scale defaults of an experiment module);
    :class:`emergent.cache.ConfigError` for an unknown figure."""
    if figure not in configs:
        raise cache.ConfigError(f"unknown figure {figure!r}; figures: {', '.join(configs)}")
    return copy.deepcopy(configs[figure][_scale(scale)])


def figure_config(configs: Mapping[str, Mapping[str, dict]], figure: str, config: dict | None,
                  scale: str | None, optional: Mapping[str, Any]) -> dict:
    """``figure``'s defaults at ``scale`` with ``config`` on top, checked before any work.

    Unknown keys (neither in the fast nor the full defaults, nor in ``optional``) and a ``scale`` key
    that contradicts ``scale`` raise :class:`emergent.cache.ConfigError`. Nested dicts are merged one
    level deep; ``cfg["scale"]`` is set; an integer ``seeds`` becomes ``[0, ..., seeds-1]``. Each module
    adds its own checks of values on the result."""
    defaults = figure_defaults(configs, figure, scale)
    cache.check_config(config, configs[figure]["fast"], configs[figure]["full"], optional,
                       what=f"the configuration of {figure}")
    if config and "scale" in config and _scale(config["scale"]) != _scale(scale):
        raise cache.ConfigError(f"the configuration of {figure} says scale={config['scale']!r} but the run is at "
                                f"scale={_scale(scale)!r}; pass the scale as scale=, not in the configuration")
    cfg = defaults
    for k, v in (config or {}).items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    cfg["scale"] = _scale(scale)
    if isinstance(cfg.get("seeds"), int):
        cfg["seeds"] = list(range(cfg["seeds"]))
    return cfg


def result_name(chapter: str, figure: str, scale: str, seeds: int | None = None, tag: str = "") -> str:
    """``ch<chapter>_<figure>_<scale>[_<n>seeds][_<tag>]``: the file name (without ``.json``) in ``results/``."""
    return f"ch{chapter}_{figure}_{scale}" + (f"_{seeds}seeds" if seeds else "") + (f"_{tag}" if tag else "")


def run_cli(argv: Sequence[str] | None, *, module: str, chapter: str, runners: Mapping[str, Callable[..., dict]],
            check: Callable[[str, dict, str], Any], seeds: bool = False, progress: bool = False,
            set_example: str = "epochs=5") -> None:
    """Parse ``argv``, check everything, then run and save each figure of ``runners``.

    ``check(figure, changes, scale)`` raises ``ValueError`` (e.g. :class:`emergent.cache.ConfigError`)
    for a configuration the figure cannot run. With ``seeds``, ``--seeds N`` sets the configuration's
    ``seeds`` to ``[0, ..., N-1]``. With ``progress``, the runners are called with ``progress=True``.
    """
    figures = list(runners)
    p = argparse.ArgumentParser(prog=f"python -m emergent.experiments.{module}",
                                description=f"Run a chapter-{int(chapter)} experiment and write "
                                            f"results/ch{chapter}_<figure>_<scale>.json.")
    p.add_argument("figure", choices=figures + ["all"])
    p.add_argument("--scale", choices=["fast", "full"], default=None)
    if seeds:
        p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the scale's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"change one configuration entry, VALUE as JSON (e.g. --set {set_example}); repeatable")
    p.add_argument("--tag", default="", help=f"suffix of the output name: results/ch{chapter}_<figure>_<scale>"
                                             + ("[_<n>seeds]" if seeds else "") + "_<tag>.json")
    a = p.parse_args(argv)
    n_seeds = getattr(a, "seeds", None)
    if n_seeds is not None and n_seeds < 1:
        p.error(f"--seeds must be at least 1, got {n_seeds}")
    todo = figures if a.figure == "all" else [a.figure]
    try:  # every check before any training
        sc = _scale(a.scale)
        device()
        changes = cache.parse_overrides(a.set)
        if n_seeds:
            changes["seeds"] = list(range(n_seeds))
        for fig in todo:
            check(fig, changes, sc)
    except ValueError as e:  # cache.ConfigError is one
        p.error(str(e))
    kwargs = {"progress": True} if progress else {}
    for fig in todo:
        t = time.perf_counter()
        res = runners[fig](changes or None, sc, **kwargs)
        res["run"] = run_info(time.perf_counter() - t)
        path = cache.save_result(result_name(chapter, fig, sc, n_seeds, a.tag), res)
        print(f"{fig}: wrote {path} ({res['run']['seconds']:.0f} s)", flush=True)
