"""Chapter 7 (Gao & Chaudhari), the free-energy principle on real digits: cached runs and a CLI.

Figures (each a function ``run_<figure>(config, scale)`` returning a JSON-able dict):

* ``grid``: RDC-VAE equilibria on a (λ, γ) grid (Figs. 1, 2a): R, D, C on a fixed draw of the
  training images, validation accuracy, F.
* ``fd``: the finite differences of C (eq. 31) with and without common random numbers, and their
  dependence on the number of training steps K of each clone (spec §5.1).
* ``iso``: iso-classification (eq. 22) from ``(λ₀, γ₀)`` for several γ₀, each beside a control that
  trains as long at fixed multipliers (Fig. 2).
* ``jump``: Fig. 4a, the free energy after a small change of multipliers.
* ``transfer``: digits 0–4 → 5–9 on a shared 5-way head (labels ``y - 5``: our choice, errata 7.6),
  iso-classification transfer against the same data path at fixed multipliers, fine-tuning and
  training from scratch (Fig. 5).

Fast scale (our choices, after the spec's pilot): 4,000/1,000 offline MNIST digits, RDC-VAE 784-256-256
→ 8 latents, Adam 1e-3, batch 128 (32 steps an epoch). Full scale: MNIST 60,000/10,000 through
torchvision when it is installed and online (else the offline digits, with a one-line message), the
paper's 120 epochs and γ₀ ∈ {4, 6, 8, 10, 15}. CLI::

    python -m emergent.experiments.free_energy all --scale fast

writes ``results/ch07_<figure>_fast.json``.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from .. import cache
from ..free_energy import (RDCVAE, c_derivatives, equilibrate, eval_set, evaluate, free_energy_jump,
                           iso_classification, mnist_split, transfer)
from ..runtime import cpu_threads, device as _device
from .cli import figure_config, result_name, run_cli

FIGURES = ("grid", "fd", "iso", "jump", "transfer")

_DATA_FAST = dict(source="mnist-small", n_train=4000, n_val=1000, seed=0)
_DATA_FULL = dict(source="mnist", n_train=60000, n_val=10000, seed=0)
_MODEL = dict(hidden=256, z_dim=8)
_CONFIGS: dict[str, dict[str, dict]] = {
    "grid": {
        "fast": dict(data=_DATA_FAST, model=_MODEL, lams=[0.25, 0.5, 1.0], gammas=[2.0, 8.0, 20.0],
                     epochs=60, seeds=[0]),
        "full": dict(data=_DATA_FULL, model=_MODEL, lams=[0.25, 0.5, 1.0, 2.0], gammas=[2.0, 4.0, 8.0, 20.0],
                     epochs=120, seeds=[0]),
    },
    "fd": {
        "fast": dict(data=_DATA_FAST, model=_MODEL, lam=0.25, gamma=8.0, start_epochs=60,
                     k_epochs=[3, 6, 30], repeats=3, seeds=[0]),
        "full": dict(data=_DATA_FULL, model=_MODEL, lam=0.25, gamma=8.0, start_epochs=120,
                     k_epochs=[3, 6, 30, 60], repeats=5, seeds=[0]),
    },
    "iso": {
        "fast": dict(data=_DATA_FAST, model=_MODEL, lam0=0.25, gamma0s=[4.0, 8.0, 15.0], start_epochs=60,
                     steps=10, first_dlam=0.1, k_epochs=6, relax_epochs=9, seeds=[0]),
        "full": dict(data=_DATA_FULL, model=_MODEL, lam0=0.25, gamma0s=[4.0, 6.0, 8.0, 10.0, 15.0],
                     start_epochs=120, steps=15, first_dlam=0.1, k_epochs=6, relax_epochs=9, seeds=[0]),
    },
    "jump": {
        "fast": dict(data=_DATA_FAST, model=_MODEL, old=[0.5, 1.0], new=[0.51, 1.04], start_epochs=60,
                     epochs=[0, 3, 9, 30], seeds=[0]),
        "full": dict(data=_DATA_FULL, model=_MODEL, old=[0.5, 1.0], new=[0.51, 1.04], start_epochs=120,
                     epochs=[0, 3, 9, 30, 60], seeds=[0]),
    },
    "transfer": {
        "fast": dict(data=_DATA_FAST, model=_MODEL, lam0=1.0, gamma0=8.0, start_epochs=60, t_steps=10,
                     lam_rate=-0.05, k_epochs=6, relax_epochs=9, max_gamma_change=0.25, seeds=[0]),
        "full": dict(data=_DATA_FULL, model=_MODEL, lam0=1.0, gamma0=8.0, start_epochs=120, t_steps=20,
                     lam_rate=-0.025, k_epochs=6, relax_epochs=9, max_gamma_change=0.25, seeds=[0]),
    },
}
_OPTIONAL: dict[str, Any] = {}


def config(config: dict | None = None, scale: str | None = None, figure: str = "grid") -> dict:
    """The checked configuration of ``figure`` (defaults at ``scale`` with ``config`` on top)."""
    cfg = figure_config(_CONFIGS, figure, config, scale, _OPTIONAL)
    if not cfg["seeds"]:
        raise cache.ConfigError("seeds must name at least one seed")
    if cfg["data"]["source"] not in ("mnist-small", "mnist"):
        raise cache.ConfigError(f"data.source must be 'mnist-small' or 'mnist', got {cfg['data']['source']!r}")
    return cfg


def load(cfg: dict, classes=range(10), label_offset: int = 0, dev=None):
    """Train/validation tensors of ``cfg['data']`` on ``dev`` (MNIST 60k falls back to the offline
    digits with a one-line message when torchvision or the internet is missing)."""
    d = cfg["data"]
    n_cls = len(list(classes))
    return mnist_split(classes, d["n_train"] * n_cls // 10, d["n_val"] * n_cls // 10, d["seed"],
                       device=dev, label_offset=label_offset, source=d["source"])


def _model(cfg: dict, n_classes: int, seed: int, dev) -> RDCVAE:
    torch.manual_seed(seed)
    return RDCVAE(hidden=cfg["model"]["hidden"], z_dim=cfg["model"]["z_dim"], n_classes=n_classes).to(dev)


def _start(cfg: dict, tr, lam: float, gamma: float, seed: int, dev, n_classes: int = 10):
    m = _model(cfg, n_classes, seed, dev)
    _, opt = equilibrate(m, tr, lam, gamma, cfg["start_epochs"], seed=seed)
    return m, opt


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("model", "opt")}


def _run(name: str, cfg: dict, compute: Callable[[], dict]) -> dict:
    def timed():
        t = time.perf_counter()
        with cpu_threads(_device()):
            out = compute()
        out["seconds"] = time.perf_counter() - t
        out["config"] = cfg
        return out

    return cache.cached(f"ch07/{name}", cfg, timed)


def run_grid(config_: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Equilibria on the (λ, γ) grid: lists over (λ, γ) pairs (row-major, λ outer) of R, D, C, F
    (fixed draw of the training images), validation accuracy and C, per seed and their mean."""
    cfg = config(config_, scale, "grid")

    def compute():
        dev = _device()
        tr, va = load(cfg, dev=dev)
        ev_tr, ev_va = eval_set(*tr, seed=99), eval_set(*va)
        out: dict[str, Any] = {"lam": [], "gamma": [], "seeds": {}}
        for lam in cfg["lams"]:
            for gamma in cfg["gammas"]:
                out["lam"].append(lam)
                out["gamma"].append(gamma)
        for s in cfg["seeds"]:
            rows: dict[str, list] = {}
            for lam, gamma in zip(out["lam"], out["gamma"]):
                m = _model(cfg, 10, s, dev)
                equilibrate(m, tr, lam, gamma, cfg["epochs"], seed=s, progress=progress)
                t, v = evaluate(m, ev_tr, lam, gamma), evaluate(m, ev_va, lam, gamma)
                for k, val in (("R", t["R"]), ("D", t["D"]), ("C", t["C"]), ("F", t["F"]),
                               ("val_acc", v["acc"]), ("val_C", v["C"])):
                    rows.setdefault(k, []).append(float(val))
            out["seeds"][str(s)] = rows
        for k in out["seeds"][str(cfg["seeds"][0])]:
            out[k] = np.mean([out["seeds"][str(s)][k] for s in cfg["seeds"]], axis=0).tolist()
        return out

    return _run("grid", cfg, compute)


