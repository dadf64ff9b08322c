r"""Task2Vec, domain and trivial embeddings of a task on a probe network (thesis Ch. 5, §5.1).

**Task2Vec** (:func:`task2vec_embedding`). Retrain only a head on the probe's frozen features
(:func:`fit_head`), then take the diagonal of the Fisher information of the *feature extractor's*
weights with labels drawn from the model,

.. math:: F = \mathbb{E}_{x,y\sim\hat p(x)p_w(y|x)}\big[\nabla_w\log p_w(y|x)\,\nabla_w\log p_w(y|x)^\top\big],

and average it over the weights of each filter (:func:`filter_average`): one number per conv filter,
144 for the course's probe, whatever the number of classes or the meaning of the labels. It depends
on the labels only through :math:`p_w(y|x)`: permuting the classes (and the head's rows with them)
leaves it unchanged. We compute the diagonal exactly (sum over classes, per example,
:func:`emergent.fisher.fisher_diagonal`); ``estimator="sampled"`` draws labels instead and
``"minibatch"`` is the reference code's squared-minibatch-gradient shortcut, rescaled by the batch
size (:func:`emergent.fisher.fisher_diagonal_minibatch`). The thesis's own estimator is variational
(robust Fisher, with the trivial embedding as prior); we do not use it here.

**Head recipe** (course spec ch05 §3.1, our choice): a linear head on the features standardised with
the task's own statistics, 300 full-batch Adam steps, lr 1e-2, weight decay 1e-4, through
:func:`emergent.train.fit`. Keep it identical across tasks: the embedding's norm grows with head
training (sharper :math:`p` near the boundary), and the pilot saw it grow ×5 from 50 to 3,000 steps
at a constant error.

**Domain embedding** (:func:`domain_embedding`): the mean post-ReLU activation of each filter over
the task's images and positions; a function of :math:`p(x)` only (the thesis's :math:`C_1` reduced to
its filter means), so two tasks on the same images get the same domain embedding.

**Trivial embedding** (:func:`trivial_embedding`, our choice): the thesis's trivial embedding is the
prior :math:`\lambda^2 I` of its variational Fisher, what a task too easy or with too few samples
embeds to. The exact Fisher has no prior, so we take the prior of the reference code's variational
estimator, in its units (precisions): per layer :math:`1/\lambda_l^2` with :math:`\lambda_l^2` the
layer's mean squared weight, the same for every filter of the layer, times a free ``scale`` (or
matched to the mean of given embeddings). :math:`d_{asym}` depends on this choice; the pilot tried
three and saw expert selection change by −0.25 to +0.07 points (within its noise).
"""
from __future__ import annotations

import contextlib
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from .. import train
from ..fisher import fisher_diagonal, fisher_diagonal_minibatch
from .probe import LinearHead, Probe, TaskNet
from .tasks import Task

__all__ = [
    "HEAD_DEFAULTS",
    "ESTIMATORS",
    "filter_average",
    "probe_features",
    "fit_head",
    "head_error",
    "task2vec_embedding",
    "domain_embedding",
    "trivial_embedding",
    "embed_tasks",
]

#: The head recipe of :func:`fit_head` (identical for every task).
HEAD_DEFAULTS = dict(steps=300, lr=1e-2, weight_decay=1e-4)
#: ``estimator=`` values of :func:`task2vec_embedding`.
ESTIMATORS = ("exact", "sampled", "minibatch")


def filter_average(diag: Mapping[str, torch.Tensor], names: Sequence[str] | None = None) -> np.ndarray:
    """Average a per-weight quantity over the weights of each filter: for every tensor of shape
    ``(out, ...)`` (a conv weight ``(out, in, kh, kw)``, a linear weight ``(out, in)``), the mean over
    all but the first axis; concatenated in the order of ``names`` (default: the dict's order).
    Returns a float64 vector of length ``sum(out)``."""
    names = list(diag) if names is None else list(names)
    parts = []
    for k in names:
        t = diag[k].detach()
        if t.ndim < 2:
            raise ValueError(f"{k} has shape {tuple(t.shape)}: filter averaging needs an (out, ...) weight")
        parts.append(t.reshape(t.shape[0], -1).double().mean(1).cpu().numpy())
    return np.concatenate(parts)


