"""Sprites: a procedural dSprites-like generator with known factors."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .container import ArrayDataset, _generator

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
