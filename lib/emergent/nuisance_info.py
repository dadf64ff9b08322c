"""How much a representation knows about a nuisance: two estimators of I(z;n), and a bound on I(z;y).

Both are trained on samples ``(z, n)`` with ``n`` from a **finite** set of ``K`` values and evaluated on
held-out samples; every network trains through :func:`emergent.train.fit`. Nats throughout.

* :func:`discriminator_information` — the thesis's density-ratio estimator (§4.6, after Sønderby et
  al. 2017). Since ``I(z;n) = E_n E_{z∼p(z|n)} log[p(z|n)/p(z)]``, train a binary classifier on
  *positives* ``(z, n)`` drawn together and *negatives* ``(z, n′)`` with ``n′ ∼ p(n)`` drawn
  independently (a sample of ``p(z)p(n)``), in equal numbers. The thesis's ``D(z;n)`` is the
  probability of the **negative** ("prior") class: the optimum is ``D* = p(z)/(p(z) + p(z|n))``, so
  ``log[p(z|n)/p(z)] = log[(1 − D*)/D*]``, which is exactly the logit ``ℓ(z,n)`` of the positive class.
  The estimate is ``Î = E_pos ℓ = E_pos log[(1 − D)/D]`` over held-out positives. It is neither an
  upper nor a lower bound ("no guarantees on the quality of the approximation", thesis §4.6).
  Our discriminator has one output per value of n, ``ℓ(z,n) = f(z)_n`` (an MLP with K heads).
* :func:`probe_information` — the Barber–Agakov bound (2003): for any classifier ``q(n|z)``,
  ``I(z;n) = H(n) − H(n|z) ≥ H(n) − E[−log q(n|z)]``. With the cross-entropy measured on held-out
  samples it is a lower bound up to sampling noise, and it never exceeds ``H(n)`` (``log K`` for a
  uniform n). The same probe on the task label gives ``I(z;y) ≥ H(y) − CE``.

For a finite n the two are linked: ``log p(z|n)/p(z) = log p(n|z) − log p(n)``, so a perfect probe
and a perfect discriminator agree. In practice the probe is the steadier of the two.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .runtime import cpu_threads
from .train import Trainer, fit

__all__ = ["label_entropy", "Probe", "Discriminator", "probe_information", "discriminator_information"]


def label_entropy(labels: Any, n_classes: Optional[int] = None) -> float:
    """Plug-in entropy (nats) of the empirical distribution of integer ``labels``."""
    y = torch.as_tensor(labels).long().flatten().cpu()
    k = int(n_classes or int(y.max()) + 1)
    p = torch.bincount(y, minlength=k).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


class _Standardize(nn.Module):
    """``(z − mean) / std`` with the statistics of the training features (constant features keep scale 1)."""

    def __init__(self, z: torch.Tensor) -> None:
        super().__init__()
        sd = z.std(0)
        self.register_buffer("mean", z.mean(0))
        self.register_buffer("sd", torch.where(sd > 1e-8, sd, torch.ones_like(sd)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.sd


def _mlp(z: torch.Tensor, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(_Standardize(z), nn.Linear(z.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, out))


class Probe(nn.Module):
    """``q(n|z)``: an MLP (standardised input, two hidden ReLU layers) with ``n_classes`` logits."""

    def __init__(self, z_train: torch.Tensor, n_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = _mlp(z_train, n_classes, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """The thesis's discriminator in logit form: ``ℓ(z, n) = f(z)_n``, the log-odds that ``(z, n)`` was
    drawn from the joint rather than from ``p(z)p(n)``; ``D(z;n) = σ(−ℓ)`` (the probability of the
    "prior" class, as in the thesis) and ``log[(1 − D)/D] = ℓ``.

    ``forward`` reads rows ``[z, n]`` (the nuisance index as the last column) and returns the two class
    logits ``[0, ℓ]`` (class 1 = joint), so the default cross-entropy of :func:`emergent.train.fit` is
    the binary cross-entropy of the discriminator.
    """

    def __init__(self, z_train: torch.Tensor, n_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_classes = int(n_classes)
        self.net = _mlp(z_train, self.n_classes, hidden)

    def log_ratio(self, z: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """``ℓ(z, n)``: the estimate of ``log p(z|n)/p(z)``."""
        return self.net(z).gather(1, n.long().reshape(-1, 1))[:, 0]

    def D(self, z: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """The thesis's ``D(z;n)``: the probability that ``z`` came from ``p(z)`` rather than ``p(z|n)``."""
        return torch.sigmoid(-self.log_ratio(z, n))

    def forward(self, zn: torch.Tensor) -> torch.Tensor:
        ell = self.log_ratio(zn[:, :-1], zn[:, -1])
        return torch.stack([torch.zeros_like(ell), ell], 1)


