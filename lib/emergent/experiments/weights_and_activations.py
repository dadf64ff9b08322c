"""Chapter 4, weights that forget make activations invariant: the experiment behind thesis Fig 4.5, cached.

:func:`run_fig4_5` trains variational MLPs (:mod:`emergent.variational`: a Gaussian posterior on every
weight, loss ``mean CE + β·KL/N``) on occluded digits for several β, **packed** (all β are members of
one model, trained together through :func:`emergent.train.fit` with
:func:`~emergent.variational.variational_loss`), and measures for each β:

* test accuracy (stochastic net, mean over ``eval_samples`` weight samples; and the mean net), KL/N;
* per layer k: the KL of its weights, ``α^k = exp(−KL^k/dim W^k)`` (the thesis's α = exp{−I(W;D)/dim W}
  with the Gaussian KL to the learned prior standing in for I(W^k;D): **an assumption**, see
  :func:`emergent.weight_noise.alpha_from_information`), and Cor 4.5.3's bound ``dim(z_k)[g(α^k) + 1]``
  (:func:`emergent.weight_noise.layer_bounds`); and, without that assumption, (4.7) evaluated with the
  layer's actual posterior on its actual (noisy) inputs (:func:`emergent.weight_noise.decompose`), with
  its split into the α-dependent signal term and the fluctuation term, and ρ (1 for the zero-mean
  uncorrelated inputs Prop 4.5.2 assumes);
* the nuisance information ``I(z;n)`` of the representation z (the noisy output of hidden layer
  ``layer``) by the thesis's discriminator and by a probe (Barber–Agakov), and ``I(z;y) ≥ H(y) − CE``
  (:mod:`emergent.nuisance_info`); the same estimators on the input x itself give the reference
  ``I(x;n)`` and ``I(x;y)``.

**The nuisance** (our choice; the thesis's occlusion patterns are not specified): ``masks`` seeded
occlusion patterns, each the union of 2–4 random rectangles (sides of 3–8 pixels) painted white
(value 1) on the 28×28 digit, drawn uniformly and independently of the digit, so that
``H(n) = log masks`` and ``I(y;n) = 0``. Training images get one random mask each. The estimators
train on the training digits with fresh random masks and are evaluated on the **held-out** test
digits, each with ``pairs`` independent masks (so they generalise across digits, not just across noise
samples); z is sampled once per image with the weight noise on.

Fast scale (our choices; the thesis gives no architecture or β grid): the 5,000 offline MNIST digits
(:func:`emergent.data.mnist_small`, 4,000 train / 1,000 test), average-pooled to 14×14 after occlusion,
16 masks, MLP 196-128-128-10 with a learned per-layer prior, Adam (1e-3 means, 1e-2 log-variances),
3,000 steps of batch 128, β ∈ {0.001, 0.01, 0.03, 0.1, 0.3}; z is the second hidden layer; estimators:
MLPs with two hidden layers of 64 units, 20 epochs of Adam on 4,000 training pairs, evaluated on the
1,000 test digits × 2 masks. Full scale: MNIST 60k/10k via torchvision (else the offline digits,
with a one-line message), 28×28, 32 masks, MLP 784-512-512-10, 20,000 steps, seven β.

Every seed's group is cached with :func:`emergent.cache.cached` under ``ch04/fig4_5_group`` keyed by
its configuration, the assembled result under ``ch04/fig4_5``. CLI::

    python -m emergent.experiments.weights_and_activations fig4_5 --scale fast --seeds 5

writes ``results/ch04_fig4_5_fast_5seeds.json`` (committed: 558 s on a 2-core CPU, one thread).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import cache, data, nuisance_info, weight_noise
from .. import variational as var
from .cli import figure_config, figure_defaults, result_name, run_cli
from ..runtime import cpu_threads
from ..runtime import device as _device
from ..train import fit

__all__ = ["FIGURES", "default_config", "config", "occlusion_masks", "occlude", "load_data", "make_model",
           "train_members", "layer_activations", "representation", "measure_layers", "estimator_pairs",
           "nuisance_estimates", "run_fig4_5", "precomputed", "main"]

FIGURES = ("fig4_5",)

_EST = dict(n_train=4000, hidden=64, epochs=20, lr=1e-3, batch_size=128)
_CONFIGS: dict[str, dict[str, dict]] = {
    "fig4_5": {
        "fast": dict(data=dict(source="mnist-small", n_train=4000, n_test=1000, side=14, seed=0),
                     nuisance=dict(masks=16, rects=[2, 4], size=[3, 8], value=1.0, seed=0),
                     hidden=[128, 128], betas=[0.001, 0.01, 0.03, 0.1, 0.3], steps=3000, batch_size=128,
                     lr_mean=1e-3, lr_var=1e-2, prior="learned", eval_samples=5, layer=-1, pairs=2,
                     estimator=dict(_EST), seeds=[0]),
        "full": dict(data=dict(source="mnist", n_train=60000, n_test=10000, side=28, seed=0),
                     nuisance=dict(masks=32, rects=[2, 4], size=[3, 8], value=1.0, seed=0),
                     hidden=[512, 512], betas=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], steps=20000,
                     batch_size=128, lr_mean=1e-3, lr_var=1e-2, prior="learned", eval_samples=5, layer=-1,
                     pairs=1, estimator=dict(_EST, n_train=20000, hidden=256), seeds=[0]),
    },
}
_OPTIONAL_KEYS: dict[str, Any] = dict(scale=None)


def default_config(figure: str = "fig4_5", scale: str | None = None) -> dict:
    """The default configuration of ``figure`` at ``scale``."""
    return figure_defaults(_CONFIGS, figure, scale)


def config(config: dict | None = None, scale: str | None = None, figure: str = "fig4_5") -> dict:
    """The full configuration a run of ``figure`` with ``config`` at ``scale`` uses (defaults merged,
    checked: ``cache.ConfigError`` for unknown keys or impossible values)."""
    return _config(figure, config, scale)


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    """Defaults at ``scale`` with ``config`` on top, checked before any work (``cache.ConfigError``)."""
    cfg = figure_config(_CONFIGS, figure, config, scale, _OPTIONAL_KEYS)
    if not cfg["seeds"]:
        raise cache.ConfigError("seeds must name at least one seed")
    if not cfg["betas"] or any(float(b) < 0 for b in cfg["betas"]):
        raise cache.ConfigError(f"betas must be a non-empty list of values >= 0, got {cfg['betas']!r}")
    if not cfg["hidden"] or any(int(h) < 1 for h in cfg["hidden"]):
        raise cache.ConfigError(f"hidden must list at least one positive width, got {cfg['hidden']!r}")
    if not -len(cfg["hidden"]) <= int(cfg["layer"]) < len(cfg["hidden"]):
        raise cache.ConfigError(f"layer={cfg['layer']} is not a hidden layer of {len(cfg['hidden'])}")
    nu = cfg["nuisance"]
    if int(nu["masks"]) < 2:
        raise cache.ConfigError(f"nuisance.masks must be at least 2, got {nu['masks']}")
    if not (1 <= nu["rects"][0] <= nu["rects"][1]) or not (1 <= nu["size"][0] <= nu["size"][1] <= 28):
        raise cache.ConfigError(f"nuisance.rects and nuisance.size must be [lo, hi] ranges, got {nu!r}")
    if int(cfg["pairs"]) < 1:
        raise cache.ConfigError(f"pairs must be at least 1, got {cfg['pairs']}")
    if cfg["data"]["source"] not in ("mnist-small", "mnist"):
        raise cache.ConfigError(f"unknown data source {cfg['data']['source']!r}; choose 'mnist-small' or 'mnist'")
    return cfg


# --------------------------------------------------------------------------------------------------
# data: digits, occlusion masks
# --------------------------------------------------------------------------------------------------
def occlusion_masks(k: int, rects: Sequence[int] = (2, 4), size: Sequence[int] = (3, 8), side: int = 28,
                    seed: int = 0) -> torch.Tensor:
    """``k`` occlusion patterns, ``(k, side, side)`` booleans: each the union of ``rects[0]``..``rects[1]``
    axis-aligned rectangles with sides of ``size[0]``..``size[1]`` pixels at uniform positions. Seeded."""
    g = torch.Generator().manual_seed(int(seed))
    out = torch.zeros(int(k), side, side, dtype=torch.bool)
    for m in range(int(k)):
        r = int(torch.randint(int(rects[0]), int(rects[1]) + 1, (), generator=g))
        for _ in range(r):
            h, w = (int(torch.randint(int(size[0]), int(size[1]) + 1, (), generator=g)) for _ in range(2))
            y0 = int(torch.randint(0, side - h + 1, (), generator=g))
            x0 = int(torch.randint(0, side - w + 1, (), generator=g))
            out[m, y0:y0 + h, x0:x0 + w] = True
    return out


def occlude(x: torch.Tensor, masks: torch.Tensor, n: torch.Tensor, value: float = 1.0,
            side: int | None = None) -> torch.Tensor:
    """Images ``x`` ``(B, 1, H, W)`` with mask ``n[i]`` of ``masks`` painted at ``value``, then average-pooled
    to ``side``×``side`` (if given)."""
    m = masks[n.long().cpu()].to(x.device)[:, None]
    out = torch.where(m, torch.full_like(x, float(value)), x)
    if side and side != out.shape[-1]:
        out = F.adaptive_avg_pool2d(out, int(side))
    return out


_DIGITS: dict = {}


def _digits(cfg: dict) -> tuple[data.ArrayDataset, data.ArrayDataset, str]:
    """``(train, test, source)`` 28×28 digits on the CPU, before occlusion."""
    d = cfg["data"]
    key = (d["source"], int(d["seed"]))
    if key not in _DIGITS:
        def small():
            return (*data.mnist_small("cpu").split(0.2, seed=int(d["seed"])), "mnist-small")

        if d["source"] == "mnist":
            try:
                tr = data.torchvision_dataset("mnist", train=True, device="cpu")
                te = data.torchvision_dataset("mnist", train=False, device="cpu")
                _DIGITS[key] = (tr, te, "mnist")
            except data.DatasetUnavailable as e:
                print(f"[emergent] mnist unavailable ({e.reason}); using the 5,000 offline digits instead.")
                _DIGITS[key] = small()
        else:
            _DIGITS[key] = small()
    tr, te, src = _DIGITS[key]
    if len(tr) > d["n_train"]:
        tr = tr.subset(int(d["n_train"]), seed=int(d["seed"]))
    if len(te) > d["n_test"]:
        te = te.subset(int(d["n_test"]), seed=int(d["seed"]))
    return tr, te, src


def load_data(cfg: dict, seed: int = 0, device: Any = None) -> dict:
    """Everything one seed needs: the masks, the occluded training and test sets (with their nuisance
    indices), the clean digits for the estimators, and the data source actually used.

    Returns a dict with ``train`` and ``test`` ``(x, y)`` pairs (flattened images on ``device``),
    ``n_train``/``n_test`` (mask indices), ``masks``, ``train_digits`` and ``test_digits`` ``(N, 1, 28, 28)``
    (clean, CPU) with ``train_labels`` and ``test_labels``, and ``source``. The training masks are drawn
    with ``seed``."""
    tr, te, src = _digits(cfg)
    nu = cfg["nuisance"]
    masks = occlusion_masks(nu["masks"], nu["rects"], nu["size"], 28, nu["seed"])
    g = torch.Generator().manual_seed(30_000 + int(seed))
    n_tr = torch.randint(int(nu["masks"]), (len(tr),), generator=g)
    n_te = torch.randint(int(nu["masks"]), (len(te),), generator=g)
    side = cfg["data"]["side"]
    xtr = occlude(tr.x, masks, n_tr, nu["value"], side).flatten(1)
    xte = occlude(te.x, masks, n_te, nu["value"], side).flatten(1)
    dev = _device() if device is None else torch.device(device)
    return dict(train=(xtr.to(dev), tr.y.to(dev)), test=(xte.to(dev), te.y.to(dev)), n_train=n_tr, n_test=n_te,
                masks=masks, train_digits=tr.x, train_labels=tr.y, test_digits=te.x, test_labels=te.y, source=src)


# --------------------------------------------------------------------------------------------------
# model and training
# --------------------------------------------------------------------------------------------------
def make_model(cfg: dict, in_features: int, members: int, seed: int) -> var.VariationalMLP:
    """The packed variational MLP ``[in, *hidden, 10]``, initialised from ``seed``."""
    torch.manual_seed(int(seed))
    return var.VariationalMLP([int(in_features), *[int(h) for h in cfg["hidden"]], 10], members=int(members),
                              prior=cfg["prior"])


def train_members(cfg: dict, train: tuple[torch.Tensor, torch.Tensor], seed: int,
                  model: var.VariationalMLP | None = None) -> tuple[var.VariationalMLP, Any]:
    """Train one member per β of ``cfg["betas"]`` on ``train`` through :func:`emergent.train.fit` with
    :func:`emergent.variational.variational_loss` (about ``cfg["steps"]`` Adam steps)."""
    x, y = train
    n = len(x)
    if model is None:
        model = make_model(cfg, x.shape[1], len(cfg["betas"]), seed)
    epochs = max(1, int(round(cfg["steps"] / math.ceil(n / cfg["batch_size"]))))
    with cpu_threads(x.device):
        hist = fit(model, (x, y), var.trainer(epochs, cfg["batch_size"], cfg["lr_mean"], cfg["lr_var"]),
                   loss_fn=var.variational_loss(list(cfg["betas"]), n), progress=False, seed=int(seed))
    return model, hist


@torch.no_grad()
def layer_activations(model: var.VariationalMLP, x: torch.Tensor, noisy: bool = True,
                      batch_size: int = 1000) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(inputs, outputs)`` of every layer of a packed :class:`~emergent.variational.VariationalMLP`
    on ``x``, each ``(B, E, units)`` on the CPU (the first layer's input is ``(B, 1, in)``, shared by
    the members). Outputs of hidden layers are after the nonlinearity (the representations z_k); the last
    is the logits. ``noisy`` samples the weights (local reparametrisation: one draw per example)."""
    ins: list[list[torch.Tensor]] = [[] for _ in model.layers]
    outs: list[list[torch.Tensor]] = [[] for _ in model.layers]
    was = model.training
    model.eval()
    try:
        with var.sampling(model, noisy):
            for s in range(0, len(x), batch_size):
                h = x[s:s + batch_size].flatten(1)
                for i, layer in enumerate(model.layers):
                    ins[i].append((h[:, None] if h.dim() == 2 else h).cpu())
                    h = layer(h)
                    if h.dim() == 2:
                        h = h[:, None]
                    if i < len(model.layers) - 1:
                        h = model.act(h)
                    outs[i].append(h.cpu())
    finally:
        model.train(was)
    return [torch.cat(a) for a in ins], [torch.cat(a) for a in outs]


