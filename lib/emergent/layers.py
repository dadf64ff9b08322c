"""Information Dropout (thesis §2.6) and the closed-form information costs of its noise.

The layer computes (thesis §2.6, eq. before 2.4)

.. math::  z = \\varepsilon \\odot f(x), \\qquad \\log\\varepsilon \\sim \\mathcal N(0, \\alpha(x)^2),

where :math:`f(x)=\\mathrm{act}(\\mathrm{BN}(W_f x))` and :math:`\\alpha(x)` is produced by a parallel branch
reading the same input. Every forward pass stores the per-unit divergence
:math:`\\mathrm{KL}(p(z\\mid x)\\,\\|\\,q(z))` to the layer's prior in ``layer.kl`` (same shape as ``z``); the
training loss is ``CE + beta * information_dropout_kl(model) / N_train`` (thesis §2.8, eq. 2.6 corrected).

Conventions (course spec ch02 §9, §11; errata §17):

* **Noise.** ``noise="thesis"`` samples :math:`\\varepsilon=e^{\\alpha u}`, :math:`u\\sim\\mathcal N(0,1)`, i.e.
  :math:`\\log\\mathcal N(0,\\alpha^2)` exactly as printed in the thesis. Its mean is :math:`e^{\\alpha^2/2}\\neq 1`,
  although the thesis calls the noise "unit mean" (errata #5). ``noise="unit_mean"`` samples
  :math:`\\varepsilon=e^{\\alpha u-\\alpha^2/2}`, i.e. :math:`\\log\\mathcal N(-\\alpha^2/2,\\alpha^2)`, mean 1.
* **α.** ``alpha = alpha_max - (alpha_max - alpha_min) * sigmoid(-a(x))`` lies in
  :math:`(\\alpha_{\\min}, \\alpha_{\\max}]` with ``alpha_min = 1e-3``, ``alpha_max = 0.7`` by default. The thesis
  (§2.8) requires :math:`\\alpha(x) < 0.7`; the authors' code uses ``0.001 + alpha_max * sigmoid`` whose top is
  0.701. We keep the top at exactly ``alpha_max`` (our choice; the 0.001 shift is immaterial). The form
  ``alpha_max - (...)`` guarantees ``alpha <= alpha_max`` even in floating point.
  ``squash="softplus"`` (``alpha = min(alpha_min + softplus(a), alpha_max)``) is offered as an alternative
  for when the sigmoid stalls learning.
* **ReLU prior** (Prop 2.6.1): improper log-uniform with an atom at zero, :math:`q(z)=q_0\\delta_0+c/z`.
  KL :math:`=-\\log\\alpha+\\text{const}` (eq. 2.4). We fix the constant so that the KL is 0 at the top of α's
  range: ``KL = log(alpha_max) - log(alpha)`` ≥ 0, which corresponds to the density constant
  :math:`\\log c=-\\log\\alpha_{\\max}-\\tfrac12\\log(2\\pi e)` (see :func:`log_uniform_log_c`). By default the
  cost is applied to every unit, including units with :math:`f(x)=0` (as the authors' code does, and as eq. 2.6
  "ignoring the special case f(x)=0" does); ``mask_zeros=True`` gives those units the thesis's cost
  :math:`-\\log q_0` instead (``q0=1`` by default, so they cost 0).
* **Softplus prior** (Prop 2.6.2): :math:`q(\\log z)=\\mathcal N(\\mu,\\sigma^2)`, μ and σ learnable scalars per layer
  (init 0 and 1; ``prior_params="channel"`` for one pair per channel). KL is eq. 2.5 **corrected**
  (errata #2): :math:`\\frac{\\alpha^2+(\\log f(x)-\\mu)^2}{2\\sigma^2}-\\log\\frac{\\alpha}{\\sigma}-\\frac12`, with
  :math:`\\log f(x)` replaced by :math:`\\log f(x)-\\alpha^2/2` under unit-mean noise. ``log f`` uses
  ``log(max(f, 1e-4))`` (spec §11.1).
* **Evaluation.** Noise is on in ``train()`` mode and off in ``eval()`` mode (the thesis's "D" evaluation; the
  output is then exactly ``f(x)``). ``noisy_eval=True``, or the context manager :func:`noisy_evaluation`, keeps
  it on in eval mode ("N" evaluation); :func:`deterministic` forces it off even in train mode (the BatchNorm
  "dry run" of spec §11.3). The KL is computed in every mode: it is a property of :math:`p(z\\mid x)`, not of the
  sample.

Everything is device-agnostic and the forward pass performs no host synchronisation.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ALPHA_MAX",
    "ALPHA_MIN",
    "ALPHA_UNIT_VARIANCE_THESIS",
    "ALPHA_UNIT_VARIANCE_UNIT_MEAN",
    "NOISE_CONVENTIONS",
    "InformationDropout",
    "IBLoss",
    "alpha_for_noise_variance",
    "binary_dropout_variance",
    "deterministic",
    "information_dropout_kl",
    "information_dropout_layers",
    "information_dropout_loss",
    "kl_relu_log_uniform",
    "kl_softplus_log_normal",
    "log_uniform_log_c",
    "lognormal_noise_mean",
    "lognormal_noise_variance",
    "noise_mode",
    "noisy_evaluation",
]

NOISE_CONVENTIONS = ("thesis", "unit_mean")
ALPHA_MAX = 0.7
"""Default cap on α (thesis §2.8: "we constrain α(x) < 0.7")."""
ALPHA_MIN = 1e-3
"""Default floor on α (authors' code: ``0.001 + ...``); keeps ``-log α`` finite."""
ALPHA_UNIT_VARIANCE_THESIS = math.sqrt(math.log((1 + math.sqrt(5)) / 2))
"""α ≈ 0.6937 at which the thesis noise ``exp(α u)`` has variance exactly 1 (``e^{α²}`` = golden ratio)."""
ALPHA_UNIT_VARIANCE_UNIT_MEAN = math.sqrt(math.log(2.0))
"""α ≈ 0.8326 at which unit-mean log-normal noise has variance 1 (``e^{α²} - 1 = 1``)."""

_HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------
def _check_noise(noise: str) -> str:
    if noise not in NOISE_CONVENTIONS:
        raise ValueError(f"noise must be one of {NOISE_CONVENTIONS}, got {noise!r}")
    return noise


def _xp(*args):
    """Pick the array namespace: torch if any argument is a tensor, else numpy.

    Returns ``(xp, converted_args)``. With numpy every argument becomes an array. With torch, tensors stay
    as they are and Python/numpy scalars become Python floats (so no host-to-device copy happens in a
    forward pass); arrays become tensors on the device of the first tensor argument.
    """
    ref = next((a for a in args if isinstance(a, torch.Tensor)), None)
    if ref is None:
        return np, [None if a is None else np.asarray(a, dtype=float) for a in args]
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    out = []
    for a in args:
        if a is None or isinstance(a, torch.Tensor):
            out.append(a)
        elif np.ndim(a) == 0:
            out.append(float(a))
        else:
            out.append(torch.as_tensor(a, dtype=dtype, device=ref.device))
    return torch, out


def _log(xp, v):
    """log that also accepts Python floats in the torch path."""
    return math.log(v) if isinstance(v, float) else xp.log(v)


def _scalar(x):
    """numpy 0-d arrays back to Python floats (so float in -> float out); tensors untouched."""
    if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0):
        return float(x)
    return x


