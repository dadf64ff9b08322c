"""Chapter 4, the information in the weights: the sweeps behind thesis Figures 4.2 and 4.3, cached.

One function per figure, each ``run_<figure>(config=None, scale=None) -> dict`` (JSON-able):

* :func:`run_random_labels` (Fig 4.2, and Fig 4.3 left with ``arch="mlp_wide"``): the β × N ×
  (random | real labels) sweep of a variational MLP trained on the weight IB ``mean CE + β·KL/N``
  (:mod:`emergent.variational`). Per run: train accuracy of the stochastic net (mean of 5 weight
  samples) and of the mean net, test accuracy (real test labels), KL/N in nats per sample.
* :func:`run_corruption` (Fig 4.3 right, spec Pilot B): β = 0.03, N = 1000, a fraction of the
  training labels replaced by uniformly random ones, corruption ∈ {0, .25, .5, .75, 1}.
* :func:`benchmark_packed`: runs per second of packed training against one run at a time.

**Packing.** All β of one (N, label set, seed) train *together* as one packed
:class:`~emergent.variational.VariationalMLP` (``members = len(betas)``) through
:func:`emergent.train.fit` with :func:`~emergent.variational.variational_loss`: one minibatch order,
E independent networks, each with exactly the gradient of its own loss (Adam is per-parameter, so
summing the members' losses couples nothing). The corruption levels of :func:`run_corruption` differ
in their *labels*, not their inputs, so they are packed too: the training labels are an ``(N, E)``
tensor (column e = member e's labels; :func:`emergent.train.fit` indexes it row-wise with the same
minibatch permutation) and :func:`member_labels_loss` takes the cross-entropy of member e against
column e. Random and real labels of :func:`run_random_labels` are kept as separate packed models
(one per label set) so that every (N, label set, seed) group is one cached unit.

Every group is cached with :func:`emergent.cache.cached` under ``ch04/<figure>_group`` keyed by its
full configuration, the assembled result under ``ch04/<figure>``. The CLI::

    python -m emergent.experiments.information_in_weights random_labels --scale fast --seeds 5

writes ``results/ch04_random_labels_fast_5seeds.json`` with :func:`emergent.cache.save_result`.

Fast scale (our choices; course spec ch04 §4 Pilot A — the thesis appendix with the Ch. 4 details is
not in the source): scikit-learn's 1,797 8×8 digits (:func:`emergent.data.digits`), flattened and
standardised per pixel with the statistics of all 1,797 images (label-free; constant pixels keep
scale 1), a fixed random split into N training images and the rest for testing; MLP 64-128-128-10
of variational layers with a learned per-layer prior; Adam, lr 1e-3 for the means and biases, 1e-2
for the log-variances and log-prior; 4,000 steps of batch 128 (epochs = round(steps / ceil(N/128)));
β ∈ {0.003, …, 3}; N ∈ {400, 1000, 1600}. ``arch="mlp_wide"`` (hidden 256-256-256) is the second
model of Fig 4.3 left. Full scale: CIFAR-10 via torchvision (flattened 3,072 inputs, N up to
10,000; the thesis used AlexNet/ResNet-18 with variational layers, which this module does not build),
else the offline digits with a one-line message. Random labels are drawn per seed; the seed also sets
the initialisation and the minibatch order; the split is fixed by ``data.seed``.

Reported ``pac_bayes_bound`` is the kl-inverse bound (:func:`emergent.pacbayes.kl_inverse_bound`,
δ = 0.05) on the stochastic net's 0–1 train error with the run's KL. The prior is *learned on the
training set*, so this is not a valid certificate (and no union bound over β is paid): indicative only.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import cache, data, pacbayes
from .cli import figure_config, figure_defaults, result_name, run_cli
from .. import variational as var
from ..runtime import cpu_threads
from ..runtime import device as _device
from ..train import fit

__all__ = ["FIGURES", "ARCHS", "Report", "default_config", "load_data", "corrupt_labels", "make_model", "epochs_for",
           "member_labels_loss", "train_group",
           "run_random_labels", "run_corruption", "benchmark_packed", "precomputed", "main"]

FIGURES = ("random_labels", "corruption")

ARCHS: dict[str, tuple[int, ...]] = {"mlp": (128, 128), "mlp_wide": (256, 256, 256)}
"""Hidden widths of the variational MLPs (input and output sizes come from the data)."""

_BETAS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
_TRAIN = dict(arch="mlp", steps=4000, batch_size=128, lr_mean=1e-3, lr_var=1e-2, prior="learned",
              eval_samples=5, seeds=[0])
_CONFIGS: dict[str, dict[str, dict]] = {
    "random_labels": {
        "fast": dict(data=dict(source="digits", n_test=None, seed=0), betas=list(_BETAS),
                     n_trains=[400, 1000, 1600], labels=["random", "real"], **_TRAIN),
        "full": dict(data=dict(source="cifar10", n_test=10000, seed=0),
                     betas=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
                     n_trains=[1000, 5000, 10000], labels=["random", "real"],
                     **dict(_TRAIN, arch="mlp_wide", steps=40000)),
    },
    "corruption": {
        "fast": dict(data=dict(source="digits", n_test=None, seed=0), beta=0.03, n_train=1000,
                     corruptions=[0.0, 0.25, 0.5, 0.75, 1.0], **_TRAIN),
        "full": dict(data=dict(source="cifar10", n_test=10000, seed=0), beta=0.03, n_train=10000,
                     corruptions=[0.0, 0.25, 0.5, 0.75, 1.0], **dict(_TRAIN, arch="mlp_wide", steps=40000)),
    },
}
_OPTIONAL_KEYS: dict[str, Any] = dict(scale=None)  # scale: set by _config


def default_config(figure: str, scale: str | None = None) -> dict:
    """The default configuration of ``figure`` (``"random_labels"`` or ``"corruption"``) at ``scale``."""
    return figure_defaults(_CONFIGS, figure, scale)


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    """``figure``'s defaults at ``scale`` with ``config`` on top, checked first (unknown keys raise
    :class:`emergent.cache.ConfigError` before any work)."""
    cfg = figure_config(_CONFIGS, figure, config, scale, _OPTIONAL_KEYS)
    if cfg["arch"] not in ARCHS:
        raise cache.ConfigError(f"unknown arch {cfg['arch']!r}; choose from {', '.join(ARCHS)}")
    return cfg


# --------------------------------------------------------------------------------------------------
# data and model
# --------------------------------------------------------------------------------------------------
_POOL: dict = {}


def _pool(source: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, str]:
    """``(x_train_pool, y_train_pool, x_test, y_test, name)`` flattened and standardised (CPU); the test
    part is ``None`` for digits (split later)."""
    key = source
    if key in _POOL:
        return _POOL[key]
    if source == "cifar10":
        try:
            tr = data.torchvision_dataset("cifar10", train=True, device="cpu")
            te = data.torchvision_dataset("cifar10", train=False, device="cpu")
            xs = [tr.x.flatten(1), te.x.flatten(1)]
            mu, sd = xs[0].mean(0), xs[0].std(0)
            sd = torch.where(sd > 0, sd, torch.ones_like(sd))
            out = ((xs[0] - mu) / sd, tr.y, (xs[1] - mu) / sd, te.y, "cifar10")
            _POOL[source] = out
            return out
        except data.DatasetUnavailable as e:
            print(f"[emergent] cifar10 unavailable ({e.reason}); using the offline stand-in (8x8 digits) instead.")
            source = "digits"
    if source != "digits":
        raise cache.ConfigError(f"unknown data source {source!r}; choose 'digits' or 'cifar10'")
    ds = data.digits("cpu")
    x = ds.x.flatten(1)
    mu, sd = x.mean(0), x.std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    out = ((x - mu) / sd, ds.y, None, None, "digits")
    _POOL[key] = out
    return out


def load_data(cfg: dict, n_train: int, device: Any = None) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                                    tuple[torch.Tensor, torch.Tensor], str]:
    """``((x_train, y_train), (x_test, y_test), source)`` with ``n_train`` training samples (real labels).

    Digits: a random split fixed by ``data.seed``, N for training and the rest (or ``n_test`` of them)
    for testing; CIFAR-10: N of the training set and ``n_test`` of the test set."""
    d = cfg["data"]
    x, y, xt, yt, name = _pool(d["source"])
    g = torch.Generator().manual_seed(int(d["seed"]))
    if xt is None:
        if d["source"] != "digits" and n_train > len(x) - len(x) // 6:  # the stand-in of a larger data set
            n_train = len(x) - len(x) // 6
            print(f"[emergent] the offline stand-in has {len(x)} samples: training on N = {n_train}, "
                  "testing on the rest.")
        if n_train >= len(x):
            raise ValueError(f"n_train={n_train} leaves no test samples of the {len(x)} digits")
        perm = torch.randperm(len(x), generator=g)
        tr, te = perm[:n_train], perm[n_train:]
        xt, yt = x[te], y[te]
        x, y = x[tr], y[tr]
    else:
        keep = torch.randperm(len(x), generator=g)[:n_train]
        x, y = x[keep], y[keep]
    if d.get("n_test") and len(xt) > d["n_test"]:
        keep = torch.randperm(len(xt), generator=torch.Generator().manual_seed(int(d["seed"]) + 1))[:d["n_test"]]
        xt, yt = xt[keep], yt[keep]
    dev = _device() if device is None else torch.device(device)
    return (x.to(dev), y.to(dev)), (xt.to(dev), yt.to(dev)), name


def _random_labels(n: int, n_classes: int, seed: int) -> torch.Tensor:
    return torch.randint(n_classes, (n,), generator=torch.Generator().manual_seed(10_000 + int(seed)))


def corrupt_labels(y: torch.Tensor, fraction: float, n_classes: int, seed: int) -> torch.Tensor:
    """``y`` with the first ``round(fraction·N)`` samples of a seeded permutation relabelled uniformly at
    random (nested across fractions: a larger fraction corrupts a superset; a relabelled sample keeps its
    true label with probability 1/classes)."""
    g = torch.Generator().manual_seed(20_000 + int(seed))
    perm = torch.randperm(len(y), generator=g)
    new = torch.randint(n_classes, (len(y),), generator=g).to(y.device)
    k = int(round(float(fraction) * len(y)))
    out = y.clone()
    idx = perm[:k].to(y.device)
    out[idx] = new[idx]
    return out


def make_model(cfg: dict, in_features: int, n_classes: int, members: int, seed: int) -> var.VariationalMLP:
    """The packed variational MLP of ``cfg["arch"]`` (see :data:`ARCHS`), initialised from ``seed``."""
    torch.manual_seed(int(seed))
    return var.VariationalMLP([in_features, *ARCHS[cfg["arch"]], n_classes], members=members, prior=cfg["prior"])


def epochs_for(cfg: dict, n_train: int) -> int:
    """Epochs giving about ``cfg["steps"]`` optimizer steps at ``batch_size`` on ``n_train`` samples (at
    least 1). An epoch has ceil(N / batch) steps (its last minibatch is smaller), so this is
    round(steps / ceil(N / batch)) rather than steps·batch/N, which would give 5,120 steps at N = 400."""
    return max(1, int(round(cfg["steps"] / math.ceil(n_train / cfg["batch_size"]))))


def member_labels_loss(betas: Sequence[float], n_train: int) -> Callable:
    """Like :func:`emergent.variational.variational_loss`, but the labels are ``(B, E)``: member e's
    cross-entropy is against column e (packed members trained on different label sets)."""
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    n = int(n_train)

    def loss_fn(model, xb, yb):
        out = model(xb)
        if out.dim() == 2:
            out = out[:, None]
        ce = F.cross_entropy(out.permute(0, 2, 1), yb, reduction="none").mean(0)
        kl_ps = var.kl(model) / n
        loss = ce + (b.to(kl_ps.device) * kl_ps).to(ce.dtype)
        acc = (out.detach().argmax(-1) == yb).double().mean(0)
        return loss, {"ce": ce.detach(), "kl_per_sample": kl_ps.detach(), "train_acc": acc}

    return loss_fn


Report = Callable[[float, str], None]
"""A progress callback ``report(fraction, message)``, ``fraction`` in [0, 1] (what
:func:`emergent.widgets.run_button` hands to its ``train`` function)."""


def train_group(cfg: dict, x: torch.Tensor, y: torch.Tensor, betas: Sequence[float], seed: int,
                model: var.VariationalMLP | None = None, steps: int | None = None,
                report: Report | None = None) -> tuple[var.VariationalMLP, dict]:
    """Train ``len(betas)`` packed members on ``(x, y)`` (``y`` of shape ``(N,)`` shared, or ``(N, E)``
    per member) through :func:`emergent.train.fit`; returns the model and the history.
    ``model`` (optional) is a fresh packed model to train (e.g. to compare with one-by-one training).
    ``report`` (optional) is called after every epoch with the fraction of epochs done (a per-epoch
    callback of :func:`emergent.train.fit`; it reads nothing and changes nothing of the training)."""
    n = len(x)
    if model is None:
        model = make_model(cfg, x.shape[1], max(int(y.max().item()) + 1, 10), len(betas), seed)
    c = dict(cfg) if steps is None else dict(cfg, steps=steps)
    epochs = epochs_for(c, n)
    loss = var.variational_loss(list(betas), n) if y.dim() == 1 else member_labels_loss(list(betas), n)
    callbacks = []
    if report is not None:
        callbacks.append(lambda epoch, _model, _hist: report((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}"))
    with cpu_threads(x.device):
        hist = fit(model, (x, y), var.trainer(epochs, c["batch_size"], c["lr_mean"], c["lr_var"]),
                   loss_fn=loss, progress=False, seed=int(seed), callbacks=callbacks)
    return model, hist


def _pac(err: float, kl: float, n: int) -> float | None:
    if not (math.isfinite(kl) and kl >= 0 and 0 <= err <= 1):
        return None
    return float(pacbayes.kl_inverse_bound(err, kl, n, 0.05))


def _measure(model, train, test, samples: int) -> dict:
    """Per member: stochastic and mean-net train accuracy, test accuracy, KL/N."""
    with cpu_threads(train[0].device):
        ev_tr = var.evaluate(model, train, samples=samples)
        ev_te = var.evaluate(model, test, samples=samples)
        with torch.no_grad():
            kl = var.kl(model).cpu().tolist()
    n = len(train[0])
    return dict(train_acc=ev_tr["acc_sampled"], train_acc_mean_net=ev_tr["acc_mean"], test_acc=ev_te["acc_sampled"],
                test_acc_mean_net=ev_te["acc_mean"], kl_per_sample=[k / n for k in kl],
                train_ce=ev_tr["ce_sampled"])


# --------------------------------------------------------------------------------------------------
# Fig 4.2 / 4.3 left
# --------------------------------------------------------------------------------------------------
def _group_random_labels(cfg: dict, n_train: int, labels: str, seed: int, report: Report | None = None) -> dict:
    gcfg = {k: v for k, v in cfg.items() if k not in ("n_trains", "labels", "seeds")}
    gcfg.update(n_train=int(n_train), label_set=labels, seed=int(seed))

    def compute():
        t0 = time.perf_counter()
        train, test, src = load_data(cfg, n_train)
        x, y = train
        if labels == "random":
            y = _random_labels(len(y), 10, seed).to(y.device)
        elif labels != "real":
            raise ValueError(f"labels must be 'random' or 'real', got {labels!r}")
        model, _ = train_group(cfg, x, y, cfg["betas"], seed, report=report)
        res = _measure(model, (x, y), test, cfg["eval_samples"])
        res.update(seconds=time.perf_counter() - t0, source=src, epochs=epochs_for(cfg, len(x)), n_used=len(x))
        return res

    return cache.cached("ch04/random_labels_group", gcfg, compute)


def _sd(v: Sequence[float]) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def run_random_labels(config: dict | None = None, scale: str | None = None, progress: bool = False,
                      report: Report | None = None) -> dict:
    """Thesis Fig 4.2 (and 4.3 left with ``arch="mlp_wide"``): the β × N × (random | real labels) sweep.

    Returns flat lists, one entry per (N, label set, β) run (N outer, β inner): ``beta``, ``n_train``,
    ``labels`` ("random"/"real"), ``train_acc`` (stochastic net, mean of ``eval_samples`` weight samples,
    then the mean over seeds), ``train_acc_sd`` (over seeds), ``train_acc_mean_net``, ``kl_per_sample``
    (KL/N, nats per sample), ``test_acc`` (stochastic net on the real test labels), ``test_acc_mean_net``,
    ``pac_bayes_bound`` (indicative, see the module docstring), ``n_train_used`` (N clipped to the offline
    stand-in's size when the full-scale data are unavailable), ``train_acc_seeds``, ``kl_per_sample_seeds``;
    ``group_seconds`` per (N, label set, seed); and ``config``.

    ``report(fraction, message)`` (optional; e.g. the one :func:`emergent.widgets.run_button` passes)
    follows the training: called after every epoch of every (N, label set, seed) group, with the fraction
    of the whole sweep done, and after each group, cached ones included; it ends at 1. It is no part of
    the configuration: the cache keys and the result are the same with or without it.
    """
    cfg = _config("random_labels", config, scale)
    n_groups = len(cfg["n_trains"]) * len(cfg["labels"]) * len(cfg["seeds"])

    def group_report(i: int, what: str) -> Report | None:
        if report is None:
            return None
        return lambda f, msg="": report((i + f) / n_groups, f"{what}: {msg}" if msg else what)

    def compute():
        keys = ("train_acc", "train_acc_mean_net", "kl_per_sample", "test_acc", "test_acc_mean_net")
        out: dict[str, Any] = dict(figure="4.2", config=cfg, beta=[], n_train=[], n_train_used=[], labels=[],
                                   train_acc_sd=[],
                                   pac_bayes_bound=[], train_acc_seeds=[], kl_per_sample_seeds=[], group_seconds=[],
                                   **{k: [] for k in keys})
        done = 0
        for n in cfg["n_trains"]:
            for lab in cfg["labels"]:
                groups = []
                for s in cfg["seeds"]:
                    t = time.perf_counter()
                    what = f"N={n} {lab} seed={s}"
                    groups.append(_group_random_labels(cfg, n, lab, s, group_report(done, what)))
                    done += 1
                    if report is not None:
                        report(done / n_groups, f"{what}: done")
                    out["group_seconds"].append(dict(n_train=n, labels=lab, seed=s, seconds=groups[-1]["seconds"]))
                    if progress:
                        print(f"[random_labels] N={n} {lab} seed={s}: {time.perf_counter() - t:.1f} s", flush=True)
                out["source"] = groups[0]["source"]
                n_used = groups[0]["n_used"]
                for i, b in enumerate(cfg["betas"]):
                    out["beta"].append(b)
                    out["n_train"].append(n)
                    out["n_train_used"].append(n_used)
                    out["labels"].append(lab)
                    for k in keys:
                        out[k].append(float(np.mean([g[k][i] for g in groups])))
                    accs = [g["train_acc"][i] for g in groups]
                    out["train_acc_seeds"].append(accs)
                    out["kl_per_sample_seeds"].append([g["kl_per_sample"][i] for g in groups])
                    out["train_acc_sd"].append(_sd(accs))
                    kl_nats = out["kl_per_sample"][-1] * n_used
                    out["pac_bayes_bound"].append(_pac(1 - out["train_acc"][-1], kl_nats, n_used))
        return out

    result = cache.cached("ch04/random_labels", cfg, compute)
    if report is not None:
        report(1.0, "done")
    return result


# --------------------------------------------------------------------------------------------------
# Fig 4.3 right
# --------------------------------------------------------------------------------------------------
def run_corruption(config: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Thesis Fig 4.3 right (spec Pilot B): IIW (KL/N) against the fraction of corrupted training labels
    at a fixed β < 1.

    The corruption levels are packed into one model per seed: the training labels are an ``(N, E)``
    tensor, one column per level (see :func:`member_labels_loss`), so all levels share the inputs, the
    minibatch order and the seed. Returns flat lists over ``corruption``: ``train_acc`` (stochastic net,
    against the member's own corrupted labels; mean over seeds), ``train_acc_sd``, ``train_acc_mean_net``,
    ``test_acc`` (clean test labels), ``kl_per_sample``, per-seed lists, and ``config``.
    """
    cfg = _config("corruption", config, scale)

    def group(seed: int) -> dict:
        gcfg = {k: v for k, v in cfg.items() if k != "seeds"}
        gcfg["seed"] = int(seed)

        def compute():
            t0 = time.perf_counter()
            train, test, src = load_data(cfg, cfg["n_train"])
            x, y = train
            ys = torch.stack([corrupt_labels(y, c, 10, seed) for c in cfg["corruptions"]], 1)
            model, _ = train_group(cfg, x, ys, [cfg["beta"]] * len(cfg["corruptions"]), seed)
            res: dict[str, list] = {}
            for e in range(ys.shape[1]):  # each member against its own labels
                m = _measure(model, (x, ys[:, e]), test, cfg["eval_samples"])
                for k, v in m.items():
                    res.setdefault(k, []).append(v[e])
            res.update(seconds=time.perf_counter() - t0, source=src, epochs=epochs_for(cfg, len(x)), n_used=len(x),
                       label_agreement=[float((ys[:, e] == y).double().mean()) for e in range(ys.shape[1])])
            return res

        return cache.cached("ch04/corruption_group", gcfg, compute)

    def compute():
        groups = []
        for s in cfg["seeds"]:
            t = time.perf_counter()
            groups.append(group(s))
            if progress:
                print(f"[corruption] seed={s}: {time.perf_counter() - t:.1f} s", flush=True)
        keys = ("train_acc", "train_acc_mean_net", "kl_per_sample", "test_acc", "test_acc_mean_net")
        out: dict[str, Any] = dict(figure="4.3 right", config=cfg, source=groups[0]["source"],
                                   corruption=list(cfg["corruptions"]), beta=cfg["beta"], n_train=cfg["n_train"],
                                   n_train_used=groups[0]["n_used"], label_agreement=groups[0]["label_agreement"],
                                   group_seconds=[g["seconds"] for g in groups])
        for k in keys:
            out[k] = [float(np.mean([g[k][i] for g in groups])) for i in range(len(cfg["corruptions"]))]
            out[k + "_seeds"] = [[g[k][i] for g in groups] for i in range(len(cfg["corruptions"]))]
        out["train_acc_sd"] = [_sd(v) for v in out["train_acc_seeds"]]
        return out

    return cache.cached("ch04/corruption", cfg, compute)


# --------------------------------------------------------------------------------------------------
# packed vs one-by-one
# --------------------------------------------------------------------------------------------------
def benchmark_packed(config: dict | None = None, scale: str | None = None, n_train: int = 400,
                     steps: int = 200, labels: str = "random", seed: int = 0, repeats: int = 2) -> dict:
    """Runs (one β each) per second when all β of a group train packed in one model vs one model per β,
    measured side by side on the same data, ``steps`` optimizer steps each (not cached).

    Packed and one-by-one training alternate ``repeats`` times and the fastest of each is kept (a
    shared machine's load hits both alike). Returns ``packed_runs_per_s``, ``sequential_runs_per_s``,
    ``speedup``, the seconds of each (all repeats), ``runs`` (= number of β) and ``steps``."""
    cfg = _config("random_labels", config, scale)
    (x, y), _, _ = load_data(cfg, n_train)
    if labels == "random":
        y = _random_labels(len(y), 10, seed).to(y.device)
    betas = cfg["betas"]
    c = dict(cfg, steps=steps)
    packed, seq = [], []
    for _ in range(max(1, int(repeats))):
        t = time.perf_counter()
        train_group(c, x, y, betas, seed)
        packed.append(time.perf_counter() - t)
        t = time.perf_counter()
        for b in betas:
            train_group(c, x, y, [b], seed)
        seq.append(time.perf_counter() - t)
    p, q = min(packed), min(seq)
    return dict(runs=len(betas), steps=steps, epochs=epochs_for(c, n_train), n_train=n_train, packed_seconds=packed,
                sequential_seconds=seq, packed_runs_per_s=len(betas) / p, sequential_runs_per_s=len(betas) / q,
                speedup=q / p, threads=torch.get_num_threads())


# --------------------------------------------------------------------------------------------------
# results/ and CLI
# --------------------------------------------------------------------------------------------------
def precomputed(figure: str, scale: str = "full", seeds: int | None = None, tag: str = "") -> dict | None:
    """The result the CLI wrote (``results/ch04_<figure>_<scale>[_<n>seeds][_<tag>].json``), or ``None``;
    prints which file it is and how it was made (or how to make it)."""
    how = (f"python -m emergent.experiments.information_in_weights {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("04", figure, scale, seeds, tag), how)


_RUNNERS: dict[str, Callable[..., dict]] = {"random_labels": run_random_labels, "corruption": run_corruption}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.information_in_weights FIGURE|all [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="information_in_weights", chapter="04", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _config(fig, changes, sc), set_example="'n_trains=[400]'")


if __name__ == "__main__":
    main()
