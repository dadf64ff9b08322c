"""Variational weights (Chapter 4): a Gaussian posterior on every weight, trained on the weight IB.

The IB Lagrangian for the weights (thesis eq. 4.3),

    C_β = E_{w∼q}[L_D(p_w(y|x))] + β KL(q(w|D) ‖ p(w)),

with the summed cross-entropy L_D, is minimised per minibatch as ``mean CE + β · KL / N`` (the same
objective divided by the number N of training samples; course spec ch04 §3.1). This normalisation
makes β = 1 the critical value of the random-label argument (thesis §4.6).

Layers (course spec ch04 §3.1, our choice)
------------------------------------------
:class:`VariationalLinear` and :class:`VariationalConv2d` hold a mean-field Gaussian posterior
``q(w) = N(μ, diag σ²)`` per weight (parameters ``weight_mean`` and ``weight_logvar``, the latter
clamped to ``[-20, 5]`` wherever it is used), a deterministic bias, and a prior ``N(0, λ² I)`` with one
log λ² per layer and member, learned (``prior="learned"``, the default) or fixed (``prior="fixed"``).
Initialisation (spec §4 Pilot A): μ ∼ N(0, 2/fan_in), log σ² = log(2/fan_in) − 6, log λ² = log(2/fan_in)
(or log σ0² when ``sigma0`` is given: one value, or one per member).

The forward pass uses the **local reparametrisation trick** (Kingma, Salimans & Welling 2015): for a
weight sample w ∼ q the pre-activation ``x·w`` is Gaussian with mean ``x·μ`` and variance ``x²·σ²``,
so one Gaussian sample is drawn per example and output unit instead of one weight matrix per
minibatch. The marginal of every output is exact; outputs of *different examples* are independent
(with an explicit weight sample they would share it), which lowers the gradient variance.
Sampling is on in ``train()`` mode and off in ``eval()`` mode (the *mean net*, weights μ);
:func:`sampling` switches it explicitly (``with sampling(model, True):`` for the stochastic net in eval
mode, ``False`` for the mean net in train mode).

Packed members
--------------
As the packed models of Chapter 2 (:mod:`emergent.models`), ``members=E`` holds E independent
layers in one module: weights of shape ``(E, out, in)``, one prior per member. A linear layer reads
``(B, in)`` (the same input for every member) or ``(B, E, in)`` and returns ``(B, E, out)``; with
``members=1`` a ``(B, in)`` input gives ``(B, out)``. A β sweep thus trains as one model through
:func:`emergent.train.fit`, with :func:`variational_loss` returning one loss per member: nothing
couples the members (the only shared thing is the minibatch order). :func:`member` extracts one.

``kl()`` (per layer, and :func:`kl` for a whole model) returns the KL per member in nats, computed in
float64: ``½ Σ [μ²/λ² + σ²/λ² − log(σ²/λ²) − 1]`` = ½[Σμ²/λ² + Σσ²/λ² + k log λ² − Σ log σ² − k],
k the number of weights of a member (biases are deterministic and carry no KL).

Typical use (spec §4 Pilot A)::

    model = VariationalMLP([64, 128, 128, 10], members=len(betas))
    hist = fit(model, (x, y), trainer(epochs=1000, batch_size=128),
               loss_fn=variational_loss(betas, n_train=len(x)), progress=False)
    evaluate(model, (x, y))          # {"acc_sampled": [...], "acc_mean": [...], ...} per member
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .train import Trainer, as_tensors

__all__ = [
    "LOGVAR_MIN",
    "LOGVAR_MAX",
    "VariationalLinear",
    "VariationalConv2d",
    "VariationalMLP",
    "variational_layers",
    "kl",
    "sampling",
    "param_groups",
    "trainer",
    "variational_loss",
    "evaluate",
    "member",
    "members_of",
]

LOGVAR_MIN, LOGVAR_MAX = -20.0, 5.0
_VAR_EPS = 1e-16  # added to the output variance under the square root (finite gradient at x = 0)

Tensor = torch.Tensor


class _VariationalLayer(nn.Module):
    """Shared parts: posterior and prior parameters, KL, sampling switch (see the module docstring)."""

    weight_mean: nn.Parameter
    weight_logvar: nn.Parameter
    bias: Optional[nn.Parameter]
    prior_logvar: Tensor  # (E,): a Parameter (learned) or a buffer (fixed)
    shared_input_dim: int  # dims of an input shared by all members: 2 for (B, in), 4 for (B, C, H, W)

    def forward(self, x: Tensor) -> Tensor:
        """A sample of the output (the mean in eval mode); the member axis is dropped for one member and a
        shared input."""
        mean, var = self.moments(x)
        out = self._sample(mean, var)
        return out[:, 0] if (self.members == 1 and x.dim() == self.shared_input_dim) else out

    def _init_posterior(self, shape: tuple[int, ...], fan_in: int, members: int, bias: bool, prior: str,
                        sigma0: Optional[float | Sequence[float]]) -> None:
        if prior not in ("learned", "fixed"):
            raise ValueError(f"prior must be 'learned' or 'fixed', got {prior!r}")
        e = int(members)
        if e < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.members = e
        self.prior = prior
        self.fan_in = int(fan_in)
        he = 2.0 / self.fan_in
        self.weight_mean = nn.Parameter(torch.randn(e, *shape) * math.sqrt(he))
        self.weight_logvar = nn.Parameter(torch.full((e, *shape), math.log(he) - 6.0))
        self.bias = nn.Parameter(torch.zeros(e, shape[0])) if bias else None
        if sigma0 is None:
            log_prior = torch.full((e,), math.log(he))
        else:  # one σ0 for all members, or one per member (e.g. a grid of priors packed in one model)
            s0 = torch.as_tensor(sigma0, dtype=torch.float64).flatten()
            if s0.numel() not in (1, e) or not bool((s0 > 0).all()) or not bool(torch.isfinite(s0).all()):
                raise ValueError(f"sigma0 must be one positive number or one per member ({e}), got {sigma0!r}")
            log_prior = (2.0 * s0.log()).expand(e).float().clone()
        if prior == "learned":
            self.prior_logvar = nn.Parameter(log_prior)
        else:
            self.register_buffer("prior_logvar", log_prior)
        self.sample: Optional[bool] = None  # None: sample in train mode, mean weights in eval mode

    # ---------------------------------------------------------------------------------------------
    @property
    def n_weights(self) -> int:
        """Number of stochastic weights k of one member."""
        return int(self.weight_mean[0].numel())

    def logvar(self) -> Tensor:
        """Posterior log-variances, clamped to ``[LOGVAR_MIN, LOGVAR_MAX]``."""
        return self.weight_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def prior_log_variance(self) -> Tensor:
        """log λ² per member (a learned one clamped like the posterior's)."""
        if isinstance(self.prior_logvar, nn.Parameter):
            return self.prior_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        return self.prior_logvar

    def kl(self) -> Tensor:
        """KL(q ‖ p) per member in nats, shape ``(E,)``, float64 (differentiable)."""
        e, k = self.members, self.n_weights
        mu = self.weight_mean.reshape(e, -1).double()
        lv = self.logvar().reshape(e, -1).double()
        plv = self.prior_log_variance().double()
        # the sums are taken first (fewer float64 operations per weight); in float64 the cancellation
        # between k log λ² and Σ log σ² costs nothing (relative error 1e-16 of |Σ log σ²|)
        return 0.5 * ((mu.square().sum(1) + lv.exp().sum(1)) * torch.exp(-plv) + k * plv - lv.sum(1) - k)

    def sampling(self) -> bool:
        """Whether the forward pass samples (``sample`` if set, else the train mode)."""
        return self.training if self.sample is None else bool(self.sample)

    def _noise(self, like: Tensor) -> Tensor:
        # a contiguous draw: ``randn_like`` of the (permuted) einsum output is several times slower
        return torch.randn(like.shape, dtype=like.dtype, device=like.device)

    def _sample(self, mean: Tensor, var: Tensor) -> Tensor:
        if not self.sampling():
            return mean
        return mean + torch.sqrt(var + _VAR_EPS) * self._noise(mean)


class VariationalLinear(_VariationalLayer):
    """A linear layer with a Gaussian posterior per weight and local reparametrisation.

    ``members=E`` packs E independent layers: weights ``(E, out, in)``, input ``(B, in)`` (shared) or
    ``(B, E, in)``, output ``(B, E, out)`` (``(B, out)`` for ``E = 1`` and a 2-D input).
    ``prior="learned"`` learns log λ² per member; ``"fixed"`` keeps λ = ``sigma0`` (one per member allowed)
    (default, in both cases, the initial value √(2/fan_in)).
    """

    shared_input_dim = 2

    def __init__(self, in_features: int, out_features: int, members: int = 1, prior: str = "learned",
                 sigma0: Optional[float | Sequence[float]] = None, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._init_posterior((self.out_features, self.in_features), self.in_features, members, bias, prior, sigma0)

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean ``x·μ + b`` and variance ``x²·σ²`` of the output under q, each ``(B, E, out)``."""
        var_w = torch.exp(self.logvar())
        if x.dim() == 3 and x.shape[1] == 1 and self.members > 1:
            x = x[:, 0]
        if x.dim() == 2:
            eq = "bi,eoi->beo"
        elif x.dim() == 3 and x.shape[1] == self.members:
            eq = "bei,eoi->beo"
        else:
            raise ValueError(f"input of shape {tuple(x.shape)} for {self.members} members of {self.in_features} "
                             "features: expected (B, in) or (B, E, in)")
        mean = torch.einsum(eq, x, self.weight_mean)
        if self.bias is not None:
            mean = mean + self.bias
        var = torch.einsum(eq, x * x, var_w)
        return mean, var

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, members={self.members}, "
                f"prior={self.prior}, bias={self.bias is not None}")


class VariationalConv2d(_VariationalLayer):
    """A 2-D convolution with a Gaussian posterior per weight and local reparametrisation.

    ``members=E``: kernels ``(E, out, in, kh, kw)``; input ``(B, in, H, W)`` (shared) or
    ``(B, E, in, H, W)``; output ``(B, E, out, H', W')`` (``(B, out, H', W')`` for ``E = 1`` and a 4-D
    input). Output mean = conv(x, μ) + b, variance = conv(x², σ²); one sample per example, channel and
    position. fan_in = in · kh · kw.
    """

    shared_input_dim = 4

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, members: int = 1,
                 prior: str = "learned", sigma0: Optional[float | Sequence[float]] = None, bias: bool = True) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = (int(kh), int(kw))
        self.stride, self.padding = stride, padding
        self._init_posterior((self.out_channels, self.in_channels, int(kh), int(kw)),
                             self.in_channels * int(kh) * int(kw), members, bias, prior, sigma0)

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of the output under q, each ``(B, E, out, H', W')``."""
        e, c = self.members, self.in_channels
        w_mu = self.weight_mean.reshape(e * self.out_channels, c, *self.kernel_size)
        w_var = torch.exp(self.logvar()).reshape_as(w_mu)
        b = None if self.bias is None else self.bias.reshape(-1)
        if x.dim() == 5 and x.shape[1] == 1 and e > 1:
            x = x[:, 0]
        if x.dim() == 4:
            groups = 1
        elif x.dim() == 5 and x.shape[1] == e:
            x, groups = x.reshape(x.shape[0], e * c, *x.shape[3:]), e
        else:
            raise ValueError(f"input of shape {tuple(x.shape)} for {e} members of {c} channels: expected "
                             "(B, C, H, W) or (B, E, C, H, W)")
        mean = F.conv2d(x, w_mu, b, self.stride, self.padding, 1, groups)
        var = F.conv2d(x * x, w_var, None, self.stride, self.padding, 1, groups)
        shape = (x.shape[0], e, self.out_channels, *mean.shape[2:])
        return mean.reshape(shape), var.reshape(shape)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, members={self.members}, prior={self.prior}, bias={self.bias is not None}")


class VariationalMLP(nn.Module):
    """A fully connected classifier of :class:`VariationalLinear` layers with ReLU in between.

    ``widths`` lists every layer size, input first and classes last (spec Pilot A: ``[64, 128, 128, 10]``).
    Inputs of any shape are flattened. ``members=E`` packs E independent networks: logits ``(B, E, classes)``
    (``(B, classes)`` for ``E = 1``). ``kl()`` is the KL of all its layers per member.
    """

    def __init__(self, widths: Sequence[int], members: int = 1, prior: str = "learned",
                 sigma0: Optional[float | Sequence[float]] = None, activation: str = "relu") -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ValueError("widths needs at least an input and an output size")
        if activation not in ("relu", "softplus"):
            raise ValueError(f"activation must be 'relu' or 'softplus', got {activation!r}")
        s0 = sigma0 if sigma0 is None or isinstance(sigma0, (int, float)) else [float(v) for v in sigma0]
        self.config = dict(widths=widths, members=int(members), prior=prior, sigma0=s0, activation=activation)
        self.widths, self.members = widths, int(members)
        self.layers = nn.ModuleList(VariationalLinear(a, b, members, prior, sigma0)
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.act = nn.ReLU() if activation == "relu" else nn.Softplus()

    def forward(self, x: Tensor) -> Tensor:
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            if i:
                h = self.act(h)
            h = layer(h)
        return h

    def kl(self) -> Tensor:
        """KL per member (nats, float64), summed over the layers."""
        return kl(self)


# --------------------------------------------------------------------------------------------------
# whole-model helpers
# --------------------------------------------------------------------------------------------------
def variational_layers(model: nn.Module) -> list[_VariationalLayer]:
    """The variational layers of ``model`` in module order (input side first for a plain stack)."""
    return [m for m in model.modules() if isinstance(m, _VariationalLayer)]


def kl(model: nn.Module) -> Tensor:
    """KL(q ‖ p) of all variational layers of ``model`` per member, nats, float64, shape ``(E,)``."""
    layers = variational_layers(model)
    if not layers:
        raise ValueError("the model has no variational layers")
    total = layers[0].kl()
    for layer in layers[1:]:
        total = total + layer.kl()
    return total


@contextmanager
def sampling(model: nn.Module, on: Optional[bool] = True) -> Iterator[nn.Module]:
    """Within the block, the variational layers sample (``True``), use the mean weights (``False``, the
    mean net) or follow the train/eval mode (``None``); restored afterwards."""
    layers = variational_layers(model)
    old = [layer.sample for layer in layers]
    for layer in layers:
        layer.sample = on
    try:
        yield model
    finally:
        for layer, s in zip(layers, old):
            layer.sample = s


def param_groups(model: nn.Module, lr_mean: float = 1e-3, lr_var: float = 1e-2) -> list[dict]:
    """Adam parameter groups of spec Pilot A: the means, biases (and any non-variational parameter)
    at ``lr_mean``; the posterior log-variances and learned prior log-variances at ``lr_var``.

    For :func:`emergent.train.fit` pass ``Trainer(..., param_groups=param_groups)`` (or a
    ``functools.partial`` with other rates), or use :func:`trainer`.
    """
    var_ids: set[int] = set()
    for layer in variational_layers(model):
        var_ids.add(id(layer.weight_logvar))
        if isinstance(layer.prior_logvar, nn.Parameter):
            var_ids.add(id(layer.prior_logvar))
    mean, var = [], []
    for p in model.parameters():
        if p.requires_grad:
            (var if id(p) in var_ids else mean).append(p)
    groups = [{"params": mean, "lr": float(lr_mean)}, {"params": var, "lr": float(lr_var)}]
    return [g for g in groups if g["params"]]


def trainer(epochs: int, batch_size: int = 128, lr_mean: float = 1e-3, lr_var: float = 1e-2, **kw: Any) -> Trainer:
    """A :class:`~emergent.train.Trainer` with Adam and the two learning rates of :func:`param_groups`
    (``lr`` is set to ``lr_mean``; other fields by keyword)."""
    return Trainer(epochs=int(epochs), batch_size=int(batch_size), optimizer="adam", lr=float(lr_mean),
                   param_groups=partial(param_groups, lr_mean=lr_mean, lr_var=lr_var), **kw)


def variational_loss(betas: Sequence[float] | float | Tensor, n_train: int
                     ) -> Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]]:
    """A ``loss_fn`` for :func:`emergent.train.fit`: per member ``mean CE + β_e · KL_e / N``.

    ``betas`` has one value per member (or one for all); ``n_train`` is N, the training-set size
    (spec §3.1: with this normalisation β = 1 is critical). The CE is that of the forward pass (a
    stochastic one in train mode). Metrics per member: ``ce``, ``kl_per_sample`` (KL/N, nats) and
    ``train_acc`` (of the same stochastic pass).
    """
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    n = int(n_train)
    if n < 1:
        raise ValueError(f"n_train must be positive, got {n_train}")

    def loss_fn(model: nn.Module, xb: Tensor, yb: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        out = model(xb)
        if out.dim() == 2:
            out = out[:, None]
        e = out.shape[1]
        beta = b.expand(e) if b.numel() == 1 else b
        if beta.numel() != e:
            raise ValueError(f"{beta.numel()} betas for {e} members")
        ce = F.cross_entropy(out.permute(0, 2, 1), yb[:, None].expand(-1, e), reduction="none").mean(0)
        kl_ps = kl(model) / n
        loss = ce + (beta.to(kl_ps.device) * kl_ps).to(ce.dtype)
        acc = (out.detach().argmax(-1) == yb[:, None]).double().mean(0)
        return loss, {"ce": ce.detach(), "kl_per_sample": kl_ps.detach(), "train_acc": acc}

    return loss_fn


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, samples: int = 5, batch_size: int = 1000) -> dict[str, list[float]]:
    """Per-member accuracy and CE on ``data``: of the stochastic net (``acc_sampled``, ``ce_sampled``: the
    mean over ``samples`` forward passes, i.e. of the Gibbs predictor) and of the mean net
    (``acc_mean``, ``ce_mean``). The model's mode is restored."""
    x, y = as_tensors(data)
    was_training = model.training
    model.eval()

    def run(on: bool, reps: int) -> tuple[Tensor, Tensor]:
        correct = ce = None
        with sampling(model, on):
            for _ in range(reps):
                for i in range(0, len(x), batch_size):
                    out = model(x[i:i + batch_size])
                    if out.dim() == 2:
                        out = out[:, None]
                    yb = y[i:i + batch_size]
                    c = (out.argmax(-1) == yb[:, None]).double().sum(0)
                    l = F.cross_entropy(out.permute(0, 2, 1), yb[:, None].expand(-1, out.shape[1]),
                                        reduction="none").double().sum(0)
                    correct = c if correct is None else correct + c
                    ce = l if ce is None else ce + l
        return correct / (reps * len(x)), ce / (reps * len(x))

    try:
        acc_s, ce_s = run(True, int(samples))
        acc_m, ce_m = run(False, 1)
    finally:
        model.train(was_training)
    return {"acc_sampled": acc_s.tolist(), "acc_mean": acc_m.tolist(),
            "ce_sampled": ce_s.tolist(), "ce_mean": ce_m.tolist()}


# --------------------------------------------------------------------------------------------------
# packed models: extracting members
# --------------------------------------------------------------------------------------------------
def member(model: nn.Module, e: int) -> nn.Module:
    """Member ``e`` of a packed model as an ordinary (``members=1``) copy with the same weights.

    Works for any model whose per-member parameters all live in variational layers (e.g.
    :class:`VariationalMLP`); the copy is in the same train/eval mode."""
    E = int(getattr(model, "members", 1))
    layers = variational_layers(model)
    if layers:
        E = layers[0].members
    if not 0 <= e < E:
        raise IndexError(f"member {e} of a model with {E} members")
    m = copy.deepcopy(model)
    for layer in variational_layers(m):
        for name, p in list(layer.named_parameters(recurse=False)):
            setattr(layer, name, nn.Parameter(p.detach()[e:e + 1].clone(), requires_grad=p.requires_grad))
        for name, buf in list(layer.named_buffers(recurse=False)):
            layer.register_buffer(name, buf[e:e + 1].clone())
        layer.members = 1
    if hasattr(m, "members"):
        m.members = 1
    if isinstance(getattr(m, "config", None), dict) and "members" in m.config:
        m.config["members"] = 1
    return m


def members_of(model: nn.Module) -> list[nn.Module]:
    """All members of a packed model as ordinary networks."""
    layers = variational_layers(model)
    E = layers[0].members if layers else int(getattr(model, "members", 1))
    return [member(model, e) for e in range(E)]
