"""The information bottleneck (IB), exactly: discrete Blahut–Arimoto, the noisy bit, Gaussian IB.

β convention (read this first)
------------------------------
This module uses the **thesis convention** (eq. 2.1)::

    L = H(y|z) + β I(x;z)          (β multiplies the *compression* term)

Small β = little compression (β → 0⁺ gives minimal sufficient statistics); large β = strong
compression (the trivial, constant ``z`` for β large enough). Tishby, Pereira & Bialek (1999)
and most of the IB literature minimize ``I(X;T) - β_T I(T;Y)`` instead: the two are the same
problem with ``β_T = 1/β``. The slides' Blahut–Arimoto step ``exp(-d/β)`` is in the thesis
convention. Information is in nats, except for the noisy-bit toy (bits).

Contents
--------
* :func:`blahut_arimoto` — one β, returns an :class:`IBResult`.
* :func:`information_curve` — the best solution at each β of a grid (annealing, random
  restarts and continuation in both directions), returns an :class:`IBCurve` with the phase
  transitions.
* :func:`effective_clusters`, :func:`critical_beta` (local stability of the trivial solution),
  :func:`ib_origin_slope` (its global optimality), :func:`ib_lagrangian`.
* Noisy bit (spec T2): :func:`binary_entropy`, :func:`noisy_bit_lagrangian`,
  :func:`noisy_bit_optimum`.
* Gaussian IB (Chechik, Globerson, Tishby & Weiss, *Information Bottleneck for Gaussian
  Variables*, JMLR 6, 2005; spec T6): :func:`gaussian_ib_spectrum`,
  :func:`gaussian_ib_curve`, :func:`gaussian_ib_encoder`, :func:`gaussian_ib_information`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .info import validate_distribution

__all__ = [
    "IBResult",
    "IBCurve",
    "blahut_arimoto",
    "information_curve",
    "effective_clusters",
    "critical_beta",
    "ib_origin_slope",
    "ib_lagrangian",
    "binary_entropy",
    "noisy_bit_lagrangian",
    "noisy_bit_optimum",
    "GaussianIBSpectrum",
    "gaussian_ib_spectrum",
    "gaussian_ib_curve",
    "gaussian_ib_encoder",
    "gaussian_ib_information",
]

_LOG_FLOOR = -700.0  # log of "zero" probabilities: exp() underflows to 0, 0 * floor stays 0
_EMPTY = 1e-300  # clusters with p(z) below this are treated as empty


# =============================================================================================
# discrete IB: Blahut–Arimoto
# =============================================================================================


@dataclass
class IBResult:
    """A solution of the discrete IB at one β (thesis convention, nats).

    Attributes: ``encoder[x, z] = p(z|x)``, ``p_z[z]``, ``decoder[z, y] = p(y|z)`` (rows of empty
    clusters are set to ``p(y)``), ``i_xz = I(x;z)``, ``i_zy = I(z;y)``,
    ``lagrangian = H(y|z) + β I(x;z) = H(y) - I(z;y) + β I(x;z)``, ``n_iter``, ``converged``
    and ``history`` (the Lagrangian after each encoder update, or after each SQUAREM cycle with
    ``accelerate=True``; entry 0 is the initial encoder). ``n_iter`` counts BA updates.
    """

    beta: float
    encoder: np.ndarray
    p_z: np.ndarray
    decoder: np.ndarray
    i_xz: float
    i_zy: float
    lagrangian: float
    n_iter: int
    converged: bool
    history: np.ndarray = field(repr=False)


@dataclass
class IBCurve:
    """An information curve (see :func:`information_curve`).

    All arrays are aligned and ordered as annealed: **β decreasing**. ``encoders`` has shape
    ``(len(beta), n_x, n_z)``. ``transitions`` lists the β values (in the annealing order) at
    which the effective number of clusters differs from that at the previous (larger) β;
    ``transition_clusters`` gives the ``(before, after)`` counts. ``converged[k]`` tells whether
    Blahut–Arimoto met its tolerance at ``beta[k]``.
    """

    beta: np.ndarray
    i_xz: np.ndarray
    i_zy: np.ndarray
    lagrangian: np.ndarray
    n_clusters: np.ndarray
    encoders: np.ndarray = field(repr=False)
    transitions: np.ndarray
    transition_clusters: list
    i_xy: float
    h_x: float
    h_y: float
    converged: np.ndarray | None = field(default=None, repr=False)


def _prepare(p_xy) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the joint; drop x with p(x)=0. Returns p_xy, p_x, p(y|x), keep mask."""
    a = validate_distribution(p_xy, "p_xy", ndim=2)
    p_x = a.sum(axis=1)
    keep = p_x > 0
    a = a[keep]
    p_x = p_x[keep]
    return a, p_x, a / p_x[:, None], keep


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * log(y) with 0 log 0 = 0 (elementwise, broadcasting)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where(x > 0, out, 0.0)


