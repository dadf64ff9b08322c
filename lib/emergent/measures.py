"""What Chapter 2's figures measure in a trained network with noisy layers.

* :func:`layer_outputs` — the (noisy or deterministic) output of chosen noisy layers (forward hooks).
* :func:`kl_maps` — per Information Dropout layer, the KL summed over channels at each spatial
  location (thesis Fig. 2.2); :func:`digit_kl_fraction` — the share of that KL mass inside the digit's
  box (our quantitative companion of Fig. 2.2), with :func:`box_area_fraction` as its chance level.
* :func:`kl_per_layer` — mean total KL per layer and per unit (thesis Fig. 2.6); :func:`alphas`.
* :func:`log_activations` and :func:`total_correlation` — Gaussian TC of the log-activations with a
  permutation null (thesis Fig. 2.5, with the ½ of errata #6).
* :func:`nuisance_probe` — a small classifier trained on the *frozen noisy* representation of one layer
  to predict a nuisance label (thesis Fig. 2.4).
* :func:`reestimate_batchnorm` — the BatchNorm "dry run" with the noise off, needed before a
  deterministic ("D") evaluation; :func:`error` and :func:`evaluate_modes` for N and D errors.

"Information" here is always a KL to the layer's prior: a **variational upper bound** on
:math:`I(x;z)` (spec §6); for the ReLU (log-uniform) prior it is defined up to a constant, which we fix
so that the KL is 0 at α = α_max.

All functions take ordinary (``members=1``) models; use :func:`emergent.models.member` to measure one
member of a packed model. Nothing here changes the model's weights, and every function restores the
model's train/eval mode (except :func:`reestimate_batchnorm`, which exists to change the BN statistics).
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import disentangle, info
from .layers import InformationDropout, information_dropout_layers, noise_mode
from .train import Trainer, fit

__all__ = [
    "noisy_layers",
    "layer_outputs",
    "kl_maps",
    "digit_kl_fraction",
    "box_area_fraction",
    "kl_by_region",
    "kl_per_layer",
    "alphas",
    "log_activations",
    "total_correlation",
    "nuisance_probe",
    "reestimate_batchnorm",
    "error",
    "evaluate_modes",
]


def _xy(data: Any) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    if isinstance(data, (tuple, list)):
        return data[0], data[1]
    return data, None


def noisy_layers(model: nn.Module) -> list[nn.Module]:
    """The noisy layers of ``model``: ``model.noisy_layers`` if it has them, else its Information Dropout layers."""
    layers = getattr(model, "noisy_layers", None)
    return list(layers) if layers is not None else information_dropout_layers(model)


@contextlib.contextmanager
def _mode(model: nn.Module, train: bool) -> Iterator[nn.Module]:
    was = model.training
    model.train(train)
    try:
        yield model
    finally:
        model.train(was)


class _Stop(Exception):
    pass


@torch.no_grad()
def layer_outputs(model: nn.Module, x: torch.Tensor, layers: Sequence[int] | int | None = None, noisy: bool = False,
                  batch_size: int = 500, attrs: Sequence[str] = ()) -> list[torch.Tensor] | list[dict]:
    """Outputs of the noisy layers ``layers`` (indices into :func:`noisy_layers`; all by default) on ``x``.

    The model runs in eval mode (BatchNorm with its running statistics). ``noisy=True`` keeps the noise
    of the Information Dropout layers on (the thesis's "N" representation); ``False`` turns it off.
    The forward pass stops after the last requested layer. Returns one tensor per requested layer
    (concatenated over batches, on the CPU), or, with ``attrs`` (e.g. ``("kl", "last_alpha")``), one dict
    per layer with the output under ``"z"`` and those attributes of the layer.
    """
    all_layers = noisy_layers(model)
    single = isinstance(layers, int)
    idx = list(range(len(all_layers))) if layers is None else ([layers] if single else list(layers))
    idx = [i % len(all_layers) for i in idx]
    last = max(idx)
    store: dict[int, dict[str, list]] = {i: {"z": [], **{a: [] for a in attrs}} for i in idx}
    hooks = []

    def make(i: int):
        def hook(mod, inp, out):
            if i in store:
                store[i]["z"].append(out.detach().cpu())
                for a in attrs:
                    store[i][a].append(getattr(mod, a).detach().cpu())
            if i == last:
                raise _Stop
        return hook

    for i, layer in enumerate(all_layers):
        if i in store:
            hooks.append(layer.register_forward_hook(make(i)))
    try:
        with _mode(model, False), noise_mode(model, bool(noisy)):
            for s in range(0, len(x), batch_size):
                try:
                    model(x[s:s + batch_size])
                except _Stop:
                    pass
    finally:
        for h in hooks:
            h.remove()
    res = [{k: torch.cat(v) for k, v in store[i].items()} for i in idx]
    if not attrs:
        res = [r["z"] for r in res]
    return res


def kl_maps(model: nn.Module, x: torch.Tensor, layers: Sequence[int] | None = None, noisy: bool = False,
            subtract_min: bool = True, batch_size: int = 500) -> list[torch.Tensor]:
    """KL maps of the Information Dropout layers (thesis Fig. 2.2): for each layer, the per-unit KL
    summed over channels, shape ``(N, H, W)`` (``(N,)`` for fully connected layers).

    ``subtract_min`` removes each map's minimum (as in the authors' plots), so only the *excess*
    information at each location remains. ``noisy`` chooses whether the upstream layers add noise
    (default: no, the deterministic representation; the KL itself never depends on the noise sample).
    """
    ids = [i for i, l in enumerate(noisy_layers(model)) if isinstance(l, InformationDropout)]
    if not ids:
        raise ValueError("the model has no Information Dropout layers")
    sel = ids if layers is None else [ids[i] for i in layers]
    outs = layer_outputs(model, x, sel, noisy=noisy, batch_size=batch_size, attrs=("kl",))
    maps = []
    for o in outs:
        kl = o["kl"]
        m = kl.sum(1) if kl.dim() == 4 else kl.flatten(1).sum(1)
        if subtract_min and m.dim() == 3:
            m = m - m.flatten(1).amin(1)[:, None, None]
        maps.append(m)
    return maps


def _overlap_weights(n_cells: int, size: int, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(N, n_cells): fraction of each cell (of ``size / n_cells`` input pixels) inside [lo, hi)."""
    step = size / n_cells
    c0 = torch.arange(n_cells, dtype=torch.float32) * step
    c1 = c0 + step
    ov = (torch.minimum(c1[None], hi[:, None].float()) - torch.maximum(c0[None], lo[:, None].float())).clamp(min=0)
    return ov / step