def representation(model: var.VariationalMLP, x: torch.Tensor, layer: int = -1, noisy: bool = True) -> torch.Tensor:
    """The noisy output of hidden layer ``layer`` (an index into the hidden layers), ``(B, E, units)``."""
    _, outs = layer_activations(model, x, noisy)
    return outs[:-1][layer]


def measure_layers(model: var.VariationalMLP, x: torch.Tensor) -> list[dict]:
    """Per member, per layer: the KL of the weights (nats), their number, α^k = exp(−KL/dim W) (the
    thesis's assumption), g(α^k), units, Cor 4.5.3's term ``units·[g(α^k) + 1]``, and (4.7) with the
    layer's posterior on its noisy inputs ``x`` (total, per unit, signal and fluctuation per unit, mean ρ;
    see :func:`emergent.weight_noise.decompose`). Returns one dict per member with lists over layers."""
    ins, _ = layer_activations(model, x, noisy=True)
    E = model.members
    res = []
    with torch.no_grad():
        kls = [layer.kl().cpu().tolist() for layer in model.layers]
    for e in range(E):
        r: dict[str, list] = {k: [] for k in ("kl", "n_weights", "alpha", "g", "units", "bound", "info_47",
                                              "info_47_per_unit", "signal_per_unit", "fluct_per_unit", "rho")}
        for k, layer in enumerate(model.layers):
            kl = max(float(kls[k][e]), 0.0)
            nw = layer.n_weights
            a = float(weight_noise.alpha_from_information(kl, nw))
            units = layer.out_features
            inp = ins[k][:, 0 if ins[k].shape[1] == 1 else e].double().numpy()
            mu = layer.weight_mean.detach()[e].double().numpy()
            v = torch.exp(layer.logvar().detach()[e]).double().numpy()
            d = weight_noise.decompose(mu, v, inp)
            r["kl"].append(kl)
            r["n_weights"].append(nw)
            r["alpha"].append(a)
            r["g"].append(float(weight_noise.g(a)))
            r["units"].append(units)
            r["bound"].append(units * (float(weight_noise.g(a)) + 1.0))
            r["info_47"].append(d["total"])
            r["info_47_per_unit"].append(d["total"] / units)
            r["signal_per_unit"].append(float(np.mean(d["signal"])))
            r["fluct_per_unit"].append(float(np.mean(d["fluctuation"])))
            r["rho"].append(float(np.nanmean(d["rho"])))
        res.append(r)
    return res


