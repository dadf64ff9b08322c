"""Weights that forget make activations invariant (thesis §4.5): the mathematics of Props 4.5.1–4.5.2
and Corollary 4.5.3.

The model (thesis §4.5). A layer computes ``z = W x`` with multiplicative log-normal weight noise,
``W = ε ⊙ Ŵ``, ``ε_ij ∼ logN(−α_i/2, α_i)``: ``E ε = 1`` and ``Var ε = α̃ = e^α − 1``. Given ``x``, unit
``i`` has mean ``ŵ_i·x`` and variance ``α̃_i ŵ_i²·x²`` (``ŵ_i²·x² = Σ_j ŵ_ij² x_j²``); over ``x`` it has mean
``ŵ_i·E[x]`` and variance ``ŵ_i·Cov(x)ŵ_i + α̃_i ŵ_i²·E[x²]``. The units are independent given ``x`` (their
weights are), so ``I(z;x) + TC(z) = Σ_i I(z_i;x)``; with both ``p(z_i|x)`` and ``p(z_i)`` taken Gaussian
(the Central Limit Theorem for large ``dim x``) the Gaussian KL averaged over ``x`` gives **(4.7)**:

    I(z;x) + TC(z) = −½ Σ_i E_x log[ α̃_i ŵ_i²·x² / (ŵ_i·Cov(x)ŵ_i + α̃_i ŵ_i²·E[x²]) ]      (4.7)

(:func:`activation_information`; :func:`gaussian_activation_information` is the same with any weight
variances, e.g. a variational layer's Gaussian posterior, where α̃ ŵ² is the posterior variance σ².)
Replacing the Gaussian marginal by the true one can only lower the value: (4.7) is
``Σ_i [I(z_i;x) + KL(p(z_i) ‖ N(mean, var))]`` under the Gaussian conditional.

**An exact split of (4.7)** (ours; :func:`decompose`). Per unit, with ``S = ŵ²·x²`` and
``ρ = ŵ·Cov(x)ŵ / ŵ²·E[x²]``,

    (4.7)_i = ½ log(1 + ρ_i/α̃_i)  +  c_i,      c_i = −½ E_x log(S/E S) ≥ 0 (Jensen),

a *signal* term that depends on α and a *fluctuation* term ``c_i`` that does not. For zero-mean
uncorrelated inputs ρ = 1 and the signal term is ``g(α) = ½ log(1 + α̃⁻¹) = −½ log(1 − e^{−α})``;
with bounded kurtosis ``c = O(1/dim x)``. That is **Prop 4.5.2**:
``g(α) ≤ [I(x;z) + TC(z)]/dim z ≤ g(α) + c``. Two readings the thesis leaves out:

* the lower bound needs ``E[x] = 0``: with a mean, ρ < 1 and the value can fall below g(α)
  (a constant x gives 0); for correlated inputs ρ can exceed 1, and nothing bounds the value by g + 1;
* ``c ≤ 1`` holds only for large enough ``dim x``: at ``dim x = 1`` a Gaussian x gives
  c = −½(ψ(½) + log 2) ≈ 0.64, and an input that can be exactly 0 gives c = ∞.

:func:`g` *decreases* in α (erratum 4.6 of the course: the thesis calls it "strictly increasing"); it
increases with the information in the weights through **α = exp{−I(W;D)/dim W}**
(:func:`alpha_from_information`), a modelling assumption the thesis states without derivation
(erratum 4.5: it matches a per-weight KL of ≈ −log α against a log-uniform prior).

**Corollary 4.5.3** (:func:`layer_bounds`): for a stack ``z_k = φ(W^k z_{k−1})``, ``z_0 = x``, the data
processing inequality and Prop 4.5.2 per layer give ``I(z_L;x) ≤ min_k dim(z_k)[g(α^k) + 1]``,
``α^k = exp{−I(W^k;D)/dim W^k}``; ``dim(z_k)`` is the number of output units of layer k (the printed
indices ``z_{i+1} = φ(W^k z_k)``, ``k < L`` are inconsistent; this is the reading that makes the proof
work). The "+1" is Prop 4.5.2's ``c ≤ 1``, so the corollary inherits its assumptions (uncorrelated,
zero-mean layer inputs), which the hidden layers of a ReLU network do not satisfy.

Everything is in nats and float64 NumPy (tensors are accepted).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = [
    "alpha_tilde",
    "g",
    "alpha_from_information",
    "information_from_alpha",
    "alpha_from_gaussian",
    "lognormal_noise",
    "gaussian_activation_information",
    "activation_information",
    "decompose",
    "layer_bounds",
    "INPUT_KINDS",
    "iid_inputs",
    "one_layer_sweep",
]


def _np(a: Any) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _check_alpha(alpha: Any) -> np.ndarray:
    a = _np(alpha)
    if np.any(np.isnan(a)) or np.any(a <= 0):
        raise ValueError(f"alpha must be > 0 (the variance of log ε), got {alpha!r}")
    return a


def _ret(a: np.ndarray) -> float | np.ndarray:
    return float(a) if a.ndim == 0 else a


def alpha_tilde(alpha: Any) -> float | np.ndarray:
    """``α̃ = e^α − 1``: the variance of ``ε ∼ logN(−α/2, α)`` (whose mean is 1), thesis Prop 4.5.1."""
    return _ret(np.expm1(_check_alpha(alpha)))


def g(alpha: Any) -> float | np.ndarray:
    """``g(α) = −½ log(1 − e^{−α}) = ½ log(1 + 1/α̃)``, nats per unit (thesis Prop 4.5.2).

    It **decreases** in α (erratum 4.6 of the course), from ``≈ −½ log α`` for small α to
    ``≈ ½ e^{−α} → 0`` for large α. Raises ``ValueError`` for α ≤ 0.
    """
    a = _check_alpha(alpha)
    return _ret(-0.5 * np.log(-np.expm1(-a)))


def alpha_from_information(iiw: Any, dim_w: int) -> float | np.ndarray:
    """``α = exp{−I(W;D)/dim W}`` (thesis Prop 4.5.2 and Cor 4.5.3): the noise level that the thesis
    ties to ``iiw`` nats of information in ``dim_w`` weights.

    A **modelling assumption** stated without derivation (erratum 4.5 of the course): it matches a
    per-weight KL ≈ −log α against a log-uniform prior. α ∈ (0, 1]: no information gives α = 1.
    Raises ``ValueError`` for a negative information or ``dim_w < 1``.
    """
    i = _np(iiw)
    if np.any(np.isnan(i)) or np.any(i < 0):
        raise ValueError(f"the information in the weights must be >= 0 nats, got {iiw!r}")
    if int(dim_w) < 1 or int(dim_w) != dim_w:
        raise ValueError(f"dim_w must be a positive integer, got {dim_w!r}")
    return _ret(np.exp(-i / int(dim_w)))


def information_from_alpha(alpha: Any, dim_w: int) -> float | np.ndarray:
    """The inverse of :func:`alpha_from_information`: ``I(W;D) = −dim W · log α`` (needs 0 < α ≤ 1)."""
    a = _check_alpha(alpha)
    if np.any(a > 1):
        raise ValueError(f"alpha = exp(-I/dim W) is at most 1 for I >= 0, got {alpha!r}")
    return _ret(-int(dim_w) * np.log(a))


def alpha_from_gaussian(mean: Any, var: Any) -> float | np.ndarray:
    """The α of a weight ``w ∼ N(μ, σ²)`` read as ``w = ε μ`` with the same two moments:
    ``α̃ = σ²/μ²``, ``α = log(1 + σ²/μ²)`` (∞ where μ = 0)."""
    mu, v = _np(mean), _np(var)
    with np.errstate(divide="ignore"):
        return _ret(np.log1p(v / (mu * mu)))


def lognormal_noise(alpha: Any, shape: Sequence[int], rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Samples of ``ε ∼ logN(−α/2, α)`` (mean 1, variance ``e^α − 1``) of ``shape`` (α broadcasts)."""
    a = _check_alpha(alpha)
    r = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return np.exp(-a / 2 + np.sqrt(a) * r.standard_normal(tuple(shape)))


