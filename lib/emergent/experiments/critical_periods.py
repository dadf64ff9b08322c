"""Chapter 6, critical learning periods: the sweeps behind Figures 6.1–6.5, cached.

One function per figure, each ``run_<figure>(config=None, scale=None) -> dict``:

* :func:`run_removal` (Fig 6.1A): final accuracy vs the epoch ``t0`` at which a blur deficit is
  removed, every run training ``clean`` more epochs after the removal; annealed learning rate and
  the fixed-learning-rate control; the clean learning curve.
* :func:`run_sensitivity` (Fig 6.1C): accuracy lost to a short blur window ``[onset, onset+L)``
  compared with the clean run at the same epoch.
* :func:`run_deficits` (Fig 6.2 left): blur, vertical flip, label permutation, white noise, and a
  late-start control (a fresh net trained only on the clean phase).
* :func:`run_depth` (Fig 6.2 right): the blur effect for fully connected nets of depth 1–4.
* :func:`run_artefact` (Fig 6.3): constant vs annealed learning rate, Adam vs SGD, weight decay.
* :func:`run_fisher` (Figs 6.4–6.5): trace of the Fisher information at log-spaced optimizer steps,
  total and per layer, for no deficit, blur removed early, blur removed late and vertical flip.

Every sweep is cached with :func:`emergent.cache.cached` under ``ch06/<name>``, keyed by its full
configuration, so notebooks that need the same runs share them. The CLI::

    python -m emergent.experiments.critical_periods removal --scale full

writes ``results/ch06_<figure>_<scale>.json`` with :func:`emergent.cache.save_result`.

Fast scale (our choice, for a 2-core CPU): the 5,000 offline MNIST digits average-pooled to
14×14, 2,000 for training and 1,000 for testing; blur 14→4→14 (4×4 = 16 of 196 pixels survive,
close to the thesis's 8×8 of 32×32); a fully connected net 196-128-128-128-128-10 without BatchNorm
(so per-layer Fisher traces are comparable as they are); SGD, momentum 0.9, batch 128, weight decay
5e-4, learning rate max(0.05·0.9^epoch, 0.005) — the thesis's 0.97 per epoch compressed by ≈3.5× in
time, with a floor so that every clean phase keeps enough learning rate to relearn (without it, at
this scale, *every* deficit removed late looks permanent, label permutation included: the clean
phase has too few steps at a vanishing rate); no augmentation; every run trains 24 clean epochs
after its deficit ends; the constant-rate control uses 0.05 throughout. Full scale: the All-CNN on
CIFAR-10 (torchvision), blur 32→8→32, learning rate 0.05·0.97^epoch, 160 clean epochs.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import cache
from .cli import result_name, run_cli
from ..data import ArrayDataset, mnist_small, torchvision_dataset
from ..deficits import DeficitSchedule
from ..runtime import cpu_threads
from ..runtime import scale as _scale
from ..sweep import NetSpec, RunSpec, all_cnn, train_sweep

__all__ = ["FIGURES", "default_config", "load_data", "net_spec", "schedule", "train_one", "run_removal",
           "run_sensitivity", "run_deficits", "run_depth", "run_artefact", "run_fisher", "precomputed", "main"]

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
_BASE = {
    "fast": dict(
        data=dict(source="mnist-small", side=14, n_train=2000, n_test=1000, seed=0),
        net=dict(kind="mlp", in_shape=(1, 14, 14), hidden=(128, 128, 128, 128)),
        blur_size=4, lr=0.05, lr_decay=0.9, lr_min=0.005, weight_decay=5e-4, batch_size=128, clean=24,
        seeds=[0], t0s=[0, 8, 16, 32], window=8, onsets=[0, 4, 8, 16, 24],
        kinds=["blur", "vertical_flip", "label_permutation", "white_noise"], kind_t0s=[0, 8, 16, 32],
        depths=[1, 2, 4], depth_width=128, depth_t0=32,
        cnn_net=dict(kind="cnn", in_shape=(1, 14, 14), conv=((8, 3, 1), (16, 3, 2), (16, 3, 2)),
                     batchnorm=True), cnn_kinds=["blur", "vertical_flip", "label_permutation"], cnn_t0=16,
        artefact_t0s=[0, 16, 32], adam_lr=1e-3, weight_decays=[0.0, 5e-4, 5e-3],
        fisher_probe=256, fisher_points=18, fisher_early=8, fisher_late=32,
        two_phase=dict(hidden=(256, 256), lr=0.01, epochs=60),
    ),
    "full": dict(
        data=dict(source="cifar10", side=32, n_train=None, n_test=None, seed=0),
        net=dict(kind="all-cnn"),
        blur_size=8, lr=0.05, lr_decay=0.97, lr_min=0.0, weight_decay=5e-4, batch_size=128, clean=160,
        seeds=[0], t0s=[0, 20, 40, 60, 80, 100, 120, 140], window=40, onsets=[0, 20, 40, 60, 80, 100, 120, 140],
        kinds=["blur", "vertical_flip", "label_permutation", "white_noise"], kind_t0s=[0, 20, 40, 60, 80, 100, 120, 140],
        depths=[1, 2, 3, 4, 5], depth_width=512, depth_t0=100,
        cnn_net=dict(kind="all-cnn"), cnn_kinds=["blur", "vertical_flip", "label_permutation"], cnn_t0=100,
        artefact_t0s=[0, 20, 40, 60, 80, 100, 120], adam_lr=1e-3, weight_decays=[0.0, 5e-4, 5e-3],
        fisher_probe=1000, fisher_points=40, fisher_early=20, fisher_late=120,
        two_phase=dict(hidden=None, lr=0.05, epochs=300),
    ),
}

FIGURES = ("removal", "sensitivity", "deficits", "depth", "artefact", "fisher")


def _check_config(config: dict | None) -> None:
    """Raise :class:`emergent.cache.ConfigError`, listing the valid keys, if ``config`` has a key that the
    configuration does not have (at either scale; ``net`` and ``cnn_net`` take the fields of
    :class:`emergent.sweep.NetSpec`)."""
    spec = {f.name: None for f in dataclasses.fields(NetSpec)}
    cache.check_config(config, _BASE["fast"], _BASE["full"], {"net": spec, "cnn_net": spec},
                       what="the chapter-6 configuration")


def default_config(scale: str | None = None, **changes: Any) -> dict:
    """The configuration of every figure at ``scale`` (a fresh copy), with ``changes`` applied
    (an unknown key raises :class:`emergent.cache.ConfigError`)."""
    _check_config(changes)
    cfg = copy.deepcopy(_BASE[_scale(scale)])
    cfg.update(changes)
    return cfg


def _merge(config: dict | None, scale: str | None) -> dict:
    """The defaults at ``scale`` with the reader's ``config`` on top: the one place where they meet."""
    _check_config(config)
    cfg = default_config(scale)
    if config:
        cfg.update(config)
    return cfg


