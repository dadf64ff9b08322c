"""Compressing an input hard while keeping what a task needs (Chapter 1, "compression without loss
of useful information").

A code ``z`` of an image ``x`` is built by average pooling by a factor ``p`` and quantising each
pixel to ``q`` levels. Its raw length is ``#pixels × log2 q`` bits. How much it still says about
the task ``y`` is estimated by the variational lower bound

    I(z; y) ≥ H(y) − CE_test,

where CE_test is the held-out cross-entropy (nats) of a classifier q(y|z) (here a cross-validated
logistic regression): any classifier gives a lower bound, a better one a tighter bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pool_quantize(images: np.ndarray, pool: int = 1, levels: int = 17, vmax: float = 1.0) -> np.ndarray:
    """Average-pool square images (N, H, W) by ``pool`` and quantise to ``levels`` values in [0, vmax].

    Returns the quantised codes as integers in ``0 .. levels-1``, shape (N, H/pool, W/pool).
    """
    x = np.asarray(images, dtype=np.float64)
    n, h, w = x.shape
    if h % pool or w % pool:
        raise ValueError(f"pool={pool} must divide the image size {h}x{w}")
    if levels < 2:
        raise ValueError("levels must be at least 2")
    pooled = x.reshape(n, h // pool, pool, w // pool, pool).mean(axis=(2, 4))
    return np.clip(np.rint(pooled / vmax * (levels - 1)), 0, levels - 1).astype(np.int64)


def decode(codes: np.ndarray, pool: int, levels: int, vmax: float = 1.0) -> np.ndarray:
    """Back to an image of the original size (nearest-neighbour upsampling), for display."""
    img = codes.astype(np.float64) / (levels - 1) * vmax
    return img.repeat(pool, axis=1).repeat(pool, axis=2)


def code_bits(shape: tuple[int, int], levels: int) -> float:
    """Raw length of a code of ``shape`` pixels with ``levels`` values each: ``#pixels × log2 levels``."""
    return float(shape[0] * shape[1] * np.log2(levels))


def plugin_entropy_bits(codes: np.ndarray) -> float:
    """Plug-in entropy (bits) of the distinct codes in a dataset; saturates at log2 N."""
    _, counts = np.unique(codes.reshape(len(codes), -1), axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@dataclass
class TaskInformation:
    accuracy: float       # held-out accuracy
    cross_entropy: float  # held-out cross-entropy, nats
    h_y: float            # entropy of the labels, nats
    info_lower: float     # H(y) - CE, a lower bound on I(z; y), nats


def task_information(features: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0,
                     C: float = 1.0) -> TaskInformation:
    """Held-out accuracy and the lower bound ``H(y) − CE`` on ``I(z; y)`` (nats), by cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    y = np.asarray(y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clf, X, y, cv=cv, method="predict_proba")
    classes = np.unique(y)
    idx = np.searchsorted(classes, y)
    ce = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), idx], 1e-12, 1.0))))
    freq = np.bincount(idx) / len(y)
    h_y = float(-(freq * np.log(freq)).sum())
    acc = float(np.mean(classes[proba.argmax(1)] == y))
    return TaskInformation(accuracy=acc, cross_entropy=ce, h_y=h_y, info_lower=h_y - ce)


def quantile_codes(values: np.ndarray, levels: int) -> np.ndarray:
    """Quantise each column of ``values`` (N, k) into ``levels`` equally populated bins (codes 0..levels-1)."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    edges = np.quantile(v, np.linspace(0, 1, levels + 1)[1:-1], axis=0)
    return np.stack([np.searchsorted(edges[:, j], v[:, j]) for j in range(v.shape[1])], axis=1)


def one_hot(codes: np.ndarray, levels: int) -> np.ndarray:
    """One-hot features of integer codes (N, k) -> (N, k*levels), so a linear probe can use any code value."""
    return np.eye(levels)[codes].reshape(len(codes), -1)


def encode(images: np.ndarray, y: np.ndarray, spec: dict, vmax: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """The code of every image under ``spec``, and its length in bits. Three families:

    * ``{"family": "pool", "pool": p, "levels": q}`` — average-pool by p, quantise to q grey levels;
    * ``{"family": "pca", "k": k, "levels": q}`` — the first k principal components, each quantised to
      q equally populated bins (a generic compressor: it does not know the task);
    * ``{"family": "task", "levels": q}`` — the out-of-fold probability p(y=1|x) of a classifier trained
      for a binary task, in q equal-width bins (a code that knows the task: log2 q bits in all; q=2 is
      the classifier's decision). For a task with C classes the code is the predicted class (log2 C bits).
    """
    family = spec["family"]
    q = int(spec["levels"])
    if family == "pool":
        codes = pool_quantize(images, spec["pool"], q, vmax)
        return codes, code_bits(codes.shape[1:], q)
    X = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if family == "pca":
        from sklearn.decomposition import PCA

        scores = PCA(int(spec["k"]), random_state=seed).fit_transform(X)
        return quantile_codes(scores, q), float(spec["k"] * np.log2(q))
    if family == "task":
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        cv = StratifiedKFold(5, shuffle=True, random_state=seed + 1)  # folds differ from the probe's
        proba = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=cv, method="predict_proba")
        if proba.shape[1] == 2:  # binary task: p(y=1|x) in q equal-width bins; q=2 is the decision itself
            codes = np.clip((proba[:, 1] * q).astype(np.int64), 0, q - 1)[:, None]
            return codes, float(np.log2(q))
        codes = proba.argmax(1)[:, None]  # several classes: the predicted class
        return codes, float(np.log2(proba.shape[1]))
    raise ValueError(f"unknown code family {family!r}")


def ladder(images: np.ndarray, y: np.ndarray, specs: list[dict], vmax: float = 1.0, folds: int = 5,
           seed: int = 0) -> list[dict]:
    """Evaluate every code in ``specs`` (see :func:`encode`): bits, accuracy and the bound on I(z; y)."""
    rows = []
    for spec in specs:
        codes, bits = encode(images, y, spec, vmax, seed)
        levels = int(spec["levels"])
        feats = codes if spec["family"] == "pool" else one_hot(codes, max(levels, int(codes.max()) + 1))
        ti = task_information(feats, y, folds=folds, seed=seed)
        rows.append(dict(spec, bits=bits, accuracy=ti.accuracy, info_lower=ti.info_lower, h_y=ti.h_y,
                         cross_entropy=ti.cross_entropy, plugin_bits=plugin_entropy_bits(codes)))
    return rows
