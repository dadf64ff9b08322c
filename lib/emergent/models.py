"""Networks of Chapter 2: a fully connected net and the All-CNN family, each with a choice of noise.

Every network is a stack of **noisy layers**: a linear map (``nn.Linear`` or a possibly strided
``nn.Conv2d``), BatchNorm, an activation (ReLU or Softplus) and multiplicative noise. The noise is
chosen by ``method``:

``"information"``
    :class:`emergent.layers.InformationDropout`: log-normal noise whose scale α(x) is learned per
    sample and per unit (thesis §2.6), capped at ``alpha_max`` (0.7, thesis §2.8).
``"binary"``
    binary dropout with drop probability ``p`` (``nn.Dropout``: rescaled to mean 1, variance
    ``p/(1-p)`` = 1 at p = 0.5).
``"lognormal"``
    *constant* log-normal noise (:class:`ConstantLogNormal`), the same α for every unit and sample.
    At α = 0.7 (thesis noise convention) its variance is 1.03, "the same variance" as binary dropout
    at p = 0.5 (thesis Fig. 2.3a).
``"none"``
    no noise (BatchNorm and the activation only).

Noise is on in ``train()`` mode and off in ``eval()`` mode (the thesis's "D" evaluation);
:func:`emergent.layers.noisy_evaluation` switches Information Dropout's noise on in eval mode
("N" evaluation). ``model.noisy_layers`` lists the noisy layers, input side first: they are what
:mod:`emergent.measures` reads (KL maps, probes, total correlation).

Packed models (several runs trained as one)
-------------------------------------------
A sweep (over β, seeds) of small networks is dominated on a CPU by per-step overhead, not by
arithmetic. ``members=E`` builds **E independent networks in one module**: the first layer reads the
shared input with ``E·w`` output units, every later layer is *grouped* (``groups=E`` convolutions,
:class:`GroupedLinear`), BatchNorm acts per unit, and each member has its own prior parameters. The
logits have shape ``(B, E, n_classes)``. Nothing couples the members: the sum of their losses gives
each member the gradient of its own loss (the only thing they share is the order of the minibatches,
and the input-dropout mask of All-CNN-32). :func:`member` extracts member ``e`` as an ordinary
``members=1`` network with the same weights, on which every measure works unchanged.

Architectures
-------------
* :class:`MLP`: ``depth`` hidden noisy layers (thesis Fig. 2.3a: three, ReLU, variable width).
* :class:`AllCNN`: Springenberg et al. (2014) style, pooling replaced by a *strided noisy layer*
  (as in the authors' code): stages ``[conv3x3 … conv3x3, noisy conv / stride 2]``, then a head of
  convolutions, a 1×1 convolution to the classes and global average pooling.
* :func:`all_cnn_32` (CIFAR-10 32×32; ``filter_percentage`` scales every width),
  :func:`all_cnn_96` (Cluttered MNIST 96×96: noisy layers at 48², 24², 12², 6²), and small fast
  versions: :func:`cluttered_cnn_fast` (48×48 → 24², 12², 6²), :func:`occlusion_cnn_fast`
  (32×32 → 16², 8²) and :func:`small_all_cnn` (two noisy stages with channels doubling, like
  All-CNN-32).

The layer sizes of All-CNN-32/96 follow the authors' public code (ucla-vision/information-dropout),
re-implemented here; the fast versions are our choice (course spec ch02 §14).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ALPHA_MAX, InformationDropout, information_dropout_layers

__all__ = [
    "METHODS",
    "ConstantLogNormal",
    "GroupedLinear",
    "PackedInformationDropout",
    "NoisyLayer",
    "noisy_layer",
    "MLP",
    "AllCNN",
    "all_cnn_32",
    "all_cnn_96",
    "cluttered_cnn_fast",
    "occlusion_cnn_fast",
    "small_all_cnn",
    "member",
    "members_of",
    "count_parameters",
]

METHODS = ("information", "binary", "lognormal", "none")


# --------------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------------
class ConstantLogNormal(nn.Module):
    """Multiplicative log-normal noise with a *constant* α: ``z = h · exp(α u)``, ``u ~ N(0, 1)``.

    ``noise="thesis"`` (default) is the thesis's convention (mean :math:`e^{\\alpha^2/2}`, variance
    :math:`(e^{\\alpha^2}-1)e^{\\alpha^2}` = 1.03 at α = 0.7); ``"unit_mean"`` subtracts α²/2 in the
    exponent. Active in train mode (or with ``noisy_eval=True``), the identity otherwise.
    """

    def __init__(self, alpha: float = ALPHA_MAX, noise: str = "thesis", noisy_eval: bool = False) -> None:
        super().__init__()
        if noise not in ("thesis", "unit_mean"):
            raise ValueError(f"noise must be 'thesis' or 'unit_mean', got {noise!r}")
        self.alpha = float(alpha)
        self.noise = noise
        self.noisy_eval = bool(noisy_eval)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.noisy_eval):
            return h
        log_eps = self.alpha * torch.randn_like(h)
        if self.noise == "unit_mean":
            log_eps = log_eps - 0.5 * self.alpha ** 2
        return h * torch.exp(log_eps)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, noise={self.noise}"


class GroupedLinear(nn.Module):
    """``E`` independent linear maps applied to the ``E`` consecutive blocks of the input features.

    Input ``(B, E·in)``, output ``(B, E·out)``; weight ``(E, out, in)``, bias ``(E, out)``. Initialised
    like ``nn.Linear`` member by member. With ``E = 1`` it is an ``nn.Linear``.
    """

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = int(members), int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(members, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h = torch.einsum("bei,eoi->beo", x.reshape(b, self.members, self.in_features), self.weight)
        if self.bias is not None:
            h = h + self.bias
        return h.reshape(b, self.members * self.out_features)

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


class PackedInformationDropout(InformationDropout):
    """:class:`~emergent.layers.InformationDropout` for a packed model: the units are ``E`` consecutive
    blocks of ``out_features // E`` channels, and the log-normal prior has one (μ, σ) per member
    (``prior_params="layer"``) or per unit (``"channel"``)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: Optional[int] = None, stride: int = 1,
                 *, members: int = 1, **kw: Any) -> None:
        super().__init__(in_features, out_features, kernel_size, stride, **kw)
        self.members = int(members)
        self.channels_per_member = int(out_features) // self.members
        if self.prior == "log_normal" and self.prior_params == "layer":
            learn = isinstance(self.mu, nn.Parameter)
            mu = self.mu.detach().expand(self.members).clone()
            ls = self.log_sigma.detach().expand(self.members).clone()
            del self.mu, self.log_sigma
            if learn:
                self.mu, self.log_sigma = nn.Parameter(mu), nn.Parameter(ls)
            else:
                self.register_buffer("mu", mu)
                self.register_buffer("log_sigma", ls)

    def _prior_view(self, p: torch.Tensor, ndim: int) -> torch.Tensor:
        if p.dim() == 0:
            return p
        if p.shape[0] == self.members and self.prior_params == "layer":
            p = p.repeat_interleave(self.channels_per_member)
        return p.view((-1,) + (1,) * (ndim - 2))


