"""Textures (a 10-class CIFAR stand-in cut from scikit-image's photos) and occlusion."""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .container import ArrayDataset, _generator, _resolve_device

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
