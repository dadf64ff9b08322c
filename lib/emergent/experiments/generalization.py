"""Chapter 4, generalisation you can certify: PAC-Bayes certificates and thesis Figure 4.4, cached.

One function per figure, each ``run_<figure>(config=None, scale=None) -> dict`` (JSON-able):

* :func:`run_bounds` (Theorem 4.4.1, spec §2 / E3): certified PAC-Bayes bounds on held-out error.

  - *Logistic regression*, scikit-learn digits 3 vs 8 (pixels / 16 and a bias column), Laplace
    posteriors on a grid of prior widths σ₀ and posterior scales s
    (:func:`emergent.pacbayes.logistic_laplace_bounds`, exact Gibbs errors, union bound), for
    growing N; the MAP's and the Gibbs classifier's test error beside each bound.
  - *A small variational network* (64-``hidden``-C, :mod:`emergent.variational`) on the digits, a
    binary task (digit ≥ 5) and the ten classes. One packed model holds the whole grid of fixed
    priors σ₀ × β (one member each; the prior is fixed *before* training, so the grid is paid with a
    union bound over its K members). The Gibbs train error is estimated with ``gibbs_samples``
    independent weight draws per example and certified with
    :func:`emergent.pacbayes.sample_error_bound` (δ_sample), then bounded with the kl-inverse bound
    at δ/K (and McAllester's (4.5) for the contrast), next to the test error of the same Gibbs
    classifier and the VC bound of the network (:func:`emergent.pacbayes.vc_bound`).

* :func:`run_width` (Fig 4.4 left): test error of a one-hidden-layer ReLU MLP against its width (number
  of weights) on the digits, SGD with weight decay, no augmentation, trained to (near) zero train error.
* :func:`run_beta` (Fig 4.4 right): test error of the variational MLP of Chapter 4 against β on a small
  training set, with clean labels and with a fraction of them corrupted (packed together: the labels are
  an ``(N, E)`` tensor, see :func:`~emergent.experiments.information_in_weights.member_labels_loss`).

All training goes through :func:`emergent.train.fit`. Groups are cached with :func:`emergent.cache.cached`
under ``ch04/<figure>_group``; the CLI writes ``results/ch04_<figure>_<scale>[_<n>seeds].json``::

    python -m emergent.experiments.generalization bounds --scale fast --seeds 3

Every value below is our choice (the thesis appendix with the Chapter 4 details is not in the source).
``full`` scale keeps the offline digits (PAC-Bayes certificates need no GPU) with longer training and
more seeds; the bound is a statement about *this* split and run, so each seed is its own certificate.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import cache, data, pacbayes
from .. import variational as var
from ..runtime import cpu_threads
from ..train import Trainer, fit
from . import information_in_weights as iw
from .cli import figure_config, figure_defaults, result_name, run_cli

__all__ = ["FIGURES", "default_config", "digits_binary", "run_bounds", "run_width", "run_beta",
           "network_bounds", "precomputed", "main"]

FIGURES = ("bounds", "width", "beta")

_DIGITS = dict(source="digits", n_test=None, seed=0)
_CONFIGS: dict[str, dict[str, dict]] = {
    "bounds": {
        "fast": dict(logistic=dict(classes=[3, 8], n_train=250, n_trains=[50, 100, 150, 250],
                                   sigma0s=[0.3, 1.0, 3.0, 10.0], scales=[0.1, 0.3, 1.0, 3.0, 10.0, 30.0]),
                     network=dict(tasks=["binary", "ten"], n_train=1200, hidden=64, sigma0s=[0.05, 0.1, 0.2],
                                  betas=[0.1, 0.3, 1.0, 3.0], steps=2000, batch_size=128, lr_mean=1e-3,
                                  lr_var=1e-2, gibbs_samples=20),
                     mcallester_betas=[1.0, 2.0, 4.0, 8.0], delta=0.05, delta_sample=0.01, data=dict(_DIGITS),
                     seeds=[0]),
        "full": dict(logistic=dict(classes=[3, 8], n_train=250, n_trains=[25, 50, 100, 150, 200, 250],
                                   sigma0s=[0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
                                   scales=[0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]),
                     network=dict(tasks=["binary", "ten"], n_train=1200, hidden=64,
                                  sigma0s=[0.03, 0.05, 0.1, 0.2, 0.4], betas=[0.1, 0.3, 1.0, 2.0, 3.0],
                                  steps=8000, batch_size=128, lr_mean=1e-3, lr_var=1e-2, gibbs_samples=100),
                     mcallester_betas=[1.0, 2.0, 4.0, 8.0], delta=0.05, delta_sample=0.01, data=dict(_DIGITS),
                     seeds=[0, 1, 2, 3, 4]),
    },
    "width": {
        "fast": dict(data=dict(_DIGITS), n_train=1000, widths=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
                     epochs=100, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4, seeds=[0]),
        "full": dict(data=dict(_DIGITS), n_train=1000, widths=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
                     epochs=300, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4, seeds=[0, 1, 2, 3, 4]),
    },
    "beta": {
        "fast": dict(data=dict(_DIGITS), n_train=1000, noise=[0.0, 0.3],
                     betas=[1e-3, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0], arch="mlp", steps=4000, batch_size=128,
                     lr_mean=1e-3, lr_var=1e-2, prior="learned", eval_samples=5, seeds=[0]),
        "full": dict(data=dict(_DIGITS), n_train=1000, noise=[0.0, 0.15, 0.3, 0.5],
                     betas=[1e-3, 3e-3, 0.01, 0.03, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0], arch="mlp", steps=8000,
                     batch_size=128, lr_mean=1e-3, lr_var=1e-2, prior="learned", eval_samples=5,
                     seeds=[0, 1, 2, 3, 4]),
    },
}


def default_config(figure: str, scale: str | None = None) -> dict:
    """The default configuration of ``figure`` (one of :data:`FIGURES`) at ``scale``."""
    return figure_defaults(_CONFIGS, figure, scale)


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    cfg = figure_config(_CONFIGS, figure, config, scale, dict(scale=None))
    if figure == "bounds":
        bad = [t for t in cfg["network"]["tasks"] if t not in ("binary", "ten")]
        if bad:
            raise cache.ConfigError(f"unknown network task(s) {bad}; choose 'binary' or 'ten'")
        if not 0 < cfg["delta"] < 1 or not 0 < cfg["delta_sample"] < 1:
            raise cache.ConfigError("delta and delta_sample must lie in (0, 1)")
    if figure == "beta" and any(not 0 <= f <= 1 for f in cfg["noise"]):
        raise cache.ConfigError(f"noise fractions must lie in [0, 1], got {cfg['noise']}")
    return cfg


def _mean_sd(rows: list[list[float]]) -> tuple[list[float], list[float]]:
    a = np.asarray(rows, dtype=float)
    sd = a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1:])
    return a.mean(0).tolist(), sd.tolist()


def _per_seed(cfg: dict, label: str, run: Callable[[int], dict], progress: bool) -> list[dict]:
    """``run(seed)`` for every seed of ``cfg``, printing each one's time with ``progress``."""
    out = []
    for s in cfg["seeds"]:
        t = time.perf_counter()
        out.append(run(s))
        if progress:
            print(f"[{label}] seed={s}: {time.perf_counter() - t:.1f} s", flush=True)
    return out