def net_spec(cfg: dict, hidden: tuple | None = None) -> NetSpec:
    """The network of ``cfg`` (``hidden`` overrides the MLP's widths, for the depth sweep)."""
    n = dict(cfg["net"])
    if n.get("kind") == "cnn":
        n["conv"] = tuple(tuple(c) for c in n["conv"])
    if n.get("kind") == "all-cnn":
        return all_cnn(in_channels=3, n_classes=10, side=cfg["data"]["side"])
    if hidden is not None:
        n["hidden"] = tuple(hidden)
    n["in_shape"] = tuple(n["in_shape"])
    n["hidden"] = tuple(n.get("hidden", (256, 256)))
    return NetSpec(**n)


_DATA_CACHE: dict = {}


def load_data(cfg: dict, device: str | torch.device | None = None) -> tuple[ArrayDataset, ArrayDataset]:
    """``(train, test)`` for ``cfg["data"]``: the pooled offline MNIST digits, or CIFAR-10 at full scale."""
    d = cfg["data"]
    key = (repr(sorted(d.items())), str(device))
    if key in _DATA_CACHE:
        return _DATA_CACHE[key]
    if d["source"] == "mnist-small":
        ds = mnist_small("cpu")
        x = ds.x
        if d["side"] != x.shape[-1]:
            x = F.adaptive_avg_pool2d(x, d["side"])
        ds = ArrayDataset(x, ds.y, dict(ds.meta, name=f"mnist-small {d['side']}x{d['side']}"))
        n_test = d["n_test"]
        train, test = ds.split(n_test / len(ds), seed=d["seed"])
        if d["n_train"] and d["n_train"] < len(train):
            train = train.subset(d["n_train"], seed=d["seed"])
    else:  # the real datasets need torchvision (full scale, on a reader's machine)
        train = torchvision_dataset(d["source"], train=True, device="cpu")
        test = torchvision_dataset(d["source"], train=False, device="cpu")
    out = (train.to(device), test.to(device))
    _DATA_CACHE[key] = out
    return out


