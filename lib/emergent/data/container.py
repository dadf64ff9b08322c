"""The container every data source returns: :class:`ArrayDataset`, and the error of a source that
cannot deliver (:class:`DatasetUnavailable`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..runtime import device as _default_device

DIGIT_NAMES = tuple(str(i) for i in range(10))


def _resolve_device(device: str | torch.device | None) -> torch.device:
    return _default_device() if device is None else torch.device(device)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


# --------------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------------


@dataclass(repr=False)
class ArrayDataset:
    """Images and labels held as two tensors on one device.

    ``x``: float32 ``(N, C, H, W)`` in ``[0, 1]`` (or ``(N, D)`` for vector data);
    ``y``: int64 ``(N,)``; ``meta``: a dict with at least ``name`` and ``source``, usually
    ``class_names``. Tensors (or arrays) in ``meta`` whose first dimension is ``N`` are per-sample
    annotations and are indexed together with ``x`` and ``y``.
    """

    x: torch.Tensor
    y: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} samples but y has {len(self.y)}")

    # -- basic properties -----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        name = self.meta.get("name", "?")
        return (
            f"ArrayDataset({name!r}, x={tuple(self.x.shape)} {str(self.x.dtype).replace('torch.', '')}, "
            f"classes={self.n_classes}, device={self.device})"
        )

    @property
    def device(self) -> torch.device:
        """The device the tensors live on."""
        return self.x.device

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. ``(1, 28, 28)``."""
        return tuple(self.x.shape[1:])

    @property
    def class_names(self) -> tuple[str, ...]:
        """``meta['class_names']``, or the label values as strings."""
        names = self.meta.get("class_names")
        if names is None:
            names = tuple(str(i) for i in range(self.n_classes))
        return tuple(names)

    @property
    def n_classes(self) -> int:
        """Number of classes: ``len(meta['class_names'])`` if present, else ``max(y) + 1``."""
        names = self.meta.get("class_names")
        if names is not None:
            return len(names)
        return int(self.y.max().item()) + 1 if len(self.y) else 0

    def _is_per_sample(self, value: Any) -> bool:
        n = len(self)
        if isinstance(value, torch.Tensor):
            return value.ndim >= 1 and value.shape[0] == n
        if isinstance(value, np.ndarray):
            return value.ndim >= 1 and value.shape[0] == n
        return False

    # -- indexing ---------------------------------------------------------------------------
    def take(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> "ArrayDataset":
        """A new dataset with the samples at ``index`` (per-sample ``meta`` entries follow)."""
        if not isinstance(index, torch.Tensor):
            index = torch.as_tensor(np.asarray(index, dtype=np.int64))
        index = index.long()
        meta = {}
        for k, v in self.meta.items():
            if self._is_per_sample(v):
                if isinstance(v, torch.Tensor):
                    v = v[index.to(v.device)]
                else:
                    v = v[index.cpu().numpy()]
            meta[k] = v
        idx = index.to(self.x.device)
        return ArrayDataset(self.x[idx], self.y[idx.to(self.y.device)], meta)

    def subset(self, n: int, seed: int = 0) -> "ArrayDataset":
        """A random subset of ``n`` samples (without replacement; all of them if ``n >= len``)."""
        n = min(int(n), len(self))
        perm = torch.randperm(len(self), generator=_generator(seed))[:n]
        return self.take(perm)

    def split(
        self, test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
    ) -> tuple["ArrayDataset", "ArrayDataset"]:
        """Return ``(train, test)``, with ``test_fraction`` of the samples (per class if ``stratify``) in test."""
        if not 0.0 <= test_fraction <= 1.0:
            raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
        rng = np.random.default_rng(seed)
        y = self.y.detach().cpu().numpy()
        if stratify:
            test_parts, train_parts = [], []
            for c in np.unique(y):
                idx = rng.permutation(np.flatnonzero(y == c))
                k = int(round(test_fraction * len(idx)))
                test_parts.append(idx[:k])
                train_parts.append(idx[k:])
            test_idx = rng.permutation(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
            train_idx = rng.permutation(np.concatenate(train_parts)) if train_parts else np.zeros(0, np.int64)
        else:
            perm = rng.permutation(len(self))
            k = int(round(test_fraction * len(self)))
            test_idx, train_idx = perm[:k], perm[k:]
        return self.take(train_idx), self.take(test_idx)

    # -- conversions ------------------------------------------------------------------------
    def to(self, device: str | torch.device | None = None) -> "ArrayDataset":
        """The same dataset on ``device`` (``None``: :func:`emergent.runtime.device`); per-sample meta moves too."""
        dev = _resolve_device(device)
        meta = {k: (v.to(dev) if isinstance(v, torch.Tensor) and self._is_per_sample(v) else v)
                for k, v in self.meta.items()}
        return ArrayDataset(self.x.to(dev), self.y.to(dev), meta)

    def numpy_flat(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` for scikit-learn: X float64 ``(N, D)``, y int64 ``(N,)`` NumPy arrays."""
        X = self.x.detach().reshape(len(self), -1).cpu().numpy().astype(np.float64)
        return X, self.y.detach().cpu().numpy().astype(np.int64)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate ``(x, y)`` minibatches of one epoch, indexing on the tensors' own device.

        With ``shuffle`` the order is a ``torch.randperm`` drawn on the data's device (or on the
        generator's device, then moved), so no host synchronisation happens inside the loop.
        """
        n = len(self)
        dev = self.x.device
        if shuffle:
            if generator is not None and generator.device.type != dev.type:
                order = torch.randperm(n, generator=generator, device=generator.device).to(dev)
            else:
                order = torch.randperm(n, generator=generator, device=dev)
            for i in range(0, n, batch_size):
                if drop_last and i + batch_size > n:
                    break
                idx = order[i : i + batch_size]
                yield self.x[idx], self.y[idx]
        else:
            for i in range(0, n, batch_size):
                if drop_last and i + batch_size > n:
                    break
                yield self.x[i : i + batch_size], self.y[i : i + batch_size]


class DatasetUnavailable(RuntimeError):
    """A real dataset could not be loaded (torchvision missing, no network, ...).

    ``reason`` is a short phrase (what is missing); ``str(error)`` adds how to get it.
    """

    def __init__(self, name: str, reason: str, how: str = "") -> None:
        self.name = name
        self.reason = reason
        self.how = how
        msg = f"dataset {name!r} is unavailable: {reason}"
        if how:
            msg += f" ({how})"
        super().__init__(msg)
