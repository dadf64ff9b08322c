"""The real datasets via torchvision (lazily imported), and the name-based entry points."""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import torch

from .bundled import digits, mnist_small
from .cluttered import cluttered_mnist
from .container import ArrayDataset, DatasetUnavailable
from .sprites import sprites, sprites_grid
from .textures import textures

# --------------------------------------------------------------------------------------------
# Real datasets via torchvision, and the name-based entry points
# --------------------------------------------------------------------------------------------

REAL_DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
}
"""Names accepted by :func:`torchvision_dataset` → torchvision class."""


def _norm_name(name: str) -> str:
    n = name.strip().lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100",
            "mnistsmall": "mnist-small", "clutteredmnist": "cluttered-mnist"}.get(n, n)


def data_root(root: str | os.PathLike | None = None) -> str:
    """Where real datasets are stored: ``root``, else ``$EMERGENT_DATA``, else ``~/.cache/emergent/data``."""
    if root is not None:
        return os.fspath(root)
    return os.environ.get("EMERGENT_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "emergent", "data")


def torchvision_dataset(
    name: str,
    train: bool = True,
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    download: bool | None = None,
) -> ArrayDataset:
    """A real dataset ('mnist', 'fashion-mnist', 'cifar10', 'cifar100') via torchvision, as an ArrayDataset.

    Returns x float32 ``(N, C, H, W)`` in [0, 1], y int64, ``meta['class_names']``. torchvision is
    imported here, not at module import. ``download`` defaults to True unless
    ``$EMERGENT_OFFLINE`` is set. Raises :class:`DatasetUnavailable` when torchvision is missing
    or the files are absent and cannot be downloaded.
    """
    key = _norm_name(name)
    if key not in REAL_DATASETS:
        raise ValueError(f"unknown real dataset {name!r}; choose from {tuple(REAL_DATASETS)}")
    try:
        import torchvision.datasets as tvd
    except ImportError as e:
        raise DatasetUnavailable(key, "torchvision is not installed",
                                 "pip install torchvision, or pip install 'emergent[full]'") from e
    except Exception as e:  # e.g. a torchvision built for another torch
        raise DatasetUnavailable(key, f"torchvision failed to import ({type(e).__name__}: {e})",
                                 "reinstall a torchvision matching your torch") from e
    if download is None:
        download = not os.environ.get("EMERGENT_OFFLINE")
    path = data_root(root)
    try:
        ds = getattr(tvd, REAL_DATASETS[key])(root=path, train=train, download=download)
    except Exception as e:
        why = "not found locally and downloading is off" if not download else \
            f"download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        raise DatasetUnavailable(
            key, why, f"needs network access once, or the files under {path} (set root= or $EMERGENT_DATA)"
        ) from e
    data = ds.data
    data = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))
    x = data.float().div_(255.0)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    targets = ds.targets
    y = targets.long() if isinstance(targets, torch.Tensor) else torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    meta = {
        "name": key,
        "source": f"torchvision.datasets.{REAL_DATASETS[key]} ({'train' if train else 'test'}) at {path}",
        "class_names": tuple(str(cn) for cn in ds.classes),
        "train": train,
    }
    return ArrayDataset(x, y, meta).to(device)


OFFLINE_SOURCES: dict[str, Callable[..., ArrayDataset]] = {
    "digits": digits,
    "mnist-small": mnist_small,
    "sprites": sprites,
    "sprites-grid": sprites_grid,
    "cluttered-mnist": cluttered_mnist,
    "textures": textures,
}
"""Names accepted by :func:`load` that never need the network."""

_DEFAULT_N = {"sprites": 10_000, "cluttered-mnist": 10_000, "textures": 10_000}


def load(name: str, device: str | torch.device | None = None, **kw: Any) -> ArrayDataset:
    """Load a dataset by name: an offline source (see ``OFFLINE_SOURCES``) or a real one via
    :func:`torchvision_dataset` (may raise :class:`DatasetUnavailable`). Extra keywords go to the
    source; generated sources default to ``n=10_000``. Returns an :class:`ArrayDataset`.
    """
    key = _norm_name(name)
    if key in OFFLINE_SOURCES:
        if key in _DEFAULT_N:
            kw.setdefault("n", _DEFAULT_N[key])
        return OFFLINE_SOURCES[key](device=device, **kw)
    if key in REAL_DATASETS:
        return torchvision_dataset(key, device=device, **kw)
    raise ValueError(f"unknown dataset {name!r}; offline: {tuple(OFFLINE_SOURCES)}, real: {tuple(REAL_DATASETS)}")


def load_or_fallback(
    name: str,
    fallback: str | ArrayDataset | Callable[[], ArrayDataset],
    fallback_kw: dict | None = None,
    **kw: Any,
) -> ArrayDataset:
    """Try :func:`load` ``(name, **kw)``; if it raises :class:`DatasetUnavailable`, print one line
    saying so and why, and return the fallback instead.

    ``fallback`` is an offline source name (loaded with ``fallback_kw`` and the same ``device``),
    an :class:`ArrayDataset`, or a zero-argument callable. The returned dataset's
    ``meta['fallback_for']`` records ``name`` when the fallback was used.
    """
    try:
        return load(name, **kw)
    except DatasetUnavailable as e:
        if isinstance(fallback, ArrayDataset):
            ds, label = fallback, fallback.meta.get("name", "the given dataset")
        elif isinstance(fallback, str):
            fkw = dict(fallback_kw or {})
            if "device" in kw:
                fkw.setdefault("device", kw["device"])
            ds, label = load(fallback, **fkw), _norm_name(fallback)
        elif callable(fallback):
            ds = fallback(**(fallback_kw or {}))
            label = ds.meta.get("name", getattr(fallback, "__name__", "the fallback"))
        else:
            raise TypeError("fallback must be a dataset name, an ArrayDataset or a callable") from e
        how = f" [{e.how}]" if e.how else ""
        print(f"[emergent.data] {e.name} unavailable: {e.reason}{how}; using {label} instead.")
        return ArrayDataset(ds.x, ds.y, {**ds.meta, "fallback_for": e.name, "fallback_reason": e.reason})
