r"""The free-energy Lagrangian on a finite world, solved exactly (spec ch07 §4, "FE-2"; our model).

``x`` takes ``K`` values with probabilities ``p(x)``, the label is a function ``y = f(x)``, the code
``z`` takes ``M`` values. Every distribution is a table: encoder ``e(z|x)``, marginal ``m(z)``,
decoder ``d(x|z)``, classifier ``c(y|z)``. The Lagrangian of Gao & Chaudhari's eq. (8),

.. math:: \mathcal L = R + \lambda D + \gamma C = \mathbb E_x \sum_z e(z|x)\Big[\log\frac{e(z|x)}{m(z)}
          - \lambda \log d(x|z) - \gamma \log c(y_x|z)\Big],

is minimised by alternating exact minimisations (each step can only lower it):

* the encoder, with ``m, d, c`` fixed, is the Gibbs form of §3,
  ``e(z|x) = m(z) d(x|z)^λ c(y_x|z)^γ / Z_x`` (eq. 9), and then ``L = -E_x log Z_x`` (eq. 10);
* with ``e`` fixed, ``m(z) = Σ_x p(x) e(z|x)``, ``d(x|z) = p(x|z)`` and ``c(y|z) = p(y|z)``.

With the tabular decoder, at every such point ``R = I(x;z)``, ``D = H(x|z)`` and ``C = H(y|z)``, so
``R + D = H(x)``: the black line of Fig. 1a, reached because the decoder has unlimited capacity. The
Lagrangian is then ``(1 - λ) I(x;z) + γ H(y|z) + λ H(x)``: for ``λ < 1`` an information bottleneck
Lagrangian ``H(y|z) + β I(x;z)`` (eq. 2.1, Chapter 1's :func:`emergent.ib.blahut_arimoto`) with
``β = (1 - λ)/γ``, up to the factor ``γ`` and the constant ``λ H(x)``.

``decoder="gaussian"`` restricts the decoder to ``d(x|z) ∝ exp(-(v_x - μ_z)²/(2 w²))`` over the
values ``v_x`` of ``x`` (a fixed width ``w``: finite capacity). Then ``D > H(x|z)`` and the RD curve
bends away from the line (Fig. 1a, red). Its ``μ_z`` step searches a fine grid that includes the
current value, so it too never raises the Lagrangian.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_FLOOR = -700.0  # log of "zero" probabilities, kept finite


@dataclass
class TabularResult:
    """The tables at the end of :func:`tabular_free_energy` and the terms in nats.

    ``e`` is ``(K, M)`` (rows ``e(·|x)``), ``m`` is ``(M,)``, ``d`` is ``(M, K)`` (rows ``d(·|z)``),
    ``c`` is ``(M, n_labels)``. ``history`` holds the Lagrangian after each full sweep."""

    e: np.ndarray
    m: np.ndarray
    d: np.ndarray
    c: np.ndarray
    R: float
    D: float
    C: float
    F: float
    lam: float
    gamma: float
    iterations: int
    history: list[float] = field(default_factory=list)


def _log(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(a), _FLOOR)


def _check(p_x, labels, lam, gamma, n_z):
    p_x = np.asarray(p_x, dtype=np.float64)
    if p_x.ndim != 1 or np.any(p_x < 0) or not np.isclose(p_x.sum(), 1.0, atol=1e-9):
        raise ValueError("p_x must be a 1-D probability vector (non-negative, summing to 1)")
    labels = np.asarray(labels)
    if labels.shape != p_x.shape or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be one non-negative integer label per value of x")
    if not (np.isfinite(lam) and lam > 0) or not (np.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"need λ > 0 and γ >= 0, got λ = {lam!r}, γ = {gamma!r}")
    if int(n_z) < 1:
        raise ValueError(f"n_z must be >= 1, got {n_z!r}")
    return p_x, labels


def terms(p_x, labels, e, m, d, c) -> tuple[float, float, float]:
    """``(R, D, C)`` in nats of the tables (eqs. 1 and 4 with expectations as sums)."""
    p_x = np.asarray(p_x, dtype=np.float64)
    joint = p_x[:, None] * e  # p(x, z)
    R = float(np.sum(joint * (_log(e) - _log(m)[None, :])))
    D = float(-np.sum(joint * _log(d.T)))
    C = float(-np.sum(joint * _log(c[:, labels].T)))
    return R, D, C


def information_terms(p_x, labels, e) -> tuple[float, float, float, float]:
    """``(I(x;z), H(x|z), H(y|z), H(x))`` in nats of the encoder table ``e`` (exact sums)."""
    p_x = np.asarray(p_x, dtype=np.float64)
    joint = p_x[:, None] * e
    p_z = joint.sum(0)
    h_x = float(-np.sum(p_x * _log(p_x)))
    h_x_given_z = float(-np.sum(joint * (_log(joint) - _log(p_z)[None, :])))
    n_y = int(labels.max()) + 1
    joint_yz = np.zeros((n_y, e.shape[1]))
    np.add.at(joint_yz, labels, joint)
    h_y_given_z = float(-np.sum(joint_yz * (_log(joint_yz) - _log(p_z)[None, :])))
    return h_x - h_x_given_z, h_x_given_z, h_y_given_z, h_x


def _tables(p_x, labels, e, n_y, decoder, values, width, mu):
    joint = p_x[:, None] * e
    m = joint.sum(0)
    post = np.where(m[None, :] > 0, joint / np.maximum(m, 1e-300)[None, :], 1.0 / len(p_x)).T  # (M, K)
    c = np.zeros((e.shape[1], n_y))
    np.add.at(c.T, labels, post.T)
    if decoder == "tabular":
        return m, post, c, mu
    # restricted decoder: the best centre μ_z on a grid (plus the current one) under weights p(x|z)
    grid = np.concatenate([np.linspace(values.min(), values.max(), 401)[None, :].repeat(len(m), 0),
                           mu[:, None]], axis=1)  # (M, G)
    logits = -(values[None, None, :] - grid[:, :, None]) ** 2 / (2 * width**2)  # (M, G, K)
    logd = logits - np.logaddexp.reduce(logits, axis=2, keepdims=True)
    cost = -np.einsum("mk,mgk->mg", post, logd)
    best = np.argmin(cost, axis=1)
    mu = grid[np.arange(len(m)), best]
    return m, np.exp(logd[np.arange(len(m)), best]), c, mu


def tabular_free_energy(p_x, labels, lam: float, gamma: float, n_z: int | None = None,
                        iters: int = 2000, tol: float = 1e-12, seed: int | None = 0,
                        decoder: str = "tabular", width: float = 1.0,
                        values=None, init: np.ndarray | None = None) -> TabularResult:
    """Minimise ``R + λD + γC`` over the tables by alternating exact steps (module docstring).

    ``p_x``: the distribution of x (``K`` values); ``labels``: ``y = f(x)`` as integers; ``n_z``: the
    number of codes (default ``K``). ``decoder``: ``"tabular"`` (unlimited capacity: ``R + D = H(x)``
    at every step) or ``"gaussian"`` (width ``width`` over ``values``, default ``0..K-1``).
    Stops when the Lagrangian changes by less than ``tol`` over a sweep. Converges to a local
    minimum; ``seed`` picks the random initial encoder (``init`` overrides it).
    """
    n_z = len(np.asarray(p_x)) if n_z is None else int(n_z)
    p_x, labels = _check(p_x, labels, lam, gamma, n_z)
    if decoder not in ("tabular", "gaussian"):
        raise ValueError(f"decoder must be 'tabular' or 'gaussian', got {decoder!r}")
    if decoder == "gaussian" and not (np.isfinite(width) and width > 0):
        raise ValueError(f"width must be > 0, got {width!r}")
    K, n_y = len(p_x), int(labels.max()) + 1
    values = np.arange(K, dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64)
    if init is None:
        e = np.random.default_rng(seed).dirichlet(np.ones(n_z), size=K)
    else:
        e = np.asarray(init, dtype=np.float64)
        if e.shape != (K, n_z) or np.any(e < 0):
            raise ValueError(f"init must be a non-negative ({K}, {n_z}) table")
        e = e / e.sum(1, keepdims=True)
    mu = np.linspace(values.min(), values.max(), n_z)
    m, d, c, mu = _tables(p_x, labels, e, n_y, decoder, values, width, mu)
    history: list[float] = []
    it = 0
    for it in range(1, iters + 1):
        log_e = _log(m)[None, :] + lam * _log(d.T) + gamma * _log(c[:, labels].T)
        log_z = np.logaddexp.reduce(log_e, axis=1, keepdims=True)
        e = np.exp(log_e - log_z)
        m, d, c, mu = _tables(p_x, labels, e, n_y, decoder, values, width, mu)
        R, D, C = terms(p_x, labels, e, m, d, c)
        history.append(R + lam * D + gamma * C)
        if it > 1 and abs(history[-2] - history[-1]) < tol:
            break
    R, D, C = terms(p_x, labels, e, m, d, c)
    return TabularResult(e, m, d, c, R, D, C, R + lam * D + gamma * C, float(lam), float(gamma),
                         it, history)


def ib_beta(lam: float, gamma: float) -> float:
    """The information-bottleneck β of the tabular Lagrangian: ``(1 - λ)/γ`` (needs ``λ < 1``,
    ``γ > 0``). ``R + λD + γC = γ [H(y|z) + β I(x;z)] + λ H(x)`` with ``β`` in eq. (2.1)'s
    convention."""
    if not (0 < lam < 1) or not gamma > 0:
        raise ValueError(f"the IB form needs 0 < λ < 1 and γ > 0, got λ = {lam!r}, γ = {gamma!r}")
    return (1 - lam) / gamma