def _linear_map(in_f: int, out_f: int, kernel_size: Optional[int], stride: int, members: int, shared_input: bool,
                bias: bool) -> nn.Module:
    """The linear map of one layer for ``members`` networks (see the module docstring)."""
    e = int(members)
    if kernel_size is None:
        if e == 1 or shared_input:
            return nn.Linear(in_f, e * out_f, bias=bias)
        return GroupedLinear(e, in_f, out_f, bias=bias)
    cin = in_f if (e == 1 or shared_input) else e * in_f
    return nn.Conv2d(cin, e * out_f, kernel_size, stride, kernel_size // 2, bias=bias,
                     groups=1 if (e == 1 or shared_input) else e)


class NoisyLayer(nn.Module):
    """``noise(act(BN(linear(x))))`` for the methods "binary", "lognormal" and "none".

    A conv layer when ``kernel_size`` is given (padding ``kernel_size // 2``), else a linear layer
    (``f`` replaces the linear map; ``out_features`` is then its total number of output units).
    ``last_fx`` holds the activation before the noise after each forward pass.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Optional[int] = None, stride: int = 1,
                 *, method: str = "none", activation: str = "relu", p: float = 0.5, alpha: float = ALPHA_MAX,
                 noise: str = "thesis", batch_norm: bool = True, f: Optional[nn.Module] = None) -> None:
        super().__init__()
        if method not in ("binary", "lognormal", "none"):
            raise ValueError(f"NoisyLayer method must be 'binary', 'lognormal' or 'none', got {method!r}")
        if activation not in ("relu", "softplus"):
            raise ValueError(f"activation must be 'relu' or 'softplus', got {activation!r}")
        conv = kernel_size is not None
        self.f = f if f is not None else _linear_map(in_features, out_features, kernel_size, stride, 1, True,
                                                     bias=not batch_norm)
        self.bn = (nn.BatchNorm2d(out_features) if conv else nn.BatchNorm1d(out_features)) if batch_norm else None
        self.method = method
        self.activation = activation
        if method == "binary":
            self.noise_layer: nn.Module = nn.Dropout(p)
        elif method == "lognormal":
            self.noise_layer = ConstantLogNormal(alpha, noise)
        else:
            self.noise_layer = nn.Identity()
        self.last_fx: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.f(x)
        if self.bn is not None:
            h = self.bn(h)
        h = F.relu(h) if self.activation == "relu" else F.softplus(h)
        self.last_fx = h
        return self.noise_layer(h)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["last_fx"] = None
        return state


def noisy_layer(in_features: int, out_features: int, kernel_size: Optional[int] = None, stride: int = 1, *,
                method: str = "information", activation: str = "relu", alpha_max: float = ALPHA_MAX,
                p: float = 0.5, noise: str = "thesis", batch_norm: bool = True, bias: Optional[bool] = None,
                members: int = 1, shared_input: bool = False, **id_kw: Any) -> nn.Module:
    """One noisy layer of the chosen ``method`` (see the module docstring), for ``members`` packed networks.

    ``in_features``/``out_features`` are *per member*; ``shared_input`` says that all members read the
    same input (the first layer of a packed model). ``bias`` of the linear map defaults to
    ``not batch_norm``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    e = int(members)
    f_bias = (not batch_norm) if bias is None else bool(bias)
    f = _linear_map(in_features, out_features, kernel_size, stride, e, shared_input, bias=f_bias)
    if method == "information":
        a = _linear_map(in_features, out_features, kernel_size, stride, e, shared_input, bias=True)
        kw = dict(f=f, alpha_branch=a, activation=activation, alpha_max=alpha_max, noise=noise,
                  batch_norm=batch_norm, **id_kw)
        if e == 1:
            return InformationDropout(in_features, out_features, kernel_size, stride, **kw)
        return PackedInformationDropout(in_features, e * out_features, kernel_size, stride, members=e, **kw)
    return NoisyLayer(in_features, e * out_features, kernel_size, stride, method=method, activation=activation,
                      p=p, alpha=alpha_max, noise=noise, batch_norm=batch_norm, f=f)