def schedule(kind: str, start: float, end: float, cfg: dict) -> DeficitSchedule:
    """A deficit ``kind`` on epochs ``[start, end)`` (``kind="none"`` or an empty window: no deficit)."""
    if kind == "none" or end <= start:
        return DeficitSchedule.none()
    return DeficitSchedule(kind, start, end, size=cfg["blur_size"])


def _run(cfg: dict, kind: str, start: float, end: float, *, lr_mode: str = "annealed", seed: int = 0,
         optimizer: str = "sgd", weight_decay: float | None = None, epochs: int | None = None) -> dict:
    lr = cfg["adam_lr"] if optimizer == "adam" else cfg["lr"]
    annealed = lr_mode == "annealed"
    return dict(kind=kind, start=start, end=end, epochs=int(epochs if epochs is not None else end + cfg["clean"]),
                lr=lr, lr_decay=cfg["lr_decay"] if annealed else 1.0,
                lr_min=(cfg.get("lr_min", 0.0) * lr / cfg["lr"]) if annealed else 0.0,
                weight_decay=cfg["weight_decay"] if weight_decay is None else weight_decay, seed=seed)


def _sweep(cfg: dict, runs: list[dict], *, optimizer: str = "sgd", hidden: tuple | None = None,
           fisher: bool = False, name: str = "sweep", progress: Any = False) -> list[dict]:
    """Train ``runs`` (dicts from :func:`_run`) with one cached sweep; returns their records."""
    key = dict(data=cfg["data"], net=net_spec(cfg, hidden).config(), batch_size=cfg["batch_size"],
               blur_size=cfg["blur_size"], optimizer=optimizer, runs=runs,
               fisher=(dict(probe=cfg["fisher_probe"], points=cfg["fisher_points"]) if fisher else None))

    def compute() -> list[dict]:
        train, test = load_data(cfg)
        specs = [RunSpec(schedule(r["kind"], r["start"], r["end"], cfg), epochs=r["epochs"], seed=r["seed"],
                         lr=r["lr"], lr_decay=r["lr_decay"], lr_min=r["lr_min"], weight_decay=r["weight_decay"])
                 for r in runs]
        probe_steps, probe = (), None
        if fisher:
            probe_steps, probe = _fisher_probe(cfg, train, max(r["epochs"] for r in runs))
        with cpu_threads(train.x.device):
            recs = train_sweep(net_spec(cfg, hidden), specs, train, test, batch_size=cfg["batch_size"],
                               optimizer=optimizer, probe_steps=probe_steps, probe=probe, progress=progress)
        for r, rec in zip(runs, recs):
            rec["config"] = r
        return recs

    return cache.cached(f"ch06/{name}", key, compute)


