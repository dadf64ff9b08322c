"""VASE, stage 1: atypicality, the latent mask, and the exact linear-Gaussian world T10.

Thesis §3.1 (course spec ch03 §§4–5, 7). VASE keeps, for every latent ``z_n``, a test of whether the
current data still use it. After training on an environment the aggregate posterior matches the
prior, ``E_x q(z|x) ≈ p(z)``; a latent whose factor is absent from new data strays from the prior.

* :func:`atypicality` — **eq. 3.4**, ``α_n = KL(E_{x∈batch} q(z_n|x) || p(z_n))``, evaluated by
  moment matching (our choice; the thesis does not say how): the batch's mixture of Gaussians is
  replaced by the Gaussian with the same mean ``m_n = mean_b μ_bn`` and variance
  ``v_n = mean_b σ²_bn + var_b μ_bn``, so ``α_n = ½(v_n + m_n² − 1 − log v_n)``. Because the
  prior is Gaussian, the exact mixture KL is ``α_n + KL(mixture || moment-matched Gaussian) ≥ α_n``
  (a Pythagorean identity); :func:`mixture_kl_mc` estimates the exact value by Monte Carlo.
* :func:`latent_mask` — **eq. 3.5**, ``a_n = 1`` if ``α_n < λ`` else 0.
* :func:`batch_atypicality` — α on many batches: the batch-noise floor that λ must exceed.
* :class:`LinearGaussianWorld` (toy **T10**, spec §7) — environments ``x = A_s (a^s ⊙ z) + σ η``
  with ``z ~ N(0, I)``, an encoder fitted exactly on environment 0 (linear-Gaussian posterior mean,
  mean-field or exact variances), and the closed-form atypicality of every latent on every
  environment (:meth:`LinearGaussianWorld.atypicality`). Unused latents have ``α = 0`` exactly;
  a factor that a new environment drops makes its latent atypical.

Environment inference (eq. 3.6), dreaming (eq. 3.7) and the full objective (eq. 3.8) are the next
stages and are not here. Information is in nats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

__all__ = ["atypicality", "moment_match", "mixture_kl_mc", "latent_mask", "batch_atypicality",
           "LinearGaussianWorld", "t10_world", "T10_VARIANTS"]

Tensor = torch.Tensor


def _as_tensor(a) -> Tensor:
    return a if isinstance(a, Tensor) else torch.as_tensor(np.asarray(a, dtype=np.float64))


def moment_match(mu, logvar) -> tuple[Tensor, Tensor]:
    """Mean and variance of the batch's aggregate posterior per latent: ``m_n = mean_b μ_bn``,
    ``v_n = mean_b σ²_bn + var_b μ_bn`` (population variance). ``mu``, ``logvar``: ``(B, Z)``."""
    mu, logvar = _as_tensor(mu), _as_tensor(logvar)
    m = mu.mean(0)
    v = torch.exp(logvar).mean(0) + mu.var(0, unbiased=False)
    return m, v


def atypicality(mu, logvar) -> Tensor:
    """Atypicality per latent on one batch, thesis **eq. 3.4**, moment-matched (spec §5.1):
    ``α_n = ½(v_n + m_n² − 1 − log v_n)`` with :func:`moment_match`'s ``m_n, v_n``. ``(Z,)``."""
    m, v = moment_match(mu, logvar)
    return 0.5 * (v + m * m - 1.0 - torch.log(v))


def mixture_kl_mc(mu, logvar, samples: int = 20000, seed: int = 0) -> Tensor:
    """Monte Carlo estimate of the exact eq. 3.4, ``KL(mean_b N(μ_bn, σ²_bn) || N(0, 1))`` per latent,
    with ``samples`` draws from the batch mixture. It is ≥ :func:`atypicality` in expectation."""
    mu, logvar = _as_tensor(mu).double(), _as_tensor(logvar).double()
    g = torch.Generator().manual_seed(seed)
    b, z = mu.shape
    comp = torch.randint(b, (samples, z), generator=g)
    sd = torch.exp(0.5 * logvar)
    draws = mu.gather(0, comp) + sd.gather(0, comp) * torch.randn(samples, z, generator=g,
                                                                  dtype=torch.float64)
    # log of the mixture density at each draw: logsumexp over the batch's components
    lp = (-0.5 * ((draws[:, None, :] - mu[None]) / sd[None]) ** 2 - torch.log(sd[None])
          - 0.5 * math.log(2 * math.pi))
    log_mix = torch.logsumexp(lp, dim=1) - math.log(b)
    log_prior = -0.5 * draws**2 - 0.5 * math.log(2 * math.pi)
    return (log_mix - log_prior).mean(0)