def digit_kl_fraction(maps: torch.Tensor, boxes: torch.Tensor, input_size: int | tuple[int, int],
                      border: int = 0, subtract_min: bool = True) -> torch.Tensor:
    """Share of the KL mass that lies inside each sample's box, per sample: shape ``(N,)``.

    ``maps`` ``(N, H, W)`` (e.g. one entry of :func:`kl_maps`) cover an input of ``input_size`` pixels;
    ``boxes`` ``(N, 4)`` are ``(y0, x0, y1, x1)`` in input pixels (ends exclusive), e.g.
    ``data.cluttered_mnist(...).meta['boxes']``. Each map cell counts with the fraction of its area
    inside the box. ``subtract_min`` removes each map's minimum first (a map concentrated in the box
    then gives exactly 1; a uniform map gives NaN, as does an all-zero one). ``border`` drops that many
    cells on every side (zero-padding artifacts) from both numerator and denominator.
    Chance level (a map spread evenly over the image): :func:`box_area_fraction`.
    """
    m = torch.as_tensor(maps).float()
    if m.dim() != 3:
        raise ValueError(f"maps must be (N, H, W), got {tuple(m.shape)}")
    n, H, W = m.shape
    hs, ws = (input_size, input_size) if isinstance(input_size, int) else input_size
    b = torch.as_tensor(boxes).cpu().float()
    if subtract_min:
        m = m - m.flatten(1).amin(1)[:, None, None]
    m = m.clamp(min=0)
    wy = _overlap_weights(H, hs, b[:, 0], b[:, 2])  # (N, H)
    wx = _overlap_weights(W, ws, b[:, 1], b[:, 3])  # (N, W)
    w = wy[:, :, None] * wx[:, None, :]
    if border:
        keep = torch.zeros(H, W)
        keep[border:H - border, border:W - border] = 1
        m = m * keep
    total = m.flatten(1).sum(1)
    inside = (m * w).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.full_like(total, float("nan")))


