r"""PAC-Bayes bounds and the information in the weights, in closed form (thesis Ch. 4).

Everything here is plain numpy/scipy and exact (no training, no sampling); all information
quantities are in **nats**. Equation numbers are the thesis's (Ch. 4) unless marked otherwise.

PAC-Bayes (§4.4, spec E3)
    :func:`mcallester_bound` is Theorem 4.4.1, eq. (4.5), per sample;
    :func:`kl_inverse_bound` is the tighter kl form (Langford–Seeger, with Maurer's constant)
    used by Dziugaite & Roy (2017); :func:`kl_bernoulli` and :func:`kl_inverse` are its pieces;
    :func:`union_bound_grid` pays for choosing the best of a finite grid of (posterior, prior, β).
    :func:`vc_bound` is the classical, parameter-counting contrast.
    :func:`linear_gibbs_error` is the exact 0–1 error of a Gaussian posterior over a linear classifier,
    :func:`sample_error_bound` the bound that turns a Monte Carlo estimate of a Gibbs error into a
    certified one, and :func:`logistic_laplace_bounds` the worked example of spec §2: Laplace
    posteriors of logistic regression on a grid, certified with the union bound.

Information in the weights of Bayesian linear regression (§4.2, spec E1)
    :func:`bayes_linear_posterior`, :func:`bayes_linear_information` and :func:`gaussian_kl`:
    with the exact posterior and the prior as the "adapted" prior, Prop. 4.2.1 gives
    :math:`\mathbb{E}_D\,\mathrm{KL}(p(w|D)\,\|\,p(w)) = I(w;D)` exactly.

Prop. 4.2.2 and Fisher = Hessian (§4.2, spec E2)
    :func:`optimal_gaussian_posterior` is Prop. 4.2.2 with the **corrected** constant,
    :math:`\Sigma^{*-1} = H/\beta + \sigma_0^{-2} I`, and its information in the weights;
    :func:`quadratic_coding_cost` is the coding cost (4.3) under the second-order expansion of the
    proof. :func:`logistic_fisher` and :func:`logistic_map` are binary logistic regression's Fisher
    (= the cross-entropy Hessian at every w) and its L2-regularised minimiser (Newton);
    :func:`fisher_matrix` is the exact Fisher of any small torch classifier (classes enumerated).

Random labels, exact structure function (§4.6, spec E4)
    :func:`lookup_table_structure`: the lookup table that memorises k of N random labels, the
    structure function (4.1) :math:`S(t) = N\log|Y| - t` and the critical β of the Lagrangian (4.3).

Losses follow the spec's convention: the thesis's :math:`L_D` is *summed* over the N samples, the
PAC-Bayes functions take the *per-sample* Gibbs empirical loss :math:`\hat L = \mathbb{E}_Q L_D / N`
of a loss bounded in [0, 1] (e.g. the 0–1 error of the stochastic predictor). Functions broadcast
over numpy arrays and return a Python ``float`` when every input is a scalar.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import linalg

__all__ = [
    "mcallester_bound",
    "kl_bernoulli",
    "kl_inverse",
    "kl_inverse_bound",
    "GridBound",
    "union_bound_grid",
    "vc_bound",
    "bayes_linear_posterior",
    "bayes_linear_information",
    "gaussian_kl",
    "lookup_table_structure",
    "optimal_gaussian_posterior",
    "quadratic_coding_cost",
    "logistic_fisher",
    "logistic_map",
    "fisher_matrix",
    "linear_gibbs_error",
    "sample_error_bound",
    "logistic_laplace_bounds",
]


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _as_float_array(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    return a


def _check_pac_inputs(emp_loss, kl, n, delta):
    emp_loss = _as_float_array(emp_loss, "emp_loss")
    kl = _as_float_array(kl, "kl")
    n = _as_float_array(n, "n")
    delta = _as_float_array(delta, "delta")
    if ((emp_loss < 0) | (emp_loss > 1)).any():
        raise ValueError(f"emp_loss must be a per-sample loss in [0, 1], got {emp_loss}")
    if (kl < 0).any():
        raise ValueError(f"kl = KL(Q||P) must be >= 0 nats, got {kl}")
    if (n < 1).any():
        raise ValueError(f"n (number of training samples) must be >= 1, got {n}")
    if ((delta <= 0) | (delta >= 1)).any():
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    return emp_loss, kl, n, delta


def _out(a):
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


# ----------------------------------------------------------------------------------------------
# PAC-Bayes
# ----------------------------------------------------------------------------------------------
def mcallester_bound(emp_loss, kl, n, beta, delta):
    r"""McAllester's PAC-Bayes bound, thesis Theorem 4.4.1, eq. (4.5), written per sample.

    With probability at least :math:`1-\delta` over the i.i.d. training set of size N, for a loss
    bounded by :math:`L_{\max} = 1`, any *fixed* :math:`\beta > 1/2`, any prior P chosen before
    seeing the data and every posterior Q,

    .. math::
        L_{\rm test}(Q) \le B = \frac{\hat L + \frac{\beta}{N}\big(\mathrm{KL}(Q\|P) + \log\frac1\delta\big)}
                                   {1 - \frac{1}{2\beta}},

    which is (4.5) divided through by N, with :math:`\hat L = \mathbb{E}_{w\sim Q} L_D(p_w)/N`.
    (4.6) is the same bound written with the weight Lagrangian :math:`C_\beta` of (4.3).

    Parameters
    ----------
    emp_loss : per-sample Gibbs empirical loss :math:`\hat L \in [0, 1]`.
    kl : :math:`\mathrm{KL}(Q\|P) \ge 0`, nats.
    n : number of training samples N (>= 1).
    beta : :math:`\beta > 1/2`. It must be fixed before seeing the data; to choose it from a grid
        use :func:`union_bound_grid`.
    delta : confidence parameter in (0, 1).

    Returns the bound B (may exceed 1, i.e. be vacuous). Broadcasts over arrays.

    Raises ``ValueError`` for :math:`\beta \le 1/2` (the bound does not exist there), ``emp_loss``
    outside [0, 1], ``kl < 0``, ``n < 1`` or ``delta`` outside (0, 1).
    """
    emp_loss, kl, n, delta = _check_pac_inputs(emp_loss, kl, n, delta)
    beta = _as_float_array(beta, "beta")
    if (beta <= 0.5).any():
        raise ValueError(f"Theorem 4.4.1 needs beta > 1/2, got {beta}")
    b = (emp_loss + beta / n * (kl + np.log(1.0 / delta))) / (1.0 - 1.0 / (2.0 * beta))
    return _out(b)


def _kl_bern(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """kl(q||p) without input checks, accurate when p is close to q.

    With x = p - q: q log(q/p) = -q[log1p(x/q) - x/q] - x and
    (1-q) log((1-q)/(1-p)) = -(1-q)[log1p(-x/(1-q)) + x/(1-q)] + x. The linear terms cancel
    exactly, and both brackets are <= 0, so the sum has no cancellation (the naive formula loses
    all digits once kl drops below ~1e-16, i.e. for |p - q| below ~1e-8).
    """
    q, p = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(p, dtype=float))
    x = p - q
    inner = (q > 0) & (q < 1)
    qs = np.where(inner, q, 0.5)
    rs = 1.0 - qs
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = x / qs, -x / rs
        kl_inner = -qs * (np.log1p(u) - u) - rs * (np.log1p(v) - v)
        kl_q0 = -np.log1p(-p)  # q = 0: -log(1-p)
        kl_q1 = -np.log(p)  # q = 1: -log p
    out = np.where(inner, kl_inner, np.where(q <= 0, kl_q0, kl_q1))
    return np.where(x == 0, 0.0, out)


def kl_bernoulli(q, p):
    r"""Binary relative entropy :math:`\mathrm{kl}(q\|p) = q\log\frac qp + (1-q)\log\frac{1-q}{1-p}`, nats.

    Uses :math:`0\log 0 = 0`; it is :math:`+\infty` when p is 0 or 1 and q differs from p.
    Evaluated without cancellation between the two terms, so it keeps several significant digits
    down to :math:`|p-q|\approx 10^{-12}` (the naive formula has none left below ~1e-8).
    ``q`` and ``p`` must lie in [0, 1]; broadcasts over arrays.
    """
    q = _as_float_array(q, "q")
    p = _as_float_array(p, "p")
    if ((q < 0) | (q > 1)).any() or ((p < 0) | (p > 1)).any():
        raise ValueError("kl_bernoulli needs q and p in [0, 1]")
    return _out(_kl_bern(q, p))


def kl_inverse(q, c, tol: float = 1e-14):
    r"""Upper kl-inverse :math:`\mathrm{kl}^{-1}(q, c) = \max\{p\in[q,1] : \mathrm{kl}(q\|p)\le c\}`.

    :math:`p\mapsto\mathrm{kl}(q\|p)` is 0 at p = q and increasing on [q, 1], so the set is an
    interval; its right end is found by vectorised bisection until the bracket is narrower than
    ``tol``. The returned value is the bracket's **upper** end (conservative: at most ``tol`` above
    the exact inverse, never below it). Equals q when c = 0 (to ``tol``) and 1 when
    :math:`c \ge \mathrm{kl}(q\|1)` (always when q = 1 or c = inf). Always in [q, 1].
    """
    q = _as_float_array(q, "q")
    c = _as_float_array(c, "c")
    if ((q < 0) | (q > 1)).any():
        raise ValueError(f"q must lie in [0, 1], got {q}")
    if (c < 0).any():
        raise ValueError(f"c must be >= 0, got {c}")
    q, c = np.broadcast_arrays(q, c)
    lo = q.astype(float).copy()
    hi = np.ones_like(lo)
    for _ in range(200):  # 2**-200 is far below tol: the loop always ends on the width test
        if not (hi - lo > tol).any():
            break
        mid = 0.5 * (lo + hi)
        ok = _kl_bern(q, mid) <= c
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return _out(hi)


def kl_inverse_bound(emp_loss, kl, n, delta):
    r"""The kl (Langford–Seeger / Maurer) PAC-Bayes bound, as used by Dziugaite & Roy (2017).

    With probability at least :math:`1-\delta`, for a loss in [0, 1] and every posterior Q,

    .. math::
        \mathrm{kl}\big(\hat L\,\big\|\,L_{\rm test}(Q)\big) \le
        \frac{\mathrm{KL}(Q\|P) + \log\frac{2\sqrt N}{\delta}}{N},

    so :math:`L_{\rm test}(Q) \le \mathrm{kl}^{-1}(\hat L, \text{rhs})`, the largest p in
    :math:`[\hat L, 1]` with :math:`\mathrm{kl}(\hat L\|p) \le` rhs (computed by :func:`kl_inverse`
    to about 1e-14). The constant :math:`2\sqrt N` is Maurer's (2004) bound on
    :math:`\mathbb{E}\,e^{N\,\mathrm{kl}(\hat L\|L)}` (proved for N >= 8; for a 0–1 loss the exact
    value :math:`\sum_k\binom Nk (k/N)^k(1-k/N)^{N-k}` is below it for every N >= 1). Langford &
    Seeger's original constant is N + 1 instead of :math:`2\sqrt N`. Unlike (4.5) this bound needs
    no β and is never vacuous beyond 1: the result is always in :math:`[\hat L, 1]`.

    Inputs as in :func:`mcallester_bound` (without ``beta``); broadcasts over arrays.
    """
    emp_loss, kl, n, delta = _check_pac_inputs(emp_loss, kl, n, delta)
    rhs = (kl + np.log(2.0 * np.sqrt(n) / delta)) / n
    return kl_inverse(emp_loss, rhs)


class GridBound(NamedTuple):
    """Result of :func:`union_bound_grid`."""

    value: float  #: the best bound, after the union-bound price
    index: int  #: index of the best candidate in ``emp_losses`` / ``kls``
    beta: float | None  #: the best β (``bound="mcallester"``), else None
    n_candidates: int  #: number of bounds paid for: K, or K * len(betas)


def union_bound_grid(emp_losses, kls, n, delta, bound: str = "kl_inverse", betas=None) -> GridBound:
    r"""Best PAC-Bayes bound over a finite grid of candidates, paying the union bound.

    Each of the K candidates (e.g. a posterior scale s and a prior width σ₀, chosen from a grid
    fixed *before* seeing the data) has a per-sample Gibbs empirical loss ``emp_losses[k]`` and
    ``kls[k]`` = KL(Q_k || P_k). A bound that holds with probability :math:`1-\delta/K` for each
    candidate holds for all of them at once with probability :math:`1-\delta`, so the minimum may
    be reported: every candidate is bounded at confidence δ/K, i.e.
    :math:`\log\frac1\delta \to \log\frac K\delta`.

    ``bound="kl_inverse"``: :func:`kl_inverse_bound` per candidate (``betas`` must be None).
    ``bound="mcallester"``: eq. (4.5) per candidate and per β in the (required) ``betas`` grid;
    the grid then has K * len(betas) members and each gets δ / (K * len(betas)).

    Returns a :class:`GridBound` ``(value, index, beta, n_candidates)``.
    """
    emp = np.atleast_1d(np.asarray(emp_losses, dtype=float)).ravel()
    kl = np.atleast_1d(np.asarray(kls, dtype=float)).ravel()
    if emp.shape != kl.shape:
        raise ValueError(f"emp_losses and kls must have the same length, got {emp.size} and {kl.size}")
    if emp.size == 0:
        raise ValueError("empty grid")
    k = emp.size
    if bound == "kl_inverse":
        if betas is not None:
            raise ValueError("betas is only used with bound='mcallester'")
        vals = np.atleast_1d(kl_inverse_bound(emp, kl, n, np.asarray(delta, dtype=float) / k))
        i = int(np.argmin(vals))
        return GridBound(float(vals[i]), i, None, k)
    if bound == "mcallester":
        if betas is None:
            raise ValueError("bound='mcallester' needs a grid of betas (each > 1/2)")
        b = np.atleast_1d(np.asarray(betas, dtype=float)).ravel()
        m = k * b.size
        delta_each = np.asarray(delta, dtype=float) / m
        vals = np.asarray(mcallester_bound(emp[:, None], kl[:, None], n, b[None, :], delta_each))
        i, j = np.unravel_index(int(np.argmin(vals)), vals.shape)
        return GridBound(float(vals[i, j]), int(i), float(b[j]), m)
    raise ValueError(f"bound must be 'kl_inverse' or 'mcallester', got {bound!r}")


def vc_bound(n_params, n, delta, train_error=0.0, vc_dim=None):
    r"""Classical VC generalisation bound (Vapnik), for the "vacuous" contrast of spec §2.

    With probability at least :math:`1-\delta`, for every classifier of a class of VC dimension d,

    .. math::
        L_{\rm test} \le L_{\rm train} + \sqrt{\frac{\log\Pi(2N) + \log\frac4\delta}{N}},

    with the growth function bounded by Sauer's lemma: :math:`\log\Pi(2N) \le
    d\,(\log\frac{2N}{d} + 1)` when 2N > d (Vapnik's familiar form
    :math:`\sqrt{(d(\log(2N/d)+1) + \log(4/\delta))/N}`), and :math:`\log\Pi(2N) \le 2N\log 2`
    otherwise (all labelings are possible).

    The VC dimension of a network is taken as :math:`d = |\theta|\log|\theta|` (natural log; the
    order of the known upper bounds for piecewise-linear networks — a *choice*, pass ``vc_dim`` to
    override). The result is not clipped: a value above 1 is vacuous.
    """
    n_params = float(n_params)
    n = float(n)
    if n_params < 1:
        raise ValueError(f"n_params must be >= 1, got {n_params}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    if not 0 <= train_error <= 1:
        raise ValueError(f"train_error must lie in [0, 1], got {train_error}")
    d = float(vc_dim) if vc_dim is not None else max(n_params * math.log(n_params), 1.0)
    if d <= 0:
        raise ValueError(f"vc_dim must be > 0, got {d}")
    log_growth = d * (math.log(2 * n / d) + 1.0) if 2 * n > d else 2 * n * math.log(2.0)
    return float(train_error + math.sqrt((log_growth + math.log(4.0 / delta)) / n))


# ----------------------------------------------------------------------------------------------
# Gaussians and Bayesian linear regression (spec E1)
# ----------------------------------------------------------------------------------------------
def _cho(S: np.ndarray, name: str):
    try:
        return linalg.cho_factor(S, lower=True, check_finite=True)
    except linalg.LinAlgError as e:
        raise ValueError(f"{name} must be symmetric positive definite") from e


def gaussian_kl(mu_q, Sigma_q, mu_p, Sigma_p):
    r""":math:`\mathrm{KL}(\mathcal N(\mu_q,\Sigma_q)\,\|\,\mathcal N(\mu_p,\Sigma_p))` in nats.

    .. math::
        \tfrac12\Big[\operatorname{tr}(\Sigma_p^{-1}\Sigma_q)
        + (\mu_p-\mu_q)^\top\Sigma_p^{-1}(\mu_p-\mu_q) - k + \log|\Sigma_p| - \log|\Sigma_q|\Big],

    the formula used in the proof of Prop. 4.2.2 (with :math:`\Sigma_p = \sigma_0^2 I`). Computed
    with Cholesky factors and triangular solves (no explicit inverses, no determinants).

    ``Sigma_q`` and ``Sigma_p`` are (k, k) (a scalar is accepted when k = 1). ``mu_q`` and ``mu_p``
    have shape (..., k) and broadcast, so many means sharing the two covariances (e.g. posteriors
    of many datasets) are done at once; the result has the broadcast batch shape.
    """
    Sq = np.atleast_2d(np.asarray(Sigma_q, dtype=float))
    Sp = np.atleast_2d(np.asarray(Sigma_p, dtype=float))
    k = Sp.shape[0]
    if Sq.shape != (k, k) or Sp.shape != (k, k):
        raise ValueError(f"covariances must be square and of equal size, got {Sq.shape} and {Sp.shape}")
    mu_q = np.asarray(mu_q, dtype=float)
    mu_p = np.asarray(mu_p, dtype=float)
    if k == 1:
        mu_q, mu_p = np.atleast_1d(mu_q), np.atleast_1d(mu_p)
    if mu_q.shape[-1] != k or mu_p.shape[-1] != k:
        raise ValueError(f"means must have last dimension {k}, got {mu_q.shape} and {mu_p.shape}")
    Lp = _cho(Sp, "Sigma_p")[0]
    Lq = _cho(Sq, "Sigma_q")[0]
    Lp = np.tril(Lp)
    Lq = np.tril(Lq)
    # tr(Sp^-1 Sq) = ||Lp^-1 Lq||_F^2 ; log|S| = 2 sum log diag L
    A = linalg.solve_triangular(Lp, Lq, lower=True)
    trace = float(np.sum(A * A))
    logdet_p = 2.0 * float(np.sum(np.log(np.diag(Lp))))
    logdet_q = 2.0 * float(np.sum(np.log(np.diag(Lq))))
    diff = np.broadcast_to(mu_p - mu_q, np.broadcast_shapes(mu_q.shape, mu_p.shape))
    z = linalg.solve_triangular(Lp, diff.reshape(-1, k).T, lower=True)  # (k, batch)
    maha = np.sum(z * z, axis=0).reshape(diff.shape[:-1])
    return _out(0.5 * (trace + maha - k + logdet_p - logdet_q))


def _check_linear(X, sigma, sigma0):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, d), got shape {X.shape}")
    if not (sigma > 0 and sigma0 > 0):
        raise ValueError(f"sigma and sigma0 must be > 0, got {sigma}, {sigma0}")
    return X


def bayes_linear_posterior(X, y, sigma, sigma0):
    r"""Exact posterior of Bayesian linear regression (spec E1), :math:`\mathcal N(\mu_N, \Sigma_N)`.

    Model :math:`y = Xw + \varepsilon`, :math:`\varepsilon\sim\mathcal N(0,\sigma^2 I)`, prior
    :math:`w\sim\mathcal N(0,\sigma_0^2 I)`:

    .. math::
        \Sigma_N^{-1} = \frac{X^\top X}{\sigma^2} + \frac{I}{\sigma_0^2}, \qquad
        \mu_N = \Sigma_N \frac{X^\top y}{\sigma^2}.

    This is Prop. 4.2.2's optimal Gaussian with :math:`F = X^\top X/\sigma^2` and the **corrected**
    constant :math:`\sigma_0^{-2}` (spec §6 erratum 3; the thesis prints :math:`1/(2\sigma_0^2)`).
    :math:`\Sigma_N` is the inverse Hessian of the negative log posterior and does not depend on y.

    ``X`` is (n, d); ``y`` is (n,) for one dataset or (n, m) for m datasets sharing X, giving
    ``mu_N`` of shape (d,) or (m, d). Returns ``(mu_N, Sigma_N)``.
    """
    X = _check_linear(X, sigma, sigma0)
    y = np.asarray(y, dtype=float)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have {X.shape[0]} rows, got shape {y.shape}")
    d = X.shape[1]
    precision = X.T @ X / sigma**2 + np.eye(d) / sigma0**2
    cf = _cho(precision, "the posterior precision")
    Sigma = linalg.cho_solve(cf, np.eye(d))
    Sigma = 0.5 * (Sigma + Sigma.T)
    mu = linalg.cho_solve(cf, X.T @ y / sigma**2)
    return (mu.T if y.ndim == 2 else mu), Sigma


def bayes_linear_information(X, sigma, sigma0):
    r"""Exact :math:`I(w;D)` for Bayesian linear regression (spec E1), nats.

    .. math:: I(w;D) = \tfrac12\log\det\Big(I_d + \frac{\sigma_0^2}{\sigma^2} X^\top X\Big)

    (X fixed, y random). By Prop. 4.2.1 with the adapted prior, which for the exact posterior is
    the prior itself, it equals :math:`\mathbb{E}_y\,\mathrm{KL}(p(w|D)\,\|\,p(w))`. By Sylvester's
    identity it also equals :math:`\tfrac12\log\det(I_n + \sigma_0^2 XX^\top/\sigma^2)
    = h(y) - h(y|w)`; the smaller of the two matrices is used.
    """
    X = _check_linear(X, sigma, sigma0)
    n, d = X.shape
    r = sigma0**2 / sigma**2
    G = np.eye(d) + r * (X.T @ X) if d <= n else np.eye(n) + r * (X @ X.T)
    sign, logdet = np.linalg.slogdet(G)
    return float(0.5 * logdet)


# ----------------------------------------------------------------------------------------------
# Random labels: the lookup table (spec E4)
# ----------------------------------------------------------------------------------------------
def lookup_table_structure(n, n_labels, beta, c=None) -> dict:
    r"""Exact structure function and weight Lagrangian of a lookup table on random labels (E4).

    A table that memorises k of the N uniformly random labels (|Y| = ``n_labels`` classes) has
    summed cross-entropy :math:`\mathbb{E}L_D = (N-k)\log|Y|` and information in the weights
    :math:`\mathrm{IIW} = k\,c`, where c is the cost in nats of one memorised label
    (default :math:`c = \log|Y|`, the Shannon cost: a random label carries exactly
    :math:`\log|Y|` nats). With partial memorisation (narrowing a label to a subset of classes
    costs exactly what it saves) the structure function (4.1) is the straight line

    .. math:: S(t) = N\log|Y| - \frac{\log|Y|}{c}\,t,\qquad 0\le t\le N c

    (:math:`S(t) = N\log|Y| - t` for the default c). The Lagrangian (4.3)/(4.4) is

    .. math:: C_\beta(k) = (N-k)\log|Y| + \beta k c = N\log|Y| + k(\beta c - \log|Y|),

    linear in k, so the minimiser is :math:`k^* = N` for :math:`\beta < \beta^*` and
    :math:`k^* = 0` for :math:`\beta > \beta^*`, with :math:`\beta^* = \log|Y|/c` (= 1 for the
    default c, whatever N: §4.6). At :math:`\beta = \beta^*` every k ties; k* = 0 is returned.

    Returns a dict with ``k_star``, ``beta_star``, ``loss`` (:math:`(N-k^*)\log|Y|`, summed nats),
    ``iiw`` (:math:`k^* c`, nats), ``lagrangian`` (:math:`C_\beta(k^*)`) and ``cost_per_label`` c.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    if int(n_labels) != n_labels or n_labels < 2:
        raise ValueError(f"n_labels must be an integer >= 2, got {n_labels}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    log_y = math.log(n_labels)
    c = log_y if c is None else float(c)
    if c <= 0:
        raise ValueError(f"c (nats per memorised label) must be > 0, got {c}")
    n = int(n)
    beta_star = log_y / c
    k_star = n if beta < beta_star else 0
    loss = (n - k_star) * log_y
    iiw = k_star * c
    return {
        "k_star": k_star,
        "beta_star": beta_star,
        "loss": loss,
        "iiw": iiw,
        "lagrangian": loss + beta * iiw,
        "cost_per_label": c,
    }


# ----------------------------------------------------------------------------------------------
# Prop 4.2.2: the optimal Gaussian posterior around a point estimate (spec E1, E2)
# ----------------------------------------------------------------------------------------------
def _check_curvature(w0, H, sigma0, beta):
    w0 = np.atleast_1d(np.asarray(w0, dtype=float))
    H = np.atleast_2d(np.asarray(H, dtype=float))
    k = w0.shape[-1]
    if w0.ndim != 1 or H.shape != (k, k):
        raise ValueError(f"w0 must be (k,) and H (k, k), got {w0.shape} and {H.shape}")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(H).max()))):
        raise ValueError("H must be symmetric")
    if not (sigma0 > 0 and beta > 0):
        raise ValueError(f"sigma0 and beta must be > 0, got {sigma0}, {beta}")
    return w0, 0.5 * (H + H.T), k


def quadratic_coding_cost(w0, Sigma, H, sigma0, beta=1.0, loss0=0.0):
    r"""Coding cost (4.3) of :math:`q = \mathcal N(w_0, \Sigma)` under the expansion of Prop. 4.2.2.

    .. math::
        C_\beta = L_D(w_0) + \tfrac12\operatorname{tr}(\Sigma H)
                  + \beta\,\mathrm{KL}\big(\mathcal N(w_0,\Sigma)\,\|\,\mathcal N(0,\sigma_0^2 I)\big),

    with :math:`\mathbb{E}_{w\sim q} L_D(w) = L_D(w_0) + \tfrac12\operatorname{tr}(\Sigma H)`: exact
    for a quadratic :math:`L_D` with Hessian H at *any* w₀ (the gradient term has zero mean under q),
    a second-order approximation otherwise. (The thesis's proof drops the ½, spec §6 erratum 3.)
    ``loss0`` is :math:`L_D(w_0)` (summed nats). β = 1 is the bits-back code length / negative ELBO.
    """
    w0, H, k = _check_curvature(w0, H, sigma0, beta)
    Sigma = np.atleast_2d(np.asarray(Sigma, dtype=float))
    if Sigma.shape != (k, k):
        raise ValueError(f"Sigma must be ({k}, {k}), got {Sigma.shape}")
    kl = gaussian_kl(w0, Sigma, np.zeros(k), sigma0**2 * np.eye(k))
    return float(loss0 + 0.5 * np.sum(Sigma * H) + beta * kl)


def optimal_gaussian_posterior(w0, H, sigma0, beta=1.0):
    r"""Prop. 4.2.2, corrected: the best :math:`\Sigma` for :math:`q=\mathcal N(w_0,\Sigma)` and its IIW.

    Minimising :func:`quadratic_coding_cost` over Σ, i.e.
    :math:`\tfrac12\operatorname{tr}(\Sigma H) + \tfrac\beta2[\sigma_0^{-2}\operatorname{tr}\Sigma
    - \log|\Sigma|] + \text{const}`, gives

    .. math:: \Sigma^* = \big(H/\beta + \sigma_0^{-2} I\big)^{-1}

    (the thesis prints :math:`(F + I/(2\sigma_0^2))^{-1}` for β = 1: spec §6 erratum 3). With a
    summed loss of per-sample Fisher F at a minimum, H = N F. As :math:`\sigma_0\to\infty`,
    :math:`\Sigma^*\to\beta H^{-1}` and :math:`\mathrm{KL}\to\tfrac12\log|H/\beta| + c(\sigma_0)`,
    :math:`c(\sigma_0) = k\log\sigma_0 - k/2` (when H is non-singular).

    ``H`` must make :math:`H/\beta + \sigma_0^{-2} I` positive definite (H positive semi-definite at
    a minimum). Returns ``(Sigma, kl)`` with ``kl`` = KL(N(w₀, Σ*) ‖ N(0, σ₀² I)) in nats.
    """
    w0, H, k = _check_curvature(w0, H, sigma0, beta)
    precision = H / beta + np.eye(k) / sigma0**2
    cf = _cho(precision, "H / beta + I / sigma0^2")
    Sigma = linalg.cho_solve(cf, np.eye(k))
    Sigma = 0.5 * (Sigma + Sigma.T)
    kl = gaussian_kl(w0, Sigma, np.zeros(k), sigma0**2 * np.eye(k))
    return Sigma, float(kl)


# ----------------------------------------------------------------------------------------------
# Binary logistic regression: Fisher = Hessian (spec E2)
# ----------------------------------------------------------------------------------------------
def _check_logistic(X, w):
    X = np.asarray(X, dtype=float)
    w = np.asarray(w, dtype=float)
    if X.ndim != 2 or w.shape != (X.shape[1],):
        raise ValueError(f"X must be (n, d) and w (d,), got {X.shape} and {w.shape}")
    return X, w


def logistic_fisher(X, w):
    r"""Fisher information of binary logistic regression, summed over the N rows of X.

    Model :math:`p_w(y=1|x) = \sigma(w\cdot x)` (put a column of ones in X for a bias):

    .. math:: F(w) = \sum_i p_i(1-p_i)\,x_i x_i^\top,\qquad p_i = \sigma(w\cdot x_i).

    It equals the Hessian of the summed cross-entropy :math:`L_D(w)` at **every** w, whatever the
    labels (the logit is linear in w, so the residual term :math:`\sum_i (p_i - y_i)\nabla^2 z_i`
    vanishes): the identity Prop. 4.2.2 uses, here exact. Returns a (d, d) array.
    """
    X, w = _check_logistic(X, w)
    z = X @ w
    v = np.exp(-np.logaddexp(0.0, z) - np.logaddexp(0.0, -z))  # p(1-p), stable for large |z|
    return (X * v[:, None]).T @ X


def logistic_map(X, y, l2, tol=1e-8, max_iter=100):
    r"""The minimiser of :math:`L_D(w) + \tfrac{\lambda}{2}\|w\|^2` for binary logistic regression.

    :math:`L_D` is the summed cross-entropy with labels ``y`` in {0, 1}; :math:`\lambda` = ``l2``
    > 0 is weight decay, i.e. the MAP estimate under the prior :math:`\mathcal N(0, \lambda^{-1} I)`
    (:math:`\sigma_0^2 = 1/\lambda`). The objective is strictly convex; Newton's method with the exact
    Hessian :func:`logistic_fisher` + λI and a backtracking line search runs until the gradient's
    largest entry is below ``tol`` or the Newton decrement reaches rounding level. Returns w (d,).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must contain 0/1 labels")
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0 (the unregularised minimum may be at infinity), got {l2}")
    d = X.shape[1]

    def objective(w):
        z = X @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w)

    w = np.zeros(d)
    f = objective(w)
    for _ in range(max_iter):
        z = X @ w
        p = np.exp(-np.logaddexp(0.0, -z))
        g = X.T @ (p - y) + l2 * w
        if np.abs(g).max() < tol:
            return w
        H = logistic_fisher(X, w) + l2 * np.eye(d)
        step = linalg.cho_solve(_cho(H, "the Hessian"), g)
        if 0.5 * (g @ step) < 1e-16 * max(1.0, abs(f)):  # Newton decrement at rounding level
            return w
        t = 1.0
        while True:
            w_new = w - t * step
            f_new = objective(w_new)
            if f_new <= f - 1e-4 * t * (g @ step) or t < 1e-10:
                break
            t *= 0.5
        w, f = w_new, f_new
    raise RuntimeError(f"Newton did not converge in {max_iter} steps")


def fisher_matrix(log_probs_fn, theta):
    r"""Exact Fisher information matrix of a small classifier, summed over its inputs (torch).

    ``log_probs_fn(theta)`` returns the (N, C) log-probabilities :math:`\log p_\theta(k|x_i)` of
    the N inputs for the flat parameter vector ``theta`` (P,). With the classes enumerated (no
    sampling),

    .. math:: F(\theta) = \sum_i \sum_k p_\theta(k|x_i)\,
              \nabla_\theta\log p_\theta(k|x_i)\,\nabla_\theta\log p_\theta(k|x_i)^\top,

    i.e. the Gauss–Newton matrix :math:`\sum_i J_i^\top(\operatorname{diag}p_i - p_ip_i^\top)J_i` of
    the logits. It is positive semi-definite everywhere, and equals the expected Hessian of
    :math:`-\log p_\theta(y|x)` over labels drawn from the model; the Hessian of the loss on the
    *given* labels differs by :math:`\sum_i (p_i - e_{y_i})\cdot\nabla^2_\theta z_i`. One Jacobian of
    size N·C·P: for small models only. Returns a (P, P) tensor in ``theta``'s dtype.
    """
    import torch

    theta = theta.detach()
    J = torch.autograd.functional.jacobian(log_probs_fn, theta)  # (N, C, P)
    with torch.no_grad():
        p = log_probs_fn(theta).exp()
    if J.ndim != 3 or J.shape[:2] != p.shape:
        raise ValueError(f"log_probs_fn must return (N, C) log-probabilities, got {tuple(p.shape)}")
    F = torch.einsum("nc,ncp,ncq->pq", p, J, J)
    return 0.5 * (F + F.T)


# ----------------------------------------------------------------------------------------------
# certified Gibbs errors (spec §2, E3)
# ----------------------------------------------------------------------------------------------
def linear_gibbs_error(X, y, mu, Sigma, per_example: bool = False):
    r"""Exact 0–1 error of the Gibbs classifier of a Gaussian posterior over a linear classifier.

    Draw :math:`w\sim\mathcal N(\mu,\Sigma)` for every prediction and predict
    :math:`\hat y = [w\cdot x > 0]` (labels ``y`` in {0, 1}; put a column of ones in X for a bias).
    The margin :math:`(2y-1)\,w\cdot x` is Gaussian with mean :math:`m=(2y-1)\,\mu\cdot x` and variance
    :math:`s^2=x^\top\Sigma x`, so the probability of an error on :math:`x` is :math:`\Phi(-m/s)`
    (:math:`[m\le0]` when s = 0), and the Gibbs error is its mean over the rows — the
    :math:`\mathbb E_{w\sim Q}` of the PAC-Bayes theorems, with no sampling.
    Returns the mean (or the per-example probabilities with ``per_example=True``).
    """
    from scipy.special import ndtr

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    Sigma = np.asarray(Sigma, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or mu.shape != (X.shape[1],) \
            or Sigma.shape != (X.shape[1], X.shape[1]):
        raise ValueError(f"X must be (n, d), y (n,), mu (d,), Sigma (d, d); got {X.shape}, {y.shape}, "
                         f"{mu.shape}, {Sigma.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must contain 0/1 labels")
    m = (2 * y - 1) * (X @ mu)
    s = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, Sigma, X), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(s > 0, ndtr(-m / np.where(s > 0, s, 1.0)), (m <= 0).astype(float))
    return p if per_example else float(p.mean())


def sample_error_bound(err_hat, n_trials, delta):
    r"""Certified upper bound on a Gibbs error estimated by sampling (Langford & Caruana 2002).

    When the Gibbs error :math:`\hat e_Q = \mathbb E_{w\sim Q}\,\hat L(w)` on the training set is
    estimated from ``n_trials`` independent 0–1 outcomes (e.g. m weight samples per example, N·m
    outcomes with independent weights per outcome, as local reparametrisation draws them) with
    mean :math:`\bar e`, the Chernoff bound for independent [0, 1] variables gives, with probability
    at least :math:`1-\delta`,

    .. math:: \hat e_Q \le \mathrm{kl}^{-1}\Big(\bar e,\ \frac{\log(1/\delta)}{n}\Big).

    Pay δ here and the PAC-Bayes bound's δ' separately: the two hold together with probability
    :math:`1-\delta-\delta'`.
    """
    err_hat = _as_float_array(err_hat, "err_hat")
    n = _as_float_array(n_trials, "n_trials")
    if ((err_hat < 0) | (err_hat > 1)).any():
        raise ValueError(f"err_hat must lie in [0, 1], got {err_hat}")
    if (n < 1).any():
        raise ValueError(f"n_trials must be >= 1, got {n}")
    if not 0 < float(np.max(delta)) < 1 or not 0 < float(np.min(delta)) < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    return kl_inverse(err_hat, np.log(1.0 / np.asarray(delta, dtype=float)) / n)


def logistic_laplace_bounds(X, y, sigma0s, scales, delta=0.05, betas=(1.0, 2.0, 4.0, 8.0),
                            X_test=None, y_test=None) -> dict:
    r"""PAC-Bayes certificates for logistic regression with Laplace posteriors (spec §2, E3).

    For every prior width σ₀ of the grid ``sigma0s`` (prior :math:`P=\mathcal N(0,\sigma_0^2 I)`,
    chosen before seeing the data): the MAP :math:`w^*` with weight decay :math:`1/\sigma_0^2`
    (:func:`logistic_map`), and for every ``s`` in ``scales`` the posterior
    :math:`Q=\mathcal N(w^*, s\,\Sigma^*)`, :math:`\Sigma^* = (F(w^*) + \sigma_0^{-2}I)^{-1}` — Prop. 4.2.2
    with the corrected constant (errata) and β = 1, i.e. the Laplace approximation of the posterior;
    s = 1 is Prop. 4.2.2's optimum of the quadratic coding cost, other s trade Gibbs error for KL.
    Per candidate: the exact Gibbs train error (:func:`linear_gibbs_error`), KL(Q‖P)
    (:func:`gaussian_kl`), and the kl-inverse bound with the union bound over the K = |σ₀|·|s|
    candidates; McAllester's (4.5) pays for K·|β| candidates. Test errors (exact Gibbs errors on
    ``X_test``) are reported when given.

    Returns a dict of numpy arrays of shape (|σ₀|, |s|): ``gibbs_train``, ``kl``, ``bound_kl_inverse``
    (each candidate at δ/K), and scalars: ``best`` (σ₀ index, s index), ``bound`` (the certified
    kl-inverse bound, the minimum), ``bound_mcallester`` (best of (4.5) over the grid and ``betas``),
    ``gibbs_test``/``map_test_error`` of the best candidate (None without a test set), ``n``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    s0 = np.atleast_1d(np.asarray(sigma0s, dtype=float))
    sc = np.atleast_1d(np.asarray(scales, dtype=float))
    if (s0 <= 0).any() or (sc <= 0).any():
        raise ValueError("sigma0s and scales must be positive")
    n, d = X.shape
    gibbs = np.zeros((s0.size, sc.size))
    kl = np.zeros_like(gibbs)
    posts = {}
    for i, sig in enumerate(s0):
        w = logistic_map(X, y, 1.0 / sig ** 2)
        S = np.linalg.inv(logistic_fisher(X, w) + np.eye(d) / sig ** 2)
        S = 0.5 * (S + S.T)
        for j, s in enumerate(sc):
            gibbs[i, j] = linear_gibbs_error(X, y, w, s * S)
            kl[i, j] = gaussian_kl(w, s * S, np.zeros(d), sig ** 2 * np.eye(d))
            posts[i, j] = (w, s * S)
    k = gibbs.size
    bounds = np.asarray(kl_inverse_bound(gibbs, kl, n, delta / k)).reshape(gibbs.shape)
    best = np.unravel_index(int(np.argmin(bounds)), bounds.shape)
    mc = union_bound_grid(gibbs.ravel(), kl.ravel(), n, delta, bound="mcallester", betas=list(betas))
    out = dict(gibbs_train=gibbs, kl=kl, bound_kl_inverse=bounds, best=(int(best[0]), int(best[1])),
               bound=float(bounds[best]), bound_mcallester=mc.value, mcallester_beta=mc.beta,
               sigma0=float(s0[best[0]]), scale=float(sc[best[1]]), n=int(n), n_candidates=int(k),
               gibbs_test=None, map_test_error=None)
    if X_test is not None:
        w, S = posts[best]
        Xt = np.asarray(X_test, dtype=float)
        yt = np.asarray(y_test, dtype=float)
        out["gibbs_test"] = linear_gibbs_error(Xt, yt, w, S)
        out["map_test_error"] = float(np.mean((Xt @ w > 0) != (yt > 0.5)))
    return out