def _fisher_probe(cfg: dict, train: ArrayDataset, epochs: int) -> tuple[list[int], Callable]:
    """Log-spaced optimizer steps (plus every few epochs) and a probe measuring tr F there."""
    from ..fisher import fisher_trace

    steps_per_epoch = math.ceil(len(train) / cfg["batch_size"])
    total = epochs * steps_per_epoch
    steps = set(np.unique(np.round(np.geomspace(1, total, cfg["fisher_points"]))).astype(int).tolist())
    steps |= set(range(0, total + 1, 4 * steps_per_epoch))
    g = torch.Generator().manual_seed(1)
    xs = train.x[torch.randperm(len(train), generator=g)[: cfg["fisher_probe"]]]

    def probe(run: int, step: int, model: torch.nn.Module) -> dict:
        gen = torch.Generator().manual_seed(1000 + step)
        # the fast net has no BatchNorm, so the raw per-layer traces are comparable across layers;
        # a net with BatchNorm (the All-CNN) needs the scale-invariant normalize="relative"
        norm = "relative" if cfg["net"].get("kind") != "mlp" else None
        f = fisher_trace(model, xs.to(next(model.parameters()).device), kind="true", n_samples=1,
                         generator=gen, normalize=norm, chunk_size=64)
        return {"epoch": step / steps_per_epoch, "total": f["total"], "layers": dict(f["layers"]),
                "relative": dict(f.get("normalized", f["layers"]))}

    return sorted(steps), probe


def _sd(values: list[float]) -> float:
    """Sample standard deviation over seeds (0 for a single seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _acc_at(rec: dict, epoch: int) -> float:
    """Test accuracy of a run after ``epoch`` epochs (from its learning curve)."""
    ep = rec["eval_epochs"]
    return rec["test_acc"][ep.index(epoch)] if epoch in ep else rec["test_acc"][-1]


def _clean_runs(cfg: dict, epochs: int, lr_mode: str = "annealed", optimizer: str = "sgd",
                weight_decay: float | None = None, hidden: tuple | None = None, progress: Any = False) -> list[dict]:
    """The clean control runs (one per seed), trained for ``epochs`` and cached on their own, so that
    every figure with the same training settings shares them."""
    runs = [_run(cfg, "none", 0, 0, lr_mode=lr_mode, seed=s, optimizer=optimizer, weight_decay=weight_decay,
                 epochs=epochs) for s in cfg["seeds"]]
    return _sweep(cfg, runs, optimizer=optimizer, hidden=hidden, name="clean", progress=progress)


def _clean_and_removal(cfg: dict, t0s: list[int], kind: str, lr_mode: str, optimizer: str = "sgd",
                       weight_decay: float | None = None, progress: Any = False) -> dict:
    """The removal sweep for one deficit kind and one learning-rate mode (shared by several figures)."""
    seeds = cfg["seeds"]
    longest = max(t0s) + cfg["clean"]
    clean = _clean_runs(cfg, longest, lr_mode=lr_mode, optimizer=optimizer, weight_decay=weight_decay,
                        progress=progress)
    runs = [_run(cfg, kind, 0, t, lr_mode=lr_mode, seed=s, optimizer=optimizer, weight_decay=weight_decay)
            for t in t0s if t > 0 for s in seeds]
    recs = clean + _sweep(cfg, runs, optimizer=optimizer, name=f"removal_{kind}_{lr_mode}_{optimizer}",
                          progress=progress)
    per_seed = []
    for t in t0s:
        if t == 0:
            accs = [_acc_at(r, cfg["clean"]) for r in clean]
        else:
            accs = [r["final_acc"] for r in recs if r["config"]["kind"] == kind and r["config"]["end"] == t]
        per_seed.append([float(a) for a in accs])
    final = [float(np.mean(a)) for a in per_seed]
    # the clean run at the same total number of epochs as each deficit run (the annealing control)
    clean_same_epochs = [float(np.mean([_acc_at(r, t + cfg["clean"]) for r in clean])) for t in t0s]
    curve = np.mean([r["test_acc"] for r in clean], axis=0).tolist()
    return dict(t0=list(t0s), final=final, final_seeds=per_seed, final_sd=[_sd(a) for a in per_seed],
                clean_same_epochs=clean_same_epochs,
                clean_curve=dict(epoch=clean[0]["eval_epochs"], acc=curve),
                curves={str(r["config"]["end"] if r["config"]["kind"] != "none" else 0):
                        dict(epoch=r["eval_epochs"], acc=r["test_acc"]) for r in recs if r["seed"] == seeds[0]},
                seconds=float(sum(r["seconds"] for r in recs)), n_runs=len(recs))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def run_removal(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Fig 6.1A: final accuracy vs the epoch at which the blur is removed, annealed and constant lr."""
    cfg = _merge(config, scale)
    out = {"config": cfg, "t0": cfg["t0s"]}
    for mode in ("annealed", "constant"):
        out[mode] = _clean_and_removal(cfg, cfg["t0s"], "blur", mode, progress=progress)
    return out