# --------------------------------------------------------------------------------------------------
# nuisance information
# --------------------------------------------------------------------------------------------------
def estimator_pairs(cfg: dict, d: dict, seed: int) -> dict:
    """The samples the estimators read: to **train** them, the clean training digits (at most
    ``estimator.n_train``) each with a fresh random mask; to **evaluate** them, every test digit with
    ``cfg["pairs"]`` independent random masks (digits the classifier never saw). Returns ``x`` (occluded,
    pooled, flattened), ``n``, ``y`` and ``first`` (True for the estimator-training rows)."""
    nu = cfg["nuisance"]
    g = torch.Generator().manual_seed(40_000 + int(seed))
    n_fit = min(len(d["train_digits"]), int(cfg["estimator"]["n_train"]))
    fit_idx = torch.randperm(len(d["train_digits"]), generator=g)[:n_fit]
    test_idx = torch.arange(len(d["test_digits"])).repeat_interleave(int(cfg["pairs"]))
    digits = torch.cat([d["train_digits"][fit_idx], d["test_digits"][test_idx]])
    y = torch.cat([d["train_labels"][fit_idx], d["test_labels"][test_idx]])
    n = torch.randint(int(nu["masks"]), (len(digits),), generator=g)
    x = occlude(digits, d["masks"], n, nu["value"], cfg["data"]["side"]).flatten(1)
    first = torch.arange(len(digits)) < n_fit
    return dict(x=x, n=n, y=y, first=first)