class _NoisyNet(nn.Module):
    """Shared helpers: the ordered list of noisy layers and the constructor record."""

    noisy: nn.ModuleList
    config: dict
    members: int

    @property
    def noisy_layers(self) -> list[nn.Module]:
        """The noisy layers (Information Dropout or :class:`NoisyLayer`), input side first."""
        return list(self.noisy)

    @property
    def id_layers(self) -> list[InformationDropout]:
        """The Information Dropout layers, input side first (empty for the other methods)."""
        return information_dropout_layers(self)

    def _unpack_logits(self, out: torch.Tensor) -> torch.Tensor:
        if self.members == 1:
            return out
        return out.reshape(out.shape[0], self.members, -1)


class MLP(_NoisyNet):
    """A fully connected classifier whose hidden layers are noisy layers (thesis Fig. 2.3a).

    ``MLP(784, 128)`` has ``depth=3`` hidden layers of 128 units (``widths`` gives them one by one),
    each ``noise(act(BN(Linear)))`` with the noise of ``method``, then a linear read-out. Inputs of
    any shape are flattened. ``members=E`` packs E independent networks (logits ``(B, E, classes)``).
    Other keywords go to :class:`~emergent.layers.InformationDropout`.
    """

    def __init__(self, in_features: int = 784, width: int = 128, depth: int = 3, n_classes: int = 10, *,
                 widths: Optional[Sequence[int]] = None, method: str = "information", activation: str = "relu",
                 alpha_max: float = ALPHA_MAX, p: float = 0.5, noise: str = "thesis", batch_norm: bool = True,
                 members: int = 1, **id_kw: Any) -> None:
        super().__init__()
        self.config = dict(in_features=in_features, width=width, depth=depth, n_classes=n_classes,
                           widths=list(widths) if widths is not None else None, method=method,
                           activation=activation, alpha_max=alpha_max, p=p, noise=noise, batch_norm=batch_norm,
                           **id_kw)
        widths = list(widths) if widths is not None else [int(width)] * int(depth)
        self.widths = widths
        self.method = method
        self.activation = activation
        self.members = e = int(members)
        sizes = [int(in_features)] + widths
        self.noisy = nn.ModuleList(
            noisy_layer(a, b, method=method, activation=activation, alpha_max=alpha_max, p=p, noise=noise,
                        batch_norm=batch_norm, members=e, shared_input=(i == 0), **id_kw)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))
        self.head = nn.Linear(sizes[-1], n_classes) if e == 1 else GroupedLinear(e, sizes[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.noisy:
            x = layer(x)
        return self._unpack_logits(self.head(x))


def _conv_bn_act(cin: int, cout: int, k: int, activation: str, members: int = 1,
                 shared_input: bool = False) -> nn.Sequential:
    act = nn.ReLU() if activation == "relu" else nn.Softplus()
    return nn.Sequential(_linear_map(cin, cout, k, 1, members, shared_input, bias=False),
                         nn.BatchNorm2d(members * cout), act)


class AllCNN(_NoisyNet):
    """All-CNN (Springenberg et al. 2014) with strided noisy layers in place of pooling.

    ``stages`` is a list of ``(convs, noisy)``: ``convs`` the widths of the plain 3×3 conv+BN+act
    layers of the stage, ``noisy`` the width of the stage's final noisy 3×3 layer with stride 2 (it
    halves the resolution). ``head`` is a list of ``(kernel, width)`` conv+BN+act layers after the last
    stage; then a 1×1 convolution to ``n_classes`` and global average pooling. ``input_dropout``
    applies binary dropout to the input (All-CNN-32 of the authors' code keeps 80% of the pixels).
    ``first_batch_norm=False`` drops BatchNorm (and the bias) from a first stage made of the noisy layer
    only: an input background that is exactly 0 then gives ``f(x) = 0`` (such units cost nothing with
    ``mask_zeros=True``, the thesis's Prop. 2.6.1 treatment of zero activations). ``members=E`` packs E independent networks
    (grouped convolutions; logits ``(B, E, classes)``).
    Other keywords go to :class:`~emergent.layers.InformationDropout`.
    """

    def __init__(self, stages: Sequence[tuple[Sequence[int], int]], head: Sequence[tuple[int, int]] = (),
                 in_channels: int = 3, n_classes: int = 10, *, method: str = "information",
                 activation: str = "relu", alpha_max: float = ALPHA_MAX, p: float = 0.5, noise: str = "thesis",
                 input_dropout: float = 0.0, first_batch_norm: bool = True, members: int = 1,
                 **id_kw: Any) -> None:
        super().__init__()
        self.stages_spec = [(list(c), int(n)) for c, n in stages]
        self.head_spec = [(int(k), int(w)) for k, w in head]
        self.config = dict(stages=self.stages_spec, head=self.head_spec, in_channels=in_channels,
                           n_classes=n_classes, method=method, activation=activation, alpha_max=alpha_max, p=p,
                           noise=noise, input_dropout=input_dropout, first_batch_norm=first_batch_norm, **id_kw)
        self.method = method
        self.activation = activation
        self.members = e = int(members)
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else nn.Identity()
        blocks, noisy = [], []
        c = int(in_channels)
        first = True
        for convs, width in self.stages_spec:
            layers = []
            for w in convs:
                layers.append(_conv_bn_act(c, w, 3, activation, e, shared_input=first))
                c, first = w, False
            bn = first_batch_norm or not first
            nl = noisy_layer(c, width, 3, 2, method=method, activation=activation, alpha_max=alpha_max, p=p,
                             noise=noise, members=e, shared_input=first, batch_norm=bn,
                             bias=None if bn else False, **id_kw)
            layers.append(nl)
            noisy.append(nl)
            c, first = width, False
            blocks.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(blocks)
        self.noisy = nn.ModuleList(noisy)
        head_layers = []
        for k, w in self.head_spec:
            head_layers.append(_conv_bn_act(c, w, k, activation, e))
            c = w
        head_layers.append(_linear_map(c, n_classes, 1, 1, e, False, bias=True))
        self.head = nn.Sequential(*head_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(x)
        for stage in self.stages:
            x = stage(x)
        return self._unpack_logits(self.head(x).mean(dim=(2, 3)))


# --------------------------------------------------------------------------------------------------
# named architectures
# --------------------------------------------------------------------------------------------------
def _pct(width: int, filter_percentage: float) -> int:
    return max(1, int(round(width * filter_percentage)))


def all_cnn_32(filter_percentage: float = 1.0, in_channels: int = 3, n_classes: int = 10, *,
               method: str = "information", activation: str = "softplus", input_dropout: float = 0.2,
               **kw: Any) -> AllCNN:
    """All-CNN-32 for CIFAR-10 (32×32): [conv96, conv96, noisy96/s2] → 16², [conv192, conv192,
    noisy192/s2] → 8², conv192 3×3, conv192 1×1, conv10 1×1, global average pooling.

    ``filter_percentage`` scales every width (thesis Figs. 2.3b, 2.5 "25% of the filters", 2.6).
    Softplus by default (thesis Figs. 2.3b, 2.5, 2.6); the input dropout keeps 80% (authors' code).
    """
    a, b = _pct(96, filter_percentage), _pct(192, filter_percentage)
    return AllCNN([([a, a], a), ([b, b], b)], [(3, b), (1, b)], in_channels, n_classes, method=method,
                  activation=activation, input_dropout=input_dropout, **kw)


def all_cnn_96(filter_percentage: float = 1.0, in_channels: int = 1, n_classes: int = 10, *,
               method: str = "information", activation: str = "relu", **kw: Any) -> AllCNN:
    """All-CNN-96 for Cluttered MNIST (96×96): [conv32, conv32, noisy32/s2] → 48², [conv64, conv64,
    noisy64/s2] → 24², [conv96, conv96, noisy96/s2] → 12², [conv192, conv192, noisy192/s2] → 6²,
    conv192 3×3, conv192 1×1, conv10 1×1, global average pooling (ReLU + BN, authors' code).

    The first three noisy layers have the sizes of thesis Fig. 2.2 (48×48, 24×24, 12×12).
    """
    w = [_pct(c, filter_percentage) for c in (32, 64, 96, 192)]
    return AllCNN([([c, c], c) for c in w], [(3, w[-1]), (1, w[-1])], in_channels, n_classes, method=method,
                  activation=activation, **kw)


def cluttered_cnn_fast(width: float = 0.5, in_channels: int = 1, n_classes: int = 10, *,
                       method: str = "information", activation: str = "relu", first_batch_norm: bool = False,
                       **kw: Any) -> AllCNN:
    """Fast Cluttered-MNIST net (48×48 input): [noisy 64w/s2] → 24², [conv 64w, noisy 96w/s2] → 12²,
    [conv 96w, noisy 128w/s2] → 6², conv10 1×1, global average pooling, with ``w = width``
    (default 0.5: 32, 32, 48, 48, 64 channels).

    Our choice (course spec §14.2 suggests a conv16 at 48² first; dropping it makes training ~5×
    cheaper on a CPU). The receptive fields of the three noisy layers are 3, 11 and 27 pixels: only the
    last two are big enough to tell a digit from an 8×8 piece of one. The first noisy layer has no
    BatchNorm (``first_batch_norm=False``), so the blank background stays exactly 0.
    """
    c = [_pct(x, width) for x in (64, 64, 96, 96, 128)]
    return AllCNN([([], c[0]), ([c[1]], c[2]), ([c[3]], c[4])], [], in_channels, n_classes,
                  method=method, activation=activation, first_batch_norm=first_batch_norm, **kw)


def occlusion_cnn_fast(width: float = 1.0, in_channels: int = 3, n_classes: int = 10, *,
                       method: str = "information", activation: str = "relu", **kw: Any) -> AllCNN:
    """Fast occluded-textures net (32×32): [conv32, noisy48/s2] → 16², [conv64, noisy64/s2] → 8²,
    conv10 1×1, global average pooling (course spec §14.4)."""
    c = [_pct(x, width) for x in (32, 48, 64, 64)]
    return AllCNN([([c[0]], c[1]), ([c[2]], c[3])], [], in_channels, n_classes, method=method,
                  activation=activation, **kw)


def small_all_cnn(filter_percentage: float = 1.0, base: int = 32, in_channels: int = 1, n_classes: int = 10, *,
                  method: str = "information", activation: str = "softplus", convs_per_stage: int = 1,
                  **kw: Any) -> AllCNN:
    """A small All-CNN-32 look-alike: two noisy stages with channels doubling,
    [conv c, noisy c/s2] → [conv 2c, noisy 2c/s2], conv 2c 1×1, conv10 1×1, global average pooling,
    with ``c = base · filter_percentage``. Softplus by default (thesis Figs. 2.5, 2.6)."""
    a, b = _pct(base, filter_percentage), _pct(2 * base, filter_percentage)
    k = int(convs_per_stage)
    return AllCNN([([a] * k, a), ([b] * k, b)], [(1, b)], in_channels, n_classes, method=method,
                  activation=activation, **kw)


# --------------------------------------------------------------------------------------------------
# packed models: extracting members
# --------------------------------------------------------------------------------------------------
def member(model: _NoisyNet, e: int) -> _NoisyNet:
    """Member ``e`` of a packed model as an ordinary (``members=1``) network with the same weights.

    The result is in the same train/eval mode as ``model``. For ``members=1`` a deep copy is returned.
    """
    E = int(getattr(model, "members", 1))
    if E == 1:
        return copy.deepcopy(model)
    if not 0 <= e < E:
        raise IndexError(f"member {e} of a model with {E} members")
    cfg = dict(model.config)
    if isinstance(model, MLP):
        plain: _NoisyNet = MLP(**cfg)
    else:
        stages, head = cfg.pop("stages"), cfg.pop("head")
        plain = AllCNN(stages, head, **cfg)
    packed_sd = model.state_dict()
    out = {}
    for name, t in plain.state_dict().items():
        src = packed_sd[name]
        if src.shape == t.shape:
            out[name] = src.clone() if (src.dim() == 0 or name.endswith("num_batches_tracked")) else None
            if out[name] is None:  # same shape but per-member (e.g. E·k == k is impossible unless E == 1)
                raise RuntimeError(f"cannot split {name}: shapes {tuple(src.shape)} and {tuple(t.shape)}")
        elif src.dim() == t.dim() + 1 and src.shape[0] == E and src.shape[1:] == t.shape:
            out[name] = src[e].clone()
        elif src.dim() == t.dim() and src.shape[0] == E * t.shape[0] and src.shape[1:] == t.shape[1:]:
            k = t.shape[0]
            out[name] = src[e * k:(e + 1) * k].clone()
        else:
            raise RuntimeError(f"cannot split {name}: shapes {tuple(src.shape)} and {tuple(t.shape)}")
    plain.load_state_dict(out)
    plain.train(model.training)
    return plain.to(next(model.parameters()).device)


def members_of(model: _NoisyNet) -> list[_NoisyNet]:
    """All members of a packed model as ordinary networks (``[copy]`` for ``members=1``)."""
    return [member(model, e) for e in range(int(getattr(model, "members", 1)))]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