def _check(z_train: Any, n_train: Any, z_test: Any, n_test: Any, n_classes: Optional[int]
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    zt, zv = (torch.as_tensor(a).float().cpu() for a in (z_train, z_test))
    nt, nv = (torch.as_tensor(a).long().flatten().cpu() for a in (n_train, n_test))
    zt = zt.reshape(len(zt), -1)
    zv = zv.reshape(len(zv), -1)
    if len(zt) != len(nt) or len(zv) != len(nv):
        raise ValueError(f"z and n must have as many rows: train {len(zt)} vs {len(nt)}, test {len(zv)} vs {len(nv)}")
    if zt.shape[1] != zv.shape[1]:
        raise ValueError(f"train and test features differ in size: {zt.shape[1]} vs {zv.shape[1]}")
    if len(zt) < 2 or len(zv) < 1:
        raise ValueError("need at least 2 training and 1 test samples")
    k = int(n_classes or int(max(nt.max(), nv.max())) + 1)
    if int(min(nt.min(), nv.min())) < 0 or int(max(nt.max(), nv.max())) >= k:
        raise ValueError(f"labels must lie in 0..{k - 1}")
    return zt, nt, zv, nv, k


def probe_information(z_train: Any, n_train: Any, z_test: Any, n_test: Any, n_classes: Optional[int] = None,
                      entropy: Optional[float] = None, hidden: int = 64, epochs: int = 30, lr: float = 1e-3,
                      batch_size: int = 128, weight_decay: float = 0.0, seed: int = 0) -> dict:
    """Barber–Agakov lower bound ``I(z;n) ≥ H(n) − CE`` from a probe ``q(n|z)`` trained on the training
    pairs (Adam, :func:`emergent.train.fit`); the cross-entropy is that of the held-out pairs.

    ``entropy`` is ``H(n)``: give ``log K`` for a uniform nuisance (the default is the plug-in entropy of
    ``n_test``). Returns ``info`` (nats; at most ``entropy``, negative when the probe is worse than the
    prior), ``ce`` (test), ``train_ce``, ``acc`` (test), ``entropy`` and ``n_classes``.
    """
    zt, nt, zv, nv, k = _check(z_train, n_train, z_test, n_test, n_classes)
    h = label_entropy(nv, k) if entropy is None else float(entropy)
    torch.manual_seed(seed)
    probe = Probe(zt, k, hidden)
    with cpu_threads("cpu"):
        fit(probe, (zt, nt), Trainer(epochs=epochs, lr=lr, optimizer="adam", batch_size=batch_size,
                                     weight_decay=weight_decay), progress=False, seed=seed)
        probe.eval()
        with torch.no_grad():
            out = probe(zv)
            ce = float(F.cross_entropy(out, nv))
            acc = float((out.argmax(1) == nv).float().mean())
            train_ce = float(F.cross_entropy(probe(zt), nt))
    return dict(info=h - ce, ce=ce, train_ce=train_ce, acc=acc, entropy=h, n_classes=k)


def discriminator_information(z_train: Any, n_train: Any, z_test: Any, n_test: Any,
                              n_classes: Optional[int] = None, hidden: int = 64, epochs: int = 30,
                              lr: float = 1e-3, batch_size: int = 128, weight_decay: float = 0.0,
                              seed: int = 0, n_prior: Optional[torch.Tensor] = None) -> dict:
    """The thesis's estimate ``Î(z;n) = E_pos log[(1 − D)/D]`` (§4.6) from a discriminator trained on
    positives ``(z, n)`` and as many negatives ``(z, n′)``, ``n′`` drawn independently from ``p(n)``.

    ``p(n)`` is uniform over ``n_classes`` unless ``n_prior`` (probabilities) is given. The negatives'
    ``n′`` are redrawn for every minibatch (a ``transform`` of :func:`emergent.train.fit`), so the
    discriminator sees fresh samples of ``p(z)p(n)``. Returns ``info`` (the mean log-ratio over the
    held-out positives), ``info_train`` (the same on the training positives), ``neg_log_ratio`` (the
    mean over held-out negatives, ≈ −KL(p(z)p(n) ‖ p(z,n)) ≤ 0 for a good discriminator), ``acc``
    (held-out accuracy on positives and fresh negatives) and ``n_classes``.
    """
    zt, nt, zv, nv, k = _check(z_train, n_train, z_test, n_test, n_classes)
    prior = torch.full((k,), 1.0 / k) if n_prior is None else torch.as_tensor(n_prior, dtype=torch.float64).float()
    if prior.shape != (k,) or bool((prior < 0).any()) or abs(float(prior.sum()) - 1) > 1e-6:
        raise ValueError(f"n_prior must be {k} probabilities")
    gen = torch.Generator().manual_seed(10_000 + int(seed))

    def draw(m: int) -> torch.Tensor:
        return torch.multinomial(prior, m, replacement=True, generator=gen).float()

    x = torch.cat([torch.cat([zt, nt.float()[:, None]], 1), torch.cat([zt, draw(len(zt))[:, None]], 1)])
    y = torch.cat([torch.ones(len(zt), dtype=torch.long), torch.zeros(len(zt), dtype=torch.long)])

    def fresh_negatives(xb: torch.Tensor, yb: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        neg = yb == 0
        xb = xb.clone()
        xb[neg, -1] = draw(int(neg.sum()))
        return xb, yb

    torch.manual_seed(seed)
    disc = Discriminator(zt, k, hidden)
    with cpu_threads("cpu"):
        fit(disc, (x, y), Trainer(epochs=epochs, lr=lr, optimizer="adam", batch_size=batch_size,
                                  weight_decay=weight_decay), transform=fresh_negatives, progress=False, seed=seed)
        disc.eval()
        with torch.no_grad():
            pos = disc.log_ratio(zv, nv)
            neg = disc.log_ratio(zv, draw(len(zv)).long())
            acc = 0.5 * float((pos > 0).float().mean() + (neg <= 0).float().mean())
            info_train = float(disc.log_ratio(zt, nt).mean())
    return dict(info=float(pos.mean()), info_train=info_train, neg_log_ratio=float(neg.mean()), acc=acc,
                n_classes=k)