# --------------------------------------------------------------------------------------------------
# (4.7)
# --------------------------------------------------------------------------------------------------
def _moments(x: np.ndarray, mean_w: np.ndarray, cov: Any, second_moment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: ``ŵ·Cov(x)ŵ`` and ``E[x²]`` (as a vector over inputs)."""
    dx = x.shape[1]
    if second_moment is None:
        m2 = (x * x).mean(0)
    else:
        m2 = _np(second_moment).reshape(-1)
        if m2.shape != (dx,):
            raise ValueError(f"second_moment must have {dx} entries, got shape {m2.shape}")
    if cov is None:  # the sample covariance (ddof 0), without forming the matrix
        proj = x @ mean_w.T
        quad = proj.var(0)
    else:
        c = _np(cov)
        if c.shape == (dx,):
            quad = (mean_w * mean_w) @ c
        elif c.shape == (dx, dx):
            quad = np.einsum("ij,jk,ik->i", mean_w, c, mean_w)
        else:
            raise ValueError(f"cov must be ({dx},) (a diagonal) or ({dx}, {dx}), got shape {c.shape}")
    return quad, m2


def _check_layer(mean_w: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    w = _np(mean_w)
    xs = _np(x)
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2:
        raise ValueError(f"the weights must be (dim z, dim x), got shape {w.shape}")
    if xs.ndim == 1:
        xs = xs[:, None] if w.shape[1] == 1 else xs[None]
    if xs.ndim != 2 or xs.shape[1] != w.shape[1]:
        raise ValueError(f"x must be (samples, {w.shape[1]}) for weights of shape {w.shape}, got {xs.shape}")
    if len(xs) < 1:
        raise ValueError("x needs at least one sample")
    return w, xs


def decompose(mean_w: Any, var_w: Any, x: Any, cov: Any = None, second_moment: Any = None) -> dict:
    """(4.7) per unit for weights of mean ``mean_w`` ``(dim z, dim x)`` and variance ``var_w`` (same shape,
    or broadcastable), averaged over the samples ``x`` ``(M, dim x)``, with its exact split.

    ``cov`` (``(dim x, dim x)``, or ``(dim x,)`` for a diagonal) and ``second_moment`` (``E[x²]``,
    ``(dim x,)``) default to the sample moments of ``x``. Returns per-unit arrays (nats):
    ``value`` = (4.7)_i; ``signal`` = ½ log(1 + ŵ·Cov ŵ / Σ_j σ_ij² E x_j²); ``fluctuation`` = value −
    signal = −½ E log(S/E S) with ``S = Σ_j σ_ij² x_j²`` (≥ 0 with sample moments, by Jensen); ``rho`` =
    ŵ·Cov ŵ / ŵ²·E[x²] (1 for zero-mean uncorrelated inputs); and ``total`` = Σ_i value.
    A unit with ``S = 0`` on some sample (every input it sees is 0) has value ∞.
    """
    w, xs = _check_layer(mean_w, x)
    v = np.broadcast_to(_np(var_w), w.shape) if np.ndim(_np(var_w)) else np.full(w.shape, float(_np(var_w)))
    if np.any(v < 0) or np.any(np.isnan(v)):
        raise ValueError("weight variances must be >= 0")
    quad, m2 = _moments(xs, w, cov, second_moment)
    s = (xs * xs) @ v.T  # (M, dim z): Var(z_i | x) per sample
    es = v @ m2  # E_x Var(z_i | x)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = -0.5 * np.log(s / (quad + es)[None]).mean(0)
        signal = 0.5 * np.log1p(quad / es)
        w2m2 = (w * w) @ m2
        rho = quad / w2m2
    return dict(value=value, signal=signal, fluctuation=value - signal, rho=rho, total=float(value.sum()))


def gaussian_activation_information(mean_w: Any, var_w: Any, x: Any, cov: Any = None, second_moment: Any = None,
                                    per_unit: bool = False) -> float | np.ndarray:
    """The right-hand side of (4.7) for independent Gaussian-moment weights: mean ``mean_w``, variance
    ``var_w`` (e.g. a variational layer's posterior, where ``x·μ`` and ``x²·σ²`` are the local
    reparametrisation's moments). ``α̃_i ŵ_i²·x²`` of the thesis is ``Σ_j var_ij x_j²`` here.
    Sum over units (nats), or the per-unit array with ``per_unit``. See :func:`decompose`."""
    d = decompose(mean_w, var_w, x, cov, second_moment)
    return d["value"] if per_unit else d["total"]


def activation_information(W_hat: Any, alpha: Any, x: Any, cov: Any = None, second_moment: Any = None,
                           per_unit: bool = False) -> float | np.ndarray:
    """``I(z;x) + TC(z)`` of ``z = (ε ⊙ Ŵ) x``, ``ε ∼ logN(−α/2, α)``, by (4.7) (thesis Prop 4.5.1), in nats.

    ``W_hat`` is ``(dim z, dim x)`` (a vector is one unit); ``alpha`` a scalar (shared, Prop 4.5.2), one
    per unit ``(dim z,)`` (Prop 4.5.1) or one per weight ``(dim z, dim x)``. The expectation over x is a
    Monte Carlo average over the rows of ``x`` ``(M, dim x)``; ``cov`` and ``second_moment`` default to
    the sample moments of ``x`` (pass the population ones when known). Returns the sum over units, or
    the per-unit values with ``per_unit=True``. ``ValueError`` for α ≤ 0 or mismatched shapes.
    """
    w, _ = _check_layer(W_hat, x)
    a = _check_alpha(alpha)
    if a.ndim == 1:
        if a.shape[0] != w.shape[0]:
            raise ValueError(f"one alpha per unit needs {w.shape[0]} values, got {a.shape[0]}")
        a = a[:, None]
    elif a.ndim == 2 and a.shape != w.shape:
        raise ValueError(f"one alpha per weight needs shape {w.shape}, got {a.shape}")
    elif a.ndim > 2:
        raise ValueError(f"alpha must be a scalar, (dim z,) or (dim z, dim x), got shape {a.shape}")
    return gaussian_activation_information(w, np.expm1(a) * w * w, x, cov, second_moment, per_unit)


# --------------------------------------------------------------------------------------------------
# Corollary 4.5.3
# --------------------------------------------------------------------------------------------------
def layer_bounds(dims: Sequence[int], alphas: Sequence[float]) -> dict:
    """Cor 4.5.3: per layer k the bound ``dim(z_k) [g(α^k) + 1]`` on ``I(z_k; z_{k−1})`` (and so on
    ``I(z_L; x)``), and their minimum over the layers.

    ``dims[k]`` is the number of output units of layer k, ``alphas[k]`` its α^k (e.g.
    :func:`alpha_from_information` of its KL and number of weights). Returns ``g`` and ``bound`` per
    layer, ``min`` and ``argmin`` (the tightest weight bottleneck).
    """
    d = [int(x) for x in dims]
    a = list(alphas)
    if len(d) != len(a) or not d:
        raise ValueError(f"need one alpha per layer and at least one layer, got {len(d)} dims and {len(a)} alphas")
    if any(x < 1 for x in d):
        raise ValueError(f"layer dimensions must be positive, got {dims!r}")
    gs = [float(g(x)) for x in a]
    bounds = [k * (v + 1.0) for k, v in zip(d, gs)]
    i = int(np.argmin(bounds))
    return dict(g=gs, bound=bounds, min=bounds[i], argmin=i, dims=d, alphas=[float(x) for x in a])



# --------------------------------------------------------------------------------------------------
# Toy E5: Prop 4.5.2 numerically, for iid inputs
# --------------------------------------------------------------------------------------------------
INPUT_KINDS: dict[str, str] = {
    "uniform": "uniform on [−√3, √3] (mean 0, variance 1)",
    "gaussian": "standard Gaussian (mean 0, variance 1)",
    "gaussian+1": "Gaussian of mean 1, variance 1 (ρ = 1/2)",
    "relu": "rectified Gaussian max(0, N(0,1)) (ρ = 1 − 1/π ≈ 0.68; exactly 0 half of the time)",
}
"""The iid input distributions of :func:`iid_inputs` (all of bounded kurtosis, uncorrelated)."""


def iid_inputs(kind: str, samples: int, dim_x: int, rng: np.random.Generator | int | None = 0
               ) -> tuple[np.ndarray, float, float]:
    """``(x, variance, E[x²])``: ``samples`` draws of ``dim_x`` iid components of ``kind`` (see
    :data:`INPUT_KINDS`) and the population variance and second moment of one component."""
    r = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    shape = (int(samples), int(dim_x))
    if kind == "uniform":
        return r.uniform(-math.sqrt(3), math.sqrt(3), shape), 1.0, 1.0
    if kind == "gaussian":
        return r.standard_normal(shape), 1.0, 1.0
    if kind == "gaussian+1":
        return 1.0 + r.standard_normal(shape), 1.0, 2.0
    if kind == "relu":
        m = 1 / math.sqrt(2 * math.pi)
        return np.maximum(r.standard_normal(shape), 0.0), 0.5 - m * m, 0.5
    raise ValueError(f"unknown input kind {kind!r}; choose from {', '.join(INPUT_KINDS)}")


def one_layer_sweep(alphas: Sequence[float], dims: Sequence[int], kind: str = "uniform", dim_z: int = 8,
                    samples: int = 2000, seed: int = 0) -> dict:
    """Toy E5: (4.7) per unit for a layer of ``dim_z`` units with Gaussian ``Ŵ`` on ``dim_x`` iid inputs of
    ``kind``, for every α in ``alphas`` and ``dim_x`` in ``dims`` (Monte Carlo over ``samples`` inputs).

    The population covariance of the inputs is used (diagonal, known) and ``E[x²]`` is the sample's, so
    the fluctuation term is exactly the Jensen gap of the sample (≥ 0). Returns arrays
    ``(len(alphas), len(dims))``: ``value`` (mean per unit, nats; ∞ if an input can be all zeros and is),
    ``signal``, ``fluctuation``; and ``g`` (per α), the ``dims`` and the ``kind``.
    """
    a = np.asarray([float(x) for x in alphas])
    _check_alpha(a)
    r = np.random.default_rng(seed)
    value = np.zeros((len(a), len(dims)))
    signal, fluct = np.zeros_like(value), np.zeros_like(value)
    for j, dx in enumerate(dims):
        w = r.standard_normal((int(dim_z), int(dx)))
        x, var, _ = iid_inputs(kind, samples, int(dx), r)
        for i, al in enumerate(a):
            d = decompose(w, np.expm1(al) * w * w, x, cov=np.full(int(dx), var))
            value[i, j], signal[i, j], fluct[i, j] = d["value"].mean(), d["signal"].mean(), d["fluctuation"].mean()
    return dict(value=value, signal=signal, fluctuation=fluct, g=np.asarray(g(a)).reshape(-1),
                alphas=a.tolist(), dims=[int(x) for x in dims], kind=kind)