class _Problem:
    """Precomputed quantities of a discrete joint, and the batched BA map.

    Encoders are batched: ``enc`` has shape ``(B, n_x, n_z)``; ``inv_beta`` has shape
    ``(B, 1, 1)``. Logarithms of zero are floored at ``_LOG_FLOOR`` so that ``0 * log 0 = 0``
    and no NaN appears; clusters with ``p(z) <= _EMPTY`` get exactly zero mass at the next step.
    """

    def __init__(self, p_xy):
        self.p_xy, self.p_x, self.p_ygx, self.keep = _prepare(p_xy)
        self.n_x, self.n_y = self.p_xy.shape
        self.p_xy_t = np.ascontiguousarray(self.p_xy.T)
        self.p_x_row = self.p_x[None, :]
        self.p_y = self.p_xy.sum(axis=0)
        self.log_p_y = np.maximum(np.log(np.maximum(self.p_y, _EMPTY)), _LOG_FLOOR)
        # sum_y p(y|x) log p(y|x) = -H(y | x=x), as a (1, n_x, 1) column
        self.neg_h_ygx = _xlogy(self.p_ygx, self.p_ygx).sum(axis=1)[None, :, None]
        self.h_y = float(-_xlogy(self.p_y, self.p_y).sum())
        self.h_x = float(-_xlogy(self.p_x, self.p_x).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.p_xy / (self.p_x[:, None] * self.p_y[None, :])
        self.i_xy = float(_xlogy(self.p_xy, ratio).sum())

    def marginals(self, enc: np.ndarray):
        """``p(z)`` (B,1,n_z), ``p(y,z)`` (B,n_y,n_z), ``log p(z)`` and ``log p(y|z)`` (floored).

        ``p(y|z) = sum_x p(y|x) p(x|z)`` (the corrected sum over x). Empty clusters get the
        decoder ``p(y)``.
        """
        p_z = np.matmul(self.p_x_row, enc)
        p_yz = np.matmul(self.p_xy_t, enc)
        log_pz = np.log(np.maximum(p_z, _EMPTY))
        log_dec = np.log(np.maximum(p_yz, _EMPTY))
        log_dec -= log_pz
        if p_z.min() <= _EMPTY:
            log_dec = np.where(p_z <= _EMPTY, self.log_p_y[:, None], log_dec)
        return p_z, p_yz, log_pz, log_dec

    def update(self, marg, inv_beta, want_log=False):
        """``p(z|x) ∝ p(z) exp(-KL(p(y|x) || p(y|z)) / β)``, normalized in the log domain.

        ``-KL = sum_y p(y|x) log p(y|z) - sum_y p(y|x) log p(y|x) <= 0``, so the logits are
        ``<= log p(z) <= 0`` and cannot overflow; if a whole row underflows, it is recomputed
        with the row maximum subtracted. Returns the encoder (and its floored log if asked).
        """
        p_z, _, log_pz, log_dec = marg
        logits = np.matmul(self.p_ygx, log_dec * inv_beta)
        logits -= self.neg_h_ygx * inv_beta
        if p_z.min() <= _EMPTY:
            logits += np.where(p_z > _EMPTY, log_pz, -np.inf)
        else:
            logits += log_pz
        enc = np.exp(logits)
        s = enc.sum(axis=2, keepdims=True)
        if s.min() < 1e-250:
            logits -= logits.max(axis=2, keepdims=True)
            enc = np.exp(logits)
            s = enc.sum(axis=2, keepdims=True)
        enc /= s
        if not want_log:
            return enc, None
        logits -= np.log(s)
        return enc, np.maximum(logits, _LOG_FLOOR)

    def informations(self, enc, log_enc, marg):
        """``I(x;z)`` and ``I(z;y)`` (nats), one per batch element."""
        p_z, p_yz, log_pz, log_dec = marg
        p_z2 = p_z[:, 0, :]
        i_xz = (np.einsum("x,bxz->b", self.p_x, enc * log_enc)
                - np.sum(p_z2 * np.maximum(log_pz[:, 0, :], _LOG_FLOOR), axis=1))
        i_zy = np.sum(p_yz * (log_dec - self.log_p_y[None, :, None]), axis=(1, 2))
        return np.maximum(i_xz, 0.0), np.maximum(i_zy, 0.0)

    def lagrangian(self, enc, log_enc, marg, betas):
        i_xz, i_zy = self.informations(enc, log_enc, marg)
        return self.h_y - i_zy + betas * i_xz

    def run(self, enc, betas, iters, tol, track=False, accelerate=False):
        """Iterate until ``max |Δ p(z|x)| < tol`` for the whole batch, or ``iters`` BA updates.

        With ``accelerate``, SQUAREM (Varadhan & Roland 2008) extrapolation in the log-encoder
        domain: two BA updates, one extrapolated point, one stabilizing BA update; the
        extrapolated result is kept only where it does not increase the Lagrangian, so the
        recorded Lagrangian stays non-increasing. Returns
        ``(enc, log_enc, marg, n_updates, converged, history)``.
        """
        betas = np.asarray(betas, dtype=np.float64)
        inv_beta = (1.0 / betas)[:, None, None]
        log_enc = np.maximum(np.log(np.maximum(enc, 1e-320)), _LOG_FLOOR)
        marg = self.marginals(enc)
        history = [self.lagrangian(enc, log_enc, marg, betas)] if track else None
        n = 0
        converged = False
        need_log = track or accelerate
        while n < iters:
            e1, l1 = self.update(marg, inv_beta, need_log)
            m1 = self.marginals(e1)
            n += 1
            if not accelerate or n >= iters:
                delta = np.max(np.abs(e1 - enc))
                enc, log_enc, marg = e1, l1, m1
                if track:
                    history.append(self.lagrangian(enc, log_enc, marg, betas))
                if delta < tol:
                    converged = True
                    break
                continue
            e2, l2 = self.update(m1, inv_beta, True)
            m2 = self.marginals(e2)
            n += 1
            if np.max(np.abs(e2 - e1)) < tol:
                enc, log_enc, marg = e2, l2, m2
                converged = True
                if track:
                    history.append(self.lagrangian(enc, log_enc, marg, betas))
                break
            r = l1 - log_enc
            v = l2 - 2.0 * l1 + log_enc
            nr = np.sqrt(np.sum(r * r, axis=(1, 2)))
            nv = np.sqrt(np.sum(v * v, axis=(1, 2)))
            alpha = np.where(nv > 0, -nr / np.where(nv > 0, nv, 1.0), -1.0)
            alpha = np.minimum(alpha, -1.0)[:, None, None]
            theta = log_enc - 2.0 * alpha * r + alpha * alpha * v
            theta -= theta.max(axis=2, keepdims=True)
            ex = np.exp(theta)
            ex /= ex.sum(axis=2, keepdims=True)
            e3, l3 = self.update(self.marginals(ex), inv_beta, True)
            m3 = self.marginals(e3)
            n += 1
            lag2 = self.lagrangian(e2, l2, m2, betas)
            lag3 = self.lagrangian(e3, l3, m3, betas)
            ok = lag3 <= lag2
            if ok.all():
                enc, log_enc, marg = e3, l3, m3
            elif not ok.any():
                enc, log_enc, marg = e2, l2, m2
            else:
                sel = ok[:, None, None]
                enc = np.where(sel, e3, e2)
                log_enc = np.where(sel, l3, l2)
                marg = tuple(np.where(sel, a3, a2) for a3, a2 in zip(m3, m2))
            if track:
                history.append(np.minimum(lag3, lag2))
        if log_enc is None:
            log_enc = np.maximum(np.log(np.maximum(enc, 1e-320)), _LOG_FLOOR)
        return enc, log_enc, marg, n, converged, history


def _random_encoders(rng: np.random.Generator, b: int, n_x: int, n_z: int) -> np.ndarray:
    enc = rng.random((b, n_x, n_z)) + 1e-3
    return enc / enc.sum(axis=2, keepdims=True)


def _check_beta(beta) -> float:
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive finite number (thesis convention), got {beta}")
    return beta


def blahut_arimoto(p_xy, beta: float, n_z: int | None = None, iters: int = 5000, tol: float = 1e-9,
                   seed: int | None = 0, init: np.ndarray | None = None,
                   accelerate: bool = False) -> IBResult:
    """Minimize the IB Lagrangian ``L = H(y|z) + β I(x;z)`` (eq. 2.1) by Blahut–Arimoto.

    The iteration (Tishby et al. 1999, written in the thesis convention; the decoder sums over
    ``x``, errata Ch. 1 #4)::

        p(z|x)  ∝ p(z) exp(-KL(p(y|x) || p(y|z)) / β)
        p(z)    = sum_x p(x) p(z|x)
        p(y|z)  = sum_x p(y|x) p(x|z),   p(x|z) = p(z|x) p(x) / p(z)

    It is alternating minimization of ``β E_x KL(p(z|x)||q(z)) + E KL(p(y|x)||q(y|z))``, which
    equals ``L - H(y|x)`` at self-consistent ``q``; hence ``L`` (recorded in ``history``) is
    non-increasing. The normalization is done in the log domain, and empty clusters
    (``p(z) = 0``) stay empty without producing NaNs. It converges to a *local* optimum; see
    :func:`information_curve` for annealing and restarts.

    Parameters
    ----------
    p_xy: joint ``p(x, y)``, x on axis 0. Rows with ``p(x) = 0`` are dropped (their encoder rows
        in the result are uniform).
    beta: β > 0, thesis convention (Tishby's ``β_T = 1/β``).
    n_z: number of clusters, default ``|X|``.
    iters, tol: stop after ``iters`` updates or when ``max |Δ p(z|x)| < tol``.
    seed: seed of the random initial encoder (ignored when ``init`` is given).
    init: an initial encoder ``(n_x, n_z)`` (rows are renormalized).
    accelerate: SQUAREM extrapolation (Varadhan & Roland 2008) in the log-encoder domain,
        safeguarded so that ``L`` still never increases. Same fixed points, often 10–100× fewer
        updates near a phase transition, where plain BA slows down critically.
    """
    beta = _check_beta(beta)
    prob = _Problem(p_xy)
    n_x_full = prob.keep.size
    if init is not None:
        enc0 = np.array(init, dtype=np.float64)
        if enc0.ndim != 2 or enc0.shape[0] != n_x_full:
            raise ValueError(f"init must have shape ({n_x_full}, n_z), got {enc0.shape}")
        if n_z is not None and enc0.shape[1] != n_z:
            raise ValueError(f"init has {enc0.shape[1]} clusters but n_z={n_z}")
        if np.any(enc0 < 0) or np.any(enc0.sum(axis=1) <= 0):
            raise ValueError("init must be non-negative with positive row sums")
        enc0 = enc0[prob.keep]
        enc0 = (enc0 / enc0.sum(axis=1, keepdims=True))[None]
        n_z = enc0.shape[2]
    else:
        n_z = int(n_z) if n_z is not None else n_x_full
        if n_z < 1:
            raise ValueError("n_z must be >= 1")
        enc0 = _random_encoders(np.random.default_rng(seed), 1, prob.n_x, n_z)
    betas = np.array([beta])
    enc, log_enc, marg, n_iter, conv, hist = prob.run(enc0, betas, int(iters), float(tol), track=True,
                                                       accelerate=accelerate)
    i_xz, i_zy = prob.informations(enc, log_enc, marg)
    return IBResult(
        beta=beta,
        encoder=_expand(enc[0], prob.keep),
        p_z=marg[0][0, 0].copy(),
        decoder=_decoder(prob, marg, 0),
        i_xz=float(i_xz[0]),
        i_zy=float(i_zy[0]),
        lagrangian=float(prob.h_y - i_zy[0] + beta * i_xz[0]),
        n_iter=n_iter,
        converged=conv,
        history=np.array([h[0] for h in hist]),
    )


def _decoder(prob: _Problem, marg, b: int) -> np.ndarray:
    """``p(y|z)`` as an ``(n_z, n_y)`` array for batch element ``b`` (empty clusters: ``p(y)``)."""
    p_z = marg[0][b, 0]
    p_yz = marg[1][b]
    empty = p_z <= _EMPTY
    dec = (p_yz / np.where(empty, 1.0, p_z)).T
    dec[empty] = prob.p_y
    return dec / dec.sum(axis=1, keepdims=True)


def _expand(enc: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Put back the rows of x with p(x)=0 (uniform encoder rows)."""
    if keep.all():
        return enc
    out = np.full((keep.size,) + enc.shape[-1:], 1.0 / enc.shape[-1])
    out[keep] = enc
    return out


def ib_lagrangian(p_xy, encoder, beta: float) -> float:
    """``L = H(y|z) + β I(x;z)`` (nats) of the encoder ``p(z|x)`` with self-consistent marginals."""
    beta = _check_beta(beta)
    prob = _Problem(p_xy)
    enc = np.asarray(encoder, dtype=np.float64)[prob.keep]
    enc = (enc / enc.sum(axis=1, keepdims=True))[None]
    log_enc = np.maximum(np.log(np.maximum(enc, 1e-320)), _LOG_FLOOR)
    return float(prob.lagrangian(enc, log_enc, prob.marginals(enc), np.array([beta]))[0])


def _count_clusters(p_z: np.ndarray, decoder: np.ndarray, tol: float, min_mass: float) -> int:
    """Greedy count of distinct decoder rows (max-abs distance <= tol) among heavy clusters."""
    rows = decoder[p_z > min_mass]
    if rows.shape[0] <= 1:
        return 1
    close = np.max(np.abs(rows[:, None, :] - rows[None, :, :]), axis=2) <= tol
    assigned = np.zeros(rows.shape[0], dtype=bool)
    count = 0
    for i in range(rows.shape[0]):
        if not assigned[i]:
            count += 1
            assigned |= close[i]
    return count


def effective_clusters(result, tol: float = 1e-3, min_mass: float = 1e-6) -> int:
    """Number of distinct decoder rows ``p(y|z)`` among clusters with ``p(z) > min_mass``.

    Rows closer than ``tol`` (max-abs difference) count as one. ``result`` is anything with
    ``p_z`` and ``decoder`` attributes (an :class:`IBResult`). The count depends on ``n_z``;
    compare solutions by their Lagrangian, never by their cluster count.
    """
    return _count_clusters(np.asarray(result.p_z), np.asarray(result.decoder), tol, min_mass)


def _merge_and_split(prob: _Problem, enc: np.ndarray, n_z: int, eta: float,
                     rng: np.random.Generator, merge_tol: float) -> np.ndarray:
    """Deterministic-annealing move between two β values.

    Columns of ``enc`` (``n_x × m``) with (numerically) the same decoder are merged, which does
    not change the Lagrangian; then the heaviest clusters are each split into two copies,
    ``p(z|x)(½ ± η u_x)`` with ``u_x ~ U(-1, 1)``, as long as the total stays ``<= n_z``. A copy
    pair re-merges under BA if the cluster is stable at the new β, and separates otherwise.
    Returns the new (compact) encoder.
    """
    p_z = prob.p_x @ enc
    alive = p_z > 1e-12
    enc, p_z = enc[:, alive], p_z[alive]
    dec = (prob.p_xy_t @ enc) / p_z
    keys = np.round(dec.T / merge_tol).astype(np.int64)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    n_groups = int(group.max()) + 1
    onehot = np.zeros((enc.shape[1], n_groups))
    onehot[np.arange(enc.shape[1]), group] = 1.0
    merged = enc @ onehot
    merged = merged[:, np.argsort(-(prob.p_x @ merged))]
    k = merged.shape[1]
    n_split = min(k, n_z - k)
    if n_split > 0 and eta > 0:
        u = rng.uniform(-1.0, 1.0, size=(merged.shape[0], n_split))
        parent = merged[:, :n_split]
        merged = np.concatenate([merged, parent * (0.5 - eta * u)], axis=1)
        merged[:, :n_split] = parent * (0.5 + eta * u)
    return merged


def _pad(enc: np.ndarray, n_z: int) -> np.ndarray:
    if enc.shape[-1] == n_z:
        return enc
    out = np.zeros(enc.shape[:-1] + (n_z,))
    out[..., : enc.shape[-1]] = enc
    return out


_CAND_ITERS = 200  # BA updates of a candidate start before the kept solutions are polished
_SCREEN = 30  # a candidate not below the kept L after about this many updates is abandoned
_PROPAGATE = 1e-7  # improvements (nats) larger than this are passed on to the neighbours


def _width_bucket(w) -> np.ndarray:
    """Round encoder widths up so that a batch mixes few sizes (at most ~25% padding)."""
    w = np.asarray(w)
    step = 2 ** np.maximum(np.floor(np.log2(np.maximum(w, 1))).astype(int) - 2, 0)
    return np.where(w <= 8, w, -(-w // step) * step)


def _solve(prob: _Problem, starts: list, betas: np.ndarray, iters: int, tol: float,
           accelerate: bool, target: np.ndarray | None = None, screen: int = 0):
    """Run BA from each start (``n_x × w_i`` encoders, any widths) at its own β.

    The starts are grouped by (bucketed) width, padded with empty clusters (which stay exactly
    empty), and run as vectorised batches. Each element stops on its own: after chunks of 10,
    20, 40, then 80 updates, one plain BA update measures ``max |Δ p(z|x)|`` per element, and
    the elements below ``tol`` (or past ``iters`` updates) leave the batch. With ``target``, an
    element whose Lagrangian is still ``>= target`` after ``screen`` updates is abandoned
    (result ``None``, Lagrangian ``inf``). Returns the final encoders (exactly empty clusters
    dropped) and arrays of the Lagrangian, ``I(x;z)``, ``I(z;y)`` and the convergence flags.
    """
    n = len(starts)
    betas = np.asarray(betas, dtype=np.float64)
    out = [None] * n
    lag = np.full(n, np.inf)
    i_xz, i_zy = np.zeros(n), np.zeros(n)
    conv = np.zeros(n, dtype=bool)
    buckets = _width_bucket([s.shape[1] for s in starts])
    for w in np.unique(buckets):
        idx = np.nonzero(buckets == w)[0]
        cur = np.stack([_pad(starts[i], int(w)) for i in idx])
        b = betas[idx]
        used, chunk = 0, 10
        while idx.size:
            step = max(min(chunk, iters - used - 1), 0)
            chunk = min(2 * chunk, 80)
            if step:
                cur = prob.run(cur, b, step, tol, accelerate=accelerate)[0]
                used += step
            e1, l1 = prob.update(prob.marginals(cur), (1.0 / b)[:, None, None], True)
            used += 1
            m1 = prob.marginals(e1)
            ix, iy = prob.informations(e1, l1, m1)
            lg = prob.h_y - iy + b * ix
            ok = np.max(np.abs(e1 - cur), axis=(1, 2)) < tol
            done = ok | (used >= iters)
            drop = np.zeros_like(done)
            if target is not None and used >= screen:
                drop = ~done & (lg >= target[idx])
            d = np.nonzero(done)[0]
            for j in d:
                out[idx[j]] = e1[j][:, e1[j].max(axis=0) > 0]
            lag[idx[d]], i_xz[idx[d]], i_zy[idx[d]], conv[idx[d]] = lg[d], ix[d], iy[d], ok[d]
            left = ~(done | drop)
            idx, cur, b = idx[left], e1[left], b[left]
    return out, lag, i_xz, i_zy, conv


def information_curve(p_xy, betas: Sequence[float], n_z: int | None = None, restarts: int = 3,
                      seed: int | None = 0, perturbation: float = 0.003, iters: int = 1000,
                      tol: float = 1e-7, cluster_tol: float = 1e-3, accelerate: bool = True,
                      merge_tol: float = 1e-6, rounds: int = 100) -> IBCurve:
    """The IB curve: at every β of a grid, the best solution found of the IB problem.

    At each β of ``betas`` this minimizes the IB Lagrangian (thesis eq. 2.1, thesis convention)::

        L(p(z|x)) = H(y|z) + β I(x;z)

    over encoders with at most ``n_z`` clusters (default ``|X|``): Blahut–Arimoto (BA) runs from
    several starts, and the solution with the lowest ``L`` is kept. The starts:

    1. *Annealing* (Rose 1998; Slonim & Tishby), from large β to small β: the largest β starts
       from a random encoder; between consecutive β values the previous solution is perturbed
       so that clusters can split: clusters with the same decoder (within ``merge_tol``) are
       merged, then the heaviest clusters are duplicated into two copies
       ``p(z|x)(½ ± η u_x)``, ``η = perturbation``, ``u_x ~ U(-1,1)``, as far as ``n_z``
       allows. Copies of a cluster that is still stable merge back; an unstable one splits.
    2. ``restarts`` random encoders at every β, each with one cluster more than the solution
       kept so far (at most ``n_z``). A restart whose ``L`` is not below the kept one after
       ~30 updates is abandoned.
    3. *Continuation in both directions.* Annealing follows one branch of solutions
       (hysteresis): a discontinuous transition (see :func:`ib_origin_slope`) shows up late,
       and a better branch found at one β is not carried to the others. So every β is also
       started from the solution kept at its smaller neighbour (β increasing; clusters with
       the same decoder merged) and at its larger neighbour (β decreasing; merged and split as
       in 1.), and from the solution ``j`` kept at any β whose line
       ``H_j(y|z) + β I_j(x;z)`` (its Lagrangian at this β, before any BA) is lower than the
       kept ``L`` (a *jump*). A start whose ``L`` is not below the kept one after ~30 updates
       is abandoned. Whenever a point improves by more than ``1e-7`` nats, the next β in the
       same direction (both neighbours, after a jump) is tried again from it; this repeats
       until nothing improves, for at most ``rounds`` rounds.

    Each BA run uses SQUAREM acceleration (unless ``accelerate=False``) and stops when
    ``max |Δ p(z|x)| < tol`` or after ``iters`` updates (candidate starts get at most 200 updates;
    the solutions finally kept get the full ``iters``). ``converged`` tells which kept points met
    ``tol``: right at a transition BA slows down critically and may not, though its ``L`` is
    then still accurate to ~1e-7 nats. Everything but the annealing runs as vectorised batches
    over all the (β, start) pairs at once, each element stopping on its own.

    What is guaranteed: each point is a BA solution, the best of all these starts, and (unless
    ``rounds`` ran out) the returned ``L`` is the lower envelope of the lines of all the returned
    solutions: ``L_k <= H_j(y|z) + β_k I_j(x;z) + 1e-7`` for every ``j``. The IB Lagrangian is
    not convex, so the global optimum is not guaranteed. On random joints (``|X|`` in 4–11,
    ``|Y|`` in 2–4, Dirichlet(½) cells) at β ∈ {0.05, 0.2, 0.5} the curve was never above the
    best of 60 converged random BA runs by more than 2e-7 nats (often below it), and a
    discontinuous first transition appears at the last grid value below the origin slope. The
    cost is about ``2 + restarts`` short BA runs per β, plus the re-runs where points improve:
    a fraction of a second for 200 β on an 8×2 joint, 5–7 s of CPU on a 64×8 joint with
    ``n_z = 64`` (about 7× the annealing alone).

    Returns an :class:`IBCurve` (β decreasing). ``n_clusters`` counts the effective clusters
    (:func:`effective_clusters` with ``cluster_tol``) of the kept solutions, and
    ``transitions`` are the β where that count changes; the first one can be compared with
    :func:`critical_beta` and :func:`ib_origin_slope`. A transition is located only to the grid
    spacing, and on a very fine grid the count can flicker right at a continuous transition.
    """
    prob = _Problem(p_xy)
    b = np.asarray(betas, dtype=np.float64).ravel()
    if b.size == 0:
        raise ValueError("betas is empty")
    if np.any(~np.isfinite(b)) or np.any(b <= 0):
        raise ValueError("betas must be positive and finite")
    b = np.sort(b)[::-1]
    n_z = int(n_z) if n_z is not None else prob.keep.size
    if n_z < 1:
        raise ValueError("n_z must be >= 1")
    restarts, iters, tol = int(restarts), int(iters), float(tol)
    if restarts < 0 or iters < 1:
        raise ValueError("restarts must be >= 0 and iters >= 1")
    rng = np.random.default_rng(seed)
    nb = b.size
    # 1. annealing, from large to small β (sequential; each step only needs to get close)
    anneal = []
    enc = None
    for beta in b:
        if enc is None:
            start = _random_encoders(rng, 1, prob.n_x, n_z)[0]
        else:
            start = _merge_and_split(prob, enc, n_z, perturbation, rng, merge_tol)
        enc = prob.run(start[None], np.array([beta]), min(iters, 200), max(tol, 1e-6),
                       accelerate=accelerate)[0][0]
        anneal.append(enc)
    cand_iters = min(iters, _CAND_ITERS)
    keep_enc, lag, ixz, izy, conv = _solve(prob, anneal, b, cand_iters, tol, accelerate)
    keep = np.stack([lag, ixz, izy, conv], axis=1)  # per β: L, I(x;z), I(z;y), converged

    polished = np.zeros(nb, dtype=bool)  # given the full `iters` already

    def accept(ks, sol, lag, ixz, izy, conv):
        """Keep the candidates that improve; return the mask of those improving > _PROPAGATE."""
        big = np.zeros(len(ks), dtype=bool)
        for c in np.argsort(lag):
            k = ks[c]
            if lag[c] < keep[k, 0] - 1e-12:
                big[c] = lag[c] < keep[k, 0] - _PROPAGATE
                keep_enc[k] = sol[c]
                keep[k] = lag[c], ixz[c], izy[c], conv[c]
                polished[k] = False
        return big

    def polish():
        """Give the full `iters` to the kept solutions not converged yet; False if none."""
        todo = np.nonzero((keep[:, 3] == 0) & ~polished)[0]
        if todo.size:
            sol, lag, ixz, izy, conv = _solve(prob, [keep_enc[k] for k in todo], b[todo], iters,
                                              tol, accelerate)
            for c, k in enumerate(todo):
                keep_enc[k] = sol[c]
            keep[todo] = np.stack([lag, ixz, izy, conv], axis=1)
            polished[todo] = True
        return bool(todo.size)

    # 2. random restarts, all β in one batch
    restarted = np.zeros(nb, dtype=bool)
    if restarts:
        owner = np.repeat(np.arange(nb), restarts)
        starts = [_random_encoders(rng, 1, prob.n_x, min(n_z, keep_enc[k].shape[1] + 1))[0]
                  for k in owner]
        res = _solve(prob, starts, b[owner], cand_iters, tol, accelerate,
                     target=keep[owner, 0] - 1e-12, screen=_SCREEN)
        restarted[owner[accept(owner, *res)]] = True
    # 3. continuation. (k, j, split): start β_k from the solution kept at β_j, its clusters
    # merged and, if `split`, split as in the annealing. Round 1: every β from its smaller
    # neighbour, and from its larger one where that changed in step 2 (the annealing did the
    # others). When nothing is left to try, 4.: converge the kept solutions that are not
    # converged yet (their lines move a little, so the jumps are checked again)
    ks = np.arange(nb - 1)
    down = np.nonzero(restarted[:-1])[0]
    pairs = np.concatenate([np.stack([ks, ks + 1, 0 * ks], 1),
                            np.stack([down + 1, down, 0 * down + 1], 1)])
    for _ in range(max(int(rounds), 0)):
        h = keep[:, 0] - b * keep[:, 1]  # H(y|z) of each kept solution
        line = h[None, :] + b[:, None] * keep[None, :, 1]  # [k, j]: L of solution j at β_k
        jmin = np.argmin(line, axis=1)
        jump = np.nonzero(line[np.arange(nb), jmin] < keep[:, 0] - _PROPAGATE)[0]
        pairs = np.unique(np.concatenate([pairs, np.stack([jump, jmin[jump], 0 * jump], 1)]),
                          axis=0)
        if pairs.size == 0:
            if not polish():
                break
            continue
        pk = pairs[:, 0]
        starts = [_merge_and_split(prob, keep_enc[j], n_z, perturbation * split, rng, merge_tol)
                  for _, j, split in pairs]
        big = accept(pk, *_solve(prob, starts, b[pk], cand_iters, tol, accelerate,
                                 target=keep[pk, 0] - 1e-12, screen=_SCREEN))
        nxt = []  # pass the improvements on: onwards from a neighbour, both ways from a jump
        for k, j, _ in pairs[big]:
            for k2 in ((2 * k - j,) if abs(k - j) == 1 else (k - 1, k + 1)):
                if 0 <= k2 < nb:
                    nxt.append((k2, k, int(b[k] > b[k2])))
        pairs = np.array(nxt, dtype=int).reshape(-1, 3)
    polish()  # (in case `rounds` ran out)
    out_enc = np.empty((nb, prob.keep.size, n_z))
    ncl = np.empty(nb, dtype=int)
    for k in range(nb):
        e = keep_enc[k]
        out_enc[k] = _expand(_pad(e, n_z), prob.keep)
        m = prob.marginals(e[None])
        ncl[k] = _count_clusters(m[0][0, 0], _decoder(prob, m, 0), cluster_tol, 1e-6)
    change = np.nonzero(np.diff(ncl))[0] + 1
    return IBCurve(
        beta=b, i_xz=keep[:, 1].copy(), i_zy=keep[:, 2].copy(), lagrangian=keep[:, 0].copy(),
        n_clusters=ncl, encoders=out_enc, transitions=b[change],
        transition_clusters=[(int(ncl[c - 1]), int(ncl[c])) for c in change],
        i_xy=prob.i_xy, h_x=prob.h_x, h_y=prob.h_y, converged=keep[:, 3].astype(bool),
    )


def critical_beta(p_xy) -> float:
    """β at which the trivial (constant) IB solution stops being optimal (thesis convention).

    ``β_c = λ_2(M)``, the second-largest eigenvalue of the stochastic matrix
    ``M[x, x'] = sum_y p(y|x) p(x'|y)`` (linear stability of the trivial solution; in Tishby's
    convention the first phase transition is at ``β_T = 1/λ_2``). ``M`` is similar to the symmetric
    ``D_x^{-1/2} P D_y^{-1} Pᵀ D_x^{-1/2}`` (``P = p(x,y)``), whose eigenvalues are computed.
    Returns 0 when ``|X| = 1`` or ``y`` carries no information about ``x``.

    Caveat: β_c is where the trivial solution stops being a *local* minimum. When the first
    transition is continuous (as in the spec's binary-y reference example, β_c = 0.525) it is
    also where the trivial solution stops being the global minimum. The transition can also be
    discontinuous (a subcritical bifurcation): e.g. on a random 64×8 joint (Dirichlet(½) rows)
    λ_2 = 0.250, yet BA from random starts finds a two-cluster solution with a lower ``L`` up to
    β ≈ 0.265. Annealing from large β then stays on the trivial branch down to β_c (hysteresis);
    random restarts expose the better branch, and :func:`information_curve` (which continues the
    solutions found to the neighbouring β) finds it up to the origin slope.
    """
    a = validate_distribution(p_xy, "p_xy", ndim=2)
    a = a[a.sum(axis=1) > 0][:, a.sum(axis=0) > 0]
    if a.shape[0] < 2:
        return 0.0
    p_x = a.sum(axis=1)
    p_y = a.sum(axis=0)
    b = a / np.sqrt(p_x)[:, None] / np.sqrt(p_y)[None, :]
    sym = b @ b.T
    ev = np.sort(np.linalg.eigvalsh(0.5 * (sym + sym.T)))[::-1]
    return float(max(ev[1], 0.0))


def ib_origin_slope(p_xy, restarts: int = 10, seed: int | None = 0, return_r: bool = False):
    """Slope of the IB curve ``I(z;y)`` vs ``I(x;z)`` at the origin: the exact trivial threshold.

    The curve ``F(R) = max {I(z;y) : I(x;z) <= R}`` is concave, and its slope at ``R = 0`` is the
    strong data-processing constant ``s* = sup_r KL(r_Y || p_Y) / KL(r || p_X)`` over input
    distributions ``r(x)`` (``r_Y = sum_x r(x) p(y|x)``) [Anantharam, Gohari, Kamath & Nair
    2013]. Hence (thesis convention) the trivial solution is the *global* optimum iff
    ``β >= s*``. Always ``s* >= λ_2 =`` :func:`critical_beta` (the limit ``r → p_X`` of the
    ratio), with equality when the first transition is continuous. The ratio is maximized from
    every point mass and ``restarts`` random starts (L-BFGS on softmax logits), so the value is
    a lower bound on ``s*`` (exact in all the cases we checked). Near the optimum a rare cluster
    ``p(z=1|x) ∝ ε r(x)/p(x)`` realizes the slope. With ``return_r`` returns ``(s, r)``.
    """
    from scipy.optimize import minimize

    a = validate_distribution(p_xy, "p_xy", ndim=2)
    a = a[a.sum(axis=1) > 0][:, a.sum(axis=0) > 0]
    p_x = a.sum(axis=1)
    p_y = a.sum(axis=0)
    cond = a / p_x[:, None]
    n_x = p_x.size
    lam2 = critical_beta(a)
    if n_x < 2:
        return (0.0, p_x) if return_r else 0.0
    log_px, log_py = np.log(p_x), np.log(p_y)

    def neg_ratio(theta):
        th = theta - theta.max()
        r = np.exp(th)
        r /= r.sum()
        ry = (r[:, None] * cond).sum(axis=0)  # elementwise, not BLAS: tiny sizes, many calls
        log_r = np.log(np.maximum(r, 1e-300))
        log_ry = np.log(np.maximum(ry, 1e-300))
        num = float(np.sum(ry * (log_ry - log_py)))
        den = float(np.sum(r * (log_r - log_px)))
        if den <= 1e-7:  # r ≈ p(x): the ratio is 0/0 numerically; its limit there is λ_2
            return -lam2, np.zeros_like(theta)
        g_num = (cond * (log_ry - log_py)).sum(axis=1) + 1.0
        g_den = log_r - log_px + 1.0
        g = (g_num * den - g_den * num) / den ** 2
        g_theta = r * (g - np.sum(r * g))
        return -num / den, -g_theta

    # point masses first: ratio KL(p(y|x) || p(y)) / log(1/p(x))
    single = np.array([np.sum(_xlogy(cond[i], cond[i] / p_y)) / -log_px[i] for i in range(n_x)])
    best, best_r = lam2, p_x.copy()
    k = int(np.argmax(single))
    if single[k] > best:
        best, best_r = float(single[k]), np.eye(n_x)[k]
    rng = np.random.default_rng(seed)
    starts = [np.where(np.arange(n_x) == i, 0.0, -8.0) for i in np.argsort(-single)[: min(n_x, 8)]]
    starts += [np.log(rng.dirichlet(np.full(n_x, 0.5)) + 1e-12) for _ in range(restarts)]
    with _single_blas_thread():  # L-BFGS-B's tiny BLAS calls crawl with threads on a busy CPU
        for th0 in starts:
            res = minimize(neg_ratio, th0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
            if -res.fun > best:
                th = res.x - res.x.max()
                best, best_r = float(-res.fun), np.exp(th) / np.exp(th).sum()
    return (best, best_r) if return_r else best


def _single_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# =============================================================================================
# spec T2: the noisy bit (bits)
# =============================================================================================


def binary_entropy(p, base: float = 2.0):
    """Binary entropy ``h(p)`` (bits by default; ``base=math.e`` for nats), elementwise."""
    p = np.asarray(p, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must be in [0, 1]")
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log(p), 0.0) + np.where(q > 0, q * np.log(q), 0.0))
    h = h / math.log(base)
    return float(h) if h.ndim == 0 else h


def noisy_bit_lagrangian(delta, eps: float, beta: float):
    """IB Lagrangian (bits) of the noisy-bit representation of spec T2 (thesis §2.3 remark).

    ``y ~ Bern(½)``, ``x = y ⊕ Bern(ε)``, ``z = x ⊕ Bern(δ)``::

        L(δ) = H(y|z) + β I(x;z) = h(ε * δ) + β (1 - h(δ)),   ε * δ = ε(1-δ) + δ(1-ε).

    δ = 0 is ``z = x`` (``L = h(ε) + β``), δ = ½ the constant map (``L = 1``). Vectorised in δ.
    """
    d = np.asarray(delta, dtype=np.float64)
    if np.any((d < 0) | (d > 1)):
        raise ValueError("delta must be in [0, 1]")
    if not 0 <= eps <= 1:
        raise ValueError("eps must be in [0, 1]")
    conv = eps * (1 - d) + d * (1 - eps)
    out = binary_entropy(conv) + beta * (1.0 - binary_entropy(d))
    return float(out) if np.ndim(out) == 0 else out


def noisy_bit_optimum(eps: float, beta: float) -> dict:
    """Best stochastic δ ∈ [0, ½] for the noisy bit, against the best deterministic map.

    Returns a dict with ``delta`` (the minimizer), ``L`` (its Lagrangian, bits),
    ``L_identity = L(0)``, ``L_constant = L(½)``, ``L_deterministic`` (the smaller of the two)
    and ``gain = L_deterministic - L`` (≥ 0). A log-spaced grid down to δ = 1e-12 followed by a
    bounded scalar refinement (so tiny optimal δ, like ≈2e-4 at ε=0.1, β=0.2, are found).
    """
    from scipy.optimize import minimize_scalar

    grid = np.concatenate([[0.0], np.logspace(-12, math.log10(0.5), 4000)])
    vals = noisy_bit_lagrangian(grid, eps, beta)
    k = int(np.argmin(vals))
    best_d, best_l = float(grid[k]), float(vals[k])
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    if hi > lo:
        r = minimize_scalar(lambda t: noisy_bit_lagrangian(t, eps, beta), bounds=(lo, hi),
                            method="bounded", options={"xatol": 1e-14})
        if r.fun < best_l:
            best_d, best_l = float(r.x), float(r.fun)
    l0 = noisy_bit_lagrangian(0.0, eps, beta)
    lh = noisy_bit_lagrangian(0.5, eps, beta)
    if lh <= best_l + 1e-15:  # the constant map is (numerically) optimal: report δ = ½ exactly
        best_d, best_l = 0.5, lh
    det = min(l0, lh)
    return {"delta": best_d, "L": best_l, "L_identity": l0, "L_constant": lh,
            "L_deterministic": det, "gain": max(det - best_l, 0.0)}


# =============================================================================================
# spec T6: Gaussian IB (Chechik, Globerson, Tishby & Weiss, JMLR 2005)
# =============================================================================================


@dataclass
class GaussianIBSpectrum:
    """Eigen-structure of a Gaussian IB problem (see :func:`gaussian_ib_spectrum`).

    ``lambdas`` ascending eigenvalues ``λ_i`` of ``Σ_{x|y} Σ_x^{-1}`` (in [0, 1]);
    ``vectors[:, i]`` the left eigenvector ``v_i`` (so ``v_iᵀ Σ_{x|y} Σ_x^{-1} = λ_i v_iᵀ``),
    normalized so that ``r_i = v_iᵀ Σ_x v_i = 1``; ``critical_betas = 1 - λ_i`` (thesis
    convention: dimension ``i`` is active iff ``β < 1 - λ_i``; Tishby's ``β_T > 1/(1-λ_i)``);
    ``cov_x`` and ``cov_x_given_y``.
    """

    lambdas: np.ndarray
    vectors: np.ndarray
    r: np.ndarray
    critical_betas: np.ndarray
    cov_x: np.ndarray
    cov_x_given_y: np.ndarray


def gaussian_ib_spectrum(cov_x, cov_xy, cov_y) -> GaussianIBSpectrum:
    """Spectrum of the Gaussian IB for jointly Gaussian ``(x, y)`` [Chechik et al. 2005].

    ``cov_x`` (dx, dx), ``cov_xy = Cov(x, y)`` (dx, dy), ``cov_y`` (dy, dy).
    ``Σ_{x|y} = Σ_x - Σ_xy Σ_y^{-1} Σ_yx``. The left eigenvectors of ``Σ_{x|y} Σ_x^{-1}`` solve
    the symmetric-definite problem ``Σ_{x|y} v = λ Σ_x v``.
    """
    from scipy.linalg import eigh

    sx = np.atleast_2d(np.asarray(cov_x, dtype=np.float64))
    sy = np.atleast_2d(np.asarray(cov_y, dtype=np.float64))
    sxy = np.asarray(cov_xy, dtype=np.float64).reshape(sx.shape[0], sy.shape[0])
    full = np.block([[sx, sxy], [sxy.T, sy]])
    try:
        np.linalg.cholesky(0.5 * (full + full.T))
    except np.linalg.LinAlgError:
        raise ValueError("the joint covariance of (x, y) is not positive definite") from None
    sxgy = sx - sxy @ np.linalg.solve(sy, sxy.T)
    sxgy = 0.5 * (sxgy + sxgy.T)
    lam, v = eigh(sxgy, 0.5 * (sx + sx.T))  # vᵀ Σ_x v = I, ascending
    lam = np.clip(lam, 0.0, 1.0)
    r = np.einsum("ij,ik,kj->j", v, sx, v)
    return GaussianIBSpectrum(lambdas=lam, vectors=v, r=r, critical_betas=1.0 - lam,
                              cov_x=sx, cov_x_given_y=sxgy)


def gaussian_ib_curve(lambdas, betas) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form optimal ``I(x;z)`` and ``I(z;y)`` (nats) at each β (thesis convention).

    With ``β_T = 1/β`` and the active set ``{i : β < 1 - λ_i}`` [Chechik et al. 2005, eqs. for
    the information curve, rewritten with ``β_T - 1 = (1-β)/β``]::

        I(x;z) = ½ sum_active log[(1-β)(1-λ_i) / (β λ_i)]
        I(z;y) = I(x;z) - ½ sum_active log[(1-λ_i) / β]

    The scalar case (unit variances, correlation ρ) is ``λ = 1 - ρ²``. A direction with
    ``λ_i = 0`` (y determines it exactly) has infinite ``I(x;z)`` for every β < 1.
    Returns two arrays shaped like ``betas``.
    """
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    b = np.asarray(betas, dtype=np.float64)
    if np.any(b <= 0):
        raise ValueError("betas must be positive")
    bb = b[..., None]
    active = bb < 1.0 - lam
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(active, 0.5 * np.log((1 - bb) * (1 - lam) / (bb * lam)), 0.0)
        ty = np.where(active, tx - 0.5 * np.log((1 - lam) / bb), 0.0)
    return tx.sum(axis=-1), ty.sum(axis=-1)


def gaussian_ib_encoder(spectrum: GaussianIBSpectrum, beta: float) -> np.ndarray:
    """Optimal linear encoder ``A`` of ``z = A x + ξ``, ``ξ ~ N(0, I)`` [Chechik et al. 2005].

    Rows ``a_i = α_i v_iᵀ`` with ``α_i² = max(0, (β_T(1-λ_i) - 1) / (λ_i r_i))``,
    ``β_T = 1/β``; inactive dimensions give zero rows. Shape ``(dx, dx)``.
    """
    beta = _check_beta(beta)
    lam, r = spectrum.lambdas, spectrum.r
    with np.errstate(divide="ignore", invalid="ignore"):
        a2 = np.where(lam > 0, ((1.0 / beta) * (1 - lam) - 1) / (lam * r), np.inf)
    a2 = np.maximum(a2, 0.0)
    if np.any(~np.isfinite(a2)):
        raise ValueError("a direction with λ = 0 is active: the optimal encoder is unbounded")
    return np.sqrt(a2)[:, None] * spectrum.vectors.T


def gaussian_ib_information(A, cov_x, cov_x_given_y) -> tuple[float, float]:
    """``I(z;x)`` and ``I(z;y)`` (nats) of an explicit encoder ``z = A x + ξ``, ``ξ ~ N(0, I)``::

        I(z;x) = ½ log|A Σ_x Aᵀ + I|,   I(z;y) = I(z;x) - ½ log|A Σ_{x|y} Aᵀ + I|.
    """
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    k = A.shape[0]
    sx = np.atleast_2d(np.asarray(cov_x, dtype=np.float64))
    sxy = np.atleast_2d(np.asarray(cov_x_given_y, dtype=np.float64))
    _, ld1 = np.linalg.slogdet(A @ sx @ A.T + np.eye(k))
    _, ld2 = np.linalg.slogdet(A @ sxy @ A.T + np.eye(k))
    return 0.5 * float(ld1), 0.5 * float(ld1 - ld2)
