"""Disentanglement: the factorized-prior decomposition, Gaussian codes under rotation, TC estimation.

Thesis §2.5 and §2.7 (course spec ch02 §8, §10; toys T7 and T9 of the ch01 spec). Three groups:

Factorized priors (discrete, exact)
    :func:`factorized_kl_decomposition` computes the averaged KL to a factorized prior,
    ``E_x KL(p(z|x) || prod_j q_j(z_j))``, *directly from its definition*, together with the three terms of

    .. math:: \\mathbb E_x\\,\\mathrm{KL}\\big(p(z\\mid x)\\,\\|\\,\\textstyle\\prod_j q_j\\big)
              = I(x;z) + \\mathrm{TC}(z) + \\sum_j \\mathrm{KL}\\big(p(z_j)\\,\\|\\,q_j\\big),

    (Chen et al. 2018; it follows from the proof of the thesis's §2.5 proposition). With ``q_j = p(z_j)``
    the last sum vanishes: the thesis's proposition, ``min_q E_x KL = I + TC``.
    :func:`minimize_factorized_prior` finds the minimizing ``q`` numerically (softmax logits, BFGS), without
    using that the answer is the marginals, so the notebook can check the proposition independently.

Linear-Gaussian codes (exact)
    ``z = M x + xi``, ``x ~ N(0, cov_x)``, ``xi ~ N(0, diag(noise_var))``. :func:`linear_gaussian_code`
    gives the joint covariance of ``(x, z)`` (feed it to :func:`emergent.info.gaussian_mutual_information`
    and :func:`emergent.info.gaussian_total_correlation`); :func:`gaussian_rate` gives the "rate"
    ``E_x KL(p(z|x) || prod_j N(0, v_j))`` of a VAE-like encoder against a factorized Gaussian prior (fixed
    ``v``, or the optimal ``v_j = Var z_j``); :func:`rotation` and :func:`decorrelating_angle` handle 2-D
    rotations ``z = R_theta A x + xi`` (desideratum (iv) of thesis §2.2: the basis is not fixed by
    sufficiency and minimality, TC is).

The Gaussian TC estimator (Monte Carlo)
    :func:`ar1_correlation`, :func:`ar1_total_correlation` (exact: ``-½(D-1) log(1-ρ²)``),
    :func:`sample_ar1`, :func:`tc_permutation_null` and :func:`tc_estimator_study`, which runs the
    estimator variants of :func:`emergent.info.gaussian_tc_estimate` on repeated samples.

Information is in nats.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from . import info

__all__ = [
    "KLDecomposition",
    "random_channel",
    "factorized_kl_decomposition",
    "minimize_factorized_prior",
    "rotation",
    "decorrelating_angle",
    "linear_gaussian_code",
    "gaussian_rate",
    "ar1_correlation",
    "ar1_total_correlation",
    "sample_ar1",
    "tc_permutation_null",
    "tc_estimator_study",
    "TC_VARIANTS",
]


# ---------------------------------------------------------------------------------------------
# factorized priors on a discrete code
# ---------------------------------------------------------------------------------------------


class KLDecomposition(NamedTuple):
    """``rate = mutual_information + total_correlation + sum(marginal_kls)`` (all in nats)."""

    rate: float  # E_x KL(p(z|x) || prod_j q_j), computed from the definition
    mutual_information: float  # I(x; z)
    total_correlation: float  # TC(z) under the marginal p(z)
    marginal_kls: tuple  # KL(p(z_j) || q_j), one per component

    @property
    def excess(self) -> float:
        """``sum_j KL(p(z_j) || q_j)``: what a non-optimal factorized prior adds to ``I + TC``."""
        return float(sum(self.marginal_kls))


def _check_channel(p_x, p_z_given_x) -> tuple[np.ndarray, np.ndarray]:
    px = info.validate_distribution(p_x, "p_x", ndim=1)
    pzx = np.asarray(p_z_given_x, dtype=np.float64)
    if pzx.ndim < 2 or pzx.shape[0] != px.size:
        raise ValueError(f"p_z_given_x must have shape (len(p_x), k_1, ..., k_n), got {pzx.shape}")
    for i in range(px.size):
        info.validate_distribution(pzx[i], f"p_z_given_x[{i}]")
    return px, pzx


def random_channel(n_x: int, z_shape: Sequence[int], rng: np.random.Generator | int | None = None,
                   concentration: float = 1.0) -> np.ndarray:
    """A random encoder ``p(z|x)``: one Dirichlet(concentration) distribution over the cells of ``z_shape``
    per value of ``x``. Returns an array of shape ``(n_x, *z_shape)`` whose slices sum to 1."""
    rng = np.random.default_rng(rng)
    k = int(np.prod(z_shape))
    return rng.dirichlet(np.full(k, float(concentration)), size=n_x).reshape((n_x, *z_shape))


def factorized_kl_decomposition(p_x, p_z_given_x, q_factors: Sequence | None = None) -> KLDecomposition:
    """``E_x KL(p(z|x) || prod_j q_j(z_j))`` and its decomposition into ``I(x;z) + TC(z) + sum_j KL(p(z_j)||q_j)``.

    ``p_x``: shape ``(n_x,)``. ``p_z_given_x``: shape ``(n_x, k_1, ..., k_n)``, one distribution over the
    code ``z = (z_1..z_n)`` per ``x``. ``q_factors``: ``n`` one-dimensional distributions (``q_j`` of length
    ``k_j``); ``None`` uses the marginals ``p(z_j)`` (the optimal factorized prior). The ``rate`` is computed
    from the definition ``sum_x p(x) sum_z p(z|x) [log p(z|x) - sum_j log q_j(z_j)]``; the other terms come
    from :mod:`emergent.info`. Returns ``inf`` rate if some ``q_j`` is 0 where ``p(z_j) > 0``.
    """
    px, pzx = _check_channel(p_x, p_z_given_x)
    zshape = pzx.shape[1:]
    n = len(zshape)
    joint = px.reshape((-1,) + (1,) * n) * pzx  # p(x, z)
    p_z = joint.sum(axis=0)
    marg = [info.marginal(p_z, j) for j in range(n)]
    if q_factors is None:
        q = marg
    else:
        if len(q_factors) != n:
            raise ValueError(f"need {n} prior factors, got {len(q_factors)}")
        q = [info.validate_distribution(qj, f"q_factors[{j}]", ndim=1) for j, qj in enumerate(q_factors)]
        for j, (qj, k) in enumerate(zip(q, zshape)):
            if qj.size != k:
                raise ValueError(f"q_factors[{j}] has {qj.size} entries, z_{j} takes {k} values")
    # log prod_j q_j(z_j) on the grid of z
    log_q = np.zeros(zshape)
    with np.errstate(divide="ignore"):
        for j, qj in enumerate(q):
            shape = [1] * n
            shape[j] = -1
            log_q = log_q + np.log(qj).reshape(shape)
    m = joint > 0
    logq_full = np.broadcast_to(log_q, joint.shape)
    if np.any(np.isneginf(logq_full[m])):
        rate = math.inf
    else:
        rate = float(np.sum(joint[m] * (np.log(pzx[m]) - logq_full[m])))
    mi = info.mutual_information(joint.reshape(px.size, -1))
    tc = info.total_correlation(p_z)
    kls = tuple(info.kl(marg[j], q[j]) for j in range(n))
    return KLDecomposition(rate, mi, tc, kls)


def minimize_factorized_prior(p_x, p_z_given_x, seed: int = 0, gtol: float = 1e-12):
    """Minimize ``E_x KL(p(z|x) || prod_j q_j)`` over factorized priors ``q`` numerically.

    Each ``q_j = softmax(theta_j)``; BFGS from a random start, with the exact gradient. The optimizer is not
    told that the answer is the product of the marginals: it is a check of the thesis's §2.5 proposition.
    Returns ``(q_factors, minimum, result)`` (``result`` is SciPy's ``OptimizeResult``).
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    px, pzx = _check_channel(p_x, p_z_given_x)
    zshape = pzx.shape[1:]
    n = len(zshape)
    joint = px.reshape((-1,) + (1,) * n) * pzx
    p_z = joint.sum(axis=0)
    marg = [info.marginal(p_z, j) for j in range(n)]
    m = joint > 0
    neg_h = float(np.sum(joint[m] * np.log(pzx[m])))  # E log p(z|x), independent of q
    splits = np.cumsum(zshape)[:-1]

    def objective(theta):
        parts = np.split(theta, splits)
        val = neg_h
        grad = []
        for pj, th in zip(marg, parts):
            lq = log_softmax(th)
            val -= float(np.dot(pj, lq))  # - E log q_j(z_j)
            grad.append(np.exp(lq) - pj)  # d/dtheta of -sum p log softmax(theta)
        return val, np.concatenate(grad)

    rng = np.random.default_rng(seed)
    theta0 = rng.normal(size=int(np.sum(zshape)))
    res = minimize(objective, theta0, jac=True, method="BFGS", options=dict(gtol=gtol, maxiter=10_000))
    q = [np.exp(log_softmax(th)) for th in np.split(res.x, splits)]
    return q, float(res.fun), res


# ---------------------------------------------------------------------------------------------
# linear-Gaussian codes
# ---------------------------------------------------------------------------------------------


def rotation(theta: float) -> np.ndarray:
    """The 2-D rotation ``R_theta = [[cos, -sin], [sin, cos]]`` (theta in radians)."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def decorrelating_angle(cov) -> float:
    """The angle ``theta`` in ``[0, pi/2)`` at which ``R_theta cov R_thetaᵀ`` is diagonal (2×2 ``cov``).

    The off-diagonal entry of ``R C Rᵀ`` is ``½(c11 - c22) sin 2θ + c12 cos 2θ``; it vanishes at
    ``tan 2θ = -2 c12 / (c11 - c22)``, i.e. at this angle and every multiple of 90° from it. When ``cov`` is
    already isotropic every angle works and 0 is returned.
    """
    c = np.asarray(cov, dtype=np.float64)
    if c.shape != (2, 2):
        raise ValueError(f"cov must be 2x2, got shape {c.shape}")
    th = 0.5 * math.atan2(-2.0 * c[0, 1], c[0, 0] - c[1, 1])
    return th % (math.pi / 2)


def linear_gaussian_code(M, cov_x, noise_var) -> np.ndarray:
    """Joint covariance of ``(x, z)`` for ``x ~ N(0, cov_x)``, ``z = M x + xi``, ``xi ~ N(0, diag(noise_var))``.

    ``noise_var`` is a scalar (isotropic encoder noise) or one variance per component of ``z``. The result has
    ``x`` in the first ``dim x`` rows/columns and ``z`` in the rest: ``[[Σx, Σx Mᵀ], [M Σx, M Σx Mᵀ + diag]]``.
    """
    M = np.atleast_2d(np.asarray(M, dtype=np.float64))
    cx = np.atleast_2d(np.asarray(cov_x, dtype=np.float64))
    dz, dx = M.shape
    if cx.shape != (dx, dx):
        raise ValueError(f"cov_x must be {dx}x{dx} for M of shape {M.shape}, got {cx.shape}")
    nv = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), (dz,))
    if np.any(nv <= 0):
        raise ValueError("noise_var must be positive")
    cxz = cx @ M.T
    cz = M @ cx @ M.T + np.diag(nv)
    return np.block([[cx, cxz], [cxz.T, cz]])


def gaussian_rate(M, cov_x, noise_var, prior_var=None) -> float:
    """``E_x KL( N(Mx, diag(noise_var)) || N(0, diag(prior_var)) )`` in nats, exactly.

    This is the KL ("rate") term of a VAE / Information Dropout loss for the linear-Gaussian encoder of
    :func:`linear_gaussian_code`, against a factorized Gaussian prior. Per component ``j``, with
    ``s_j`` = noise variance and ``m_j = (M Σx Mᵀ)_jj`` = variance of the mean:

    ``½ [ (s_j + m_j)/v_j - 1 - log(s_j / v_j) ]``.

    ``prior_var=None`` uses the optimal factorized prior ``v_j = Var z_j = s_j + m_j`` (the marginals), for which
    the rate equals ``I(x;z) + TC(z)`` (thesis §2.5). A fixed ``prior_var=1`` is the standard VAE prior ``N(0, I)``.
    """
    M = np.atleast_2d(np.asarray(M, dtype=np.float64))
    cx = np.atleast_2d(np.asarray(cov_x, dtype=np.float64))
    dz = M.shape[0]
    s = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), (dz,))
    mvar = np.diag(M @ cx @ M.T)
    v = s + mvar if prior_var is None else np.broadcast_to(np.asarray(prior_var, dtype=np.float64), (dz,))
    if np.any(s <= 0) or np.any(v <= 0):
        raise ValueError("variances must be positive")
    return float(0.5 * np.sum((s + mvar) / v - 1.0 - np.log(s / v)))


# ---------------------------------------------------------------------------------------------
# the Gaussian TC estimator: a known answer, sampling, and the null baseline
# ---------------------------------------------------------------------------------------------

#: Estimator variants understood by :func:`tc_estimator_study`.
TC_VARIANTS = ("plain", "debiased", "ledoit-wolf", "permutation")


def ar1_correlation(d: int, rho: float) -> np.ndarray:
    """The AR(1) correlation matrix ``R_ij = rho^|i-j|`` (``d`` × ``d``)."""
    if not -1 < rho < 1:
        raise ValueError(f"need |rho| < 1, got {rho}")
    idx = np.arange(int(d))
    return float(rho) ** np.abs(idx[:, None] - idx[None, :])


def ar1_total_correlation(d: int, rho: float) -> float:
    """Exact TC of ``N(0, ar1_correlation(d, rho))``: ``-½ (d-1) log(1 - rho²)``, since ``det R = (1-rho²)^(d-1)``."""
    if not -1 < rho < 1:
        raise ValueError(f"need |rho| < 1, got {rho}")
    return -0.5 * (int(d) - 1) * math.log1p(-float(rho) ** 2)


def sample_ar1(n: int, d: int, rho: float, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` samples of a stationary Gaussian AR(1) sequence of length ``d`` (unit variances, correlation
    ``rho^|i-j|``): ``x_0 = e_0``, ``x_j = rho x_{j-1} + sqrt(1-rho²) e_j``. Shape ``(n, d)``, float64."""
    if not -1 < rho < 1:
        raise ValueError(f"need |rho| < 1, got {rho}")
    rng = np.random.default_rng(rng)
    e = rng.standard_normal((int(n), int(d)))
    if rho == 0:
        return e
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    c = math.sqrt(1.0 - rho * rho)
    for j in range(1, int(d)):
        x[:, j] = rho * x[:, j - 1] + c * e[:, j]
    return x


def tc_permutation_null(samples, rng: np.random.Generator | int | None = None, n_perm: int = 1,
                        **estimate_kw) -> float:
    """The estimator's value on data with the dependence destroyed: each column shuffled independently.

    Shuffling keeps every marginal but makes the columns independent, so the true TC of the shuffled data is
    0 and what the estimator returns is its null floor (≈ :func:`emergent.info.gaussian_tc_bias` for the
    plain estimator). Averaged over ``n_perm`` shuffles; ``estimate_kw`` go to
    :func:`emergent.info.gaussian_tc_estimate`.
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(samples, dtype=np.float64)
    vals = [info.gaussian_tc_estimate(rng.permuted(x, axis=0), **estimate_kw) for _ in range(int(n_perm))]
    return float(np.mean(vals))


def tc_estimator_study(n: int, d: int, rho: float, reps: int = 5, seed: int = 0,
                       variants: Sequence[str] = TC_VARIANTS) -> dict:
    """Run Gaussian TC estimators on ``reps`` independent AR(1) samples of size ``n`` in ``d`` dimensions.

    Variants: ``"plain"`` (``-½ log det R̂``), ``"debiased"`` (plain minus the exact expected bias
    :func:`emergent.info.gaussian_tc_bias`), ``"ledoit-wolf"`` (shrinkage of R̂ toward I), ``"permutation"``
    (plain minus the plain estimate on the same sample with its columns shuffled, :func:`tc_permutation_null`).
    Variants that need ``n - 1 >= d`` return ``nan`` when that fails.

    Returns ``{"exact": TC, "bias": expected bias of plain (nan if undefined), "n", "d", "rho",
    variant: array of reps estimates, ...}``.
    """
    for v in variants:
        if v not in TC_VARIANTS:
            raise ValueError(f"unknown variant {v!r}; choose from {TC_VARIANTS}")
    rng = np.random.default_rng(seed)
    ok = int(n) - 1 >= int(d)
    out: dict = {"exact": ar1_total_correlation(d, rho), "n": int(n), "d": int(d), "rho": float(rho),
                 "bias": info.gaussian_tc_bias(n, d) if ok else math.nan}
    est = {v: np.full(int(reps), math.nan) for v in variants}
    for r in range(int(reps)):
        x = sample_ar1(n, d, rho, rng)
        plain = info.gaussian_tc_estimate(x) if ok else math.nan
        if "plain" in est:
            est["plain"][r] = plain
        if "debiased" in est and ok:
            est["debiased"][r] = plain - out["bias"]
        if "ledoit-wolf" in est:
            est["ledoit-wolf"][r] = info.gaussian_tc_estimate(x, shrinkage="ledoit-wolf")
        if "permutation" in est and ok:
            est["permutation"][r] = plain - tc_permutation_null(x, rng)
    out.update(est)
    return out
