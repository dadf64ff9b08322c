"""Variational autoencoders for Chapter 3: the β-VAE and the capacity-controlled CCI-VAE.

Thesis §3.1 (course spec ch03 §3). A VAE has an encoder ``q_φ(z|x) = N(μ(x), diag σ²(x))``, a
prior ``p(z) = N(0, I)`` and a decoder ``p_θ(x|z)`` (Bernoulli pixels by default, Gaussian as an
option). Two objectives, both per example and averaged over the batch:

* **β-VAE** (Higgins et al. 2017; the thesis's text after eq. 3.3)::

      L = E_{z~q(z|x)}[-log p_θ(x|z)] + β · KL(q_φ(z|x) || p(z))

  :func:`beta_vae_loss`; β = 1 is the plain VAE (the "entangled" baseline of Table 3.1).
* **CCI-VAE** (Controlled Capacity Increase, Burgess et al. 2017): the KL is pulled towards a target
  capacity ``C`` that grows during training. :func:`cci_vae_loss` implements both forms:

  - ``form="squared"``: ``recon + γ |KL − C|²``, the thesis's **eq. 3.3**;
  - ``form="absolute"``: ``recon + γ |KL − C|``, Burgess et al.'s form (not in the thesis).

  The two γ are not interchangeable (the squared form's pull grows with the gap). Our choice (spec
  §6): the absolute form with γ = 50, the KL of the *batch mean* (one number per batch, as in
  Burgess et al.), and ``C`` rising linearly from 0 to ``C_max`` over the first 75 % of the steps.

``C`` grows inside :func:`emergent.train.fit`, the course's one training loop: :class:`CapacitySchedule`
is a mutable holder that the loss function advances by one step each time it is called on a
training batch (the loss closure reads the current ``C`` from it), so the schedule is per step even
though ``fit`` counts epochs.

Measurements: :func:`kl_per_latent` (closed form, per example and latent), :func:`mean_kl_per_latent`
over a dataset, :func:`active_latents` (mean KL above a threshold, 0.1 nats by default: our choice),
:func:`traversal` / :func:`traversal_grid` (decode μ(x) with one latent swept, the thesis's Fig 3.2
uses −2..2), :func:`linear_r2` (rotation-robust: R² of a factor regressed on a *set* of latents).

Information is in nats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .train import Trainer, fit

__all__ = [
    "VAE",
    "kl_per_latent",
    "gaussian_kl_per_latent",
    "reconstruction_nll",
    "capacity_penalty",
    "CapacitySchedule",
    "beta_vae_loss",
    "cci_vae_loss",
    "train_vae",
    "KLRecorder",
    "encode",
    "mean_kl_per_latent",
    "active_latents",
    "traversal",
    "traversal_grid",
    "linear_r2",
]

Tensor = torch.Tensor
LIKELIHOODS = ("bernoulli", "gaussian")


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


class VAE(nn.Module):
    """A VAE for ``(N, 1, side, side)`` images in [0, 1] (32×32 by default).

    ``arch="mlp"`` (default, spec §3): encoder ``side² – hidden… → 2Z`` (μ and log σ²), decoder the
    mirror image. ``arch="conv"``: four stride-2 4×4 convolutions (32-32-64-64 channels) and a
    256-unit layer, decoder mirrored with transposed convolutions (``side`` divisible by 16).
    ``likelihood="bernoulli"``: the decoder outputs pixel logits; ``"gaussian"``: pixel means
    (sigmoid), with a fixed standard deviation ``sigma``.

    ``n_envs > 0`` conditions the decoder on a one-hot environment ``s`` (decoder input ``[z, s]``,
    as VASE's ``p_θ(x|z, s)``, eq. 3.1); ``decode(z)`` with ``s=None`` uses environment 0.
    ``init_scale`` multiplies the encoder's last layer at initialisation, so that every latent starts
    close to the prior (μ ≈ 0, σ ≈ 1): unused latents then stay there (spec §16b).
    """

    def __init__(self, n_latents: int = 16, side: int = 32, hidden: Sequence[int] = (512, 256),
                 arch: str = "mlp", likelihood: str = "bernoulli", sigma: float = 0.1,
                 n_envs: int = 0, init_scale: float = 0.1) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
        self.n_latents, self.side, self.arch = int(n_latents), int(side), arch
        self.likelihood, self.sigma, self.n_envs = likelihood, float(sigma), int(n_envs)
        d, z = self.side * self.side, self.n_latents
        if arch == "mlp":
            widths = [d, *hidden]
            enc: list[nn.Module] = [nn.Flatten()]
            for a, b in zip(widths[:-1], widths[1:]):
                enc += [nn.Linear(a, b), nn.ReLU()]
            self.encoder = nn.Sequential(*enc)
            self.to_stats = nn.Linear(widths[-1], 2 * z)
            dec: list[nn.Module] = []
            back = [z + self.n_envs, *reversed(hidden)]
            for a, b in zip(back[:-1], back[1:]):
                dec += [nn.Linear(a, b), nn.ReLU()]
            dec += [nn.Linear(back[-1], d)]
            self.decoder = nn.Sequential(*dec)
        else:
            if self.side % 16:
                raise ValueError("the conv VAE needs an image side divisible by 16")
            k = self.side // 16
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
                nn.Flatten(), nn.Linear(64 * k * k, 256), nn.ReLU())
            self.to_stats = nn.Linear(256, 2 * z)
            self.decoder = nn.Sequential(
                nn.Linear(z + self.n_envs, 256), nn.ReLU(), nn.Linear(256, 64 * k * k), nn.ReLU(),
                nn.Unflatten(1, (64, k, k)),
                nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())
        with torch.no_grad():
            self.to_stats.weight.mul_(init_scale)
            self.to_stats.bias.mul_(init_scale)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)``, each ``(B, Z)``."""
        h = self.to_stats(self.encoder(x))
        return h[:, :self.n_latents], h[:, self.n_latents:]

    def decode(self, z: Tensor, s: Tensor | None = None) -> Tensor:
        """Decoder output ``(B, 1, side, side)``: pixel logits (Bernoulli) or means (Gaussian)."""
        if self.n_envs:
            if s is None:
                s = torch.zeros(len(z), dtype=torch.long, device=z.device)
            z = torch.cat([z, F.one_hot(s.long(), self.n_envs).to(z.dtype)], dim=1)
        out = self.decoder(z).reshape(len(z), 1, self.side, self.side)
        return torch.sigmoid(out) if self.likelihood == "gaussian" else out

    def mean_image(self, z: Tensor, s: Tensor | None = None) -> Tensor:
        """The decoder's mean image ``E[x|z]`` in [0, 1]."""
        out = self.decode(z, s)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x: Tensor, s: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(decoder output, μ, log σ², z)`` with ``z = μ + σ ε`` (the reparameterisation)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z, s), mu, logvar, z


