r"""Trace and diagonal of the Fisher information of the weights (thesis §6.2, §4; Ch. 5 for the diagonal).

For a classifier :math:`p_w(y|x)` the Fisher information matrix of the weights is

.. math::
    F = \mathbb{E}_{x\sim\hat Q(x)}\,\mathbb{E}_{\hat y\sim p_w(\hat y|x)}
        \big[\nabla_w \log p_w(\hat y|x)\,\nabla_w \log p_w(\hat y|x)^\top\big],

so that :math:`\mathbb{E}_x \mathrm{KL}(p_{w+\delta w}\,\|\,p_w) = \tfrac12\,\delta w^\top F\,\delta w
+ o(\|\delta w\|^2)` (the thesis, Ch. 5 and 6, prints it without the ½: an erratum),
and its trace is the mean, over examples, of the squared norm of the **per-example** gradient of
:math:`\log p_w(\hat y|x)`, with :math:`\hat y` drawn from the *model's own* predictive
distribution. It is never the squared norm of the batch-mean gradient (that would measure the
gradient's mean, not its second moment).

Three estimators of the inner expectation (:func:`fisher_trace`):

* ``kind="true"`` (default): ``n_samples`` labels sampled from :math:`p_w(\cdot|x)` per example
  (unbiased Monte-Carlo); with ``exact=True`` the expectation is computed exactly,
  :math:`\sum_k p_w(k|x)\,\|\nabla_w \log p_w(k|x)\|^2` (one backward pass per class);
* ``kind="empirical"``: the true labels ``y`` instead (the "empirical Fisher", which is a
  gradient second moment, not the Fisher; the thesis insists on the difference, §6.3).

Per-example gradients use :mod:`torch.func`: one forward pass per example (``vjp``) and as many
vector-Jacobian products as labels, all vmapped over a chunk of examples. Results are accumulated
on the device and converted to Python floats once at the end (no host syncs in the loop), so the
same code runs on CUDA. :func:`fisher_trace_loop` is a slow, plain-autograd reference.

For softmax regression the true Fisher has a closed form,
:func:`logistic_fisher_trace_closed_form`: with logits :math:`z = Wx + b`,
:math:`\nabla_z \log p(y|x) = e_y - p`, so :math:`\nabla_W = (e_y - p)x^\top`,
:math:`\nabla_b = e_y - p`, :math:`\|\nabla_{W,b}\|^2 = \|e_y-p\|^2(\|x\|^2+1)` and
:math:`\mathbb{E}_{y\sim p}\|e_y - p\|^2 = 1 - \|p\|^2 = \sum_k p_k(1-p_k)`, hence

.. math:: \operatorname{tr} F = \mathbb{E}_x\big[(\|x\|^2 + 1)\textstyle\sum_k p_k(x)(1-p_k(x))\big].

(Binary logistic regression with one logit :math:`z = w\cdot x + b`, :math:`p=\sigma(z)`:
:math:`\operatorname{tr} F = \mathbb{E}_x[(\|x\|^2+1)\,p(1-p)]`.)

**The diagonal** (thesis Ch. 5, the Task2Vec embedding). :func:`fisher_diagonal` returns, per
parameter, the diagonal of the same true Fisher,

.. math:: F_{ii} = \mathbb{E}_{x}\textstyle\sum_k p_w(k|x)\,\big(\partial_{w_i} \log p_w(k|x)\big)^2,

shaped like the parameter (so that the diagonals sum to :func:`fisher_trace`'s per-parameter traces,
with the same normalisation: a mean over the inputs). It is the local metric of the thesis's
KL/Fisher expansion, :math:`\mathbb{E}_x \mathrm{KL}(p_{w+\delta}\|p_w) = \tfrac12\,\delta^\top F\delta
+ o(\|\delta\|^2)`. :func:`fisher_diagonal_loop` is the plain-autograd reference and
:func:`fisher_diagonal_minibatch` the cheap "Monte-Carlo" shortcut of the Task2Vec reference code,
which squares *minibatch-mean* gradients (its expectation is the diagonal divided by the batch size). :func:`fisher_cotangents` gives the exact diagonal with
:math:`C-1` backward passes per input instead of one per class.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Mapping

import torch
import torch.nn as nn
from torch.func import functional_call, vjp, vmap

__all__ = [
    "NORMALIZATIONS",
    "sample_model_labels",
    "fisher_trace",
    "fisher_trace_loop",
    "logistic_fisher_trace_closed_form",
    "fisher_cotangents",
    "fisher_diagonal",
    "fisher_diagonal_loop",
    "fisher_diagonal_minibatch",
    "layer_of",
    "shares",
]

#: Per-layer normalisations accepted by ``normalize=``.
#:
#: * ``"count"``: ``tr F_l / n_l``, the mean diagonal entry of the layer (``n_l`` parameters).
#: * ``"relative"``: ``sum_i F_ii w_i**2`` -- the trace of the Fisher with respect to *relative*
#:   perturbations ``w_i -> w_i (1 + eps_i)`` (i.e. in log-weight coordinates). It is invariant to
#:   rescaling a layer's weights, which is what matters with BatchNorm: scaling a conv's weights
#:   by ``a`` in front of a BN layer leaves the function unchanged, divides its gradients by ``a``
#:   and so divides its raw trace by ``a**2``, which weight decay then drives arbitrarily; the raw
#:   per-layer traces are not comparable, ``sum F_ii w_i**2`` is. (Note that *dividing* the trace by
#:   ``||w||**2`` would not be invariant: it scales as ``a**-4``.)
#: * ``"weight_norm"``: ``tr F_l * ||w_l||**2 / n_l``, another scale-invariant form that only needs
#:   the layer trace (exact for isotropic layers, cruder than ``"relative"``).
NORMALIZATIONS = (None, "count", "relative", "weight_norm")


def layer_of(param_name: str) -> str:
    """The module a parameter belongs to: ``"features.3.weight" -> "features.3"``."""
    return param_name.rsplit(".", 1)[0] if "." in param_name else param_name


def shares(values: Mapping[str, float]) -> dict[str, float]:
    """Normalise per-layer values to fractions of their sum (the thesis's Fig 6.5 shows these)."""
    total = sum(values.values())
    return {k: (v / total if total else float("nan")) for k, v in values.items()}


def _generator_rand(shape, generator, device, dtype):
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def sample_model_labels(
    logits: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw ``n_samples`` labels per row from ``softmax(logits)``: ``(N, C) -> (N, n_samples)``.

    Inverse-CDF sampling from ``torch.rand(N, n_samples)``, so the draw depends only on the
    generator's state and the probabilities (the same in :func:`fisher_trace` and the loop).
    ``generator`` may live on another device than ``logits``.
    """
    p = torch.softmax(logits.detach().double(), dim=-1)
    cdf = p.cumsum(-1)
    u = _generator_rand((p.shape[0], n_samples), generator, p.device, torch.float64)
    u = u * cdf[:, -1:]  # guard against rounding: the last cdf entry may be 1 - 1e-16
    idx = torch.searchsorted(cdf, u, right=True)
    return idx.clamp_(max=p.shape[-1] - 1)


def _select_params(model: nn.Module, params: Iterable[str] | None) -> "OrderedDict[str, torch.Tensor]":
    named = OrderedDict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    if params is not None:
        wanted = list(params)
        missing = [n for n in wanted if n not in named]
        if missing:
            raise KeyError(f"unknown parameters {missing}")
        named = OrderedDict((n, named[n]) for n in wanted)
    if not named:
        raise ValueError("the model has no trainable parameters to measure")
    return named



def _functional_log_softmax(model: nn.Module, named: "OrderedDict[str, torch.Tensor]"):
    """The parameters to differentiate (detached) and ``logp(p, xi)``: the log-softmax of the model's
    output for one input ``xi`` with those parameters set to ``p`` and every other parameter and
    buffer as they are (for ``torch.func`` transforms)."""
    detached = {k: v.detach() for k, v in named.items()}
    frozen = {k: v.detach() for k, v in model.named_parameters() if k not in named}
    buffers = dict(model.named_buffers())

    def logp_fn(p, xi):
        out = functional_call(model, ({**p, **frozen}, buffers), (xi.unsqueeze(0),))
        return torch.log_softmax(out, dim=-1)[0]

    return detached, logp_fn

class _EvalMode:
    """Temporarily put a model in eval mode (BatchNorm uses running stats, dropout off)."""

    def __init__(self, model: nn.Module, enabled: bool):
        self.model, self.enabled, self.was = model, enabled, model.training

    def __enter__(self):
        if self.enabled:
            self.model.eval()

    def __exit__(self, *exc):
        if self.enabled:
            self.model.train(self.was)


def _labels_and_weights(kind, exact, n_samples, logits, y, generator):
    """Per-example label sets ``(N, K)`` and their weights ``(N, K)`` for the chosen estimator."""
    n, c = logits.shape
    if kind == "empirical":
        if y is None:
            raise ValueError("kind='empirical' needs the true labels y")
        labels = y.reshape(n, 1).long().to(logits.device)
        return labels, torch.ones(n, 1, dtype=logits.dtype, device=logits.device)
    if exact:
        labels = torch.arange(c, device=logits.device).expand(n, c)
        return labels, torch.softmax(logits.detach(), -1)
    labels = sample_model_labels(logits, n_samples, generator)
    return labels, torch.full((n, n_samples), 1.0 / n_samples, dtype=logits.dtype, device=logits.device)


def _finish(sum_sq, sum_rel, n, named, normalize, per_layer):
    """Turn device accumulators ``{param: tensor}`` into the returned floats (one transfer)."""
    names = list(named)
    m = len(names)
    dev = sum_sq[names[0]].device
    stacked = torch.cat([
        torch.stack([sum_sq[k] for k in names]) / n,
        torch.stack([sum_rel[k] for k in names]) / n,
        torch.stack([named[k].detach().double().pow(2).sum().to(dev) for k in names]),
    ])
    vals = stacked.double().cpu().tolist()  # the only host synchronisation
    per_param = dict(zip(names, vals[:m]))
    rel_param = dict(zip(names, vals[m:2 * m]))
    wnorms = dict(zip(names, vals[2 * m:]))
    total = sum(per_param.values())
    if not per_layer:
        return total
    layers: dict[str, float] = OrderedDict()
    rel: dict[str, float] = OrderedDict()
    count: dict[str, int] = OrderedDict()
    sqnorm: dict[str, float] = OrderedDict()
    for k in names:
        L = layer_of(k)
        layers[L] = layers.get(L, 0.0) + per_param[k]
        rel[L] = rel.get(L, 0.0) + rel_param[k]
        count[L] = count.get(L, 0) + named[k].numel()
        sqnorm[L] = sqnorm.get(L, 0.0) + wnorms[k]
    out = {"total": total, "layers": dict(layers), "params": per_param, "numel": dict(count)}
    if normalize is not None:
        if normalize == "count":
            out["normalized"] = {L: layers[L] / count[L] for L in layers}
        elif normalize == "relative":
            out["normalized"] = dict(rel)
        elif normalize == "weight_norm":
            out["normalized"] = {L: layers[L] * sqnorm[L] / count[L] for L in layers}
        out["normalize"] = normalize
    return out


def fisher_trace(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    kind: str = "true",
    n_samples: int = 1,
    per_layer: bool = True,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
    *,
    exact: bool = False,
    normalize: str | None = None,
    params: Iterable[str] | None = None,
    eval_mode: bool = True,
    memory_mb: float = 512.0,
):
    """Trace of the Fisher information of the weights, from per-example gradients (torch.func).

    Args:
        model: a classifier returning logits ``(N, C)``; its softmax is :math:`p_w(y|x)`.
        x: inputs ``(N, ...)`` on the model's device.
        y: true labels ``(N,)``; needed only for ``kind="empirical"``.
        kind: ``"true"`` (labels from the model) or ``"empirical"`` (labels ``y``).
        n_samples: labels sampled per example for ``kind="true"`` (Monte-Carlo).
        per_layer: return a dict with per-layer and per-parameter traces (else just the total).
        chunk_size: examples per vmapped call; default: as many as fit in ``memory_mb`` of
            per-example gradients (larger chunks are faster, the peak memory grows linearly).
        generator: random source for the sampled labels (any device).
        exact: with ``kind="true"``, sum over all classes weighted by :math:`p_w(k|x)` instead of
            sampling: the exact expected Fisher (``C`` backward passes per example).
        normalize: ``None``, ``"count"``, ``"relative"`` or ``"weight_norm"``; adds a
            ``"normalized"`` per-layer dict (see :data:`NORMALIZATIONS`; ``"relative"``,
            :math:`\\sum_i F_{ii} w_i^2`, is the scale-invariant choice for nets with BatchNorm).
        params: names of the parameters to include (default: all with ``requires_grad``).
        eval_mode: evaluate the model in eval mode (BatchNorm with running statistics) and restore
            its mode afterwards. A per-example Fisher needs a per-example model, so train-mode
            BatchNorm (batch statistics) is not supported.
        memory_mb: budget for the default ``chunk_size``.

    Returns:
        ``float`` total trace if ``per_layer=False``; otherwise a dict with ``"total"``,
        ``"layers"`` (module name -> trace; these sum to the total), ``"params"`` (parameter name
        -> trace), ``"numel"`` (module -> parameter count) and, with ``normalize``,
        ``"normalized"``. The total is :math:`\\operatorname{tr} F` averaged over the ``N`` inputs.
    """
    kind = kind.lower()
    if kind not in ("true", "empirical"):
        raise ValueError("kind must be 'true' or 'empirical'")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}")
    if n_samples < 1:
        raise ValueError("n_samples must be >= 1")
    named = _select_params(model, params)
    detached, logp_fn = _functional_log_softmax(model, named)
    n = x.shape[0]
    want_rel = per_layer and normalize == "relative"  # sum_i F_ii w_i^2 costs one more pass
    numel = sum(v.numel() for v in detached.values())
    elt = next(iter(detached.values())).element_size()

    def per_example(xi, cot):
        # one forward pass, then one vector-Jacobian product per label (vmapped over the K
        # one-hot cotangents ``cot`` of shape (K, C)): the K gradients of log p(label | xi)
        _, pullback = vjp(lambda p: logp_fn(p, xi), detached)
        (g,) = vmap(pullback)(cot)  # {name: (K, *shape)}
        # squared norms per label, (K,); vector_norm is a single fused reduction (no g**2 temporary)
        sq = {k: torch.linalg.vector_norm(g[k].flatten(1), dim=1).square() for k in g}
        if not want_rel:
            return sq, sq
        rel = {k: torch.linalg.vector_norm((g[k] * detached[k]).flatten(1), dim=1).square() for k in g}
        return sq, rel

    batched = vmap(per_example)
    sum_sq = {k: torch.zeros((), dtype=torch.float64, device=v.device) for k, v in detached.items()}
    sum_rel = {k: torch.zeros((), dtype=torch.float64, device=v.device) for k, v in detached.items()}
    with _EvalMode(model, eval_mode), torch.no_grad():
        # logits of all inputs first, so that the labels are sampled in a single draw
        probe = chunk_size or max(1, min(n, 1024))
        logits = torch.cat([model(x[i:i + probe]) for i in range(0, n, probe)]).detach()
        labels, weights = _labels_and_weights(kind, exact, n_samples, logits, y, generator)
        k_per = labels.shape[1]
        # one-hot cotangents (N, K, C), built with scatter (no host sync, unlike one_hot on CUDA)
        cots = torch.zeros(*labels.shape, logits.shape[-1], dtype=logits.dtype, device=logits.device)
        cots.scatter_(-1, labels.unsqueeze(-1), 1.0)
        if chunk_size is None:
            per_ex_bytes = k_per * numel * elt * (3 if want_rel else 1.5)  # the K gradients (+ g*w)
            chunk_size = max(1, min(n, int(memory_mb * 2**20 // max(per_ex_bytes, 1))))
        for i in range(0, n, chunk_size):
            xs, ws = x[i:i + chunk_size], weights[i:i + chunk_size]
            with torch.enable_grad():
                sq, rel = batched(xs, cots[i:i + chunk_size])
            for k in sum_sq:
                sum_sq[k] += (sq[k].double() * ws.double()).sum()
                if want_rel:
                    sum_rel[k] += (rel[k].double() * ws.double()).sum()
    return _finish(sum_sq, sum_rel, n, named, normalize, per_layer)


def fisher_trace_loop(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    kind: str = "true",
    n_samples: int = 1,
    per_layer: bool = True,
    generator: torch.Generator | None = None,
    *,
    exact: bool = False,
    normalize: str | None = None,
    params: Iterable[str] | None = None,
    eval_mode: bool = True,
):
    """Brute-force reference for :func:`fisher_trace`: a Python loop over examples and labels
    with ``torch.autograd.grad``. Same arguments and return value; slow, for tests only.

    With the same ``generator`` state it samples the same labels as :func:`fisher_trace`
    (both call :func:`sample_model_labels` once on the logits of all inputs).
    """
    kind = kind.lower()
    named = _select_params(model, params)
    plist = list(named.values())
    n = x.shape[0]
    with _EvalMode(model, eval_mode):
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + 1]) for i in range(n)])
        labels, weights = _labels_and_weights(kind, exact, n_samples, logits, y, generator)
        sum_sq = {k: torch.zeros((), dtype=torch.float64, device=v.device) for k, v in named.items()}
        sum_rel = {k: torch.zeros((), dtype=torch.float64, device=v.device) for k, v in named.items()}
        for i in range(n):
            logp = torch.log_softmax(model(x[i:i + 1]), dim=-1)[0]
            for j in range(labels.shape[1]):
                grads = torch.autograd.grad(logp[labels[i, j]], plist, retain_graph=True, allow_unused=True)
                for (k, p), g in zip(named.items(), grads):
                    if g is None:
                        g = torch.zeros_like(p)
                    w = weights[i, j].double()
                    sum_sq[k] += w * g.double().pow(2).sum()
                    sum_rel[k] += w * (g.double() * p.detach().double()).pow(2).sum()
    return _finish(sum_sq, sum_rel, n, named, normalize, per_layer)


def logistic_fisher_trace_closed_form(
    W: torch.Tensor, b: torch.Tensor | None, x: torch.Tensor, *, per_layer: bool = False
):
    r"""Exact true-Fisher trace of (softmax or binary) logistic regression, in closed form.

    Softmax regression, ``W`` of shape ``(C, D)`` with ``C >= 2``, logits ``z = W x + b``:

    .. math:: \operatorname{tr} F = \mathbb{E}_x\big[(\|x\|^2 + 1)\,\textstyle\sum_k p_k(1-p_k)\big]

    (the ``+1`` is the bias; drop it with ``b=None``). Binary logistic regression, ``W`` of
    shape ``(D,)`` or ``(1, D)``, one logit ``z = w\cdot x + b`` and :math:`p=\sigma(z)`:
    :math:`\operatorname{tr} F = \mathbb{E}_x[(\|x\|^2+1)\,p(1-p)]`.

    Args:
        W, b: the weights and bias (``b=None`` for a model without bias).
        x: inputs ``(N, D)`` (flattened).
        per_layer: return ``{"total", "weight", "bias"}`` instead of the total.
    """
    x = x.detach().reshape(x.shape[0], -1).double()
    W = W.detach().double()
    b = None if b is None else b.detach()
    binary = W.ndim == 1 or W.shape[0] == 1
    z = x @ W.reshape(-1, x.shape[1]).T
    if b is not None:
        z = z + b.double().reshape(-1)
    if binary:
        p = torch.sigmoid(z[:, 0])
        v = p * (1 - p)
    else:
        p = torch.softmax(z, dim=-1)
        v = (p * (1 - p)).sum(-1)  # = E_{y~p} ||e_y - p||^2 = 1 - ||p||^2
    weight = float((x.pow(2).sum(1) * v).mean())
    bias = float(v.mean()) if b is not None else 0.0
    if per_layer:
        return {"total": weight + bias, "weight": weight, "bias": bias}
    return weight + bias


# --------------------------------------------------------------------------------------------
# The diagonal of the Fisher (Task2Vec, thesis Ch. 5)
# --------------------------------------------------------------------------------------------


def fisher_cotangents(
    logits: torch.Tensor, exact: bool = True, n_samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Cotangents ``(N, M, C)`` whose vector-Jacobian products through ``log_softmax`` give the Fisher.

    For one input with class probabilities :math:`p` and logit Jacobian :math:`J`, the score of class
    :math:`k` is :math:`J^\top(e_k - p)` and the Fisher is :math:`J^\top \Sigma J` with
    :math:`\Sigma = \mathrm{diag}(p) - pp^\top = \sum_k p_k (e_k - p)(e_k - p)^\top`. Any factorisation
    :math:`\Sigma = \sum_m v_m v_m^\top` with :math:`\sum_j (v_m)_j = 0` gives
    :math:`\mathrm{diag} F = \sum_m (J^\top v_m)^2`, and the vector-Jacobian product of
    ``log_softmax`` with a zero-sum cotangent :math:`v` is :math:`J^\top v`.

    * ``exact=True``: the stick-breaking factorisation of rank :math:`C-1` (one product fewer than
      one per class; a binary task needs one), with :math:`s_m = \sum_{j\ge m} p_j`,
      :math:`v_m = \sqrt{p_m s_{m+1}/s_m}\,\big(e_m - \sum_{j>m} p_j e_j / s_{m+1}\big)`,
      :math:`m = 1..C-1` (the multinomial covariance as a sum of nested Bernoulli splits);
    * ``exact=False``: ``n_samples`` one-hot rows :math:`e_{\hat y}/\sqrt{S}` of labels drawn from
      the model (:func:`sample_model_labels`): an unbiased Monte-Carlo estimate.
    """
    if n_samples < 1:
        raise ValueError("n_samples must be >= 1")
    n, c = logits.shape
    if not exact:
        labels = sample_model_labels(logits, n_samples, generator)
        cots = torch.zeros(n, n_samples, c, dtype=logits.dtype, device=logits.device)
        return cots.scatter_(-1, labels.unsqueeze(-1), n_samples ** -0.5)
    if c < 2:
        return torch.zeros(n, 1, c, dtype=logits.dtype, device=logits.device)
    p = torch.softmax(logits.detach().double(), dim=-1)
    s = p.flip(-1).cumsum(-1).flip(-1)  # s[:, m] = sum_{j >= m} p_j
    s_next, s_here = s[:, 1:], s[:, :-1]  # (N, C-1): s_{m+1}, s_m
    ok = s_next > 0
    coef = torch.where(ok, p[:, :-1] * s_next / torch.where(s_here > 0, s_here, 1.0), 0.0).clamp_min(0).sqrt()
    later = torch.ones(c - 1, c, dtype=torch.bool, device=p.device).triu(1)  # j > m
    q = torch.where(later, p[:, None, :], 0.0) / torch.where(ok, s_next, 1.0)[..., None]
    eye = torch.eye(c - 1, c, dtype=p.dtype, device=p.device)
    return (coef[..., None] * (eye - q)).to(logits.dtype)


def _hookable(model: nn.Module, named: Mapping[str, torch.Tensor]):
    """``{module: [(param name, "weight" | "bias")]}`` if every selected parameter belongs to one
    ``nn.Linear`` or plain ``nn.Conv2d`` (zero padding, one group) and to no other module, else ``None``."""
    owner, uses = {}, {}
    for mname, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            owner[f"{mname}.{pname}" if mname else pname] = (mod, pname)
            uses[id(p)] = uses.get(id(p), 0) + 1
    out: dict = {}
    for k in named:
        if uses.get(id(named[k]), 0) != 1:  # tied to another module's parameter
            return None
        mod, pname = owner.get(k, (None, None))
        ok_conv = (isinstance(mod, nn.Conv2d) and mod.groups == 1 and mod.padding_mode == "zeros"
                   and not isinstance(mod.padding, str))
        if not (isinstance(mod, nn.Linear) or ok_conv) or pname not in ("weight", "bias"):
            return None
        out.setdefault(mod, []).append((k, pname))
    return out


def _diag_chunk_hooks(model, mods, xs, cots, acc) -> bool:
    """Add the chunk's per-example squared gradients to ``acc``, with forward hooks: per module,
    each example's input and output gradient give its weight gradient (an outer product for a
    linear layer, with the unfolded input patches for a conv). ``cots=None``: the exact cotangents
    of the chunk's own logits. False (nothing added) if a module ran twice, its output was changed
    in place or the input is not floating point, where this shortcut does not apply."""
    if not xs.is_floating_point():
        return False
    seen: dict = {}

    def hook(mod, inp, out):
        seen.setdefault(mod, []).append((inp[0].detach(), out, out._version))

    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        with torch.enable_grad():
            logp = torch.log_softmax(model(xs.detach().requires_grad_(True)), dim=-1)
    finally:
        for h in handles:
            h.remove()
    if any(len(seen.get(m, ())) != 1 or seen[m][0][1]._version != seen[m][0][2]
           or not seen[m][0][1].requires_grad for m in mods):
        return False
    outs = [seen[m][0][1] for m in mods]
    n = xs.shape[0]
    if cots is None:  # exact: the cotangents of this chunk, from its own forward pass
        cots = fisher_cotangents(logp.detach(), True)
    patches = {}
    for m in mods:
        inp = seen[m][0][0]
        if isinstance(m, nn.Conv2d):
            patches[m] = torch.nn.functional.unfold(inp, m.kernel_size, m.dilation, m.padding, m.stride)
        else:
            patches[m] = inp.reshape(n, -1, inp.shape[-1])  # (n, positions, in)
    for j in range(cots.shape[1]):
        grads = torch.autograd.grad(logp, outs, grad_outputs=cots[:, j], retain_graph=j + 1 < cots.shape[1])
        for m, d in zip(mods, grads):
            if isinstance(m, nn.Conv2d):
                d = d.reshape(n, d.shape[1], -1)  # (n, C_out, L)
                gw = torch.bmm(d, patches[m].transpose(1, 2)).reshape(n, *m.weight.shape)
                gb = d.sum(-1)
            else:
                d = d.reshape(n, -1, d.shape[-1])  # (n, positions, out)
                gw = torch.bmm(d.transpose(1, 2), patches[m])
                gb = d.sum(1)
            for k, pname in mods[m]:
                g = gw if pname == "weight" else gb
                acc[k] += g.mul_(g).sum(0).double()  # squared in place: g is not used again
    return True


def fisher_diagonal(
    model: nn.Module,
    x: torch.Tensor,
    exact: bool = True,
    params: Iterable[str] | None = None,
    n_samples: int = 1,
    chunk: int | None = None,
    generator: torch.Generator | None = None,
    *,
    method: str = "auto",
    eval_mode: bool = True,
    memory_mb: float = 256.0,
) -> "OrderedDict[str, torch.Tensor]":
    r"""Diagonal of the true Fisher information of the weights, from per-example gradients.

    .. math:: F_{ii} = \frac1N\sum_{n=1}^N \mathbb{E}_{\hat y\sim p_w(\cdot|x_n)}
              \big(\partial_{w_i}\log p_w(\hat y|x_n)\big)^2

    (thesis Ch. 5, the FIM :math:`F = \mathbb{E}_{x,y\sim\hat p(x)p_w(y|x)}[\nabla_w\log p_w\,\nabla_w\log p_w^\top]`,
    of which Task2Vec keeps the diagonal). With ``exact=True`` the inner expectation is computed
    exactly, :math:`\sum_k p_w(k|x_n)(\partial_{w_i}\log p_w(k|x_n))^2`, as
    :math:`\sum_{m<C}(J^\top v_m)_i^2` with the rank-:math:`(C-1)` factorisation of
    :func:`fisher_cotangents` (``C − 1`` vector-Jacobian products per input); with ``exact=False``
    it is the mean over ``n_samples`` labels drawn from the model (unbiased Monte Carlo). Labels come
    from the model, never from the data: the Fisher, not the empirical Fisher.

    Two ways to get the per-example gradients, with the same numbers (``method``):

    * ``method="vmap"``: the machinery of :func:`fisher_trace` (``torch.func``: one forward pass per
      example, ``vmap`` over the cotangents and over a chunk of examples); any model;
    * ``method="hooks"``: one batched forward pass per chunk and one batched backward pass per
      cotangent, with forward hooks that keep each layer's input; the per-example gradient of a
      linear layer is the outer product of output gradient and input, that of a conv layer the
      product of the output gradient with the unfolded input patches. Only for weights and biases
      of ``nn.Linear`` and plain ``nn.Conv2d`` layers (not tied to another module), each run once
      per forward pass and used only there, in a model that treats examples independently (eval
      mode: no train-mode BatchNorm); several times faster (it falls back to ``"vmap"``, or raises
      with ``method="hooks"``, when a layer runs twice or its output is changed in place);
    * ``method="auto"`` (default): ``"hooks"`` where it applies, else ``"vmap"``.

    The diagonals sum to :func:`fisher_trace`'s per-parameter traces (same normalisation, a mean
    over inputs): ``fisher_diagonal(m, x)[k].sum() == fisher_trace(m, x, exact=True)["params"][k]``.

    Args:
        model: a classifier returning logits ``(N, C)``.
        x: inputs ``(N, ...)`` on the model's device.
        exact: the exact expectation over classes (default) instead of sampled labels.
        params: names of the parameters to include (default: all with ``requires_grad``).
        n_samples: labels sampled per example when ``exact=False``.
        chunk: examples per batched call; default: as many as fit in ``memory_mb`` of per-example
            gradients, at most 256.
        generator: random source of the sampled labels (any device).
        method: ``"auto"``, ``"hooks"`` or ``"vmap"`` (see above).
        eval_mode: evaluate in eval mode (BatchNorm with running statistics), restoring the mode.
        memory_mb: budget for the default ``chunk``.

    Returns:
        ``{name: tensor}`` in the order of ``model.named_parameters()`` (or of ``params``), each
        float64, on the parameter's device and shaped like the parameter.
    """
    if method not in ("auto", "hooks", "vmap"):
        raise ValueError("method must be 'auto', 'hooks' or 'vmap'")
    if x.shape[0] == 0:
        raise ValueError("fisher_diagonal needs at least one input")
    named = _select_params(model, params)
    mods = _hookable(model, named) if method != "vmap" else None
    if method == "hooks" and mods is None:
        raise ValueError("method='hooks' needs weights and biases of nn.Linear or plain nn.Conv2d layers only")
    detached, logp_fn = _functional_log_softmax(model, named)
    n = x.shape[0]
    numel = sum(v.numel() for v in detached.values())
    elt = next(iter(detached.values())).element_size()

    def per_example(xi, cot):
        # M gradients J^T v_m from one forward pass, then sum_m (J^T v_m)**2
        _, pullback = vjp(lambda p: logp_fn(p, xi), detached)
        (g,) = vmap(pullback)(cot)  # {name: (M, *shape)}
        return {k: g[k].square().sum(0) for k in g}

    batched = vmap(per_example)
    acc = OrderedDict((k, torch.zeros(v.shape, dtype=torch.float64, device=v.device)) for k, v in detached.items())
    # sampled labels are drawn once for all inputs (the same draw as fisher_diagonal_loop); the
    # exact cotangents of the hooks path come from each chunk's own forward pass
    pre_pass = not (exact and mods is not None)
    with _EvalMode(model, eval_mode), torch.no_grad():
        cots = None
        if pre_pass:
            step = chunk or max(1, min(n, 1024))
            logits = torch.cat([model(x[i:i + step]) for i in range(0, n, step)]).detach()
            cots = fisher_cotangents(logits, exact, n_samples, generator)
        if chunk is None:  # per-example gradients and their squares; at most 256 inputs (activations)
            per_ex_bytes = (cots.shape[1] if pre_pass else 1) * numel * elt * 2.0
            chunk = max(1, min(n, 256, int(memory_mb * 2**20 // max(per_ex_bytes, 1))))
        for i in range(0, n, chunk):
            xs = x[i:i + chunk]
            cs = cots[i:i + chunk] if cots is not None else None
            if mods is not None:
                if _diag_chunk_hooks(model, mods, xs, cs, acc):
                    continue
                if method == "hooks":
                    raise ValueError("method='hooks' does not apply: a layer runs twice per forward pass "
                                     "or its output is changed in place; use method='vmap'")
                mods = None  # fall back to vmap for this and the remaining chunks
            if cs is None:
                cs = fisher_cotangents(model(xs).detach(), True)
            with torch.enable_grad():
                d = batched(xs, cs)
            for k in acc:
                acc[k] += d[k].double().sum(0)
    return OrderedDict((k, v / n) for k, v in acc.items())


def fisher_diagonal_loop(
    model: nn.Module,
    x: torch.Tensor,
    exact: bool = True,
    params: Iterable[str] | None = None,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    *,
    eval_mode: bool = True,
) -> "OrderedDict[str, torch.Tensor]":
    """Brute-force reference for :func:`fisher_diagonal`: a Python loop over examples and labels,
    one ``torch.autograd.grad`` call each. Same arguments (no ``chunk``) and return value; slow.

    With the same ``generator`` state it samples the same labels as :func:`fisher_diagonal`.
    """
    named = _select_params(model, params)
    plist = list(named.values())
    n = x.shape[0]
    acc = OrderedDict((k, torch.zeros(v.shape, dtype=torch.float64, device=v.device)) for k, v in named.items())
    with _EvalMode(model, eval_mode):
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + 1]) for i in range(n)])
        labels, weights = _labels_and_weights("true", exact, n_samples, logits, None, generator)
        for i in range(n):
            logp = torch.log_softmax(model(x[i:i + 1]), dim=-1)[0]
            for j in range(labels.shape[1]):
                grads = torch.autograd.grad(logp[labels[i, j]], plist, retain_graph=True, allow_unused=True)
                for (k, p), g in zip(named.items(), grads):
                    if g is not None:
                        acc[k] += weights[i, j].double() * g.double().square()
    return OrderedDict((k, v / n) for k, v in acc.items())


def fisher_diagonal_minibatch(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = 32,
    params: Iterable[str] | None = None,
    epochs: int = 1,
    generator: torch.Generator | None = None,
    *,
    rescale: bool = False,
    eval_mode: bool = True,
) -> "OrderedDict[str, torch.Tensor]":
    r"""The Task2Vec reference code's "Monte-Carlo" Fisher: squared **minibatch-mean** gradients.

    For each minibatch :math:`B` (consecutive rows of ``x``, in order) one label per example is
    drawn from the model, :math:`\hat y_n\sim p_w(\cdot|x_n)`, and the square of the gradient of the
    *mean* log-likelihood :math:`g_B = \frac1{|B|}\sum_{n\in B}\nabla_w\log p_w(\hat y_n|x_n)` is
    accumulated; the result is the mean of :math:`g_B^2` over the minibatches of ``epochs`` passes
    (fresh labels each pass). One backward pass per minibatch: cheap.

    **Its expectation is not the Fisher diagonal.** The per-example scores have zero mean under the
    model's own labels, :math:`\mathbb{E}_{\hat y\sim p_w}\nabla_w\log p_w(\hat y|x) = \sum_k \nabla_w p_w(k|x) = 0`,
    so the cross terms of the square vanish in expectation and

    .. math:: \mathbb{E}\,[g_B]_i^2 = \frac{1}{|B|^2}\sum_{n\in B} F_{ii}(x_n),

    i.e. :math:`1/|B|` times the per-example diagonal of :func:`fisher_diagonal` (averaged over the
    batch). ``rescale=True`` multiplies each :math:`g_B^2` by :math:`|B|`, which makes the estimator
    unbiased (exactly, also for a short last batch). Unbiased is not accurate: each :math:`g_B^2`
    is the square of one noisy sum, so the estimate fluctuates around its mean far more than the
    per-example estimator with as many labels. In the course's pilot (spec ch05 §3.1, 500 images,
    batch 32, one pass) the rescaled shortcut correlated 0.94–0.96 with the exact diagonal but had a
    relative L2 error of 0.46–0.93. With ``batch_size=1`` it is the per-example sampled estimator
    (``fisher_diagonal(exact=False, n_samples=1)`` with the same generator state, for one epoch).

    Args:
        model, x, params, generator, eval_mode: as in :func:`fisher_diagonal`.
        batch_size: examples per minibatch.
        epochs: passes over ``x``, each with freshly sampled labels (all drawn at once up front,
            ``sample_model_labels(logits, epochs, generator)``; column ``e`` is pass ``e``).
        rescale: multiply each squared minibatch gradient by its batch size (unbiased for the
            diagonal); default ``False``, the reference code's raw quantity.

    Returns:
        ``{name: tensor}`` like :func:`fisher_diagonal` (float64, shaped like the parameters).
    """
    if batch_size < 1 or epochs < 1:
        raise ValueError("batch_size and epochs must be >= 1")
    named = _select_params(model, params)
    plist = list(named.values())
    n = x.shape[0]
    acc = OrderedDict((k, torch.zeros(v.shape, dtype=torch.float64, device=v.device)) for k, v in named.items())
    count = 0
    with _EvalMode(model, eval_mode):
        with torch.no_grad():
            step = max(1, min(n, 1024))
            logits = torch.cat([model(x[i:i + step]) for i in range(0, n, step)])
        labels = sample_model_labels(logits, epochs, generator).to(x.device)
        for e in range(epochs):
            for i in range(0, n, batch_size):
                xb, yb = x[i:i + batch_size], labels[i:i + batch_size, e]
                mean_logp = -torch.nn.functional.cross_entropy(model(xb), yb)
                grads = torch.autograd.grad(mean_logp, plist, allow_unused=True)
                factor = float(len(xb)) if rescale else 1.0
                for (k, p), g in zip(named.items(), grads):
                    if g is not None:
                        acc[k] += factor * g.double().square()
                count += 1
    return OrderedDict((k, v / count) for k, v in acc.items())
