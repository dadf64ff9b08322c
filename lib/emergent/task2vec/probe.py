r"""The probe network of Task2Vec (thesis Ch. 5) and its pretraining on a "generic" source task.

The thesis's probe is an ImageNet-pretrained ResNet-34: a fixed feature extractor
:math:`z = \phi_w(x)` on which only a head :math:`p(y|z)` is retrained per task; the Task2Vec
embedding is the Fisher of the *feature extractor's* weights, one value per filter. Offline, without
ImageNet weights, we build a small probe and pretrain it ourselves (course spec ch05 §3.1, all our
choices):

* :class:`Probe`: 4 conv 3×3 layers 16→32→32→64 (144 filters: the embedding dimension, 33k
  parameters), ReLU, max-pool after the first two, global average pool, a linear head; **no
  BatchNorm** (the Fisher is per example, so the model must be per example); Kaiming-normal weights
  and zero biases; a fixed input normalisation :math:`(x - 0.13)/0.31` *inside* the model, after any
  domain transform (with PyTorch's default init on raw [0, 1] inputs the pilot found 40 of 144
  filters dead, with exactly zero Fisher).
* :func:`pretrain_probe`: all 10 classes of the 5,000 offline MNIST digits
  (:func:`emergent.data.mnist_small`, a stratified 4,000/1,000 split), each training image shown, at
  every minibatch, as it is, inverted or rotated by 90° (drawn at random): the "generic" source task,
  richer than the target tasks, our ImageNet analogue. Adam 2e-3, batch 32, 4 epochs, through
  :func:`emergent.train.fit`; the weights are cached with :func:`emergent.cache.cached` (< 200 kB).
  Nothing is downloaded.
* :class:`LinearHead` and :class:`TaskNet`: a task's head on the frozen features (standardised with
  fixed statistics), and the probe with that head attached, whose conv weights the Fisher measures.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import cache, data, train
from ..runtime import cpu_threads, device as default_device

__all__ = [
    "PROBE_WIDTHS",
    "PROBE_DEFAULTS",
    "Probe",
    "LinearHead",
    "TaskNet",
    "apply_domain",
    "pretrain_probe",
]

#: Output channels of the four conv layers (their sum, 144, is the embedding dimension).
PROBE_WIDTHS = (16, 32, 32, 64)

#: Pretraining recipe of :func:`pretrain_probe` (course spec ch05 §3.1; our choice).
PROBE_DEFAULTS = dict(widths=PROBE_WIDTHS, epochs=4, n_train=4000, n_heldout=1000, lr=2e-3,
                      batch_size=32, domains=("M", "I", "R"), mean=0.13, std=0.31)


def apply_domain(x: torch.Tensor, domain: str) -> torch.Tensor:
    """The image transform of a domain: ``"M"`` identity, ``"I"`` inverted (1 − x), ``"R"`` rotated
    90° counter-clockwise. (``"S"``, scikit-learn's digits, is another *dataset*, not a transform:
    see :func:`emergent.task2vec.tasks.domain_images`.)"""
    if domain == "M":
        return x
    if domain == "I":
        return 1.0 - x
    if domain == "R":
        return torch.rot90(x, 1, dims=(-2, -1))
    raise ValueError(f"unknown image transform {domain!r} (expected 'M', 'I' or 'R')")


class Probe(nn.Module):
    """Small CNN probe: conv3×3 layers of ``widths`` channels (ReLU; max-pool 2 after the first
    two), global average pool, linear head of ``n_classes``. No BatchNorm.

    ``features(x)`` is :math:`\\phi_w(x)` ``(N, widths[-1])``; ``forward(x)`` the head's logits;
    ``activations(x)`` the post-ReLU maps of every conv layer (for the domain embedding);
    ``filter_names()`` the conv weights whose Fisher makes the embedding, ``n_filters`` its length.
    """

    def __init__(self, n_classes: int = 10, widths: Sequence[int] = PROBE_WIDTHS, in_channels: int = 1,
                 mean: float = 0.13, std: float = 0.31, pool_after: int = 2) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("the probe needs at least one conv layer")
        self.widths = tuple(int(w) for w in widths)
        self.pool_after = int(pool_after)
        chans = (in_channels, *self.widths)
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(len(self.widths)))
        self.head = nn.Linear(self.widths[-1], n_classes)
        self.register_buffer("in_mean", torch.tensor(float(mean)))
        self.register_buffer("in_std", torch.tensor(float(std)))
        for conv in self.convs:  # Kaiming-normal (fan-in, ReLU gain), zero biases
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.head.bias)

    @property
    def n_filters(self) -> int:
        """The embedding dimension: the number of conv filters (144 for the default widths)."""
        return sum(self.widths)

    def filter_names(self, prefix: str = "") -> list[str]:
        """Names of the conv weights, ``["convs.0.weight", ...]`` (with ``prefix`` prepended)."""
        return [f"{prefix}convs.{i}.weight" for i in range(len(self.convs))]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU maps ``(N, C_l, H_l, W_l)`` of each conv layer (before pooling)."""
        h = (x - self.in_mean) / self.in_std
        out = []
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h))
            out.append(h)
            if i < self.pool_after:
                h = F.max_pool2d(h, 2)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\phi_w(x)`: the last conv layer's maps, globally average-pooled, ``(N, C)``."""
        return self.activations(x)[-1].mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class LinearHead(nn.Module):
    """A task's head on frozen features: ``linear((z − mean) / std)`` with fixed (buffer) statistics."""

    def __init__(self, in_features: int, n_classes: int, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)
        self.register_buffer("mean", torch.zeros(in_features) if mean is None else mean.detach().clone())
        self.register_buffer("std", torch.ones(in_features) if std is None else std.detach().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear((z - self.mean) / self.std)


class TaskNet(nn.Module):
    """The probe's feature extractor with a task's head: ``head(probe.features(x))``.

    It shares the probe's modules (no copy); its conv weights are named ``probe.convs.<i>.weight``
    (:meth:`filter_names`), which is what the Task2Vec Fisher is taken of.
    """

    def __init__(self, probe: Probe, head: nn.Module) -> None:
        super().__init__()
        self.probe = probe
        self.head = head

    def filter_names(self) -> list[str]:
        return self.probe.filter_names(prefix="probe.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.probe.features(x))


def _domain_augmenter(domains: Sequence[str], seed: int, dev: torch.device):
    """``transform(x, y, epoch)`` for :func:`emergent.train.fit`: each image shown in a domain drawn
    uniformly from ``domains`` (``"M"``, ``"I"``, ``"R"``), from a seeded generator."""
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed) + 7919)
    doms = list(domains)

    def transform(x: torch.Tensor, y: torch.Tensor, epoch: int):
        if len(doms) == 1:
            return apply_domain(x, doms[0]), y
        pick = torch.randint(len(doms), (x.shape[0],), generator=gen, device=dev)
        out = x
        for j, d in enumerate(doms):
            if d != "M":
                mask = (pick == j).view(-1, 1, 1, 1)
                out = torch.where(mask, apply_domain(x, d), out)
        return out, y

    return transform


def pretrain_probe(seed: int = 0, *, epochs: int | None = None, n_train: int | None = None,
                   n_heldout: int | None = None, lr: float | None = None, batch_size: int | None = None,
                   domains: Sequence[str] | None = None, widths: Sequence[int] | None = None,
                   device: str | torch.device | None = None, use_cache: bool = True,
                   progress: bool = False) -> tuple[Probe, dict]:
    """The pretrained probe (eval mode) and a record of its training, cached.

    Trains :class:`Probe` (seeded init) through :func:`emergent.train.fit` on ``n_train`` (at most
    4,000) of the 5,000 offline MNIST digits, all 10 classes; a stratified 4,000/1,000 split with
    ``seed``, of whose 1,000 held-out digits ``n_heldout`` measure the accuracy. Every training image
    is shown, at each minibatch, in a random domain of ``domains`` (``"M"`` as is, ``"I"``
    inverted, ``"R"`` rotated 90°). Adam, no weight decay. Defaults:
    :data:`PROBE_DEFAULTS`. The state dict is cached under ``ch05/probe`` (keyed by the recipe, the
    seed and the library version); ``use_cache=False`` trains without reading or writing it.

    Returns:
        ``(probe, info)``; ``info`` has ``config``, ``seconds`` (the training time when it was
        trained), ``heldout_acc`` (per domain, on the held-out digits), ``train_acc`` (last epoch)
        and ``cached`` (``True`` when loaded from the cache).
    """
    cfg = dict(PROBE_DEFAULTS)
    for k, v in dict(epochs=epochs, n_train=n_train, n_heldout=n_heldout, lr=lr, batch_size=batch_size, domains=domains,
                     widths=widths).items():
        if v is not None:
            cfg[k] = v
    cfg["widths"] = [int(w) for w in cfg["widths"]]
    cfg["domains"] = [str(d) for d in cfg["domains"]]
    for d in cfg["domains"]:
        apply_domain(torch.zeros(1, 1, 2, 2), d)  # validates the name
    cfg["seed"] = int(seed)
    dev = default_device() if device is None else torch.device(device)
    computed = {}

    def compute() -> dict:
        full = data.mnist_small(device="cpu")
        tr, held = full.split(test_fraction=0.2, seed=cfg["seed"])
        tr = tr.subset(cfg["n_train"], seed=cfg["seed"]) if cfg["n_train"] < len(tr) else tr
        held = held.subset(cfg["n_heldout"], seed=cfg["seed"]) if cfg["n_heldout"] < len(held) else held
        tr, held = tr.to(dev), held.to(dev)
        torch.manual_seed(cfg["seed"])
        probe = Probe(10, cfg["widths"], mean=cfg["mean"], std=cfg["std"]).to(dev)
        t0 = time.perf_counter()
        with cpu_threads(dev):
            hist = train.fit(probe, tr, epochs=cfg["epochs"], lr=cfg["lr"], optimizer="adam",
                             batch_size=cfg["batch_size"], seed=cfg["seed"], progress=progress,
                             transform=_domain_augmenter(cfg["domains"], cfg["seed"], dev),
                             desc="probe")
            seconds = time.perf_counter() - t0
            acc = {d: train.evaluate(probe, (apply_domain(held.x, d), held.y))["acc"] for d in cfg["domains"]}
        computed["yes"] = True
        return {"state": {k: v.detach().cpu() for k, v in probe.state_dict().items()},
                "info": dict(config=cfg, seconds=seconds, heldout_acc=acc, n_heldout=len(held),
                             train_acc=hist.last("train_acc"))}

    stored = cache.cached("ch05/probe", cfg, compute, fmt="pt") if use_cache else compute()
    probe = Probe(10, cfg["widths"], mean=cfg["mean"], std=cfg["std"])
    probe.load_state_dict(stored["state"])
    info = dict(stored["info"])
    info["cached"] = not computed
    return probe.to(dev).eval(), info