# --------------------------------------------------------------------------------------------------
# PAC-Bayes certificates
# --------------------------------------------------------------------------------------------------
def digits_binary(classes=(3, 8), n_train: int = 250, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(X_train, y_train, X_test, y_test)`` of the digits ``classes[0]`` (label 0) vs ``classes[1]``
    (label 1): pixels / 16 plus a column of ones (the bias), a random split fixed by ``seed``."""
    ds = data.digits("cpu")
    x = ds.x.flatten(1).double().numpy() / 16.0
    y = ds.y.numpy()
    a, b = classes
    keep = (y == a) | (y == b)
    x, y = np.c_[x[keep], np.ones(int(keep.sum()))], (y[keep] == b).astype(float)
    if not 0 < n_train < len(x):
        raise cache.ConfigError(f"n_train must lie in 1..{len(x) - 1} for digits {a} vs {b}, got {n_train}")
    p = np.random.default_rng(int(seed)).permutation(len(x))
    return x[p[:n_train]], y[p[:n_train]], x[p[n_train:]], y[p[n_train:]]


def _logistic_bounds(cfg: dict, seed: int) -> dict:
    lc = cfg["logistic"]
    xtr, ytr, xte, yte = digits_binary(lc["classes"], lc["n_train"], seed)
    rows: dict[str, list] = {k: [] for k in ("bound", "bound_mcallester", "gibbs_train", "gibbs_test",
                                             "map_test_error", "kl", "sigma0", "scale", "vc_bound")}
    for n in lc["n_trains"]:
        r = pacbayes.logistic_laplace_bounds(xtr[:n], ytr[:n], lc["sigma0s"], lc["scales"], cfg["delta"],
                                             cfg["mcallester_betas"], xte, yte)
        b = r["best"]
        for k, v in (("bound", r["bound"]), ("bound_mcallester", r["bound_mcallester"]),
                     ("gibbs_train", float(r["gibbs_train"][b])), ("gibbs_test", r["gibbs_test"]),
                     ("map_test_error", r["map_test_error"]), ("kl", float(r["kl"][b])),
                     ("sigma0", r["sigma0"]), ("scale", r["scale"]),
                     ("vc_bound", pacbayes.vc_bound(xtr.shape[1], n, cfg["delta"], float(r["gibbs_train"][b]),
                                                    vc_dim=xtr.shape[1]))):
            rows[k].append(v)
    rows.update(n_test=int(len(xte)), n_candidates=len(lc["sigma0s"]) * len(lc["scales"]))
    return rows


def _task_data(cfg: dict, task: str):
    train, test, src = iw.load_data(dict(data=cfg["data"]), cfg["network"]["n_train"])
    if task == "binary":
        train, test = (train[0], (train[1] >= 5).long()), (test[0], (test[1] >= 5).long())
    return train, test, src


def network_bounds(cfg: dict, task: str, seed: int, report: Callable[[float, str], None] | None = None) -> dict:
    """Train the σ₀ × β grid of fixed-prior variational networks for ``task`` (one packed model) and
    certify each member; see the module docstring. Cached (``ch04/bounds_group``)."""
    nc = cfg["network"]
    gcfg = dict(network=nc, task=task, seed=int(seed), data=cfg["data"], delta=cfg["delta"],
                delta_sample=cfg["delta_sample"], mcallester_betas=cfg["mcallester_betas"])

    def compute() -> dict:
        t0 = time.perf_counter()
        (x, y), (xt, yt), src = _task_data(cfg, task)
        n, c = len(x), (2 if task == "binary" else 10)
        grid = [(s0, b) for s0 in nc["sigma0s"] for b in nc["betas"]]
        torch.manual_seed(int(seed))
        model = var.VariationalMLP([x.shape[1], nc["hidden"], c], members=len(grid), prior="fixed",
                                   sigma0=[g[0] for g in grid]).to(x.device)
        epochs = max(1, int(round(nc["steps"] / math.ceil(n / nc["batch_size"]))))
        cbs = [] if report is None else [lambda ep, m, h: report((ep + 1) / epochs, f"epoch {ep + 1}/{epochs}")]
        with cpu_threads(x.device):
            fit(model, (x, y), var.trainer(epochs, nc["batch_size"], nc["lr_mean"], nc["lr_var"]),
                loss_fn=var.variational_loss([g[1] for g in grid], n), progress=False, seed=int(seed),
                callbacks=cbs)
            ev_tr = var.evaluate(model, (x, y), samples=nc["gibbs_samples"])
            ev_te = var.evaluate(model, (xt, yt), samples=nc["gibbs_samples"])
            with torch.no_grad():
                kl = var.kl(model).cpu().numpy()
        k = len(grid)
        err = 1.0 - np.asarray(ev_tr["acc_sampled"])
        err_up = np.atleast_1d(pacbayes.sample_error_bound(err, n * nc["gibbs_samples"], cfg["delta_sample"]))
        kl_inv = np.atleast_1d(pacbayes.kl_inverse_bound(err_up, kl, n, cfg["delta"] / k))
        mc = [pacbayes.union_bound_grid([e], [v], n, cfg["delta"] / k, bound="mcallester",
                                        betas=cfg["mcallester_betas"]).value for e, v in zip(err_up, kl)]
        best = int(np.argmin(kl_inv))
        n_params = sum(p.numel() for nm, p in model.named_parameters() if "logvar" not in nm) // k
        return dict(task=task, source=src, n_train=n, n_test=int(len(xt)), classes=c, sigma0=[g[0] for g in grid],
                    beta=[g[1] for g in grid], gibbs_train=err.tolist(), gibbs_train_certified=err_up.tolist(),
                    kl=kl.tolist(), bound=kl_inv.tolist(), bound_mcallester=mc,
                    test_error=(1.0 - np.asarray(ev_te["acc_sampled"])).tolist(),
                    test_error_mean_net=(1.0 - np.asarray(ev_te["acc_mean"])).tolist(),
                    best=best, n_candidates=k, n_params=int(n_params), guess_error=1.0 - 1.0 / c,
                    vc_bound=pacbayes.vc_bound(n_params, n, cfg["delta"], float(err[best])),
                    seconds=time.perf_counter() - t0)

    return cache.cached("ch04/bounds_group", gcfg, compute)


def run_bounds(config: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """PAC-Bayes certificates (Theorem 4.4.1): ``logistic`` (per seed: lists over ``n_trains``) and
    ``network`` (per task: per seed the whole grid, the certified minimum ``bound`` and the ``test_error``
    of the same member), plus means over seeds."""
    cfg = _config("bounds", config, scale)

    def compute() -> dict:
        out: dict[str, Any] = dict(figure="Theorem 4.4.1", config=cfg, logistic=[], network={})
        for s in cfg["seeds"]:
            out["logistic"].append(_logistic_bounds(cfg, s))
        for task in cfg["network"]["tasks"]:
            runs = _per_seed(cfg, f"bounds {task}", lambda s: network_bounds(cfg, task, s), progress)
            best = [r["best"] for r in runs]
            out["network"][task] = dict(
                runs=runs, bound=[r["bound"][b] for r, b in zip(runs, best)],
                test_error=[r["test_error"][b] for r, b in zip(runs, best)],
                gibbs_train=[r["gibbs_train"][b] for r, b in zip(runs, best)],
                kl=[r["kl"][b] for r, b in zip(runs, best)], vc_bound=[r["vc_bound"] for r in runs],
                bound_mcallester=[min(r["bound_mcallester"]) for r in runs], guess_error=runs[0]["guess_error"])
        lg = out["logistic"]
        out["logistic_mean"] = {k: _mean_sd([r[k] for r in lg])[0] for k in
                                ("bound", "bound_mcallester", "gibbs_train", "gibbs_test", "map_test_error", "kl")}
        return out

    return cache.cached("ch04/bounds", cfg, compute)


# --------------------------------------------------------------------------------------------------
# Fig 4.4 left: width under weight decay
# --------------------------------------------------------------------------------------------------
def _width_group(cfg: dict, seed: int) -> dict:
    gcfg = {k: v for k, v in cfg.items() if k != "seeds"}
    gcfg["seed"] = int(seed)

    def compute() -> dict:
        t0 = time.perf_counter()
        (x, y), (xt, yt), src = iw.load_data(dict(data=cfg["data"]), cfg["n_train"])
        tr = Trainer(epochs=cfg["epochs"], lr=cfg["lr"], momentum=cfg["momentum"],
                     weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"])
        res: dict[str, list] = dict(train_error=[], test_error=[], n_weights=[])
        for w in cfg["widths"]:
            torch.manual_seed(int(seed))
            net = nn.Sequential(nn.Linear(x.shape[1], w), nn.ReLU(), nn.Linear(w, 10)).to(x.device)
            with cpu_threads(x.device):
                fit(net, (x, y), tr, progress=False, seed=int(seed))
                net.eval()
                with torch.no_grad():
                    res["train_error"].append(float((net(x).argmax(1) != y).double().mean()))
                    res["test_error"].append(float((net(xt).argmax(1) != yt).double().mean()))
            res["n_weights"].append(int(sum(p.numel() for p in net.parameters())))
        res.update(source=src, seconds=time.perf_counter() - t0)
        return res

    return cache.cached("ch04/width_group", gcfg, compute)


def run_width(config: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Thesis Fig 4.4 left: ``test_error`` (mean over seeds, ``test_error_sd``) and ``train_error`` against
    ``widths`` / ``n_weights`` of a one-hidden-layer MLP under weight decay."""
    cfg = _config("width", config, scale)

    def compute() -> dict:
        groups = _per_seed(cfg, "width", lambda s: _width_group(cfg, s), progress)
        te, te_sd = _mean_sd([g["test_error"] for g in groups])
        tr, _ = _mean_sd([g["train_error"] for g in groups])
        return dict(figure="4.4 left", config=cfg, source=groups[0]["source"], width=list(cfg["widths"]),
                    n_weights=groups[0]["n_weights"], test_error=te, test_error_sd=te_sd, train_error=tr,
                    test_error_seeds=[g["test_error"] for g in groups], group_seconds=[g["seconds"] for g in groups])

    return cache.cached("ch04/width", cfg, compute)


# --------------------------------------------------------------------------------------------------
# Fig 4.4 right: test error against beta
# --------------------------------------------------------------------------------------------------
def _beta_group(cfg: dict, seed: int, report: Callable[[float, str], None] | None = None) -> dict:
    gcfg = {k: v for k, v in cfg.items() if k != "seeds"}
    gcfg["seed"] = int(seed)

    def compute() -> dict:
        t0 = time.perf_counter()
        train, test, src = iw.load_data(dict(data=cfg["data"]), cfg["n_train"])
        x, y = train
        betas = [b for _ in cfg["noise"] for b in cfg["betas"]]
        ys = torch.stack([iw.corrupt_labels(y, f, 10, seed) for f in cfg["noise"] for _ in cfg["betas"]], 1)
        model = iw.make_model(cfg, x.shape[1], 10, len(betas), seed)
        epochs = iw.epochs_for(cfg, len(x))
        cbs = [] if report is None else [lambda ep, m, h: report((ep + 1) / epochs, f"epoch {ep + 1}/{epochs}")]
        with cpu_threads(x.device):
            fit(model, (x, ys), var.trainer(epochs, cfg["batch_size"], cfg["lr_mean"], cfg["lr_var"]),
                loss_fn=iw.member_labels_loss(betas, len(x)), progress=False, seed=int(seed), callbacks=cbs)
            ev_te = var.evaluate(model, test, samples=cfg["eval_samples"])
            with torch.no_grad():
                kl = (var.kl(model) / len(x)).cpu().tolist()
        res: dict[str, Any] = dict(source=src, seconds=time.perf_counter() - t0, test_error={}, test_error_mean_net={},
                                   train_error={}, kl_per_sample={})
        nb = len(cfg["betas"])
        for i, f in enumerate(cfg["noise"]):
            sl = slice(i * nb, (i + 1) * nb)
            members = list(range(sl.start, sl.stop))
            with cpu_threads(x.device):
                tr_acc = [var.evaluate(var.member(model, e), (x, ys[:, e]), samples=cfg["eval_samples"])["acc_sampled"][0]
                          for e in members]
            res["test_error"][str(f)] = [1.0 - a for a in ev_te["acc_sampled"][sl]]
            res["test_error_mean_net"][str(f)] = [1.0 - a for a in ev_te["acc_mean"][sl]]
            res["train_error"][str(f)] = [1.0 - a for a in tr_acc]
            res["kl_per_sample"][str(f)] = kl[sl]
        return res

    return cache.cached("ch04/beta_group", gcfg, compute)


def run_beta(config: dict | None = None, scale: str | None = None, progress: bool = False,
             report: Callable[[float, str], None] | None = None) -> dict:
    """Thesis Fig 4.4 right: per label-noise fraction (keys ``"0.0"``, ``"0.3"``, ...), the Gibbs
    ``test_error`` (clean test labels; mean over seeds, and ``test_error_sd``), ``train_error`` (against
    the noisy labels) and ``kl_per_sample`` against ``beta``. ``report(fraction, message)`` follows the
    training of each seed (for a progress bar)."""
    cfg = _config("beta", config, scale)

    def compute() -> dict:
        groups = _per_seed(cfg, "beta", lambda s: _beta_group(cfg, s, report), progress)
        out: dict[str, Any] = dict(figure="4.4 right", config=cfg, source=groups[0]["source"], beta=list(cfg["betas"]),
                                   noise=list(cfg["noise"]), group_seconds=[g["seconds"] for g in groups])
        for k in ("test_error", "test_error_mean_net", "train_error", "kl_per_sample"):
            out[k] = {f: _mean_sd([g[k][f] for g in groups])[0] for f in groups[0][k]}
        out["test_error_sd"] = {f: _mean_sd([g["test_error"][f] for g in groups])[1] for f in groups[0]["test_error"]}
        return out

    return cache.cached("ch04/beta", cfg, compute)


# --------------------------------------------------------------------------------------------------
# results/ and CLI
# --------------------------------------------------------------------------------------------------
def precomputed(figure: str, scale: str = "fast", seeds: int | None = None, tag: str = "") -> dict | None:
    """The result the CLI wrote (``results/ch04_<figure>_<scale>[_<n>seeds][_<tag>].json``), or ``None``."""
    how = (f"python -m emergent.experiments.generalization {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("04", figure, scale, seeds, tag), how)


_RUNNERS: dict[str, Callable[..., dict]] = {"bounds": run_bounds, "width": run_width, "beta": run_beta}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.generalization FIGURE|all [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="generalization", chapter="04", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _config(fig, changes, sc), set_example="'n_train=300'")


if __name__ == "__main__":
    main()