def run_sensitivity(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Fig 6.1C: accuracy lost to a blur window of ``window`` epochs starting at each onset.

    Each window run trains ``clean`` epochs after its window; the loss is measured against the clean
    run after the same number of epochs (same learning-rate schedule), so annealing is matched.
    """
    cfg = _merge(config, scale)
    L, seeds = cfg["window"], cfg["seeds"]
    longest = max(cfg["onsets"]) + L + cfg["clean"]
    runs = [_run(cfg, "blur", o, o + L, seed=s) for o in cfg["onsets"] for s in seeds]
    recs = _clean_runs(cfg, longest, progress=progress) + _sweep(cfg, runs, name="sensitivity", progress=progress)
    clean = [r for r in recs if r["config"]["kind"] == "none"]
    acc, base, drop, drop_seeds = [], [], [], []
    for o in cfg["onsets"]:
        rs = {r["seed"]: r["final_acc"] for r in recs if r["config"]["kind"] == "blur" and r["config"]["start"] == o}
        bs = {r["seed"]: _acc_at(r, o + L + cfg["clean"]) for r in clean}
        a = float(np.mean(list(rs.values())))
        b = float(np.mean(list(bs.values())))
        acc.append(a)
        base.append(b)
        drop.append(b - a)
        drop_seeds.append([float(bs[s] - rs[s]) for s in seeds])  # paired by seed
    curves = {str(r["config"]["start"]): dict(epoch=r["eval_epochs"], acc=r["test_acc"])
              for r in recs if r["config"]["kind"] == "blur" and r["seed"] == seeds[0]}
    return dict(config=cfg, onset=cfg["onsets"], window=L, acc=acc, baseline=base, drop=drop, drop_seeds=drop_seeds,
                drop_sd=[_sd(d) for d in drop_seeds], curves=curves,
                clean_curve=dict(epoch=clean[0]["eval_epochs"], acc=np.mean([r["test_acc"] for r in clean], 0).tolist()))


def run_deficits(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Fig 6.2 left: final accuracy vs removal epoch for each deficit kind (annealed lr).

    Also ``late_start``: a fresh network that trains only the ``clean`` epochs, at the learning rates the
    clean phase of a deficit removed at ``t0`` gets — what a deficit that taught nothing, but used up the
    early high-rate epochs, would leave (our control, not in the thesis); and ``cnn``: three deficits for
    the small BatchNorm CNN at one removal epoch.
    """
    cfg = _merge(config, scale)
    out = {"config": cfg, "t0": cfg["kind_t0s"], "kinds": cfg["kinds"]}
    for kind in cfg["kinds"]:
        r = _clean_and_removal(cfg, cfg["kind_t0s"], kind, "annealed", progress=progress)
        out[kind] = {k: r[k] for k in ("final", "final_seeds", "final_sd", "clean_same_epochs", "curves")}
    # control: a fresh network that trains only the clean phase, at the learning rates that the clean phase of
    # a deficit removed at t0 gets (what a deficit that taught nothing at all, but used up the epochs, would give)
    late = [dict(_run(cfg, "none", 0, 0, seed=s, epochs=cfg["clean"]),
                 lr=max(cfg["lr"] * cfg["lr_decay"] ** t, cfg.get("lr_min", 0.0)), late_start=t)
            for t in cfg["kind_t0s"] if t > 0 for s in cfg["seeds"]]
    late_recs = _sweep(cfg, late, name="late_start", progress=progress) if late else []
    per_t0 = [[r["final_acc"] for r in late_recs if r["config"]["late_start"] == t] if t > 0
              else [_acc_at(r, cfg["clean"]) for r in _clean_runs(cfg, max(cfg["kind_t0s"]) + cfg["clean"])]
              for t in cfg["kind_t0s"]]
    out["late_start"] = dict(final=[float(np.mean(a)) for a in per_t0], final_sd=[_sd(a) for a in per_t0])
    # the same question for a convolutional net, at one late removal epoch
    ccfg = dict(cfg, net=cfg["cnn_net"])
    t = cfg["cnn_t0"]
    clean = _clean_runs(ccfg, t + cfg["clean"], progress=progress)
    runs = [_run(ccfg, k, 0, t, seed=s) for k in cfg["cnn_kinds"] for s in cfg["seeds"]]
    recs = _sweep(ccfg, runs, name="deficits_cnn", progress=progress)
    base = float(np.mean([_acc_at(r, cfg["clean"]) for r in clean]))
    out["cnn"] = dict(t0=t, baseline=base, baseline_same_epochs=float(np.mean([r["final_acc"] for r in clean])),
                      final={k: float(np.mean([r["final_acc"] for r in recs if r["config"]["kind"] == k]))
                             for k in cfg["cnn_kinds"]})
    return out


def run_depth(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Fig 6.2 right: accuracy lost by removing the blur at ``depth_t0``, for 1–4 hidden layers."""
    cfg = _merge(config, scale)
    t, w = cfg["depth_t0"], cfg["depth_width"]
    rows = []
    for d in cfg["depths"]:
        hidden = (w,) * d
        runs = [_run(cfg, "blur", 0, t, seed=s) for s in cfg["seeds"]]
        recs = (_clean_runs(cfg, t + cfg["clean"], hidden=hidden, progress=progress)
                + _sweep(cfg, runs, hidden=hidden, name=f"depth{d}", progress=progress))
        clean = [r for r in recs if r["config"]["kind"] == "none"]
        blur = [r for r in recs if r["config"]["kind"] == "blur"]
        base = float(np.mean([_acc_at(r, cfg["clean"]) for r in clean]))
        base_same = float(np.mean([r["final_acc"] for r in clean]))
        acc = float(np.mean([r["final_acc"] for r in blur]))
        drops = [_acc_at(c, cfg["clean"]) - b["final_acc"] for c, b in zip(clean, blur)]  # paired by seed
        rows.append(dict(depth=d, width=w, baseline=base, baseline_same_epochs=base_same, deficit=acc,
                         drop=base - acc, drop_seeds=[float(x) for x in drops], drop_sd=_sd(drops),
                         error_ratio=(1 - acc) / max(1 - base, 1e-9)))
    return dict(config=cfg, t0=t, rows=rows)


def run_artefact(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Fig 6.3: the FC net with annealed vs constant lr, SGD vs Adam, and weight-decay levels."""
    cfg = _merge(config, scale)
    t0s = cfg["artefact_t0s"]
    variants = {}
    for opt in ("sgd", "adam"):
        for mode in ("annealed", "constant"):
            variants[f"{opt}, {mode} lr"] = dict(optimizer=opt, lr_mode=mode, weight_decay=None)
    for wd in cfg["weight_decays"]:
        if wd != cfg["weight_decay"]:
            variants[f"sgd, annealed lr, wd={wd:g}"] = dict(optimizer="sgd", lr_mode="annealed", weight_decay=wd)
    out = {"config": cfg, "t0": t0s, "variants": {}}
    for name, v in variants.items():
        wd = v["weight_decay"]
        r = _clean_and_removal(cfg, t0s, "blur", v["lr_mode"], optimizer=v["optimizer"], weight_decay=wd,
                               progress=progress)
        out["variants"][name] = dict(v, final=r["final"], final_sd=r["final_sd"], clean_same_epochs=r["clean_same_epochs"])
    return out


def run_fisher(config: dict | None = None, scale: str | None = None, progress: Any = False) -> dict:
    """Figs 6.4–6.5: tr F at log-spaced steps, total and per layer, for four schedules.

    ``runs[name]`` holds the first seed's curves (total, per layer, normalized per layer, accuracy);
    ``seeds[name]`` the total trace and the final accuracy of every seed.
    """
    cfg = _merge(config, scale)
    seeds = cfg["seeds"]
    early, late = cfg["fisher_early"], cfg["fisher_late"]
    epochs = late + cfg["clean"]
    named = {"no deficit": ("none", 0), f"blur removed at {early}": ("blur", early),
             f"blur removed at {late}": ("blur", late), f"vertical flip until {late}": ("vertical_flip", late)}
    runs = [_run(cfg, k, 0, t, epochs=epochs, seed=s) for k, t in named.values() for s in seeds]
    recs = _sweep(cfg, runs, fisher=True, name="fisher", progress=progress)
    # the two phases of Fig 6.4 (left) are clearest with a constant learning rate (the pilot's setting)
    tp = cfg["two_phase"]
    hid = tuple(tp["hidden"]) if tp.get("hidden") else None
    r2 = [dict(_run(cfg, "none", 0, 0, lr_mode="constant", epochs=tp["epochs"], seed=s), lr=tp["lr"]) for s in seeds]
    rec2 = _sweep(cfg, r2, hidden=hid, fisher=True, name="fisher_two_phase", progress=progress)
    out = {"config": cfg, "epochs": epochs, "runs": {}, "seeds": {}}
    named = {**named, "two phases (constant lr)": None}
    recs = list(recs) + list(rec2)
    S = len(seeds)
    for i, name in enumerate(named):
        group = recs[i * S:(i + 1) * S]
        rec, pr = group[0], group[0]["probes"]
        out["runs"][name] = dict(
            kind=rec["config"]["kind"], end=rec["config"]["end"],
            step=[p["step"] for p in pr], epoch=[p["epoch"] for p in pr], total=[p["total"] for p in pr],
            layers={k: [p["layers"][k] for p in pr] for k in pr[0]["layers"]},
            relative={k: [p["relative"][k] for p in pr] for k in pr[0]["relative"]},
            acc_epoch=rec["eval_epochs"], acc=rec["test_acc"], final_acc=rec["final_acc"])
        out["seeds"][name] = dict(seed=[r["seed"] for r in group], final_acc=[r["final_acc"] for r in group],
                                  total=[[p["total"] for p in r["probes"]] for r in group])
    return out


def train_one(kind: str = "blur", onset: int = 0, duration: int = 16, lr_mode: str = "annealed",
              report: Callable[[float, str], None] | None = None, scale: str | None = None,
              config: dict | None = None) -> dict:
    """Train one new schedule live (the notebooks' Run button): deficit on ``[onset, onset+duration)``,
    then ``clean`` epochs; returns its record plus the clean baseline at the same epoch if cached."""
    cfg = _merge(config, scale)
    r = _run(cfg, kind, onset, onset + duration, lr_mode=lr_mode)
    recs = _sweep(cfg, [r], name="single", progress=report or False)
    return recs[0]


def precomputed(figure: str, scale: str = "full", seeds: int | None = None) -> dict | None:
    """The result the CLI wrote for ``figure`` (``results/ch06_<figure>_<scale>[_<seeds>seeds].json``),
    or ``None`` if it is not there; prints which file it is and how it was made (or how to make it)."""
    extra = f" --seeds {seeds}" if seeds else ""
    name = result_name("06", figure, scale, seeds)
    res = cache.precomputed(name, f"python -m emergent.experiments.critical_periods {figure} --scale {scale}{extra}")
    if res is not None:
        print(f"  {len(res['config']['seeds'])} seed(s)")
    return res


_RUNNERS = {"removal": run_removal, "sensitivity": run_sensitivity, "deficits": run_deficits,
            "depth": run_depth, "artefact": run_artefact, "fisher": run_fisher}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.critical_periods FIGURE|all [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="critical_periods", chapter="06", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _merge(changes, sc), set_example="clean=8")


if __name__ == "__main__":
    main()