# --------------------------------------------------------------------------------------------------
# moments of the multiplicative noise and the "α < 0.7" rule
# --------------------------------------------------------------------------------------------------
def lognormal_noise_mean(alpha, noise: str = "thesis"):
    """Mean of the multiplicative noise ε with ``log ε ~ N(m, α²)``.

    ``noise="thesis"`` (m = 0, thesis §2.6): :math:`E[\\varepsilon]=e^{\\alpha^2/2}` (not 1, errata #5).
    ``noise="unit_mean"`` (m = -α²/2): :math:`E[\\varepsilon]=1`.
    Works on floats, numpy arrays and tensors.
    """
    _check_noise(noise)
    xp, (a,) = _xp(alpha)
    if noise == "thesis":
        return _scalar(xp.exp(a * a / 2))
    return _scalar(xp.ones_like(a))


def lognormal_noise_variance(alpha, noise: str = "thesis"):
    """Variance of the multiplicative noise ε with ``log ε ~ N(m, α²)`` (T8 of the ch01 spec).

    * ``noise="thesis"`` (m = 0, the noise printed in thesis §2.6 and used in §2.8):
      :math:`\\mathrm{Var}[\\varepsilon]=(e^{\\alpha^2}-1)\\,e^{\\alpha^2}`; at α = 0.7 this is **1.032**.
    * ``noise="unit_mean"`` (m = -α²/2): :math:`\\mathrm{Var}[\\varepsilon]=e^{\\alpha^2}-1`; at α = 0.7 only 0.632.

    In both conventions the squared coefficient of variation :math:`\\mathrm{Var}/\\mathrm{mean}^2` is
    :math:`e^{\\alpha^2}-1`.

    **The α < 0.7 rule** (thesis §2.8): "we constrain α(x) < 0.7, so that the maximum variance of the
    log-normal error distribution will be approximately 1, the same as binary dropout when using a drop
    probability of 0.5" (binary dropout rescaled to mean 1 takes values {0, 2}: variance 1, see
    :func:`binary_dropout_variance`). This is correct for the thesis's own (non-unit-mean) noise: variance 1
    exactly at :math:`e^{\\alpha^2}=\\varphi` (the golden ratio), α = √(ln φ) ≈ 0.694 ≈ 0.7
    (:data:`ALPHA_UNIT_VARIANCE_THESIS`). For genuinely unit-mean noise the same variance needs
    :math:`e^{\\alpha^2}-1=1`, α = √(ln 2) ≈ 0.833 (:data:`ALPHA_UNIT_VARIANCE_UNIT_MEAN`); with α < 0.7 the
    unit-mean noise is then weaker than binary dropout (variance ≤ 0.632). See :func:`alpha_for_noise_variance`.
    """
    _check_noise(noise)
    xp, (a,) = _xp(alpha)
    a2 = a * a
    if noise == "thesis":
        return _scalar(xp.expm1(a2) * xp.exp(a2))
    return _scalar(xp.expm1(a2))