def run_fd(config_: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Finite differences of C at ``(lam, gamma)``: ``repeats`` estimates with and without common
    random numbers for each clone length in ``k_epochs`` (epochs of 32 steps at fast scale)."""
    cfg = config(config_, scale, "fd")

    def compute():
        dev = _device()
        tr, _ = load(cfg, dev=dev)
        ev = eval_set(*tr, seed=99)
        out: dict[str, Any] = {"k_epochs": cfg["k_epochs"], "crn": {}, "independent": {}}
        s = cfg["seeds"][0]
        m, opt = _start(cfg, tr, cfg["lam"], cfg["gamma"], s, dev)
        for k in cfg["k_epochs"]:
            for crn, key in ((True, "crn"), (False, "independent")):
                if not crn and k != cfg["k_epochs"][0]:
                    continue
                est = [c_derivatives(m, opt, tr, ev, cfg["lam"], cfg["gamma"], epochs=k, seed=100 + r,
                                     common_random_numbers=crn) for r in range(cfg["repeats"])]
                out[key][str(k)] = {"dC_dlam": [e["dC_dlam"] for e in est],
                                    "dC_dgamma": [e["dC_dgamma"] for e in est]}
                if progress:
                    print(f"[fd] K={k} {key}: {out[key][str(k)]}", flush=True)
        return out

    return _run("fd", cfg, compute)


def run_iso(config_: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Iso-classification paths from ``(lam0, γ₀)`` for each ``γ₀`` and their fixed-multiplier controls:
    ``paths[str(γ₀)]`` holds ``path`` and ``control`` (per-step lists of λ, γ, R, D, C, F, validation
    accuracy and C), the finite differences and α (first seed; other seeds under ``seeds``)."""
    cfg = config(config_, scale, "iso")

    def compute():
        dev = _device()
        tr, va = load(cfg, dev=dev)
        ev_va = eval_set(*va)
        out: dict[str, Any] = {"gamma0s": cfg["gamma0s"], "paths": {}, "seeds": {}}
        for s in cfg["seeds"]:
            per: dict[str, Any] = {}
            for g0 in cfg["gamma0s"]:
                t = time.perf_counter()
                m, opt = _start(cfg, tr, cfg["lam0"], g0, s, dev)
                res = iso_classification(m, opt, tr, ev_va, cfg["lam0"], g0, steps=cfg["steps"],
                                         first_dlam=cfg["first_dlam"], k_epochs=cfg["k_epochs"],
                                         relax_epochs=cfg["relax_epochs"], seed=s)
                per[str(g0)] = {**_strip(res), "seconds": time.perf_counter() - t}
                if progress:
                    p = res["path"]
                    print(f"[iso] seed {s} γ0={g0}: λ {p['lam'][0]:.2f}→{p['lam'][-1]:.2f} γ "
                          f"{p['gamma'][0]:.2f}→{p['gamma'][-1]:.2f} R {p['R'][0]:.1f}→{p['R'][-1]:.1f} "
                          f"D {p['D'][0]:.1f}→{p['D'][-1]:.1f} acc {p['val_acc'][0]:.3f}→"
                          f"{p['val_acc'][-1]:.3f} ({per[str(g0)]['seconds']:.0f} s)", flush=True)
            out["seeds"][str(s)] = per
        out["paths"] = out["seeds"][str(cfg["seeds"][0])]
        return out

    return _run("iso", cfg, compute)


def run_jump(config_: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Fig. 4a: F before and after ``old → new`` and after re-equilibration, beside a control."""
    cfg = config(config_, scale, "jump")

    def compute():
        dev = _device()
        tr, _ = load(cfg, dev=dev)
        s = cfg["seeds"][0]
        m, opt = _start(cfg, tr, *cfg["old"], s, dev)
        return free_energy_jump(m, opt, tr, tuple(cfg["old"]), tuple(cfg["new"]), cfg["epochs"], seed=s)

    return _run("jump", cfg, compute)


def run_transfer(config_: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Fig. 5: digits 0–4 → 5–9 (head index ``y - 5``), the four methods' validation accuracy on
    source and target along ``t``, with R, D, C on the target and the multipliers."""
    cfg = config(config_, scale, "transfer")

    def compute():
        dev = _device()
        src_tr, src_va = load(cfg, range(5), 0, dev)
        tgt_tr, tgt_va = load(cfg, range(5, 10), 5, dev)
        s = cfg["seeds"][0]
        m, opt = _start(cfg, src_tr, cfg["lam0"], cfg["gamma0"], s, dev, n_classes=5)
        rep = (lambda k, acc: print(f"[transfer] step {k}: {acc}", flush=True)) if progress else None
        res = transfer(m, opt, src_tr, tgt_tr, eval_set(*src_va), eval_set(*tgt_va), cfg["lam0"],
                       cfg["gamma0"], t_steps=cfg["t_steps"], lam_rate=cfg["lam_rate"],
                       k_epochs=cfg["k_epochs"], relax_epochs=cfg["relax_epochs"],
                       max_gamma_change=cfg["max_gamma_change"], seed=s, report=rep)
        return _strip(res)

    return _run("transfer", cfg, compute)


def live_iso(epochs: int = 15, k_epochs: int = 1, relax_epochs: int = 3, steps: int = 1,
             lam0: float = 0.25, gamma0: float = 8.0, fd_repeats: int = 2, seed: int = 0,
             progress: bool = False) -> dict:
    """The live part of notebook 7.2, cached (so that the book build reuses the test run's result):
    one equilibrium at ``(lam0, gamma0)``, finite differences of C with and without common random
    numbers from it, and ``steps`` iso-classification steps with their control.

    Returns ``state`` (the equilibrium network's weights), its training ``history`` (R, D, C per
    epoch), ``start``/``start_val`` (:func:`~emergent.free_energy.evaluate` on the fixed draw of the
    training images and on the validation set), ``fd`` (rows of estimates) and ``iso`` (paths)."""
    cfg = dict(data=_DATA_FAST, epochs=epochs, k_epochs=k_epochs, relax_epochs=relax_epochs, steps=steps,
               lam0=lam0, gamma0=gamma0, fd_repeats=fd_repeats, seed=seed)

    def compute():
        t = time.perf_counter()
        with cpu_threads(_device()):
            (x_tr, y_tr), (x_va, y_va) = load(cfg)
            train_eval, val = eval_set(x_tr, y_tr, seed=99), eval_set(x_va, y_va)
            torch.manual_seed(seed)
            model = RDCVAE()
            hist, opt = equilibrate(model, (x_tr, y_tr), lam0, gamma0, epochs, seed=seed, progress=progress)
            out: dict[str, Any] = {"state": {k: v.clone() for k, v in model.state_dict().items()},
                                   "history": {k: list(hist[k]) for k in ("R", "D", "C")},
                                   "start": evaluate(model, train_eval, lam0, gamma0),
                                   "start_val": evaluate(model, val, lam0, gamma0), "fd": []}
            for crn in (True, False):
                for rep in range(fd_repeats):
                    d = c_derivatives(model, opt, (x_tr, y_tr), train_eval, lam0, gamma0, epochs=k_epochs,
                                      seed=10 + rep, common_random_numbers=crn)
                    out["fd"].append(dict(random_numbers="common" if crn else "independent", repeat=rep,
                                          dC_dlam=d["dC_dlam"], dC_dgamma=d["dC_dgamma"]))
            out["iso"] = _strip(iso_classification(model, opt, (x_tr, y_tr), val, lam0, gamma0, steps=steps,
                                                   k_epochs=k_epochs, relax_epochs=relax_epochs, seed=3))
        out["seconds"] = time.perf_counter() - t
        return out

    return cache.cached("ch07/live_iso", cfg, compute, fmt="pt")


def live_transfer(epochs: int = 20, t_steps: int = 2, k_epochs: int = 2, relax_epochs: int = 3,
                  lam0: float = 1.0, gamma0: float = 8.0, seed: int = 0, progress: bool = False) -> dict:
    """The live part of notebook 7.3, cached: a source network on digits 0–4 (``epochs`` at
    ``(lam0, gamma0)``), its accuracy on both halves, and a short :func:`~emergent.free_energy.transfer`
    to 5–9 with its three baselines."""
    cfg = dict(data=_DATA_FAST, epochs=epochs, t_steps=t_steps, k_epochs=k_epochs, relax_epochs=relax_epochs,
               lam0=lam0, gamma0=gamma0, seed=seed)

    def compute():
        t = time.perf_counter()
        with cpu_threads(_device()):
            src_tr, src_va = load(cfg, range(5), 0)
            tgt_tr, tgt_va = load(cfg, range(5, 10), 5)
            val_src, val_tgt = eval_set(*src_va), eval_set(*tgt_va)
            torch.manual_seed(seed)
            model = RDCVAE(n_classes=5)
            _, opt = equilibrate(model, src_tr, lam0, gamma0, epochs, seed=seed, progress=progress)
            out: dict[str, Any] = {"source_acc": evaluate(model, val_src)["acc"],
                                   "target_acc": evaluate(model, val_tgt)["acc"]}
            out["transfer"] = _strip(transfer(model, opt, src_tr, tgt_tr, val_src, val_tgt, lam0, gamma0,
                                              t_steps=t_steps, k_epochs=k_epochs, relax_epochs=relax_epochs,
                                              seed=seed))
        out["seconds"] = time.perf_counter() - t
        return out

    return cache.cached("ch07/live_transfer", cfg, compute)


_RUNNERS: dict[str, Callable[..., dict]] = {"grid": run_grid, "fd": run_fd, "iso": run_iso, "jump": run_jump,
                                            "transfer": run_transfer}


def precomputed(figure: str, scale: str = "fast", seeds: int | None = None, tag: str = "") -> dict | None:
    """The result the CLI wrote (``results/ch07_<figure>_<scale>[_<n>seeds][_<tag>].json``), or ``None``
    with a line saying how to make it."""
    how = (f"python -m emergent.experiments.free_energy {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("07", figure, scale, seeds, tag), how)


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.free_energy FIGURE|all [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="free_energy", chapter="07", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: config(changes, sc, fig), set_example="'gamma0s=[8]'")


if __name__ == "__main__":
    main()