@torch.no_grad()
def probe_features(probe: Probe, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    """:math:`\\phi_w(x)` of the probe in eval mode, ``(N, C)``, computed in chunks, no gradient."""
    was = probe.training
    probe.eval()
    z = torch.cat([probe.features(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])
    probe.train(was)
    return z


def _device(probe: nn.Module) -> torch.device:
    return next(probe.parameters()).device


def _xy(task: Task | Any, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = (task.x, task.y) if isinstance(task, Task) else task
    return x.to(dev), y.to(dev)


def fit_head(probe: Probe, task: Task | Any, *, steps: int = HEAD_DEFAULTS["steps"], lr: float = HEAD_DEFAULTS["lr"],
             weight_decay: float = HEAD_DEFAULTS["weight_decay"], seed: int = 0,
             init: nn.Linear | tuple[torch.Tensor, torch.Tensor] | None = None,
             n_classes: int | None = None) -> LinearHead:
    """Train a linear head for ``task`` on the probe's frozen features; returns it in eval mode.

    Features are standardised with the task's training statistics (fixed buffers of the
    :class:`LinearHead`; constant features are only centred, so they stay 0), then ``steps`` full-batch
    Adam steps through :func:`emergent.train.fit` (one epoch = one step). The initial weights are
    PyTorch's default for ``nn.Linear`` drawn under ``seed`` (the global random state is left as it
    was), or ``init`` (a linear layer or ``(weight, bias)``) copied. ``task`` is a :class:`Task` or a
    pair ``(x, y)`` (then ``n_classes`` defaults to ``max(y) + 1``); the data move to the probe's
    device (as in every function here).
    """
    x, y = _xy(task, _device(probe))
    k = task.n_classes if isinstance(task, Task) else (n_classes or int(y.max()) + 1)
    z = probe_features(probe, x)
    mean, std = z.mean(0), z.std(0, unbiased=False)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant (e.g. dead) feature stays ~0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        head = LinearHead(z.shape[1], k, mean, std)
    if init is not None:
        w, b = (init.weight, init.bias) if isinstance(init, nn.Module) else init
        with torch.no_grad():
            head.linear.weight.copy_(w)
            head.linear.bias.copy_(b)
    head.to(device=z.device, dtype=z.dtype)
    train.fit(head, (z, y), epochs=int(steps), batch_size=max(1, z.shape[0]), optimizer="adam", lr=lr,
              weight_decay=weight_decay, progress=False, seed=seed, desc="head")
    return head.eval()


@torch.no_grad()
def head_error(probe: Probe, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Classification error of ``head`` on the probe's features of ``(x, y)``."""
    was = head.training
    head.eval()
    dev = _device(probe)
    err = float((head(probe_features(probe, x.to(dev))).argmax(1) != y.to(dev)).double().mean())
    head.train(was)
    return err


@contextlib.contextmanager
def _measurable(params: Sequence[nn.Parameter]):
    """Temporarily mark ``params`` as requiring grad (a frozen probe can still be measured)."""
    old = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    try:
        yield
    finally:
        for p, r in zip(params, old):
            p.requires_grad_(r)


def task2vec_embedding(probe: Probe, task: Task | torch.Tensor, head: nn.Module | None = None, *,
                       estimator: str = "exact", n_samples: int = 1, batch_size: int = 32,
                       n_images: int | None = None, chunk: int | None = None,
                       generator: torch.Generator | None = None, return_head: bool = False,
                       **head_kw: Any):
    """The Task2Vec embedding of ``task``: the diagonal Fisher of the probe's conv weights, with the
    task's head attached, averaged per filter (a float64 vector of length ``probe.n_filters``).

    Args:
        probe: the probe network (its conv weights are measured, the head is the task's).
        task: a :class:`Task` (its training images), or images ``x`` when ``head`` is given.
        head: the task's head; default: :func:`fit_head` with ``head_kw`` (``steps``, ``lr``,
            ``weight_decay``, ``seed``, ``init``).
        estimator: ``"exact"`` (sum over classes), ``"sampled"`` (``n_samples`` labels per image from
            the model) or ``"minibatch"`` (squared minibatch-mean gradients of ``batch_size`` images,
            ×batch size, ``n_samples`` passes).
        n_images: use only the first ``n_images`` images.
        chunk, generator: passed to the Fisher estimator.
        return_head: also return the head, ``(embedding, head)``.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if head is None:
        if not isinstance(task, Task):
            raise ValueError("give a Task, or images together with their head")
        head = fit_head(probe, task, **head_kw)
    x = (task.x if isinstance(task, Task) else task).to(_device(probe))
    if n_images is not None:
        x = x[:n_images]
    net = TaskNet(probe, head).eval()
    names = net.filter_names()
    convs = [p for n, p in net.named_parameters() if n in names]
    with _measurable(convs):
        if estimator == "minibatch":
            diag = fisher_diagonal_minibatch(net, x, batch_size, params=names, epochs=n_samples,
                                             generator=generator, rescale=True)
        else:
            diag = fisher_diagonal(net, x, exact=estimator == "exact", params=names, n_samples=n_samples,
                                   chunk=chunk, generator=generator)
    emb = filter_average(diag, names)
    return (emb, head) if return_head else emb


@torch.no_grad()
def domain_embedding(probe: Probe, task: Task | torch.Tensor, chunk: int = 500) -> np.ndarray:
    """Mean post-ReLU activation of every conv filter over the task's images and positions
    (length ``probe.n_filters``, float64): depends on the images only, not on the labels."""
    x = (task.x if isinstance(task, Task) else task).to(_device(probe))
    if x.shape[0] == 0:
        raise ValueError("domain_embedding needs at least one image")
    was = probe.training
    probe.eval()
    sums = None
    for i in range(0, x.shape[0], chunk):
        acts = probe.activations(x[i:i + chunk])
        s = torch.cat([a.double().mean(dim=(-2, -1)).sum(0) for a in acts])
        sums = s if sums is None else sums + s
    probe.train(was)
    return (sums / x.shape[0]).cpu().numpy()


def trivial_embedding(probe: Probe, kind: str = "prior", scale: float = 1.0,
                      match: Any = None) -> np.ndarray:
    """The trivial embedding :math:`t_0` of :func:`emergent.task2vec.d_asym` (our choice; see the
    module docstring).

    ``kind="prior"``: every filter of conv layer ``l`` gets :math:`1/\\lambda_l^2`, with
    :math:`\\lambda_l^2` the mean squared weight of the layer (the reference code's initial prior
    precision); ``kind="uniform"``: all ones. Multiplied by ``scale``, or, with ``match`` (an
    ``(n, d)`` array of embeddings), rescaled so that its mean equals their mean.
    """
    if kind == "prior":
        parts = [np.full(c.out_channels, 1.0 / float(c.weight.detach().double().pow(2).mean())) for c in probe.convs]
        t0 = np.concatenate(parts)
    elif kind == "uniform":
        t0 = np.ones(probe.n_filters)
    else:
        raise ValueError(f"kind must be 'prior' or 'uniform', got {kind!r}")
    if match is not None:
        m = np.asarray(match.detach().cpu().numpy() if hasattr(match, "detach") else match, dtype=np.float64)
        scale = float(m.mean()) / float(t0.mean())
    return t0 * scale


def embed_tasks(probe: Probe, tasks: Sequence[Task], *, estimator: str = "exact", n_samples: int = 1,
                head_kw: Mapping[str, Any] | None = None, generator: torch.Generator | None = None) -> dict:
    """Embed a library of tasks on one probe with one head recipe.

    Returns a dict: ``names``, ``fisher`` ``(n, d)`` (Task2Vec), ``domain`` ``(n, d)``,
    ``train_error`` and ``test_error`` of each task's head (NaN without a test set), ``heads`` (the
    heads, in eval mode) and ``seconds`` (``head``, ``fisher``, ``domain``: totals over tasks).
    """
    import time

    head_kw = dict(head_kw or {})
    out = dict(names=[], fisher=[], domain=[], train_error=[], test_error=[], heads=[],
               seconds=dict(head=0.0, fisher=0.0, domain=0.0))
    for t in tasks:
        t0 = time.perf_counter()
        head = fit_head(probe, t, **head_kw)
        t1 = time.perf_counter()
        emb = task2vec_embedding(probe, t, head, estimator=estimator, n_samples=n_samples, generator=generator)
        t2 = time.perf_counter()
        dom = domain_embedding(probe, t)
        t3 = time.perf_counter()
        out["names"].append(t.name)
        out["fisher"].append(emb)
        out["domain"].append(dom)
        out["heads"].append(head)
        out["train_error"].append(head_error(probe, head, t.x, t.y))
        out["test_error"].append(head_error(probe, head, t.x_test, t.y_test) if t.x_test is not None else float("nan"))
        for k, dt in (("head", t1 - t0), ("fisher", t2 - t1), ("domain", t3 - t2)):
            out["seconds"][k] += dt
    out["fisher"] = np.stack(out["fisher"])
    out["domain"] = np.stack(out["domain"])
    out["train_error"] = np.array(out["train_error"])
    out["test_error"] = np.array(out["test_error"])
    return out