def alpha_for_noise_variance(variance=1.0, noise: str = "thesis"):
    """Inverse of :func:`lognormal_noise_variance`: the α at which Var[ε] equals ``variance``.

    ``thesis``: :math:`t=e^{\\alpha^2}` solves :math:`t^2-t-v=0`, so :math:`\\alpha=\\sqrt{\\log\\frac{1+\\sqrt{1+4v}}2}`
    (v = 1: α ≈ 0.6937). ``unit_mean``: :math:`\\alpha=\\sqrt{\\log(1+v)}` (v = 1: α ≈ 0.8326).
    """
    _check_noise(noise)
    xp, (v,) = _xp(variance)
    if noise == "thesis":
        return _scalar(xp.sqrt(xp.log((1 + xp.sqrt(1 + 4 * v)) / 2)))
    return _scalar(xp.sqrt(xp.log1p(v)))


def binary_dropout_variance(p=0.5):
    """Variance of binary-dropout noise rescaled to mean 1 (values 0 w.p. p, 1/(1-p) w.p. 1-p): p/(1-p).

    At the usual p = 0.5 it is 1: the reference value of the thesis's α < 0.7 rule.
    """
    xp, (pp,) = _xp(p)
    return _scalar(pp / (1 - pp))


# --------------------------------------------------------------------------------------------------
# closed-form KL costs (Props 2.6.1 and 2.6.2)
# --------------------------------------------------------------------------------------------------
def log_uniform_log_c(alpha_ref=ALPHA_MAX):
    """The constant ``log c`` of the improper log-uniform prior q(log z) = c implied by our eq. 2.4 constant.

    Prop 2.6.1 (with the sign of the proof, errata #3): :math:`\\mathrm{KL}=-H(\\mathcal N(0,\\alpha^2))-\\log c
    =-\\log\\alpha-\\tfrac12\\log(2\\pi e)-\\log c`. Choosing :math:`\\log c=-\\log\\alpha_{\\rm ref}-\\tfrac12\\log(2\\pi e)`
    makes :math:`\\mathrm{KL}=\\log\\alpha_{\\rm ref}-\\log\\alpha`, zero at :math:`\\alpha=\\alpha_{\\rm ref}`.
    """
    xp, (a,) = _xp(alpha_ref)
    return _scalar(-xp.log(a) - _HALF_LOG_2PI_E)


