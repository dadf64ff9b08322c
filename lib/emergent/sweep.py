"""Train many schedules × seeds together: the sweep runner of chapter 6.

A critical-period figure is a sweep: the same small network trained R times, each run with its own
deficit schedule (:class:`emergent.deficits.DeficitSchedule`), seed, learning-rate schedule and
weight decay. Trained one after the other, R small runs are launch-bound on a GPU and leave most of
it idle. This module trains them **stacked**: the R copies of the network are one module whose
layers carry a leading run dimension,

* fully connected layers hold weights ``(R, out, in)`` and run as one batched matmul
  (:func:`torch.baddbmm`);
* convolutions are stacked **along channels**: the R inputs ``(R, B, C, H, W)`` become one tensor
  ``(B, R·C, H, W)`` and every convolution is a grouped convolution with ``groups=R`` (each run only
  sees its own channels); BatchNorm over ``R·C`` channels is exactly R independent BatchNorms;
* the optimizer (SGD with momentum, or Adam) updates all runs at once with a per-run learning rate
  and weight decay held in device tensors.

The data live on the device; each step gathers the R mini-batches with one index tensor
``(R, B)`` (each run has its own shuffle), applies the R deficit schedules with
:func:`emergent.deficits.apply_stacked` (which runs are active is decided on the host from the
schedules, so nothing waits for the device) and takes one optimizer step for all runs. Losses and
accuracies stay on the device and are copied to the host once per epoch. There is no per-step
host synchronisation, except at the optional ``probe_steps`` (e.g. log-spaced steps where the
Fisher information is measured).

``group_size`` sets how many runs share one stacked module; ``group_size=1`` is the plain loop
(same code, one run at a time), which is what :func:`default_group_size` picks on a CPU when the
measured speed-up of stacking is small (see ``benchmarks/critical_periods_sweep.py``).

A stacked run ``r`` can be turned back into an ordinary ``nn.Module`` with
:meth:`StackedNet.extract` (for :func:`emergent.fisher.fisher_trace`, for example), and
:meth:`StackedNet.from_models` stacks ordinary modules, so a stacked run starts from exactly the
same initial weights as the same run trained alone.

Networks are described by a :class:`NetSpec`: ``kind="mlp"`` (widths) or ``kind="cnn"`` (a list of
``(channels, kernel, stride)`` convolutions, optional BatchNorm, global average pooling, then a
linear head, or ``head="conv"`` for the All-CNN's final 1×1 convolution to the classes).
:func:`all_cnn` gives the All-CNN of the thesis (Springenberg et al. 2014, as in §6.1).

Why this is not :func:`emergent.train.fit` (the course's one training loop, which also trains packed
models through its ``loss_fn``): a chapter-6 sweep needs, *per run*, its own minibatch order, its own
learning-rate schedule and weight decay, and its own deficit schedule switching on and off at its
own epochs. ``fit`` has one shuffle, one schedule and one optimizer for the whole model; folding
those per-run tensors into it would make the common loop carry chapter 6's machinery. This is the
stacked fast path, kept for speed (one optimizer step for all runs); every other model trains
through ``fit``.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .deficits import DeficitSchedule, apply_stacked
from .runtime import device as default_device

__all__ = [
    "NetSpec",
    "RunSpec",
    "StackedNet",
    "StackedOptimizer",
    "all_cnn",
    "default_group_size",
    "plain_net",
    "train_sweep",
    "train_plain",
]

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetSpec:
    """A small network family.

    ``kind="mlp"``: ``in_dim -> hidden[0] -> ... -> n_classes`` with ReLU.
    ``kind="cnn"``: convolutions ``conv`` = ``((channels, kernel, stride), ...)`` with padding
    ``kernel // 2``, each followed by BatchNorm (if ``batchnorm``) and ReLU; then global average
    pooling and a linear head (``head="linear"``), or, with ``head="conv"``, a last 1×1
    convolution to ``n_classes`` followed by global average pooling (the All-CNN).
    """

    kind: str = "cnn"
    in_shape: tuple = (1, 14, 14)
    n_classes: int = 10
    hidden: tuple = (256, 256)
    conv: tuple = ((16, 3, 1), (32, 3, 2), (32, 3, 1), (32, 3, 2))
    batchnorm: bool = True
    head: str = "linear"

    def config(self) -> dict:
        return {k: (list(map(list, v)) if k == "conv" else (list(v) if isinstance(v, tuple) else v))
                for k, v in asdict(self).items()}

    def layer_names(self) -> list[str]:
        """Names of the weight-carrying layers of :func:`plain_net` (``fc1..`` or ``conv1..``, ``fc``)."""
        if self.kind == "mlp":
            return [f"fc{i + 1}" for i in range(len(self.hidden) + 1)]
        names = [f"conv{i + 1}" for i in range(len(self.conv))]
        return names + (["fc"] if self.head == "linear" else [f"conv{len(self.conv) + 1}"])


def all_cnn(in_channels: int = 3, n_classes: int = 10, side: int = 32, batchnorm: bool = True) -> NetSpec:
    """The All-CNN of the critical-period experiments: 96-96-192(s2)-192-192-192(s2)-192-192(1×1)-10(1×1)."""
    conv = ((96, 3, 1), (96, 3, 1), (192, 3, 2), (192, 3, 1), (192, 3, 1), (192, 3, 2), (192, 3, 1),
            (192, 1, 1))
    return NetSpec(kind="cnn", in_shape=(in_channels, side, side), n_classes=n_classes, conv=conv,
                   batchnorm=batchnorm, head="conv")


def plain_net(spec: NetSpec) -> nn.Sequential:
    """An ordinary ``nn.Sequential`` for ``spec`` (the network one run of the sweep trains)."""
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    if spec.kind == "mlp":
        layers["flatten"] = nn.Flatten()
        d = int(math.prod(spec.in_shape))
        for i, h in enumerate(spec.hidden):
            layers[f"fc{i + 1}"] = nn.Linear(d, h)
            layers[f"relu{i + 1}"] = nn.ReLU()
            d = h
        layers[f"fc{len(spec.hidden) + 1}"] = nn.Linear(d, spec.n_classes)
        return nn.Sequential(layers)
    if spec.kind != "cnn":
        raise ValueError(f"unknown kind {spec.kind!r}")
    c = spec.in_shape[0]
    for i, (out, k, s) in enumerate(spec.conv):
        layers[f"conv{i + 1}"] = nn.Conv2d(c, out, k, s, padding=k // 2, bias=not spec.batchnorm)
        if spec.batchnorm:
            layers[f"bn{i + 1}"] = nn.BatchNorm2d(out)
        layers[f"relu{i + 1}"] = nn.ReLU()
        c = out
    if spec.head == "conv":
        layers[f"conv{len(spec.conv) + 1}"] = nn.Conv2d(c, spec.n_classes, 1)
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
    else:
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(c, spec.n_classes)
    return nn.Sequential(layers)


class StackedNet(nn.Module):
    """R copies of the network of ``spec`` as one module: input ``(R, B, *in_shape)``, output ``(R, B, n_classes)``.

    Every parameter's first dimension is ``R × (the plain parameter's first dimension)`` (for
    convolutions and BatchNorm) or ``R`` (linear layers, ``(R, out, in)``), so ``p.view(R, -1)``
    is always the per-run view (the optimizer relies on it).
    """

    def __init__(self, spec: NetSpec, runs: int):
        super().__init__()
        self.spec, self.R = spec, int(runs)
        R = self.R
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.strides: list[int] = []
        if spec.kind == "mlp":
            d = int(math.prod(spec.in_shape))
            for i, h in enumerate(list(spec.hidden) + [spec.n_classes]):
                name = f"fc{i + 1}"
                self.register_parameter(f"{name}_weight", nn.Parameter(torch.empty(R, h, d)))
                self.register_parameter(f"{name}_bias", nn.Parameter(torch.empty(R, h)))
                self.names.append(name)
                self.kinds.append("fc")
                d = h
        else:
            c = spec.in_shape[0]
            convs = list(spec.conv)
            for i, (out, k, s) in enumerate(convs):
                name = f"conv{i + 1}"
                self.register_parameter(f"{name}_weight", nn.Parameter(torch.empty(R * out, c, k, k)))
                if not spec.batchnorm:
                    self.register_parameter(f"{name}_bias", nn.Parameter(torch.empty(R * out)))
                else:
                    setattr(self, f"bn{i + 1}", nn.BatchNorm2d(R * out))
                self.names.append(name)
                self.kinds.append("conv")
                self.strides.append(s)
                c = out
            if spec.head == "conv":
                name = f"conv{len(convs) + 1}"
                self.register_parameter(f"{name}_weight", nn.Parameter(torch.empty(R * spec.n_classes, c, 1, 1)))
                self.register_parameter(f"{name}_bias", nn.Parameter(torch.empty(R * spec.n_classes)))
                self.names.append(name)
                self.kinds.append("headconv")
            else:
                self.register_parameter("fc_weight", nn.Parameter(torch.empty(R, spec.n_classes, c)))
                self.register_parameter("fc_bias", nn.Parameter(torch.empty(R, spec.n_classes)))
                self.names.append("fc")
                self.kinds.append("fc")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_models(cls, spec: NetSpec, models: Sequence[nn.Module]) -> "StackedNet":
        """Stack ordinary :func:`plain_net` modules (same spec): run ``r`` starts from ``models[r]``."""
        net = cls(spec, len(models))
        states = [m.state_dict() for m in models]
        with torch.no_grad():
            for key, t in net.state_dict().items():
                name, _, what = key.partition("_") if "." not in key else (key, "", "")
                if "." in key:  # a BatchNorm buffer or parameter: "bn1.weight"
                    parts = [s[key] for s in states]
                    if parts[0].ndim == 0:  # num_batches_tracked
                        t.copy_(parts[0])
                    else:
                        t.copy_(torch.cat(parts, 0))
                    continue
                parts = [s[f"{name}.{what}"] for s in states]
                if net._kind_of(name) == "fc":
                    t.copy_(torch.stack(parts, 0))
                else:
                    t.copy_(torch.cat(parts, 0))
        return net

    @classmethod
    def init(cls, spec: NetSpec, seeds: Sequence[int]) -> "StackedNet":
        """R runs initialised like ``plain_net(spec)`` under ``torch.manual_seed(seed)`` (PyTorch defaults)."""
        models = []
        for s in seeds:
            torch.manual_seed(int(s))
            models.append(plain_net(spec))
        return cls.from_models(spec, models)

    def _kind_of(self, name: str) -> str:
        return self.kinds[self.names.index(name)]

    def extract(self, r: int) -> nn.Sequential:
        """Run ``r`` as an ordinary :func:`plain_net` module (a copy, on the same device)."""
        m = plain_net(self.spec).to(next(self.parameters()).device)
        sd = m.state_dict()
        mine = self.state_dict()
        R = self.R
        with torch.no_grad():
            for key, t in sd.items():
                name, what = key.split(".")
                if name.startswith("bn"):
                    src = mine[key]
                    t.copy_(src if src.ndim == 0 else src.view(R, -1)[r].view_as(t))
                    continue
                src = mine[f"{name}_{what}"]
                t.copy_(src.view(R, -1)[r].view_as(t))
        return m.train(self.training)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(R, B, *in_shape)`` (each run its own batch) → logits ``(R, B, n_classes)``."""
        R = self.R
        if self.spec.kind == "mlp":
            h = x.reshape(R, x.shape[1], -1)
            n = len(self.names)
            for i, name in enumerate(self.names):
                w, b = getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")
                h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
                if i < n - 1:
                    h = F.relu(h)
            return h
        B = x.shape[1]
        h = x.transpose(0, 1).reshape(B, R * x.shape[2], *x.shape[3:])  # (B, R·C, H, W)
        for i, (name, kind) in enumerate(zip(self.names, self.kinds)):
            w = getattr(self, f"{name}_weight")
            if kind == "conv":
                k = w.shape[-1]
                h = F.conv2d(h, w, getattr(self, f"{name}_bias", None), self.strides[i], k // 2, groups=R)
                if self.spec.batchnorm:
                    h = getattr(self, f"bn{i + 1}")(h)
                h = F.relu(h)
            elif kind == "headconv":
                h = F.conv2d(h, w, getattr(self, f"{name}_bias"), 1, 0, groups=R)
                return h.mean((2, 3)).view(B, R, -1).transpose(0, 1)
            else:  # linear head after global average pooling
                z = h.mean((2, 3)).view(B, R, -1).transpose(0, 1)  # (R, B, C)
                return torch.baddbmm(getattr(self, f"{name}_bias").unsqueeze(1), z, w.transpose(1, 2))
        raise AssertionError("unreachable")  # pragma: no cover

    def forward_shared(self, x: Tensor) -> Tensor:
        """The R runs on the same inputs ``x`` ``(B, *in_shape)`` → ``(R, B, n_classes)`` (evaluation)."""
        return self(x.unsqueeze(0).expand(self.R, *x.shape))


# --------------------------------------------------------------------------------------------
# Optimizer with per-run hyper-parameters
# --------------------------------------------------------------------------------------------
class StackedOptimizer:
    """SGD with momentum (PyTorch's convention) or Adam, with per-run ``lr`` and ``weight_decay``.

    ``lr`` and ``weight_decay`` are device tensors ``(R,)``; set ``opt.lr`` each epoch (a run with
    ``lr = 0`` is frozen, which is how finished runs wait for the others).
    """

    def __init__(self, params: Sequence[nn.Parameter], R: int, kind: str = "sgd", momentum: float = 0.9,
                 weight_decay: Tensor | float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.R, self.kind, self.momentum, self.betas, self.eps = R, kind, momentum, betas, eps
        dev = self.params[0].device
        self.lr = torch.zeros(R, device=dev)
        self.wd = torch.as_tensor(weight_decay, dtype=torch.float32, device=dev).expand(R).clone()
        self.state = [torch.zeros_like(p) for p in self.params]
        self.state2 = [torch.zeros_like(p) for p in self.params] if kind == "adam" else None
        self.t = 0
        if kind not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {kind!r}")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        R = self.R
        lr, wd = self.lr.view(R, 1), self.wd.view(R, 1)
        self.t += 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            w, g = p.view(R, -1), p.grad.view(R, -1)
            g = g.add(w * wd)  # L2 weight decay, as torch.optim.SGD / Adam (not AdamW)
            if self.kind == "sgd":
                buf = self.state[i].view(R, -1)
                if self.t == 1:
                    buf.copy_(g)
                else:
                    buf.mul_(self.momentum).add_(g)
                w.sub_(lr * buf)
            else:
                b1, b2 = self.betas
                m, v = self.state[i].view(R, -1), self.state2[i].view(R, -1)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                mh = m / (1 - b1 ** self.t)
                vh = v / (1 - b2 ** self.t)
                w.sub_(lr * mh / (vh.sqrt() + self.eps))


# --------------------------------------------------------------------------------------------
# Runs and the sweep
# --------------------------------------------------------------------------------------------
@dataclass
class RunSpec:
    """One run of a sweep: a deficit schedule and its training hyper-parameters.

    ``epochs``: total epochs of this run; the learning rate in epoch ``e`` is
    ``max(lr * lr_decay**e, lr_min)`` (``lr_decay=1``: constant). ``name``: a label for plots.
    """

    schedule: DeficitSchedule = field(default_factory=DeficitSchedule.none)
    epochs: int = 30
    seed: int = 0
    lr: float = 0.05
    lr_decay: float = 1.0
    weight_decay: float = 5e-4
    name: str | None = None
    lr_min: float = 0.0


    def label(self) -> str:
        return self.name or self.schedule.name()

    def lr_at(self, epoch: int) -> float:
        return max(self.lr * self.lr_decay ** epoch, self.lr_min) if epoch < self.epochs else 0.0


def default_group_size(spec: NetSpec, dev: torch.device | None = None, runs: int = 8) -> int:
    """How many runs to stack: all of them on a GPU, 1 (the plain loop) on a CPU.

    On a 2-core CPU ``benchmarks/critical_periods_sweep.py`` measured no gain from stacking: the
    small matmuls and convolutions already keep the cores busy, and batched matmuls / grouped
    convolutions are slower per run there than the ordinary kernels. On a GPU a small net is
    launch-bound and stacking R runs divides the number of launches by R.
    """
    dev = torch.device(dev) if dev is not None else default_device()
    return runs if dev.type != "cpu" else 1


#: deficits that do not depend on randomness: applied once to the whole training set
_PRECOMPUTED = ("blur", "vertical_flip", "label_permutation")


def train_sweep(
    spec: NetSpec,
    runs: Sequence[RunSpec],
    train: Any,
    test: Any = None,
    *,
    batch_size: int = 128,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    group_size: int | None = None,
    device: str | torch.device | None = None,
    probe_steps: Sequence[int] = (),
    probe: Callable[[int, int, nn.Module], dict] | None = None,
    eval_every: int = 1,
    progress: Callable[[float, str], None] | bool = False,
    amp: bool = False,
    data_seed: int | None = None,
) -> list[dict]:
    """Train every run of ``runs`` and return one record per run (in the order given).

    Args:
        spec: the network (:class:`NetSpec`).
        runs: the runs (:class:`RunSpec`: schedule, epochs, seed, lr, decay, weight decay).
        train, test: datasets with ``.x`` ``(N, *in_shape)`` and ``.y``; moved to ``device``.
            The test set is always clean.
        group_size: runs stacked in one module (default :func:`default_group_size`); groups are
            formed after sorting the runs by length, so stacked runs waste little time waiting.
        probe_steps: global optimizer steps (0 = before training) at which
            ``probe(run_index, step, model)`` is called with run ``r`` as a plain module in eval
            mode (e.g. to measure its Fisher information); its dict is stored in
            ``record["probes"]``. These are the only points where the host waits for the device.
        eval_every: evaluate the test accuracy every ``eval_every`` epochs (and at each run's end).
        progress: ``True`` for a tqdm bar, or a callback ``report(fraction, message)``.
        amp: bfloat16 autocast on CUDA (the GPU benchmark's setting).
        data_seed: seed of the shuffles (default: each run's own seed).

    Returns:
        ``[{"name", "seed", "schedule", "epochs", "test_acc": [...], "test_loss": [...],
        "train_loss": [...], "eval_epochs": [...], "final_acc", "probes": [...], "seconds"}]``.
    """
    dev = torch.device(device) if device is not None else default_device()
    xtr, ytr = train.x.to(dev), train.y.to(dev)
    xte = yte = None
    if test is not None:
        xte, yte = test.x.to(dev), test.y.to(dev)
    runs = list(runs)
    R_all = len(runs)
    gs = group_size or default_group_size(spec, dev, R_all)
    order = sorted(range(R_all), key=lambda i: runs[i].epochs)
    groups = [order[i:i + gs] for i in range(0, R_all, gs)]
    total_epochs = sum(max(runs[i].epochs for i in g) for g in groups)
    records: list[dict | None] = [None] * R_all
    done_epochs = 0
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_epochs, desc="sweep", leave=False)
    report = progress if callable(progress) else None
    n = len(xtr)
    steps_per_epoch = math.ceil(n / batch_size)
    probe_set = sorted(set(int(s) for s in probe_steps))
    # Deterministic deficits (blur, flip, label permutation) are applied once to the whole training
    # set: variant 0 is the clean data, one more variant per distinct deficit. A step then gathers
    # every run's batch from its current variant with a single indexing operation.
    variant_of: dict[tuple, int] = {}
    xs_v, ys_v = [xtr], [ytr]
    for r in runs:
        s = r.schedule
        if s.kind in _PRECOMPUTED and s.key() not in variant_of:
            xv, yv = s.transform(xtr, ytr)
            variant_of[s.key()] = len(xs_v)
            xs_v.append(xv)
            ys_v.append(yv)
    x_all = torch.stack(xs_v) if len(xs_v) > 1 else xtr.unsqueeze(0)
    y_all = torch.stack(ys_v) if len(ys_v) > 1 else ytr.unsqueeze(0)
    del xs_v, ys_v
    x_flat, y_flat = x_all.flatten(0, 1), y_all.flatten(0, 1)
    for g in groups:
        grs = [runs[i] for i in g]
        R = len(grs)
        t0 = time.perf_counter()
        net = StackedNet.init(spec, [r.seed for r in grs]).to(dev)
        opt = StackedOptimizer(list(net.parameters()), R, optimizer, momentum,
                               torch.tensor([r.weight_decay for r in grs]))
        gens = []
        for r in grs:
            gj = torch.Generator(device=dev)
            gj.manual_seed(int(data_seed if data_seed is not None else r.seed) * 1000003 + 17)
            gens.append(gj)
        noise_gen = torch.Generator(device=dev)
        noise_gen.manual_seed(int(grs[0].seed) + 99991)
        hist = [dict(test_acc=[], test_loss=[], train_loss=[], eval_epochs=[], probes=[]) for _ in grs]
        max_ep = max(r.epochs for r in grs)
        # runs whose deficit is drawn afresh every step (white noise, random labels)
        live_schedules = [r.schedule if r.schedule.kind not in _PRECOMPUTED else DeficitSchedule.none()
                          for r in grs]
        any_live = any(s.kind != "none" for s in live_schedules)
        step = 0

        def do_probe(step_: int) -> None:
            if probe is None:
                return
            for j in range(R):
                if step_ <= grs[j].epochs * steps_per_epoch:
                    m = net.extract(j).eval()
                    hist[j]["probes"].append({"step": step_, **probe(g[j], step_, m)})

        if 0 in probe_set:
            do_probe(0)
        for epoch in range(max_ep):
            opt.lr = torch.tensor([r.lr_at(epoch) for r in grs], device=dev)
            vidx = torch.tensor([variant_of[r.schedule.key()] if (r.schedule.kind in _PRECOMPUTED
                                 and r.schedule.active(epoch)) else 0 for r in grs], device=dev).view(R, 1)
            vbase = vidx * n
            net.train()
            # each run shuffles with its own generator: a run sees the same batches whether it
            # is trained alone or stacked with others (R small launches, once per epoch)
            perm = torch.stack([torch.randperm(n, generator=gj, device=dev) for gj in gens])
            loss_sum = torch.zeros(R, device=dev)
            for i in range(0, n, batch_size):
                idx = perm[:, i:i + batch_size]
                flat = idx + vbase  # one flat gather (much faster than indexing with two tensors)
                xb, yb = x_flat[flat], y_flat[flat]
                if any_live:
                    xb, yb = apply_stacked(live_schedules, xb, yb, epoch, generator=noise_gen)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
                    out = net(xb)
                loss_r = F.cross_entropy(out.float().flatten(0, 1), yb.flatten(), reduction="none").view(R, -1).mean(1)
                opt.zero_grad()
                loss_r.sum().backward()
                opt.step()
                loss_sum += loss_r.detach() * idx.shape[1]
                step += 1
                if probe_set and step in probe_set:
                    do_probe(step)
            ev = None
            last = [epoch + 1 == r.epochs for r in grs]
            if xte is not None and ((epoch + 1) % eval_every == 0 or any(last) or epoch + 1 == max_ep):
                ev = _evaluate_stacked(net, xte, yte)
            vals = torch.cat([loss_sum / n] + ([ev[0], ev[1]] if ev is not None else [])).tolist()  # one sync per epoch
            for j, r in enumerate(grs):
                if epoch < r.epochs:
                    hist[j]["train_loss"].append(vals[j])
                    if ev is not None:
                        hist[j]["test_acc"].append(vals[R + j])
                        hist[j]["test_loss"].append(vals[2 * R + j])
                        hist[j]["eval_epochs"].append(epoch + 1)
            done_epochs += 1
            if bar is not None:
                bar.update(1)
            if report is not None:
                report(done_epochs / total_epochs, f"epoch {done_epochs}/{total_epochs}")
        seconds = time.perf_counter() - t0
        for j, r in enumerate(grs):
            h = hist[j]
            records[g[j]] = {
                "name": r.label(), "seed": r.seed, "epochs": r.epochs, "lr": r.lr, "lr_decay": r.lr_decay,
                "weight_decay": r.weight_decay,
                "schedule": {"kind": r.schedule.kind, "start": r.schedule.start,
                             "end": (None if math.isinf(r.schedule.end) else r.schedule.end)},
                **h,
                "final_acc": h["test_acc"][-1] if h["test_acc"] else None,
                "seconds": seconds / R,
            }
    if bar is not None:
        bar.close()
    return records  # type: ignore[return-value]


@torch.no_grad()
def _evaluate_stacked(net: StackedNet, x: Tensor, y: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """Per-run test accuracy and loss ``(R,)``, ``(R,)`` on clean data (device tensors, no sync)."""
    net.eval()
    R = net.R
    correct = torch.zeros(R, device=x.device)
    loss = torch.zeros(R, device=x.device)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        out = net.forward_shared(xb).float()
        correct += (out.argmax(-1) == yb).float().sum(1)
        loss += F.cross_entropy(out.flatten(0, 1), yb.repeat(R), reduction="none").view(R, -1).sum(1)
    net.train()
    return correct / len(x), loss / len(x)


def train_plain(spec: NetSpec, run: RunSpec, train: Any, test: Any = None, *, batch_size: int = 128,
                device: str | torch.device | None = None) -> dict:
    """The reference: one run with an ordinary module, ``torch.optim.SGD`` and a plain loop.

    Used by the benchmark as the baseline and by the tests to check the stacked runner.
    """
    dev = torch.device(device) if device is not None else default_device()
    torch.manual_seed(run.seed)
    model = plain_net(spec).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=run.lr, momentum=0.9, weight_decay=run.weight_decay)
    xtr, ytr = train.x.to(dev), train.y.to(dev)
    n = len(xtr)
    accs = []
    for epoch in range(run.epochs):
        for gparam in opt.param_groups:
            gparam["lr"] = run.lr_at(epoch)
        model.train()
        perm = torch.randperm(n, device=dev)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = xtr[idx], ytr[idx]
            xb, yb = run.schedule.apply(xb, yb, epoch)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if test is not None:
            model.eval()
            with torch.no_grad():
                xt, yt = test.x.to(dev), test.y.to(dev)
                acc = sum((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum() for i in range(0, len(xt), 1000))
            accs.append(float(acc) / len(xt))
    return {"name": run.label(), "test_acc": accs, "final_acc": accs[-1] if accs else None, "model": model}