def nuisance_estimates(z: torch.Tensor, pairs: dict, k: int, est: dict, seed: int = 0) -> dict:
    """``I(z;n)`` by the discriminator and by the probe, and ``I(z;y)`` by a probe, from features ``z``
    ``(B, d)`` of the estimator ``pairs`` (train on ``first``, evaluate on the rest). Nats."""
    z = z.reshape(len(z), -1).float()
    a, b = pairs["first"], ~pairs["first"]
    kw = dict(hidden=int(est["hidden"]), epochs=int(est["epochs"]), lr=float(est["lr"]),
              batch_size=int(est["batch_size"]), seed=int(seed))
    disc = nuisance_info.discriminator_information(z[a], pairs["n"][a], z[b], pairs["n"][b], k, **kw)
    probe = nuisance_info.probe_information(z[a], pairs["n"][a], z[b], pairs["n"][b], k, entropy=math.log(k), **kw)
    yprobe = nuisance_info.probe_information(z[a], pairs["y"][a], z[b], pairs["y"][b], 10, **kw)
    return dict(i_zn_disc=disc["info"], i_zn_disc_train=disc["info_train"], disc_acc=disc["acc"],
                i_zn_probe=probe["info"], n_probe_acc=probe["acc"], i_zy_probe=yprobe["info"],
                y_probe_acc=yprobe["acc"], h_y=yprobe["entropy"])