def kl_relu_log_uniform(alpha, alpha_ref=ALPHA_MAX, *, fx=None, mask_zeros: bool = False, q0=1.0):
    """Per-unit KL for ReLU activations against the log-uniform prior with a zero atom (Prop 2.6.1, eq. 2.4).

    Prior :math:`q(z)=q_0\\delta_0(z)+c/z`; noise :math:`\\log\\varepsilon\\sim\\mathcal N(\\cdot,\\alpha^2)` (either
    convention: a shift of log ε does not change its entropy). For :math:`f(x)\\neq0`,

    .. math::  \\mathrm{KL}=-\\log\\alpha+\\text{const}=\\log\\alpha_{\\rm ref}-\\log\\alpha,

    with the constant documented in :func:`log_uniform_log_c` (0 at the top of α's range, positive below).
    For :math:`f(x)=0` the thesis gives :math:`\\mathrm{KL}=-\\log q_0`; this is used only when
    ``mask_zeros=True`` (needs ``fx``); by default every unit pays ``-log α`` (authors' code, eq. 2.6).
    Works on floats, numpy arrays and tensors.
    """
    xp, (a, ar, f, q) = _xp(alpha, alpha_ref, fx, q0)
    kl = _log(xp, ar) - _log(xp, a)
    if mask_zeros:
        if f is None:
            raise ValueError("mask_zeros=True needs fx (the activation f(x))")
        kl = xp.where(f > 0, kl, -_log(xp, q) + 0 * kl)
    return _scalar(kl)


def kl_softplus_log_normal(alpha, log_fx, mu=0.0, sigma=1.0, noise: str = "thesis"):
    """Per-unit KL for Softplus activations against a log-normal prior (Prop 2.6.2, eq. 2.5 **corrected**).

    With :math:`\\log z\\mid x\\sim\\mathcal N(m,\\alpha^2)` and prior :math:`\\log z\\sim\\mathcal N(\\mu,\\sigma^2)`
    (KL is invariant under the map log, so it is the KL between these two normals):

    .. math::  \\mathrm{KL}=\\frac{\\alpha^2+(m-\\mu)^2}{2\\sigma^2}-\\log\\frac{\\alpha}{\\sigma}-\\frac12,

    where :math:`m=\\log f(x)` for ``noise="thesis"`` and :math:`m=\\log f(x)-\\alpha^2/2` for
    ``noise="unit_mean"``. The thesis prints :math:`\\mu^2` in place of :math:`(\\log f(x)-\\mu)^2` (errata #2).
    Works on floats, numpy arrays and tensors (broadcasting).
    """
    _check_noise(noise)
    xp, (a, lf, m0, s) = _xp(alpha, log_fx, mu, sigma)
    m = lf - a * a / 2 if noise == "unit_mean" else lf
    return _scalar((a * a + (m - m0) ** 2) / (2 * s * s) - _log(xp, a) + _log(xp, s) - 0.5)