def kl_by_region(maps: torch.Tensor, x: torch.Tensor, boxes: torch.Tensor, ink: float = 0.2,
                 min_ink: float = 0.2) -> dict:
    """Mean KL per map cell on three regions of a cluttered image (no minimum subtracted), in nats.

    ``maps`` ``(N, H, W)`` cover the images ``x`` ``(N, C, S, S)`` (S a multiple of H). A cell is *ink*
    when more than ``min_ink`` of its pixels exceed ``ink``. ``digit``: ink cells entirely inside the
    digit's box; ``clutter``: ink cells entirely outside it; ``background``: cells with no ink at all,
    outside the box. Returns ``{"digit", "clutter", "background"}`` (NaN for an empty region).
    """
    m = torch.as_tensor(maps).float().cpu()
    xs = torch.as_tensor(x).float().cpu()
    n, H, W = m.shape
    S = xs.shape[-1]
    f = S // H
    inkpix = (xs.amax(1, keepdim=True) > ink).float()
    b = torch.as_tensor(boxes).cpu().long()
    rows = torch.arange(S)
    inside = ((rows[None, :, None] >= b[:, 0, None, None]) & (rows[None, :, None] < b[:, 2, None, None])
              & (rows[None, None, :] >= b[:, 1, None, None]) & (rows[None, None, :] < b[:, 3, None, None]))
    inkp = F.avg_pool2d(inkpix, f)[:, 0]
    boxp = F.avg_pool2d(inside[:, None].float(), f)[:, 0]
    regions = {"digit": (inkp > min_ink) & (boxp > 0.999), "clutter": (inkp > min_ink) & (boxp < 1e-3),
               "background": (inkp == 0) & (boxp < 1e-3)}
    return {k: (float(m[r].mean()) if bool(r.any()) else float("nan")) for k, r in regions.items()}


def box_area_fraction(boxes: torch.Tensor, input_size: int | tuple[int, int]) -> torch.Tensor:
    """Area of each box over the area of the input: the digit-KL fraction of a uniform map (chance)."""
    hs, ws = (input_size, input_size) if isinstance(input_size, int) else input_size
    b = torch.as_tensor(boxes).cpu().float()
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / float(hs * ws)


def kl_per_layer(model: nn.Module, x: torch.Tensor, noisy: bool = True, batch_size: int = 500) -> list[dict]:
    """Mean KL per sample in each Information Dropout layer (thesis Fig. 2.6), in nats.

    Returns one dict per layer: ``total`` (mean over samples of the KL summed over the layer's units),
    ``per_unit`` (``total`` / number of units), ``units``, ``shape`` (of one sample's output), and
    ``alpha_mean``. ``noisy`` (default True, as in training) keeps the upstream noise on.
    A variational **upper bound** on :math:`I(x; z)` (KL to the learned prior, spec §6).
    """
    ids = [i for i, l in enumerate(noisy_layers(model)) if isinstance(l, InformationDropout)]
    outs = layer_outputs(model, x, ids, noisy=noisy, batch_size=batch_size, attrs=("kl", "last_alpha"))
    res = []
    for o in outs:
        kl = o["kl"]
        units = int(np.prod(kl.shape[1:]))
        total = float(kl.flatten(1).sum(1).mean())
        res.append(dict(total=total, per_unit=total / units, units=units, shape=list(kl.shape[1:]),
                        alpha_mean=float(o["last_alpha"].mean())))
    return res


def alphas(model: nn.Module, x: torch.Tensor, noisy: bool = True, batch_size: int = 500) -> list[torch.Tensor]:
    """The noise scales α(x) of every Information Dropout layer on ``x`` (one tensor per layer)."""
    ids = [i for i, l in enumerate(noisy_layers(model)) if isinstance(l, InformationDropout)]
    outs = layer_outputs(model, x, ids, noisy=noisy, batch_size=batch_size, attrs=("last_alpha",))
    return [o["last_alpha"] for o in outs]


