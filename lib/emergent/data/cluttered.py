"""Cluttered MNIST: a digit placed on a large canvas among crops of other digits."""
from __future__ import annotations

import torch

from .bundled import mnist_small
from .container import ArrayDataset, _generator, _resolve_device

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