def latent_mask(alpha, lam: float) -> Tensor:
    """Thesis **eq. 3.5**: ``a_n = 1`` if ``α_n < λ`` (the latent is typical: in use or spare), else 0."""
    return (_as_tensor(alpha) < lam).long()


def batch_atypicality(mu, logvar, batch_size: int = 64, n_batches: int = 200, seed: int = 0
                      ) -> Tensor:
    """:func:`atypicality` on ``n_batches`` random batches (without replacement inside a batch) of
    ``(μ, log σ²)`` rows: ``(n_batches, Z)``. Its spread is the batch-noise floor of eq. 3.5."""
    mu, logvar = _as_tensor(mu), _as_tensor(logvar)
    g = torch.Generator().manual_seed(seed)
    n = len(mu)
    rows = []
    for _ in range(n_batches):
        idx = torch.randperm(n, generator=g)[:batch_size]
        rows.append(atypicality(mu[idx], logvar[idx]))
    return torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# toy T10: a linear-Gaussian VASE world, exact
# ---------------------------------------------------------------------------------------------

T10_VARIANTS = ("same", "drop", "rerender")


@dataclass
class LinearGaussianWorld:
    """Environments ``x^s = A_s (a^s ⊙ z) + σ η``, ``z ~ N(0, I_N)``, ``η ~ N(0, I_D)`` (eq. 3.1
    with a linear renderer), and an encoder fitted on environment ``fit_env``.

    ``renderers``: ``(E, D, N)``; ``masks``: ``(E, N)`` in {0, 1}. The encoder is the exact
    posterior of the fitted environment: ``μ(x) = W x`` with ``W = S Ã^T / σ²``,
    ``Ã = A diag(a)``, ``S = (I + Ã^T Ã / σ²)^{-1}``; its variances are either mean-field
    ``s_n² = 1 / (1 + (Ã^T Ã)_nn / σ²)`` (a diagonal-Gaussian encoder, the VAE's family) or the
    exact marginals ``S_nn`` (``exact_variance=True``).
    """

    renderers: np.ndarray
    masks: np.ndarray
    sigma: float = 0.5
    fit_env: int = 0
    exact_variance: bool = False
    names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.renderers = np.asarray(self.renderers, dtype=float)
        self.masks = np.asarray(self.masks, dtype=float)
        if self.renderers.ndim != 3 or self.masks.shape != (len(self.renderers), self.renderers.shape[2]):
            raise ValueError("renderers must be (E, D, N) and masks (E, N)")
        if not self.names:
            self.names = tuple(f"env {e + 1}" for e in range(len(self.renderers)))

    @property
    def n_factors(self) -> int:
        return self.renderers.shape[2]

    def effective(self, env: int) -> np.ndarray:
        """``Ã_s = A_s diag(a^s)``: ``(D, N)``."""
        return self.renderers[env] * self.masks[env][None, :]

    def encoder(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, var)``: ``μ(x) = W x`` and the encoder's (mean-field or exact) variances ``(N,)``."""
        At = self.effective(self.fit_env)
        s2 = self.sigma**2
        G = At.T @ At / s2
        S = np.linalg.inv(np.eye(self.n_factors) + G)
        W = S @ At.T / s2
        var = np.diag(S).copy() if self.exact_variance else 1.0 / (1.0 + np.diag(G))
        return W, var

    def data_covariance(self, env: int) -> np.ndarray:
        """``Σ_s = Ã_s Ã_s^T + σ² I``: the covariance of ``x`` in environment ``env``."""
        At = self.effective(env)
        return At @ At.T + self.sigma**2 * np.eye(At.shape[0])

    def moments(self, env: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the aggregate posterior on ``env`` (infinite batch): ``m = 0``,
        ``v_n = (W Σ_s W^T)_nn + var_n``."""
        W, var = self.encoder()
        v = np.einsum("nd,de,ne->n", W, self.data_covariance(env), W) + var
        return np.zeros(self.n_factors), v

    def atypicality(self, env: int) -> np.ndarray:
        """Closed-form eq. 3.4 on ``env``: ``α_n = ½(v_n − 1 − log v_n)`` (exact here: every
        aggregate posterior of this world is Gaussian, so moment matching loses nothing)."""
        m, v = self.moments(env)
        return 0.5 * (v + m * m - 1.0 - np.log(v))

    def sample(self, env: int, n: int, rng: np.random.Generator | int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(x (n, D), z (n, N))`` drawn from environment ``env``."""
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.n_factors))
        A = self.renderers[env]
        x = (z * self.masks[env]) @ A.T + self.sigma * rng.standard_normal((n, A.shape[0]))
        return x, z

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(μ (n, N), log σ² (n, N))`` of the fitted encoder."""
        W, var = self.encoder()
        return x @ W.T, np.broadcast_to(np.log(var), (len(x), self.n_factors)).copy()

    def batch_atypicality(self, env: int, batch_size: int, n_batches: int = 200,
                          rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Moment-matched α (:func:`atypicality`) on ``n_batches`` fresh batches of ``env``:
        ``(n_batches, N)``."""
        rng = np.random.default_rng(rng)
        x, _ = self.sample(env, batch_size * n_batches, rng)
        mu, logvar = self.encode(x)
        mu = mu.reshape(n_batches, batch_size, -1)
        logvar = logvar.reshape(n_batches, batch_size, -1)
        m = mu.mean(1)
        v = np.exp(logvar).mean(1) + mu.var(1)
        return 0.5 * (v + m * m - 1.0 - np.log(v))

    def masks_at(self, lam: float) -> np.ndarray:
        """Eq. 3.5 on every environment with the closed-form α: ``(E, N)`` in {0, 1}."""
        return np.stack([(self.atypicality(e) < lam).astype(int) for e in range(len(self.masks))])