def log_activations(model: nn.Module, x: torch.Tensor, layer: int = -1, noisy: bool = True, floor: float = 1e-6,
                    batch_size: int = 500) -> np.ndarray:
    """``log z`` of noisy layer ``layer`` on ``x``, flattened to ``(N, D)`` float64 (``z`` clamped at ``floor``).

    ``noisy=True`` (default) samples the noise, as the reference implementation of Fig. 2.5 does.
    """
    (z,) = layer_outputs(model, x, [layer], noisy=noisy, batch_size=batch_size)
    return torch.log(z.flatten(1).clamp(min=floor)).double().numpy()


def total_correlation(model: nn.Module | None = None, x: torch.Tensor | None = None, layer: int = -1, *,
                      samples: np.ndarray | None = None, noisy: bool = True, shrinkage: Any = None,
                      null: bool = True, seed: int = 0) -> dict:
    """Gaussian estimate of the total correlation of ``log z`` (thesis §2.8, Fig. 2.5).

    :math:`\\mathrm{TC}=-\\tfrac12\\log\\det\\hat R` with :math:`\\hat R` the correlation matrix of ``log z``
    (the thesis prints it without the ½, errata #6), via :func:`emergent.info.gaussian_tc_estimate`.
    Either give ``model``, ``x`` and ``layer`` (see :func:`log_activations`), or ``samples`` ``(n, d)``.
    Constant columns (dead units) are dropped. ``shrinkage``: None, ``"ledoit-wolf"`` or a float.

    Returns ``tc`` (nats), ``tc_per_dim``, ``d``, ``n``, and with ``null=True`` ``null`` — the same
    estimator on the data with every column permuted independently (independent features with the same
    marginals: the estimator's floor), and ``bias`` — the exact expected floor for Gaussian data
    (:func:`emergent.info.gaussian_tc_bias`, plain estimator only).
    """
    if samples is None:
        if model is None or x is None:
            raise ValueError("give model and x, or samples")
        samples = log_activations(model, x, layer, noisy=noisy)
    s = np.asarray(samples, dtype=np.float64)
    s = s[:, s.std(0) > 1e-12]
    n, d = s.shape
    tc = info.gaussian_tc_estimate(s, shrinkage=shrinkage)
    out = dict(tc=tc, tc_per_dim=tc / max(d, 1), d=d, n=n, shrinkage=shrinkage)
    if null:
        out["null"] = disentangle.tc_permutation_null(s, seed, shrinkage=shrinkage)
        out["bias"] = info.gaussian_tc_bias(n, d) if (shrinkage is None and n - 1 >= d) else float("nan")
    return out


