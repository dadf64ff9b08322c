r"""The RDC-VAE: a variational autoencoder with a classifier on its code (Gao & Chaudhari §§2–3).

One network holds the four distributions of the paper's Lagrangian (8):

* the encoder :math:`e(z|x) = N(\mu(x), \mathrm{diag}\,\sigma^2(x))` (MLP, log-variance clamped to
  [-12, 8]),
* the learnt marginal :math:`m(z) = N(\mu_m, \mathrm{diag}\,\sigma_m^2)` (one mean and log-variance per
  latent),
* the decoder :math:`d(x|z)`: Bernoulli pixels (MLP logits),
* the classifier :math:`c(y|z)`: a linear softmax head on a sample of z.

:func:`rdc_terms` returns, per sample and in nats, the rate :math:`R = \mathrm{KL}(e(z|x)\,\|\,m(z))`
(analytic), the distortion :math:`D = -\log d(x|z)` and the classification loss
:math:`C = -\log c(y|z)` at one reparametrised sample (eqs. 1 and 4). :func:`equilibrate` minimises
:math:`R + \lambda D + \gamma C` (eq. 8) with the course's one training loop, :func:`emergent.train.fit`
(Adam; the optimizer can be carried from call to call). Pixels are binarised afresh in every minibatch
(dynamic binarisation, :func:`binarizer`); evaluations use one fixed draw and fixed noise, so that two
evaluations of two models differ only by the models (:func:`evaluate`).

Every size here is our choice (the paper's appendix with the architectures is not in the sources):
encoder 784-256-256, 8 latents, decoder 8-256-256-784, following the spec's pilot.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import train as train_mod

Tensor = torch.Tensor
LOGVAR_RANGE = (-12.0, 8.0)


class RDCVAE(nn.Module):
    """Encoder, learnt marginal, Bernoulli decoder and linear head (module docstring).

    ``forward(x)`` returns the head's logits at the encoder mean (the validation classifier);
    :func:`rdc_terms` is the training objective's pieces.
    """

    def __init__(self, n_in: int = 784, hidden: int = 256, z_dim: int = 8, n_classes: int = 10,
                 learn_marginal: bool = True):
        super().__init__()
        self.n_in, self.z_dim = n_in, z_dim
        self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, n_in))
        self.head = nn.Linear(z_dim, n_classes)
        self.m_mu = nn.Parameter(torch.zeros(z_dim), requires_grad=learn_marginal)
        self.m_logvar = nn.Parameter(torch.zeros(z_dim), requires_grad=learn_marginal)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x.flatten(1))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encode(x)[0])


def gaussian_kl(mu: Tensor, logvar: Tensor, m_mu: Tensor, m_logvar: Tensor) -> Tensor:
    """``KL(N(mu, e^logvar) || N(m_mu, e^m_logvar))`` summed over the last dimension, in nats."""
    return 0.5 * (m_logvar - logvar + (logvar.exp() + (mu - m_mu) ** 2) / m_logvar.exp() - 1).sum(-1)


def rdc_terms(model: RDCVAE, x: Tensor, y: Tensor, eps: Tensor | None = None
              ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample ``(R, D, C, logits)`` in nats at one sample ``z = μ + σ ε`` (eqs. 1, 4).

    ``x``: binary pixels (any shape ``(N, ...)``); ``eps``: the standard-normal noise ``(N, z_dim)``
    (drawn from the global generator when ``None``)."""
    mu, logvar = model.encode(x)
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu + (0.5 * logvar).exp() * eps
    R = gaussian_kl(mu, logvar, model.m_mu, model.m_logvar)
    logits_x = model.decoder(z)
    D = F.binary_cross_entropy_with_logits(logits_x, x.flatten(1), reduction="none").sum(1)
    logits = model.head(z)
    C = F.cross_entropy(logits, y, reduction="none")
    return R, D, C, logits


def lagrangian_loss(lam: float, gamma: float) -> Callable:
    """A ``loss_fn`` for :func:`emergent.train.fit`: the mean of ``R + λD + γC`` (eq. 8) and the
    metrics R, D, C and the sample accuracy."""
    if not lam > 0 or not gamma >= 0:
        raise ValueError(f"need λ > 0 and γ >= 0, got λ = {lam!r}, γ = {gamma!r}")

    def loss_fn(model, x, y):
        R, D, C, logits = rdc_terms(model, x, y)
        metrics = {"R": R.detach().mean(), "D": D.detach().mean(), "C": C.detach().mean(),
                   "train_acc": (logits.detach().argmax(1) == y).double().mean()}
        return (R + lam * D + gamma * C).mean(), metrics

    return loss_fn


