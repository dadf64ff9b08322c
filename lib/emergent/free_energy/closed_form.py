r"""The free-energy principle in closed form: a linear-Gaussian model (spec ch07 §4; our derivation).

Gao & Chaudhari (2020) define, for an encoder :math:`e(z|x)`, a learnt marginal :math:`m(z)`, a
decoder :math:`d(x|z)` and a classifier :math:`c(y|z)` (all in nats):

* the rate :math:`R = \mathbb E_x \mathrm{KL}(e(z|x)\,\|\,m(z))` and the distortion
  :math:`D = \mathbb E_x \mathbb E_{e}[-\log d(x|z)]` (their eq. 1),
* the classification loss :math:`C = \mathbb E_x \mathbb E_e[-\log c(y_x|z)]` (eq. 4),
* the free energy :math:`F(\lambda, \gamma) = \min R + \lambda D + \gamma C` (eq. 8).

The paper has no model in which all of this can be computed exactly. This module is one (it is ours,
not the paper's, and the notebook says so). The data are :math:`x = (x_1, x_2)` with independent
:math:`x_i \sim N(0, s_i^2)`; the "label" is :math:`y = x_1` (a regression head keeps everything
Gaussian), so :math:`x_2` is task-irrelevant. The encoder is :math:`z_i = a_i x_i + \xi_i`,
:math:`\xi_i \sim N(0, 1)`, with signal-to-noise ratio :math:`r_i = a_i^2 s_i^2`; the marginal is
:math:`m(z_i) = N(0, 1 + r_i)`; the decoder is :math:`d(x_i|z_i) = N(b_i z_i, \tau^2)` with the
best :math:`b_i` and a **fixed** variance :math:`\tau^2` (a decoder of finite capacity); the head is
:math:`c(y|z_1) = N(b z_1, \kappa^2)` with fixed :math:`\kappa^2`. Then

.. math::
    R = \sum_i \tfrac12\log(1 + r_i),\quad
    D = \sum_i \Big[\tfrac12\log 2\pi\tau^2 + \frac{s_i^2}{2\tau^2(1 + r_i)}\Big],\quad
    C = \tfrac12\log 2\pi\kappa^2 + \frac{s_1^2}{2\kappa^2(1 + r_1)},

and the minimisation of :math:`R + \lambda D + \gamma C` separates:
:math:`1 + r_2^* = \max(1, \lambda s_2^2/\tau^2)`, :math:`1 + r_1^* = \max(1, \lambda s_1^2/\tau^2 +
\gamma s_1^2/\kappa^2)`.

The envelope theorem gives :math:`D = \partial F/\partial\lambda` and :math:`C = \partial F/
\partial\gamma`; :math:`F` is a minimum of functions linear in :math:`(\lambda, \gamma)`, hence
concave (Lemma 3). The iso-classification process (Remark 7, eq. 22),
:math:`\dot\lambda = -\alpha\,\partial C/\partial\gamma`, :math:`\dot\gamma = \alpha\,\partial C/
\partial\lambda`, keeps :math:`\lambda/\tau^2 + \gamma/\kappa^2` and hence :math:`r_1` and :math:`C`
constant, with :math:`\dot\lambda = \alpha k s_1^2/\kappa^2`, :math:`\dot\gamma = -\alpha k
s_1^2/\tau^2`, :math:`k = s_1^2/(2\kappa^2(1 + r_1)^2)`: a straight line in :math:`(\lambda,
\gamma)` (:func:`iso_classification_path`). Along it only :math:`r_2` grows: the representation gains
information about the task-irrelevant :math:`x_2` (R up, D down) at constant C, with
:math:`dR/dD = -(1 + r_2)\tau^2/s_2^2 = -\lambda` (Remark 10).

With the decoder variance chosen optimally, :math:`\tau^2 = s_i^2/(1 + r_i)`, the bound
:math:`H \le R + D` (eq. 2) is tight; a fixed :math:`\tau^2` puts the RD curve strictly above the
line :math:`R + D = H` (:func:`rd_curve`, Fig. 1a).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class LinearGaussianPoint:
    """The equilibrium of the linear-Gaussian model at ``(lam, gamma)``: every field in nats
    (arrays when the multipliers are arrays). ``r1``, ``r2`` are the optimal signal-to-noise
    ratios of the two coordinates."""

    lam: np.ndarray | float
    gamma: np.ndarray | float
    R: np.ndarray | float
    D: np.ndarray | float
    C: np.ndarray | float
    F: np.ndarray | float
    r1: np.ndarray | float
    r2: np.ndarray | float


def _positive(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return a


def _nonnegative(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return a


def _out(a: np.ndarray):
    return float(a) if np.ndim(a) == 0 else a


def terms(r1, r2, s1: float = 1.0, s2: float = 1.0, tau2: float = 0.25, kappa2: float = 0.25):
    """``(R, D, C)`` in nats of the encoder with signal-to-noise ratios ``r1, r2 >= 0`` (spec §4).

    ``R = Σ ½ log(1 + r_i)``; ``D = Σ [½ log 2πτ² + s_i²/(2τ²(1 + r_i))]`` (the mean-square error of
    the best linear decoder is ``s_i²/(1 + r_i)``); ``C = ½ log 2πκ² + s_1²/(2κ²(1 + r_1))``.
    """
    r1, r2 = _nonnegative("r1", r1), _nonnegative("r2", r2)
    s1, s2 = _positive("s1", s1), _positive("s2", s2)
    tau2, kappa2 = _positive("tau2", tau2), _positive("kappa2", kappa2)
    R = 0.5 * np.log1p(r1) + 0.5 * np.log1p(r2)
    D = LOG_2PI + np.log(tau2) + (s1**2 / (1 + r1) + s2**2 / (1 + r2)) / (2 * tau2)
    C = 0.5 * (LOG_2PI + np.log(kappa2)) + s1**2 / (2 * kappa2 * (1 + r1))
    return _out(R), _out(D), _out(C)


def linear_gaussian(lam, gamma, s1: float = 1.0, s2: float = 1.0, tau2: float = 0.25,
                    kappa2: float = 0.25) -> LinearGaussianPoint:
    """The equilibrium of spec §4 at multipliers ``lam > 0``, ``gamma >= 0`` (broadcasting arrays).

    ``s1``, ``s2`` are the standard deviations of x₁ (the label) and x₂ (task-irrelevant);
    ``tau2``, ``kappa2`` the fixed variances of decoder and head. The optimum of
    ``R + λD + γC`` is ``1 + r₂* = max(1, λ s₂²/τ²)`` and ``1 + r₁* = max(1, λ s₁²/τ² + γ s₁²/κ²)``,
    and ``F = R + λD + γC`` there (eq. 8). ``D = ∂F/∂λ`` and ``C = ∂F/∂γ`` (envelope theorem).
    """
    lam, gamma = _positive("lam", lam), _nonnegative("gamma", gamma)
    s1, s2 = _positive("s1", s1), _positive("s2", s2)
    tau2, kappa2 = _positive("tau2", tau2), _positive("kappa2", kappa2)
    u1 = np.maximum(1.0, lam * s1**2 / tau2 + gamma * s1**2 / kappa2)
    u2 = np.maximum(1.0, lam * s2**2 / tau2)
    R, D, C = terms(u1 - 1, u2 - 1, s1, s2, tau2, kappa2)
    F = np.asarray(R) + lam * np.asarray(D) + gamma * np.asarray(C)
    return LinearGaussianPoint(_out(lam), _out(gamma), R, D, C, _out(F), _out(u1 - 1), _out(u2 - 1))


def entropy(s1: float = 1.0, s2: float = 1.0) -> float:
    """Differential entropy ``H(x) = Σ ½ log(2πe s_i²)`` in nats: the line ``R + D = H`` of Fig. 1a."""
    s1, s2 = _positive("s1", s1), _positive("s2", s2)
    return float(np.log(2 * np.pi * np.e) + np.log(s1) + np.log(s2))


def rd_curve(lams, s1: float = 1.0, s2: float = 1.0, tau2: float = 0.25, kappa2: float = 0.25,
             gamma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(R, D)`` of the equilibria along ``lams`` at fixed ``gamma`` (Fig. 1a's finite-capacity curve).

    It is convex and lies above ``R + D = H`` (eq. 2); it touches the line only where the fixed
    ``tau2`` equals the best decoder variance ``s_i²/(1 + r_i)``.
    """
    p = linear_gaussian(np.asarray(lams, dtype=np.float64), gamma, s1, s2, tau2, kappa2)
    return np.asarray(p.R), np.asarray(p.D)


