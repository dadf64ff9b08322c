"""Exact information measures: discrete distributions and Gaussians.

Everything here is NumPy, float64, and exact (closed form or finite sums), except the sample
estimator :func:`gaussian_tc_estimate`.

Conventions
-----------
* Information is in **nats** by default; pass ``base=2`` for bits (any ``base > 0, != 1`` works).
* A discrete distribution is a NumPy array of probabilities. A joint distribution is an
  n-dimensional array, one axis per variable; e.g. ``p_xy[i, j] = p(x=i, y=j)``.
* ``0 log 0 = 0``.
* Inputs are validated: negative entries, non-finite entries, a total that is not 1 (within
  ``1e-8``) or mismatched shapes raise :class:`ValueError` with a message saying which.

Discrete measures
-----------------
:func:`entropy`, :func:`kl`, :func:`mutual_information`, :func:`conditional_entropy`,
:func:`conditional_mutual_information`, :func:`total_correlation`, :func:`marginal`.

Gaussian measures
-----------------
:func:`gaussian_entropy`, :func:`gaussian_total_correlation` (with the ½ that the thesis's §2.8
formula drops, see the errata), :func:`gaussian_mutual_information`, the sample estimator
:func:`gaussian_tc_estimate` (plain, Ledoit–Wolf or fixed shrinkage, optional exact bias
correction) and :func:`gaussian_tc_bias`, the exact expected bias of the plain estimator.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "SUM_TOL",
    "validate_distribution",
    "marginal",
    "entropy",
    "kl",
    "mutual_information",
    "conditional_entropy",
    "conditional_mutual_information",
    "total_correlation",
    "gaussian_entropy",
    "gaussian_total_correlation",
    "gaussian_mutual_information",
    "gaussian_tc_bias",
    "gaussian_tc_estimate",
    "ledoit_wolf_shrinkage",
]

#: Tolerance on ``|sum(p) - 1|`` accepted by the validators.
SUM_TOL = 1e-8
#: Entries in ``[-NEG_TOL, 0)`` are treated as round-off and set to 0; anything below raises.
NEG_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# validation and helpers
# ---------------------------------------------------------------------------------------------


def _log_scale(base: float | None) -> float:
    """Factor converting nats to the requested unit."""
    if base is None:
        return 1.0
    base = float(base)
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be a positive number different from 1, got {base!r}")
    return 1.0 / math.log(base)


def validate_distribution(p, name: str = "p", ndim: int | None = None) -> np.ndarray:
    """Return ``p`` as a float64 array after checking it is a probability distribution.

    Raises ``ValueError`` if ``p`` is empty, has non-finite or negative entries (below
    ``-1e-12``; tinier negatives are round-off and are set to 0), does not sum to 1 within
    :data:`SUM_TOL`, or (when ``ndim`` is given) has the wrong number of dimensions.
    """
    a = np.array(p, dtype=np.float64)  # a copy: callers may keep their array
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-dimensional array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    if a.min() < -NEG_TOL:
        raise ValueError(f"{name} has negative entries (min {a.min():.3g}); probabilities must be >= 0")
    a[a < 0] = 0.0
    total = a.sum()
    if abs(total - 1.0) > SUM_TOL:
        raise ValueError(f"{name} sums to {total:.12g}, not 1 (tolerance {SUM_TOL:g})")
    return a


def _xlogx(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    m = a > 0
    out[m] = a[m] * np.log(a[m])
    return out


def _entropy_raw(a: np.ndarray) -> float:
    """Entropy in nats of an already validated array (no checks)."""
    return float(-_xlogx(a).sum())


def marginal(p, axes: int | Sequence[int]) -> np.ndarray:
    """Marginal of the joint ``p`` over the variables on ``axes`` (kept in the order given).

    ``marginal(p_xyz, (2, 0))[k, i] = p(z=k, x=i)``.
    """
    a = np.asarray(p, dtype=np.float64)
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    axes = tuple(int(ax) % a.ndim for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axes}")
    drop = tuple(i for i in range(a.ndim) if i not in axes)
    m = a.sum(axis=drop) if drop else a
    kept = [i for i in range(a.ndim) if i in axes]  # order after summation
    return np.transpose(m, [kept.index(ax) for ax in axes])


# ---------------------------------------------------------------------------------------------
# discrete measures
# ---------------------------------------------------------------------------------------------


def entropy(p, base: float | None = None) -> float:
    """Shannon entropy ``H(p) = -sum p log p`` of a (possibly joint, n-dimensional) distribution."""
    a = validate_distribution(p, "p")
    return _entropy_raw(a) * _log_scale(base)


def kl(p, q, base: float | None = None) -> float:
    """Kullback–Leibler divergence ``KL(p || q) = sum p log(p/q)``.

    Returns ``inf`` when ``p`` puts mass where ``q`` has none. ``p`` and ``q`` must have the same
    shape.
    """
    a = validate_distribution(p, "p")
    b = validate_distribution(q, "q")
    if a.shape != b.shape:
        raise ValueError(f"p and q must have the same shape, got {a.shape} and {b.shape}")
    m = a > 0
    if np.any(b[m] == 0):
        return math.inf
    return float(np.sum(a[m] * (np.log(a[m]) - np.log(b[m])))) * _log_scale(base)


def mutual_information(p_xy, base: float | None = None) -> float:
    """Mutual information ``I(X;Y) = KL(p(x,y) || p(x)p(y))`` of a 2-D joint ``p_xy[x, y]``."""
    a = validate_distribution(p_xy, "p_xy", ndim=2)
    return _mi_raw(a) * _log_scale(base)


def _mi_raw(a: np.ndarray) -> float:
    px = a.sum(axis=1, keepdims=True)
    py = a.sum(axis=0, keepdims=True)
    m = a > 0
    prod = (px * py)[m]
    return float(max(np.sum(a[m] * (np.log(a[m]) - np.log(prod))), 0.0))


def conditional_entropy(p_xy, base: float | None = None) -> float:
    """``H(Y|X) = H(X,Y) - H(X)`` for a 2-D joint with **X on axis 0** and Y on axis 1."""
    a = validate_distribution(p_xy, "p_xy", ndim=2)
    return (_entropy_raw(a) - _entropy_raw(a.sum(axis=1))) * _log_scale(base)


def conditional_mutual_information(p_xyz, base: float | None = None) -> float:
    """``I(X;Y|Z)`` for a 3-D joint ``p_xyz[x, y, z]`` (the conditioning variable on axis 2).

    Computed as ``H(X,Z) + H(Y,Z) - H(X,Y,Z) - H(Z)``.
    """
    a = validate_distribution(p_xyz, "p_xyz", ndim=3)
    val = (_entropy_raw(a.sum(axis=1)) + _entropy_raw(a.sum(axis=0)) - _entropy_raw(a)
           - _entropy_raw(a.sum(axis=(0, 1))))
    return max(val, 0.0) * _log_scale(base)


def total_correlation(p_z, base: float | None = None) -> float:
    """Total correlation (multi-information) ``TC(z) = KL(p(z) || prod_j p(z_j))`` [T §2.5].

    ``p_z`` is an n-dimensional joint, one axis per component ``z_j``. Equals
    ``sum_j H(z_j) - H(z)``; zero iff the components are independent.
    """
    a = validate_distribution(p_z, "p_z")
    if a.ndim < 2:
        return 0.0
    hs = sum(_entropy_raw(marginal(a, j)) for j in range(a.ndim))
    return max(hs - _entropy_raw(a), 0.0) * _log_scale(base)


# ---------------------------------------------------------------------------------------------
# Gaussian measures
# ---------------------------------------------------------------------------------------------


def _validate_cov(cov, name: str = "cov") -> np.ndarray:
    c = np.array(cov, dtype=np.float64)
    if c.ndim == 0:
        c = c.reshape(1, 1)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} has non-finite entries")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(c).max())):
        raise ValueError(f"{name} is not symmetric")
    c = 0.5 * (c + c.T)
    return c


def _logdet_pd(c: np.ndarray, name: str = "cov") -> float:
    try:
        L = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} is not positive definite") from None
    return float(2.0 * np.sum(np.log(np.diag(L))))


def gaussian_entropy(cov, base: float | None = None) -> float:
    """Differential entropy ``½ log det(2 pi e Σ)`` of ``N(μ, Σ)``."""
    c = _validate_cov(cov)
    d = c.shape[0]
    return (0.5 * d * math.log(2 * math.pi * math.e) + 0.5 * _logdet_pd(c)) * _log_scale(base)


def gaussian_total_correlation(cov, base: float | None = None) -> float:
    """Total correlation of ``N(μ, Σ)``: ``½ (sum_i log Σ_ii - log det Σ) = -½ log det R``.

    ``R`` is the correlation matrix. The thesis (§2.8) prints ``-log|Σ_0^{-1}Σ|`` without the
    ½ (errata Ch. 2 #6). For a 2-D Gaussian with correlation ρ this is ``-½ log(1-ρ²)``.
    """
    c = _validate_cov(cov)
    diag = np.diag(c)
    if np.any(diag <= 0):
        raise ValueError("cov has non-positive variances on its diagonal")
    val = 0.5 * (float(np.sum(np.log(diag))) - _logdet_pd(c))
    return max(val, 0.0) * _log_scale(base)


def gaussian_mutual_information(cov, idx_a: Sequence[int] | int, idx_b: Sequence[int] | int,
                                base: float | None = None) -> float:
    """``I(a;b) = ½ (log det Σ_aa + log det Σ_bb - log det Σ_{ab,ab})`` for jointly Gaussian blocks.

    ``idx_a`` and ``idx_b`` are (disjoint) index lists into ``cov``.
    """
    c = _validate_cov(cov)
    ia = np.atleast_1d(np.asarray(idx_a, dtype=int))
    ib = np.atleast_1d(np.asarray(idx_b, dtype=int))
    if ia.size == 0 or ib.size == 0:
        raise ValueError("idx_a and idx_b must be non-empty")
    if np.intersect1d(ia, ib).size:
        raise ValueError("idx_a and idx_b must be disjoint")
    if max(ia.max(), ib.max()) >= c.shape[0] or min(ia.min(), ib.min()) < -c.shape[0]:
        raise ValueError(f"index out of range for a {c.shape[0]}x{c.shape[0]} covariance")
    iab = np.concatenate([ia, ib])
    val = 0.5 * (_logdet_pd(c[np.ix_(ia, ia)]) + _logdet_pd(c[np.ix_(ib, ib)])
                 - _logdet_pd(c[np.ix_(iab, iab)]))
    return max(val, 0.0) * _log_scale(base)


def gaussian_tc_bias(n: int, d: int, approx: bool = False) -> float:
    """Expected bias (nats) of the plain Gaussian TC estimator from ``n`` samples in ``d`` dims.

    The plain estimator (:func:`gaussian_tc_estimate` with ``shrinkage=None``) is
    ``-½ log det R̂`` with ``R̂`` the sample correlation matrix (the sample mean removed). For
    Gaussian data its bias does **not** depend on the true covariance and is, exactly,

    ``E[TC^] - TC = ½ sum_{j=1}^{d-1} [ψ(m/2) - ψ((m-j)/2)]``,  with ``m = n - 1``,

    where ψ is the digamma function. Derivation: ``TC^ = ½(sum_i log S_ii - log det S)`` with
    ``m S ~ Wishart_d(Σ, m)``; ``E log det(mS) = log det Σ + d log 2 + sum_{i<d} ψ((m-i)/2)``
    and ``m S_ii / Σ_ii ~ χ²_m`` so ``E log(m S_ii) = log Σ_ii + log 2 + ψ(m/2)``; the ``Σ``
    and ``log 2`` terms cancel. It needs ``m >= d`` (else ``det S = 0`` and the estimator is
    infinite).

    For large ``m``, ``ψ(m/2) - ψ((m-j)/2) ≈ j/m``, which gives the Bartlett-type
    approximation ``d(d-1)/(4n)`` quoted in spec T9; ``approx=True`` returns that instead.
    """
    n = int(n)
    d = int(d)
    if d < 1:
        raise ValueError("d must be >= 1")
    if approx:
        return d * (d - 1) / (4.0 * n)
    m = n - 1
    if m < d:
        raise ValueError(f"the plain estimator needs n - 1 >= d (got n={n}, d={d}): det R̂ = 0")
    from scipy.special import digamma

    j = np.arange(1, d)
    return float(0.5 * np.sum(digamma(m / 2.0) - digamma((m - j) / 2.0)))


def ledoit_wolf_shrinkage(x) -> float:
    """Ledoit–Wolf (2004) optimal shrinkage intensity of the sample covariance of ``x`` (n, d)
    toward ``μ I`` (``μ`` the mean variance). Data are centered; the ``1/n`` covariance is used,
    as in the original paper. Returns a number in ``[0, 1]``.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    mu = np.trace(s) / d
    delta = np.sum((s - mu * np.eye(d)) ** 2) / d
    if delta <= 0:
        return 0.0
    # (1/n²) sum_k ||x_k x_kᵀ - S||_F² / d, computed without forming the n outer products
    x2 = xc ** 2
    beta_bar = (np.sum((x2.T @ x2)) / n - np.sum(s ** 2)) / (n * d)
    return float(min(max(beta_bar, 0.0), delta) / delta)


def gaussian_tc_estimate(samples, shrinkage: None | str | float = None, debias: bool = False,
                         per_dimension: bool = False, base: float | None = None) -> float:
    """Estimate TC from samples with the Gaussian approximation (thesis §2.8, spec T9).

    ``samples`` is ``(n, d)``. The plain estimator is ``-½ log det R̂`` with ``R̂`` the sample
    correlation matrix (i.e. ``Σ_0^{-1/2} Σ̂ Σ_0^{-1/2}``, ``Σ_0 = diag Σ̂``). It is biased
    upward, by :func:`gaussian_tc_bias` ``(n, d)`` exactly for Gaussian data.

    Parameters
    ----------
    shrinkage:
        ``None`` (plain); ``'ledoit-wolf'``: the columns are standardized, and the resulting
        correlation matrix is shrunk toward the identity with the Ledoit–Wolf intensity (lower
        variance, biased toward 0); a float ``s`` in ``[0, 1]``: ``(1-s) R̂ + s I``.
    debias:
        Subtract the exact expected bias :func:`gaussian_tc_bias` (plain estimator only). The
        result is then unbiased for Gaussian data, and can be negative.
    per_dimension:
        Divide by ``d`` (the convention of the reference implementation of Fig 2.5).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"samples must be (n, d), got shape {x.shape}")
    n, d = x.shape
    if n < 2:
        raise ValueError("need at least 2 samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples have non-finite entries")
    xc = x - x.mean(axis=0)
    sd = np.sqrt(np.mean(xc ** 2, axis=0))
    if np.any(sd == 0):
        raise ValueError("a column of samples is constant")
    xs = xc / sd
    r = xs.T @ xs / n  # the sample correlation matrix (1/n or 1/(n-1) give the same R̂)
    if shrinkage is None:
        s = 0.0
    elif isinstance(shrinkage, str):
        if shrinkage.lower().replace("_", "-") not in ("ledoit-wolf", "lw"):
            raise ValueError(f"unknown shrinkage {shrinkage!r}; use None, 'ledoit-wolf' or a float")
        s = ledoit_wolf_shrinkage(xs)
    else:
        s = float(shrinkage)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {s}")
    if debias and s != 0.0:
        raise ValueError("debias=True is only defined for the plain estimator (shrinkage=None)")
    r = (1.0 - s) * r + s * np.eye(d)
    sign, logdet = np.linalg.slogdet(r)
    tc = math.inf if sign <= 0 else -0.5 * float(logdet)
    if debias:
        tc -= gaussian_tc_bias(n, d)
    if per_dimension:
        tc /= d
    return tc * _log_scale(base)
