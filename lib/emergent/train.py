"""A plain training loop: progress bar, per-epoch history, optional callbacks.

Data for the course's small datasets sits on the device as two tensors ``(x, y)`` (or any object
with ``.x`` and ``.y``, such as :class:`emergent.data.ArrayDataset`); minibatches are indexed there
with a device-side permutation. Losses and accuracies are accumulated on the device and copied to
the host once per epoch, so a GPU run has no per-step synchronisation.

The loss minimised is ``loss_fn(logits, y) + regularizer(model, x, y, logits)``; for Information
Dropout the regulariser is ``β · KL / N_train`` (thesis §2.6, the KL term divided by the size of the
training set).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


Tensor = torch.Tensor


def as_tensors(data: Any) -> tuple[Tensor, Tensor]:
    """``(x, y)`` from a pair or from an object with ``.x`` and ``.y``."""
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    x, y = data
    return x, y


class History(dict):
    """Per-epoch metrics: ``history["train_loss"][epoch]``; ``.frame()`` gives a DataFrame."""

    def log(self, **metrics: float) -> None:
        for k, v in metrics.items():
            self.setdefault(k, []).append(v)

    def frame(self):
        import pandas as pd

        return pd.DataFrame(dict(self))

    def last(self, key: str) -> float:
        return self[key][-1]


@dataclass
class Trainer:
    """Everything :func:`fit` needs besides the model and the data (kept for the record)."""

    epochs: int = 10
    lr: float = 0.05
    optimizer: str = "sgd"  # "sgd" (with momentum) or "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    milestones: Sequence[int] = field(default_factory=tuple)  # epochs at which lr *= gamma
    gamma: float = 0.1
    lr_decay: float = 1.0  # exponential decay per epoch (e.g. 0.97 in the critical-period protocol)
    # optional ``model -> list of torch parameter-group dicts``; a group's own "lr" (default ``lr``) then
    # follows the same schedule (milestones, lr_decay) as ``lr`` does
    param_groups: Callable[[nn.Module], list[dict]] | None = None


def make_optimizer(params: Iterable[Tensor] | Iterable[dict], cfg: Trainer) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def lr_at(epoch: int, cfg: Trainer, base: float | None = None) -> float:
    """Learning rate in ``epoch``: step drops at ``milestones`` times exponential ``lr_decay``, starting
    from ``base`` (default ``cfg.lr``; a parameter group's own learning rate)."""
    drops = sum(epoch >= m for m in cfg.milestones)
    return (cfg.lr if base is None else base) * cfg.gamma**drops * cfg.lr_decay**epoch


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``data``."""
    x, y = as_tensors(data)
    was_training = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        loss += F.cross_entropy(out, y[i:i + batch_size], reduction="sum")
        correct += (out.argmax(1) == y[i:i + batch_size]).sum()
    model.train(was_training)
    n = len(x)
    return {"loss": loss.item() / n, "acc": correct.item() / n}


LossFn = Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]]


def fit(model: nn.Module, train: Any, cfg: Trainer | None = None, *, test: Any = None,
        regularizer: Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor] | None = None,
        loss_fn: LossFn | None = None,
        transform: Callable[[Tensor, Tensor, int], tuple[Tensor, Tensor]] | None = None,
        callbacks: Sequence[Callable[[int, nn.Module, History], None]] = (),
        progress: bool = True, seed: int | None = 0, desc: str = "train", min_batch: int = 1,
        resume_optimizer: torch.optim.Optimizer | None = None, **overrides: Any) -> History:
    """Train ``model`` on ``train`` with minibatch SGD/Adam; return the per-epoch :class:`History`.

    The course's one training loop: every model (classifiers, packed Information Dropout members,
    VAEs, variational weights, ...) trains through it. Two ways to say what is minimised:

    * default: ``cross_entropy(model(x), y) + regularizer(model, x, y, logits)``; the history has
      ``train_loss`` and ``train_acc`` (floats), and ``test_loss``/``test_acc`` with ``test=``;
    * ``loss_fn(model, x, y) -> (loss, metrics)``: ``loss`` is a scalar or a vector of per-member
      losses (a packed model of ``E`` members trains on their sum, so each member gets exactly the
      gradient of its own loss); ``metrics`` maps names to scalars or per-member vectors. The
      history has, per epoch, the example-weighted mean of ``loss`` (``train_loss``) and of each
      metric, as floats or per-member lists.

    ``cfg`` fields can be overridden by keyword (``fit(m, data, epochs=5, lr=0.1)``).
    ``cfg.param_groups(model)``, if set, gives the optimizer's parameter groups (e.g. a larger learning
    rate for variances, :func:`emergent.variational.param_groups`); each group's learning rate follows
    the schedule of ``cfg.lr`` scaled to its own start value.
    ``resume_optimizer``: an optimizer over ``model``'s parameters to continue with, not a new one
    from ``cfg``; its state (Adam's moments) carries over between calls, as in a process of many
    short equilibrations (Chapter 7). Its groups' current learning rates are the schedule's base.
    ``transform(x, y, epoch)`` is applied to every minibatch (a deficit, an augmentation).
    Minibatches smaller than ``min_batch`` are skipped (BatchNorm needs 2 examples).
    ``callbacks`` are called as ``cb(epoch, model, history)`` after each epoch's metrics are logged.
    Metrics stay on the device during an epoch: one host synchronisation per epoch.
    """
    from tqdm.auto import tqdm

    if loss_fn is not None and regularizer is not None:
        raise TypeError("give either loss_fn or regularizer (put the regulariser into loss_fn)")
    cfg = cfg or Trainer()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown training option {k!r}")
        setattr(cfg, k, v)
    x, y = as_tensors(train)
    dev = x.device
    model.to(dev)
    if resume_optimizer is None:
        params = model.parameters() if cfg.param_groups is None else cfg.param_groups(model)
        opt = make_optimizer(params, cfg)
    else:
        owned = {id(p) for p in model.parameters()}
        if any(id(p) not in owned for g in resume_optimizer.param_groups for p in g["params"]):
            raise ValueError("resume_optimizer holds parameters that are not the model's")
        opt = resume_optimizer
    base_lrs = [group["lr"] for group in opt.param_groups]
    gen = torch.Generator(device=dev)
    gen.manual_seed(0 if seed is None else seed)
    history = History()
    n = len(x)
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        for group, base in zip(opt.param_groups, base_lrs):
            group["lr"] = lr_at(epoch, cfg, base)
        model.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        perm = torch.randperm(n, device=dev, generator=gen)
        for i in range(0, n, cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            if len(idx) < min_batch:
                continue
            xb, yb = x[idx], y[idx]
            if transform is not None:
                xb, yb = transform(xb, yb, epoch)
            if loss_fn is None:
                out = model(xb)
                loss = F.cross_entropy(out, yb)
                if regularizer is not None:
                    loss = loss + regularizer(model, xb, yb, out)
                batch_metrics = {"train_acc": (out.detach().argmax(1) == yb).double().mean()}
            else:
                loss, batch_metrics = loss_fn(model, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            for k, v in (("train_loss", loss), *batch_metrics.items()):
                v = v.detach() * len(idx)
                sums[k] = sums[k] + v if k in sums else v
            seen += len(idx)
        metrics: dict[str, Any] = {"epoch": epoch, "lr": lr_at(epoch, cfg)}
        metrics.update({k: (v / max(seen, 1)).tolist() for k, v in sums.items()})
        if test is not None:
            ev = evaluate(model, test)
            metrics.update(test_loss=ev["loss"], test_acc=ev["acc"])
        history.log(**metrics)
        if progress:
            bar.set_postfix({k: round(v, 3) for k, v in metrics.items()
                             if k.endswith("acc") and isinstance(v, float)})
        for cb in callbacks:
            cb(epoch, model, history)
    return history
