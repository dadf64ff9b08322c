r"""Exact toys of the Task2Vec chapter (course spec ch05 §4, T2V-1 and T2V-3), with closed forms.

**T2V-1, the two-layer sigmoid network** of thesis Ch. 5 ("Properties of the TASK2VEC embedding"):
:math:`z = \sigma(Ux)`, :math:`p = p_w(y{=}1|x) = \sigma(w^\top z)`. Since
:math:`\partial_{U_{jk}}\log p_w(y|x) = (y - p)\,w_j z_j(1 - z_j)\,x_k` and
:math:`\mathbb{E}_{y\sim p}(y-p)^2 = p(1-p)`, the Fisher of the first layer is

.. math:: F = \mathbb{E}_x\big[p(1-p)\,(s s^\top)\otimes(x x^\top)\big],\qquad s = w\odot z\odot(1-z),

the thesis's :math:`\mathbb{E}[(y-p)^2\, S\otimes xx^\top]` with :math:`S = ww^\top\odot zz^\top\odot(1-z)(1-z)^\top`
(:func:`two_layer_fisher`), with diagonal :math:`F_{jk} = \mathbb{E}[p(1-p)\,w_j^2 z_j^2(1-z_j)^2 x_k^2]`
(:func:`two_layer_fisher_diagonal`); its filter embedding is the mean over :math:`k`. Read off it:
the task weight :math:`p(1-p)` (confident fits and points far from the boundary contribute little);
a hidden unit with :math:`w_j = 0` (useless for the task) has zero Fisher; the domain embeddings
:math:`C_0 = \mathbb{E}[xx^\top]`, :math:`C_1 = \mathbb{E}[zz^\top]` see none of this.

**T2V-3, a per-pixel gain on logistic regression**: :math:`z = a\odot x` (:math:`a = 1`), logit
:math:`w^\top z + b`. Then :math:`\partial_{a_k}\log p(y|x) = (y-p)\,w_k x_k` and the gain's Fisher
is :math:`F_{kk} = \mathbb{E}[p(1-p)\,w_k^2 x_k^2]` (:func:`pixel_gain_fisher_diagonal`): one number
per pixel, which lights up the pixels that discriminate the task.

Both models return two logits ``[0, logit]``, so that their softmax is ``(1 − p, p)`` and
:func:`emergent.fisher.fisher_diagonal` applies to them unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .. import train

__all__ = [
    "TwoLayerSigmoid",
    "two_layer_fisher_diagonal",
    "two_layer_fisher",
    "PixelGainLogistic",
    "pixel_gain_fisher_diagonal",
    "fit_pixel_gain",
]


def _two_logits(logit: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(logit), logit], dim=-1)


class TwoLayerSigmoid(nn.Module):
    """:math:`p(y{=}1|x) = \\sigma(w^\\top\\sigma(Ux))`, no biases; parameters ``U.weight``
    ``(hidden, d_in)`` and ``w.weight`` ``(1, hidden)``; returns logits ``[0, w^T z]``."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.U = nn.Linear(d_in, hidden, bias=False)
        self.w = nn.Linear(hidden, 1, bias=False)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.U(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _two_logits(self.w(self.hidden(x)))


def _two_layer_terms(model: TwoLayerSigmoid, x: torch.Tensor):
    with torch.no_grad():
        z = model.hidden(x)
        p = torch.sigmoid(model.w(z))[:, 0]
        s = model.w.weight[0] * z * (1 - z)  # (N, hidden)
    return p, s


def two_layer_fisher_diagonal(model: TwoLayerSigmoid, x: torch.Tensor) -> torch.Tensor:
    """Closed-form diagonal of the first layer's Fisher,
    :math:`F_{jk} = \\mathbb{E}_x[p(1-p)\\,w_j^2 z_j^2(1-z_j)^2 x_k^2]`, shaped like ``U`` ``(hidden, d_in)``."""
    p, s = _two_layer_terms(model, x)
    return torch.einsum("n,nj,nk->jk", p * (1 - p), s.square(), x.square()) / x.shape[0]


def two_layer_fisher(model: TwoLayerSigmoid, x: torch.Tensor) -> torch.Tensor:
    """Closed-form full Fisher of the first layer, :math:`\\mathbb{E}_x[p(1-p)\\,(ss^\\top)\\otimes(xx^\\top)]`,
    ``(hidden·d_in, hidden·d_in)`` in the row-major order of ``U`` (index ``j·d_in + k``)."""
    p, s = _two_layer_terms(model, x)
    g = (s[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1)  # per-example score / (y - p)
    return torch.einsum("n,na,nb->ab", p * (1 - p), g, g) / x.shape[0]


class PixelGainLogistic(nn.Module):
    """Logistic regression on gained pixels: logit :math:`w^\\top(a\\odot x) + b`, gain ``a`` (init 1,
    parameter ``gain``) and head ``head`` (``nn.Linear(d, 1)``); returns logits ``[0, logit]``."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(d))
        self.head = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _two_logits(self.head(self.gain * x.flatten(1)))


def pixel_gain_fisher_diagonal(model: PixelGainLogistic, x: torch.Tensor) -> torch.Tensor:
    """Closed-form Fisher diagonal of the gain, :math:`F_{kk} = \\mathbb{E}_x[p(1-p)\\,w_k^2 x_k^2]`, ``(d,)``."""
    x = x.flatten(1)
    with torch.no_grad():
        p = torch.sigmoid(model.head(model.gain * x))[:, 0]
        w = model.head.weight[0]
    return ((p * (1 - p))[:, None] * (w * x).square()).mean(0)


def fit_pixel_gain(x: torch.Tensor, y: torch.Tensor, *, steps: int = 200, lr: float = 0.05,
                   weight_decay: float = 1e-3, seed: int = 0) -> PixelGainLogistic:
    """T2V-3's model for a binary task ``(x, y)``: the gain stays at 1 (frozen) while the logistic head
    trains through :func:`emergent.train.fit` (``steps`` full-batch Adam steps); returned in eval mode
    with every parameter trainable again, ready for :func:`emergent.fisher.fisher_diagonal`."""
    x = x.flatten(1).float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = PixelGainLogistic(x.shape[1])
    model.gain.requires_grad_(False)
    train.fit(model, (x, y.long()), epochs=int(steps), batch_size=x.shape[0], optimizer="adam", lr=lr,
              weight_decay=weight_decay, progress=False, seed=seed, desc="gain")
    model.gain.requires_grad_(True)
    return model.eval()