def t10_world(n_factors: int = 6, used: int = 4, dim: int = 20, sigma: float = 0.5,
              variant: str = "drop", factor: int = 0, strength: float = 1.0,
              orthogonal: bool = False, exact_variance: bool = False, seed: int = 0
              ) -> LinearGaussianWorld:
    """Toy T10 with two environments (spec §7).

    Environment 1 uses the first ``used`` of ``n_factors`` factors (the rest are spare capacity),
    with a random renderer ``A`` (``dim × n_factors``, N(0, 1) entries; ``orthogonal=True``: orthogonal
    columns of norm ``√dim``). ``strength`` scales the column of ``factor`` (how strongly that factor
    shows in the images).
    Environment 2 is

    * ``"same"``: environment 1 again;
    * ``"drop"``: environment 1 without factor ``factor`` (same renderer, mask entry 0);
    * ``"rerender"``: factor ``factor`` drawn with a new random column (rendered differently).
    """
    if variant not in T10_VARIANTS:
        raise ValueError(f"variant must be one of {T10_VARIANTS}, got {variant!r}")
    if not 0 <= factor < used <= n_factors:
        raise ValueError("need 0 <= factor < used <= n_factors")
    rng = np.random.default_rng(seed)
    if orthogonal:
        q, _ = np.linalg.qr(rng.standard_normal((dim, n_factors)))
        A = q * math.sqrt(dim)
    else:
        A = rng.standard_normal((dim, n_factors))
    A[:, factor] *= strength
    m1 = np.zeros(n_factors)
    m1[:used] = 1
    A2, m2 = A.copy(), m1.copy()
    if variant == "drop":
        m2[factor] = 0
    elif variant == "rerender":
        A2[:, factor] = rng.standard_normal(dim) * np.linalg.norm(A[:, factor]) / math.sqrt(dim)
    return LinearGaussianWorld(np.stack([A, A2]), np.stack([m1, m2]), sigma=sigma,
                               exact_variance=exact_variance,
                               names=("env 1", f"env 2 ({variant})"))