def binarizer(seed: int) -> Callable[[Tensor, Tensor, int], tuple[Tensor, Tensor]]:
    """A ``transform`` for :func:`fit` that draws binary pixels ``x ~ Bernoulli(grey)`` in every
    minibatch from its own generator: two runs with the same ``seed`` see the same pixels."""
    gens: dict[torch.device, torch.Generator] = {}

    def transform(x: Tensor, y: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
        if x.device not in gens:
            gens[x.device] = torch.Generator(device=x.device)
            gens[x.device].manual_seed(seed)
        return torch.bernoulli(x, generator=gens[x.device]), y

    return transform


@dataclass
class EvalSet:
    """A fixed evaluation set: one binarisation of ``x`` and one noise draw ``eps`` per image
    (common random numbers: every model is evaluated on exactly the same draws)."""

    x: Tensor
    y: Tensor
    eps: Tensor


def eval_set(x: Tensor, y: Tensor, z_dim: int = 8, seed: int = 1234) -> EvalSet:
    """Binarise ``x`` once and draw ``eps`` once, from a generator seeded with ``seed``."""
    g = torch.Generator(device=x.device)
    g.manual_seed(seed)
    xb = torch.bernoulli(x, generator=g)
    eps = torch.randn(len(x), z_dim, generator=g, device=x.device)
    return EvalSet(xb, y, eps)


@torch.no_grad()
def evaluate(model: RDCVAE, data: EvalSet, lam: float | None = None, gamma: float | None = None,
             batch_size: int = 2000) -> dict[str, float]:
    """Mean R, D, C (nats), accuracy at the encoder mean (``acc``) and at the fixed sample
    (``acc_sample``) on a fixed :class:`EvalSet`; ``F = R + λD + γC`` when the multipliers are given."""
    model.eval()
    sums = np.zeros(5)
    for i in range(0, len(data.x), batch_size):
        xb, yb, eb = data.x[i:i + batch_size], data.y[i:i + batch_size], data.eps[i:i + batch_size]
        R, D, C, logits = rdc_terms(model, xb, yb, eb)
        acc_mean = (model(xb).argmax(1) == yb).double()
        acc_s = (logits.argmax(1) == yb).double()
        sums += np.array([t.sum().item() for t in (R, D, C, acc_mean, acc_s)])
    R, D, C, acc, acc_s = sums / len(data.x)
    out = {"R": R, "D": D, "C": C, "acc": acc, "acc_sample": acc_s}
    if lam is not None and gamma is not None:
        out["F"] = R + lam * D + gamma * C
    model.train()
    return out


def adam(model: nn.Module, lr: float = 1e-3) -> torch.optim.Adam:
    """The optimizer of every RDC-VAE run (Adam; the paper's MNIST learning rate 1e-3)."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def clone(model: RDCVAE, opt: torch.optim.Optimizer) -> tuple[RDCVAE, torch.optim.Adam]:
    """A copy of the model and of its Adam state (the moments and step counts)."""
    m2 = copy.deepcopy(model)
    o2 = adam(m2, opt.param_groups[0]["lr"])
    o2.load_state_dict(copy.deepcopy(opt.state_dict()))
    return m2, o2


def equilibrate(model: RDCVAE, train: tuple[Tensor, Tensor], lam: float, gamma: float,
                epochs: int, opt: torch.optim.Optimizer | None = None, seed: int = 0,
                batch_size: int = 128, lr: float = 1e-3, progress: bool = False,
                report: Callable[[int, nn.Module, train_mod.History], None] | None = None,
                ) -> tuple[train_mod.History, torch.optim.Optimizer]:
    """Train at fixed ``(λ, γ)`` for ``epochs`` through :func:`emergent.train.fit`; return the
    history and the optimizer (pass it back in to continue with the same Adam state).

    ``seed`` fixes the minibatch order, the binarisation and the latent noise: two calls with the same
    seed from the same state see the same random numbers (common random numbers)."""
    opt = adam(model, lr) if opt is None else opt
    torch.manual_seed(seed)
    hist = train_mod.fit(model, train, train_mod.Trainer(epochs=int(epochs), lr=opt.param_groups[0]["lr"],
                                                         optimizer="adam", batch_size=batch_size),
                         loss_fn=lagrangian_loss(lam, gamma), transform=binarizer(seed + 7919),
                         seed=seed, progress=progress, desc=f"λ={lam:.3g}, γ={gamma:.3g}",
                         resume_optimizer=opt, callbacks=() if report is None else (report,))
    return hist, opt