def iso_classification_rates(lam, gamma, s1: float = 1.0, s2: float = 1.0, tau2: float = 0.25,
                             kappa2: float = 0.25, alpha: float = 1.0) -> tuple[float, float]:
    """``(λ̇, γ̇)`` of Remark 7, eq. (22): ``λ̇ = -α ∂C/∂γ``, ``γ̇ = α ∂C/∂λ``, from the closed form.

    With ``u₁ = 1 + r₁ > 1``: ``∂C/∂γ = -k s₁²/κ²`` and ``∂C/∂λ = -k s₁²/τ²``,
    ``k = s₁²/(2κ² u₁²)``. Where ``r₁ = 0`` (the head has switched z₁ off) C does not depend on the
    multipliers and both rates are 0.
    """
    p = linear_gaussian(lam, gamma, s1, s2, tau2, kappa2)
    if np.ndim(p.r1) or p.r1 <= 0:
        return 0.0, 0.0
    k = s1**2 / (2 * kappa2 * (1 + p.r1) ** 2)
    return alpha * k * s1**2 / kappa2, -alpha * k * s1**2 / tau2


def iso_classification_path(lam0: float, gamma0: float, t, s1: float = 1.0, s2: float = 1.0,
                            tau2: float = 0.25, kappa2: float = 0.25,
                            alpha: float = 1.0) -> LinearGaussianPoint:
    """The solution of eq. (22) from ``(lam0, gamma0)`` at times ``t >= 0``, in closed form.

    ``r₁`` (hence ``k``) is constant along the process, so the ODE has constant rates and its
    solution is the straight line ``λ(t) = λ₀ + α k s₁²/κ² t``, ``γ(t) = γ₀ - α k s₁²/τ² t``, on which
    ``λ/τ² + γ/κ²`` is conserved. It is valid while ``γ(t) >= 0``; later times raise an error.
    Returns the equilibria along the path (``C`` constant; ``dR/dD = -λ``, Remark 10).
    """
    t = _nonnegative("t", t)
    lam_dot, gamma_dot = iso_classification_rates(lam0, gamma0, s1, s2, tau2, kappa2, alpha)
    lam = lam0 + lam_dot * t
    gamma = gamma0 + gamma_dot * t
    if np.any(gamma < -1e-12):
        t_max = gamma0 / -gamma_dot
        raise ValueError(f"the process reaches γ = 0 at t = {t_max:.4g}; got t up to {np.max(t):.4g}")
    return linear_gaussian(lam, np.maximum(gamma, 0.0), s1, s2, tau2, kappa2)


def iso_classification_end(lam0: float, gamma0: float, s1: float = 1.0, s2: float = 1.0,
                           tau2: float = 0.25, kappa2: float = 0.25, alpha: float = 1.0) -> float:
    """The time at which the iso-classification process of eq. (22) reaches ``γ = 0``."""
    _, gamma_dot = iso_classification_rates(lam0, gamma0, s1, s2, tau2, kappa2, alpha)
    return float("inf") if gamma_dot == 0 else float(gamma0 / -gamma_dot)