# ---------------------------------------------------------------------------------------------
# the terms of the objectives
# ---------------------------------------------------------------------------------------------


def kl_per_latent(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(μ_n, σ_n²) || N(0, 1)) = ½(μ_n² + σ_n² − 1 − log σ_n²)`` per example and latent (nats)."""
    return 0.5 * (mu * mu + torch.exp(logvar) - 1.0 - logvar)


def gaussian_kl_per_latent(mu: Tensor, var: Tensor) -> Tensor:
    """The same KL from a variance instead of a log-variance."""
    return 0.5 * (mu * mu + var - 1.0 - torch.log(var))


def reconstruction_nll(x: Tensor, out: Tensor, likelihood: str = "bernoulli",
                       sigma: float = 0.1) -> Tensor:
    """``−log p_θ(x|z)`` per example (summed over pixels), in nats.

    Bernoulli: ``out`` are logits, ``−Σ [x log p + (1−x) log(1−p)]`` (defined for x in [0, 1]).
    Gaussian: ``out`` are means, ``Σ [(x−m)²/(2σ²) + ½ log(2πσ²)]``.
    """
    b = len(x)
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    elif likelihood == "gaussian":
        nll = 0.5 * (x - out) ** 2 / sigma**2 + 0.5 * math.log(2 * math.pi * sigma**2)
    else:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    return nll.reshape(b, -1).sum(1)


def capacity_penalty(kl: Tensor | float, capacity: float, gamma: float,
                     form: str = "absolute") -> Tensor:
    """The capacity term of the CCI-VAE.

    ``form="squared"``: ``γ |KL − C|²`` (thesis eq. 3.3); ``form="absolute"``: ``γ |KL − C|``
    (Burgess et al. 2017).
    """
    gap = torch.as_tensor(kl) - capacity
    if form == "squared":
        return gamma * gap * gap
    if form == "absolute":
        return gamma * gap.abs()
    raise ValueError(f"form must be 'squared' or 'absolute', got {form!r}")


@dataclass
class CapacitySchedule:
    """The target capacity ``C(t) = C_max · min(1, t / ramp_steps)`` at training step ``t``.

    A mutable holder: :func:`cci_vae_loss` calls :meth:`advance` once per *training* batch, so ``C``
    grows step by step inside :func:`emergent.train.fit` (which counts epochs). ``ramp_steps = 0``
    holds ``C = C_max`` from the start.
    """

    c_max: float
    ramp_steps: int
    step: int = 0

    @property
    def value(self) -> float:
        if self.ramp_steps <= 0:
            return float(self.c_max)
        return float(self.c_max) * min(1.0, self.step / self.ramp_steps)

    def advance(self) -> float:
        """The capacity for the current step; then move one step on."""
        c = self.value
        self.step += 1
        return c


def _terms(model: VAE, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    out, mu, logvar, _ = model(x)
    recon = reconstruction_nll(x, out, model.likelihood, model.sigma).mean()
    kl_n = kl_per_latent(mu, logvar).mean(0)  # (Z,): batch mean per latent
    return recon, kl_n.sum(), kl_n


def beta_vae_loss(beta: float = 1.0):
    """``loss_fn(model, x, y)`` for :func:`emergent.train.fit`: the β-VAE objective, batch mean.

    Metrics: ``recon`` (nats per image), ``kl`` (nats per image), ``elbo`` (recon + kl).
    """

    def loss_fn(model: VAE, x: Tensor, y: Tensor):
        recon, kl, _ = _terms(model, x)
        return recon + beta * kl, {"recon": recon.detach(), "kl": kl.detach(),
                                   "elbo": (recon + kl).detach()}

    return loss_fn


def cci_vae_loss(schedule: CapacitySchedule, gamma: float = 50.0, form: str = "absolute"):
    """``loss_fn(model, x, y)`` for :func:`emergent.train.fit`: the CCI-VAE objective, batch mean.

    ``recon + γ |KL − C|²`` (``form="squared"``, thesis eq. 3.3) or ``recon + γ |KL − C|``
    (``form="absolute"``, Burgess et al.), where KL is the batch-mean KL (our choice) and ``C`` is
    read from ``schedule``, which advances one step per training batch. Metrics: ``recon``, ``kl``,
    ``capacity`` (the C used), ``elbo``.
    """
    capacity_penalty(0.0, 0.0, gamma, form)  # validates form at once

    def loss_fn(model: VAE, x: Tensor, y: Tensor):
        c = schedule.advance() if model.training else schedule.value
        recon, kl, _ = _terms(model, x)
        loss = recon + capacity_penalty(kl, c, gamma, form)
        return loss, {"recon": recon.detach(), "kl": kl.detach(),
                      "capacity": torch.tensor(c, device=x.device), "elbo": (recon + kl).detach()}

    return loss_fn


class KLRecorder:
    """A :func:`emergent.train.fit` callback: after every ``every`` epochs, the mean KL per latent on
    a fixed probe batch ``x`` (and the capacity of ``schedule``, if given) — how latents switch on as
    ``C`` grows."""

    def __init__(self, x: Tensor, schedule: CapacitySchedule | None = None, every: int = 1) -> None:
        self.x, self.schedule, self.every = x, schedule, max(1, int(every))
        self.epochs: list[int] = []
        self.steps: list[int] = []
        self.capacity: list[float] = []
        self.kl: list[list[float]] = []

    def __call__(self, epoch: int, model: VAE, history: Any) -> None:
        if (epoch + 1) % self.every:
            return
        self.epochs.append(epoch + 1)
        self.steps.append(self.schedule.step if self.schedule is not None else -1)
        self.capacity.append(self.schedule.value if self.schedule is not None else float("nan"))
        self.kl.append(mean_kl_per_latent(model, self.x).tolist())

    def as_dict(self) -> dict:
        return {"epoch": self.epochs, "step": self.steps, "capacity": self.capacity, "kl": self.kl}


def train_vae(model: VAE, x: Tensor, loss_fn, steps: int, batch_size: int = 64, lr: float = 1e-3,
              seed: int = 0, callbacks: Sequence = (), progress: bool = False):
    """Train ``model`` on images ``x`` for about ``steps`` Adam steps through :func:`emergent.train.fit`.

    ``fit`` counts epochs: this runs ``ceil(steps / ceil(N / batch_size))`` of them (so at least
    ``steps`` steps). Returns fit's :class:`~emergent.train.History`.
    """
    per_epoch = math.ceil(len(x) / batch_size)
    epochs = max(1, math.ceil(steps / per_epoch))
    y = torch.zeros(len(x), dtype=torch.long, device=x.device)
    cfg = Trainer(epochs=epochs, lr=lr, optimizer="adam", batch_size=batch_size)
    return fit(model, (x, y), cfg, loss_fn=loss_fn, callbacks=callbacks, progress=progress,
               seed=seed, desc="vae")


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def encode(model: VAE, x: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """``(μ, log σ²)`` of every image of ``x``, in eval mode, without gradients."""
    was = model.training
    model.eval()
    parts = [model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def mean_kl_per_latent(model: VAE, x: Tensor) -> np.ndarray:
    """``E_x KL(q(z_n|x) || p(z_n))`` per latent over the images ``x`` (nats), a NumPy ``(Z,)``."""
    mu, logvar = encode(model, x)
    return kl_per_latent(mu, logvar).mean(0).cpu().numpy()


def active_latents(kl: Sequence[float] | np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Indices of the latents whose mean KL exceeds ``threshold`` nats (0.1: our choice), most
    informative first."""
    kl = np.asarray(kl, dtype=float)
    idx = np.flatnonzero(kl > threshold)
    return idx[np.argsort(-kl[idx], kind="stable")]