# --------------------------------------------------------------------------------------------------
# the layer
# --------------------------------------------------------------------------------------------------
class InformationDropout(nn.Module):
    """Information Dropout layer (thesis §2.6; course spec ch02 §11.1).

    ``z = ε ⊙ f(x)``, ``f(x) = act(BN(f_branch(x)))``, ``log ε ~ N(0, α(x)²)`` (``noise="thesis"``) or
    ``N(-α²/2, α²)`` (``noise="unit_mean"``), ``α(x) ∈ (alpha_min, alpha_max]`` from a parallel branch on the
    same input.

    Construction:

    * ``InformationDropout(in_ch, out_ch, kernel_size, stride)``: conv version (inputs ``(N, C, H, W)``), both
      branches ``Conv2d(in_ch, out_ch, kernel_size, stride, padding=kernel_size // 2)``; it may be strided
      (the ID layer replaces pooling in All-CNN).
    * ``InformationDropout(in_f, out_f)`` (``kernel_size=None``): fully connected version (inputs ``(N, D)``).
    * ``InformationDropout(f=module, alpha_branch=module)``: any modules mapping x to pre-activations / α
      logits of equal shape (``batch_norm`` is then not added unless both sizes are given). E.g.
      ``f=nn.Identity(), alpha_branch=nn.Linear(D, D)`` applies the noise to ``act(x)``.

    Other options: ``activation`` ("relu" | "softplus"), ``prior`` ("log_uniform" | "log_normal"; default:
    log_uniform for ReLU, log_normal for Softplus), ``alpha_max`` (0.7), ``alpha_min`` (1e-3), ``squash``
    ("sigmoid" | "softplus"), ``noise`` ("thesis" | "unit_mean"), ``noisy_eval`` (keep noise in eval mode),
    ``mu``, ``sigma``, ``learn_prior``, ``prior_params`` ("layer" | "channel") for the log-normal prior,
    ``mask_zeros`` and ``q0`` for the log-uniform prior, ``log_floor`` (1e-4) for ``log f``.

    After each forward: ``self.kl`` (per-unit KL, shape of the output, differentiable), ``self.last_alpha``,
    ``self.last_fx`` (``f(x)`` before the noise). ``kl_per_sample()`` sums ``kl`` over all but the batch dim.
    """

    def __init__(
        self,
        in_features: Optional[int] = None,
        out_features: Optional[int] = None,
        kernel_size: Optional[int] = None,
        stride: int = 1,
        padding: Optional[int] = None,
        *,
        activation: str = "relu",
        prior: Optional[str] = None,
        alpha_max: float = ALPHA_MAX,
        alpha_min: float = ALPHA_MIN,
        squash: str = "sigmoid",
        noise: str = "thesis",
        batch_norm: bool = True,
        f: Optional[nn.Module] = None,
        alpha_branch: Optional[nn.Module] = None,
        noisy_eval: bool = False,
        mu: float = 0.0,
        sigma: float = 1.0,
        learn_prior: bool = True,
        prior_params: str = "layer",
        mask_zeros: bool = False,
        q0: float = 1.0,
        log_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        if activation not in ("relu", "softplus"):
            raise ValueError(f"activation must be 'relu' or 'softplus', got {activation!r}")
        if prior is None:
            prior = "log_uniform" if activation == "relu" else "log_normal"
        if prior not in ("log_uniform", "log_normal"):
            raise ValueError(f"prior must be 'log_uniform' or 'log_normal', got {prior!r}")
        if squash not in ("sigmoid", "softplus"):
            raise ValueError(f"squash must be 'sigmoid' or 'softplus', got {squash!r}")
        if prior_params not in ("layer", "channel"):
            raise ValueError(f"prior_params must be 'layer' or 'channel', got {prior_params!r}")
        if not 0 < alpha_min < alpha_max:
            raise ValueError(f"need 0 < alpha_min < alpha_max, got {alpha_min}, {alpha_max}")
        if not 0 < q0 <= 1:
            raise ValueError(f"q0 must be in (0, 1], got {q0}")
        self.activation = activation
        self.prior = prior
        self.alpha_max = float(alpha_max)
        self.alpha_min = float(alpha_min)
        self.squash = squash
        self.noise = _check_noise(noise)
        self.noisy_eval = bool(noisy_eval)
        self.noise_override: Optional[bool] = None  # set by noise_mode(); None = follow train/eval
        self.mask_zeros = bool(mask_zeros)
        self.q0 = float(q0)
        self.log_floor = float(log_floor)
        self.prior_params = prior_params

        sizes = in_features is not None and out_features is not None
        conv = kernel_size is not None
        if f is None or alpha_branch is None:
            if not sizes:
                raise ValueError("give in_features and out_features, or both f and alpha_branch")
            pad = kernel_size // 2 if (conv and padding is None) else (padding or 0)

            def make(bias: bool) -> nn.Module:
                if conv:
                    return nn.Conv2d(in_features, out_features, kernel_size, stride, pad, bias=bias)
                return nn.Linear(in_features, out_features, bias=bias)

        if f is None:
            f = make(bias=not batch_norm)
        if alpha_branch is None:
            alpha_branch = make(bias=True)
        self.f = f
        self.alpha_branch = alpha_branch
        self.bn: Optional[nn.Module] = None
        if batch_norm and sizes:
            self.bn = nn.BatchNorm2d(out_features) if conv else nn.BatchNorm1d(out_features)

        if prior == "log_normal":
            if prior_params == "channel":
                if out_features is None:
                    raise ValueError("prior_params='channel' needs out_features")
                shape = (out_features,)
            else:
                shape = ()
            mu_t = torch.full(shape, float(mu))
            ls_t = torch.full(shape, math.log(float(sigma)))
            if learn_prior:
                self.mu = nn.Parameter(mu_t)
                self.log_sigma = nn.Parameter(ls_t)
            else:
                self.register_buffer("mu", mu_t)
                self.register_buffer("log_sigma", ls_t)

        self.kl: Optional[torch.Tensor] = None
        self.last_alpha: Optional[torch.Tensor] = None
        self.last_fx: Optional[torch.Tensor] = None

    # -- noise switch -------------------------------------------------------------------------------
    @property
    def noise_active(self) -> bool:
        """Whether the next forward samples noise: override if set, else ``training or noisy_eval``."""
        if self.noise_override is not None:
            return self.noise_override
        return self.training or self.noisy_eval

    # -- pieces ---------------------------------------------------------------------------------------
    def _prior_view(self, p: torch.Tensor, ndim: int) -> torch.Tensor:
        if p.dim() == 0:
            return p
        return p.view((-1,) + (1,) * (ndim - 2))  # channel axis is dim 1

    @property
    def sigma(self) -> torch.Tensor:
        """σ of the log-normal prior (parametrized as ``exp(log_sigma)``)."""
        return self.log_sigma.exp()

    def compute_alpha(self, x: torch.Tensor) -> torch.Tensor:
        """α(x) ∈ (alpha_min, alpha_max] from the parallel branch."""
        a = self.alpha_branch(x)
        if self.squash == "sigmoid":
            # alpha_max - span*sigmoid(-a) == alpha_min + span*sigmoid(a), but never rounds above alpha_max
            return self.alpha_max - (self.alpha_max - self.alpha_min) * torch.sigmoid(-a)
        return torch.clamp(self.alpha_min + F.softplus(a), max=self.alpha_max)

    def compute_fx(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic activation f(x) = act(BN(f_branch(x)))."""
        h = self.f(x)
        if self.bn is not None:
            h = self.bn(h)
        return F.relu(h) if self.activation == "relu" else F.softplus(h)

    def compute_kl(self, alpha: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """Per-unit closed-form KL (eq. 2.4 or corrected eq. 2.5) for given α and f(x)."""
        if self.prior == "log_uniform":
            return kl_relu_log_uniform(alpha, self.alpha_max, fx=fx, mask_zeros=self.mask_zeros, q0=self.q0)
        log_fx = torch.log(torch.clamp(fx, min=self.log_floor))
        mu = self._prior_view(self.mu, fx.dim())
        sigma = self._prior_view(self.sigma, fx.dim())
        return kl_softplus_log_normal(alpha, log_fx, mu, sigma, noise=self.noise)

    # -- forward ------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fx = self.compute_fx(x)
        alpha = self.compute_alpha(x)
        if alpha.shape != fx.shape:
            raise ValueError(f"alpha branch gives shape {tuple(alpha.shape)}, f gives {tuple(fx.shape)}")
        self.kl = self.compute_kl(alpha, fx)
        self.last_alpha = alpha
        self.last_fx = fx
        if not self.noise_active:
            return fx
        log_eps = alpha * torch.randn_like(fx)
        if self.noise == "unit_mean":
            log_eps = log_eps - 0.5 * alpha * alpha
        return fx * torch.exp(log_eps)

    def kl_per_sample(self) -> torch.Tensor:
        """Total KL of the last forward pass per sample: ``kl`` summed over all but the batch dim, shape (N,)."""
        if self.kl is None:
            raise RuntimeError("no forward pass yet")
        return self.kl.flatten(1).sum(1)

    def extra_repr(self) -> str:
        return (f"activation={self.activation}, prior={self.prior}, alpha_max={self.alpha_max}, "
                f"alpha_min={self.alpha_min}, squash={self.squash}, noise={self.noise}, "
                f"noisy_eval={self.noisy_eval}, mask_zeros={self.mask_zeros}")

    def __getstate__(self):
        # the cached tensors of the last pass carry an autograd graph, which deepcopy/pickle refuse
        state = dict(super().__getstate__())
        state["kl"] = state["last_alpha"] = state["last_fx"] = None
        return state


# --------------------------------------------------------------------------------------------------
# model-level helpers
# --------------------------------------------------------------------------------------------------
def information_dropout_layers(model: nn.Module) -> list[InformationDropout]:
    """All :class:`InformationDropout` modules of ``model`` (in ``model.modules()`` order)."""
    return [m for m in model.modules() if isinstance(m, InformationDropout)]


def information_dropout_kl(model: nn.Module, reduction: str = "mean") -> torch.Tensor:
    """Sum of the per-sample KL of every Information Dropout layer of ``model`` (from the last forward pass).

    ``L_z = Σ_layers mean_batch(Σ_units kl)`` (spec §11.2) with ``reduction="mean"``; ``"sum"`` sums over the
    batch, ``"none"`` returns the per-sample totals (shape (N,)). Layers that have not run yet are skipped;
    a model without any gives 0. Use in the loss ``CE + β · L_z / N_train`` (thesis §2.8).
    Note: a layer not used in the last forward pass still holds its older ``kl``.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    total = None
    for m in information_dropout_layers(model):
        if m.kl is None:
            continue
        per = m.kl_per_sample()
        total = per if total is None else total + per
    if total is None:
        p = next(model.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    if reduction == "mean":
        return total.mean()
    if reduction == "sum":
        return total.sum()
    return total


class IBLoss(NamedTuple):
    """The terms of the Information Dropout loss (eq. 2.6 corrected, with the §2.8 scaling)."""

    loss: torch.Tensor  # ce + beta * kl / n_train
    ce: torch.Tensor  # mean cross-entropy
    kl: torch.Tensor  # information_dropout_kl(model): mean over the batch of the summed per-unit KL


def information_dropout_loss(logits: torch.Tensor, targets: torch.Tensor, model: nn.Module, beta: float,
                             n_train: int) -> IBLoss:
    """``CE + β · KL / N_train`` after a forward pass of ``model`` that produced ``logits``.

    Eq. 2.6 (corrected, errata #1): :math:`\\frac1N\\sum_i\\{\\mathbb E[-\\log p(y_i\\mid z)]-\\beta\\log\\alpha(x_i)\\}`,
    with the KL divided by the training-set size as in thesis §2.8 (so β grids depend on N: report β/N).
    """
    ce = F.cross_entropy(logits, targets)
    kl = information_dropout_kl(model)
    return IBLoss(ce + beta * kl / n_train, ce, kl)


@contextlib.contextmanager
def noise_mode(model: nn.Module, on: Optional[bool]) -> Iterator[nn.Module]:
    """Force the noise of every Information Dropout layer of ``model`` on (True), off (False) or back to
    the default (None: on in train mode or with ``noisy_eval``), restoring the previous setting on exit."""
    layers = information_dropout_layers(model)
    saved = [m.noise_override for m in layers]
    try:
        for m in layers:
            m.noise_override = on
        yield model
    finally:
        for m, s in zip(layers, saved):
            m.noise_override = s


def noisy_evaluation(model: nn.Module):
    """Context manager: noise on in every layer, also in eval mode (the thesis's "N" evaluation)."""
    return noise_mode(model, True)


def deterministic(model: nn.Module):
    """Context manager: noise off in every layer, also in train mode ("D" evaluation, BatchNorm dry run)."""
    return noise_mode(model, False)