# --------------------------------------------------------------------------------------------------
# Fig 4.5
# --------------------------------------------------------------------------------------------------
def _group(cfg: dict, seed: int, progress: bool = False) -> dict:
    gcfg = {k: v for k, v in cfg.items() if k != "seeds"}
    gcfg["seed"] = int(seed)

    def compute():
        t0 = time.perf_counter()
        d = load_data(cfg, seed)
        model, hist = train_members(cfg, d["train"], seed)
        t_train = time.perf_counter() - t0
        with cpu_threads(d["train"][0].device):
            ev = var.evaluate(model, d["test"], samples=int(cfg["eval_samples"]))
            with torch.no_grad():
                kl = var.kl(model).cpu().tolist()
        n = len(d["train"][0])
        pairs = estimator_pairs(cfg, d, seed)
        k = int(cfg["nuisance"]["masks"])
        with cpu_threads("cpu"):
            model_cpu = model.cpu()
            layers = measure_layers(model_cpu, d["test"][0].cpu())
            zs = representation(model_cpu, pairs["x"], int(cfg["layer"]))
            est = [nuisance_estimates(zs[:, e], pairs, k, cfg["estimator"], seed) for e in range(model.members)]
            ref = nuisance_estimates(pairs["x"], pairs, k, cfg["estimator"], seed)
        out: dict[str, Any] = dict(
            test_acc=ev["acc_sampled"], test_acc_mean_net=ev["acc_mean"], test_ce=ev["ce_sampled"],
            train_acc=[float(a) for a in hist["train_acc"][-1]], kl_per_sample=[v / n for v in kl],
            layers=layers, input_reference=ref, source=d["source"], n_used=n,
            seconds=time.perf_counter() - t0, train_seconds=t_train)
        for key in est[0]:
            out[key] = [r[key] for r in est]
        h_y = nuisance_info.label_entropy(d["test"][1], 10)
        out["i_zy_net"] = [h_y - ce for ce in ev["ce_sampled"]]  # the classifier itself as q(y|z)
        return out

    return cache.cached("ch04/fig4_5_group", gcfg, compute)