@torch.no_grad()
def traversal(model: VAE, x0: Tensor, latent: int, values: Sequence[float],
              s: Tensor | None = None) -> Tensor:
    """Mean images when latent ``latent`` of ``μ(x0)`` is set to each of ``values`` (the others
    kept): ``(len(values), 1, side, side)`` in [0, 1]. ``x0`` is one image ``(1, side, side)``."""
    was = model.training
    model.eval()
    mu, _ = model.encode(x0.reshape(1, 1, model.side, model.side))
    z = mu.repeat(len(values), 1)
    z[:, latent] = torch.as_tensor(list(values), dtype=z.dtype, device=z.device)
    if s is not None:
        s = torch.as_tensor(s, device=z.device).reshape(-1).expand(len(values))
    imgs = model.mean_image(z, s)
    model.train(was)
    return imgs


def traversal_grid(model: VAE, x0: Tensor, latents: Sequence[int],
                   values: Sequence[float] = tuple(np.linspace(-2, 2, 7)),
                   s: Tensor | None = None) -> Tensor:
    """:func:`traversal` for each of ``latents``, stacked: row = latent, column = value
    (``(len(latents) * len(values), 1, side, side)``)."""
    return torch.cat([traversal(model, x0, int(n), values, s) for n in latents])


def linear_r2(features: np.ndarray | Tensor, targets: np.ndarray | Tensor) -> np.ndarray:
    """R² of each target column regressed (least squares, with intercept) on all ``features``.

    Rotation-robust: any invertible linear mixing of the features gives the same R², so it scores
    a *set* of latents (e.g. the active ones) whether or not x and y are axis-aligned.
    """
    X = np.asarray(features.cpu() if isinstance(features, Tensor) else features, dtype=float)
    Y = np.asarray(targets.cpu() if isinstance(targets, Tensor) else targets, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    X = np.column_stack([np.ones(len(X)), X.reshape(len(X), -1)])
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = Y - X @ coef
    tot = ((Y - Y.mean(0)) ** 2).sum(0)
    return 1.0 - (resid**2).sum(0) / np.where(tot > 0, tot, np.nan)