def _probe_net(shape: Sequence[int], n_classes: int, hidden: int = 64) -> nn.Module:
    if len(shape) == 3:
        c = shape[0]
        return nn.Sequential(nn.Conv2d(c, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                             nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                             nn.Flatten(), nn.LazyLinear(n_classes))
    d = int(np.prod(shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, n_classes))


def nuisance_probe(model: nn.Module, layer: int, train_x: torch.Tensor, train_labels: torch.Tensor,
                   test_x: torch.Tensor, test_labels: torch.Tensor, *, noisy: bool = True, epochs: int = 12,
                   lr: float = 1e-3, batch_size: int = 128, n_classes: Optional[int] = None, seed: int = 0,
                   resample: bool = True) -> dict:
    """Train a small classifier on the frozen representation of noisy layer ``layer`` to predict a label
    (thesis Fig. 2.4: the occluding digit, a nuisance for the main task).

    The representation is the layer's output with the model frozen in eval mode and, with ``noisy``
    (default, as in the thesis), the Information Dropout noise on; ``resample`` draws a fresh noise
    sample every epoch (else one sample is fixed). The probe (our choice): two strided 3×3 convolutions
    (32, 64 channels, BN, ReLU) and a linear layer for a conv layer; a 64-unit hidden layer for a
    fully connected one; Adam, trained by :func:`emergent.train.fit`. Returns ``error`` and ``acc`` on the test set, ``train_error``, the
    ``layer`` index and the representation ``shape``.
    """
    torch.manual_seed(seed)
    train_labels = torch.as_tensor(train_labels).long().cpu()
    test_labels = torch.as_tensor(test_labels).long().cpu()
    k = int(n_classes or int(max(train_labels.max(), test_labels.max())) + 1)

    def feats(x):
        (z,) = layer_outputs(model, x, [layer], noisy=noisy)
        return z

    ztr = feats(train_x)
    probe = _probe_net(ztr.shape[1:], k)
    probe(ztr[:2])  # materialise the lazy layer

    def resample_features(epoch: int, *_: Any) -> None:  # a fresh noise sample for the next epoch
        if resample and noisy and epoch < epochs - 1:
            ztr.copy_(feats(train_x))

    fit(probe, (ztr, train_labels), Trainer(epochs=epochs, lr=lr, optimizer="adam", batch_size=batch_size),
        seed=seed, min_batch=2, progress=False, callbacks=[resample_features])
    probe.eval()
    with torch.no_grad():
        zte = feats(test_x)
        acc = float((probe(zte).argmax(1) == test_labels).float().mean())
        tr_acc = float((probe(ztr).argmax(1) == train_labels).float().mean())
    return dict(error=1 - acc, acc=acc, train_error=1 - tr_acc, layer=layer, shape=list(ztr.shape[1:]))


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 500, noisy: bool = False) -> nn.Module:
    """The BatchNorm "dry run" (spec §11.3): recompute every BatchNorm's running statistics with the noise off.

    Resets the statistics, then makes one pass over ``x`` in train mode with all noise off (Information
    Dropout via :func:`emergent.layers.deterministic`, dropout / constant noise modules in eval mode),
    no gradient, and a cumulative average (``momentum=None``). Without it, the statistics of the layers
    after a noisy one were accumulated on noisy inputs and do not match a deterministic pass.
    ``noisy=True`` keeps the Information Dropout noise on instead (BN statistics for the "N" evaluation,
    computed on the final weights rather than as a running average over the last training steps).
    Modifies and returns ``model`` (its train/eval mode is restored).
    """
    x = _xy(x)[0]
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    was = model.training
    saved = [m.momentum for m in bns]
    noisy_mods = [m for m in model.modules() if isinstance(m, nn.Dropout) or type(m).__name__ == "ConstantLogNormal"]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        for m in noisy_mods:
            m.eval()
        with noise_mode(model, bool(noisy)):
            for s in range(0, len(x), batch_size):
                model(x[s:s + batch_size])
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.train(was)
    return model


@torch.no_grad()
def error(model: nn.Module, data: Any, noisy: bool = False, batch_size: int = 500, repeats: int = 1) -> float:
    """Test error of ``model`` in eval mode; ``noisy=True`` keeps the Information Dropout noise on ("N").

    With ``repeats > 1`` and ``noisy``, the error is averaged over that many noise samples.
    """
    x, y = _xy(data)
    errs = []
    with _mode(model, False), noise_mode(model, bool(noisy)):
        for _ in range(max(1, repeats if noisy else 1)):
            wrong = 0
            for s in range(0, len(x), batch_size):
                out = model(x[s:s + batch_size])
                wrong += int((out.argmax(-1) != y[s:s + batch_size]).sum())
            errs.append(wrong / len(x))
    return float(np.mean(errs))


def evaluate_modes(model: nn.Module, test: Any, bn_data: Any = None, repeats: int = 1) -> dict:
    """Errors in the thesis's two evaluation modes (Fig. 2.4).

    ``N``: noise on; ``D``: noise off. With ``bn_data`` (the training images), each mode first
    re-estimates the BatchNorm statistics on ``bn_data`` in that mode (noise off: the "dry run" of
    spec §11.3; noise on: the same pass with the noise), on copies, so ``model`` is not changed.
    ``N_running`` and ``D_no_dry_run`` are the errors with the running statistics kept from training.
    """
    res = dict(N_running=error(model, test, noisy=True, repeats=repeats),
               D_no_dry_run=error(model, test, noisy=False))
    if bn_data is not None:
        m = reestimate_batchnorm(copy.deepcopy(model), bn_data, noisy=True)
        res["N"] = error(m, test, noisy=True, repeats=repeats)
        m = reestimate_batchnorm(copy.deepcopy(model), bn_data, noisy=False)
        res["D"] = error(m, test, noisy=False)
    else:
        res["N"], res["D"] = res["N_running"], res["D_no_dry_run"]
    return res