def _mean(v: Sequence[float]) -> float:
    return float(np.mean(v))


def _sd(v: Sequence[float]) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


_PER_BETA = ("test_acc", "test_acc_mean_net", "train_acc", "kl_per_sample", "i_zn_disc", "i_zn_probe",
             "i_zy_probe", "i_zy_net", "disc_acc", "n_probe_acc", "y_probe_acc")
_PER_LAYER = ("kl", "alpha", "g", "bound", "info_47", "info_47_per_unit", "signal_per_unit", "fluct_per_unit", "rho")


def run_fig4_5(config: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Thesis Fig 4.5 (and toy E6): nuisance information of the representation against β.

    Returns, over ``beta`` (lists, mean over seeds, with ``<key>_sd`` and ``<key>_seeds``):
    ``test_acc``, ``test_acc_mean_net``, ``train_acc``, ``kl_per_sample`` (KL/N, nats), ``i_zn_disc``
    (thesis discriminator), ``i_zn_probe`` (Barber–Agakov), ``i_zy_probe`` (``I(z;y) ≥ H(y) − CE`` of a probe),
    ``i_zy_net`` (the same bound with the network's own test cross-entropy, for the logits) and the
    estimators' accuracies; per layer (``layers[k][key]``, lists over β): ``kl``, ``alpha``, ``g``, ``bound``
    (Cor 4.5.3's term), ``info_47`` ((4.7) with the posterior, nats), ``info_47_per_unit``,
    ``signal_per_unit``, ``fluct_per_unit``, ``rho``; ``units`` and ``n_weights`` per layer;
    ``cor_bound`` (min over the layers up to z of the bound) and ``cor_bound_layer``; the input's
    ``i_xn_disc``, ``i_xn_probe``, ``i_xy_probe``; ``log_masks`` (= H(n)); ``h_y``; ``config``.
    """
    cfg = _config("fig4_5", config, scale)

    def compute():
        groups = []
        for s in cfg["seeds"]:
            t = time.perf_counter()
            groups.append(_group(cfg, s))
            if progress:
                print(f"[fig4_5] seed={s}: {time.perf_counter() - t:.1f} s", flush=True)
        nb = len(cfg["betas"])
        out: dict[str, Any] = dict(figure="4.5", config=cfg, beta=list(cfg["betas"]), source=groups[0]["source"],
                                   n_train_used=groups[0]["n_used"], log_masks=math.log(cfg["nuisance"]["masks"]),
                                   group_seconds=[g["seconds"] for g in groups])
        for key in _PER_BETA:
            seeds = [[g[key][i] for g in groups] for i in range(nb)]
            out[key] = [_mean(v) for v in seeds]
            out[key + "_sd"] = [_sd(v) for v in seeds]
            out[key + "_seeds"] = seeds
        n_layers = len(groups[0]["layers"][0]["kl"])
        layer_of_z = int(cfg["layer"]) % len(cfg["hidden"])
        out["units"] = groups[0]["layers"][0]["units"]
        out["n_weights"] = groups[0]["layers"][0]["n_weights"]
        out["layers"] = []
        for k in range(n_layers):
            lay = {}
            for key in _PER_LAYER:
                seeds = [[g["layers"][i][key][k] for g in groups] for i in range(nb)]
                lay[key] = [_mean(v) for v in seeds]
                lay[key + "_sd"] = [_sd(v) for v in seeds]
            out["layers"].append(lay)
        # Cor 4.5.3 for z (hidden layer `layer`): min over layers 0..layer, per seed then averaged
        per_seed = [[min(g["layers"][i]["bound"][: layer_of_z + 1]) for g in groups] for i in range(nb)]
        out["cor_bound"] = [_mean(v) for v in per_seed]
        out["cor_bound_layer"] = [int(np.argmin([out["layers"][k]["bound"][i] for k in range(layer_of_z + 1)]))
                                  for i in range(nb)]
        refs = [g["input_reference"] for g in groups]
        out["i_xn_disc"] = _mean([r["i_zn_disc"] for r in refs])
        out["i_xn_probe"] = _mean([r["i_zn_probe"] for r in refs])
        out["i_xy_probe"] = _mean([r["i_zy_probe"] for r in refs])
        out["h_y"] = groups[0]["h_y"][0]
        out["layer_of_z"] = layer_of_z
        return out

    return cache.cached("ch04/fig4_5", cfg, compute)


# --------------------------------------------------------------------------------------------------
# results/ and CLI
# --------------------------------------------------------------------------------------------------
def precomputed(figure: str = "fig4_5", scale: str = "fast", seeds: int | None = None, tag: str = "") -> dict | None:
    """The result the CLI wrote (``results/ch04_<figure>_<scale>[_<n>seeds][_<tag>].json``), or ``None``;
    prints which file it is and how it was made (or how to make it)."""
    how = (f"python -m emergent.experiments.weights_and_activations {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("04", figure, scale, seeds, tag), how)


_RUNNERS: dict[str, Callable[..., dict]] = {"fig4_5": run_fig4_5}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.weights_and_activations fig4_5 [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="weights_and_activations", chapter="04", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _config(fig, changes, sc), set_example="'betas=[0.01,0.1]'")


if __name__ == "__main__":
    main()
