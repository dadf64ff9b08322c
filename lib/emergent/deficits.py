"""Sensory deficits for the critical-period experiments of chapter 6.

Every function here is a pure tensor operation that runs on the device of its input; nothing
imports torchvision. The deficits of the thesis (§6.1) are:

* :func:`blur` -- the "cataract": downsample to ``1/factor`` of the side and upsample back with
  bilinear interpolation (CIFAR 32 -> 8 -> 32, MNIST 28 -> 7 -> 28);
* :func:`vertical_flip` -- a high-level deficit, no critical period;
* :func:`permute_labels` -- a fixed random permutation of the labels (or, optionally, random
  labels), a deficit acting on the last layer only, no critical period;
* :func:`white_noise` -- "sensory deprivation": the images are replaced by Gaussian noise with the
  same mean and standard deviation.

A :class:`DeficitSchedule` says *when* a deficit is applied: for the epochs in ``[start, end)``.
``DeficitSchedule.until(t0)`` is the thesis's "deficit for the first t0 epochs, then clean",
``DeficitSchedule.window(onset, length)`` the sliding window used to measure sensitivity (Fig 6.1C).
:func:`apply_stacked` transforms the mini-batches of many runs stacked along a leading dimension
(``x_stack`` of shape ``(R, B, C, H, W)``) in one go, for sweeps that train all the runs together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "KINDS",
    "blur",
    "vertical_flip",
    "label_permutation",
    "permute_labels",
    "random_labels",
    "white_noise",
    "DeficitSchedule",
    "active_mask",
    "apply_stacked",
]

#: Canonical deficit names; :data:`ALIASES` maps the accepted spellings onto them.
KINDS = ("none", "blur", "vertical_flip", "label_permutation", "random_labels", "white_noise")
ALIASES = {
    "none": "none", "clean": "none", None: "none",
    "blur": "blur", "cataract": "blur",
    "vertical_flip": "vertical_flip", "flip": "vertical_flip", "vflip": "vertical_flip",
    "label_permutation": "label_permutation", "permute": "label_permutation",
    "permutation": "label_permutation", "permute_labels": "label_permutation",
    "random_labels": "random_labels", "random": "random_labels",
    "white_noise": "white_noise", "noise": "white_noise", "deprivation": "white_noise",
}


def _canonical(kind: str | None) -> str:
    try:
        return ALIASES[kind if kind is None else str(kind).lower()]
    except KeyError:
        raise ValueError(f"unknown deficit {kind!r}; choose one of {KINDS}") from None


# --------------------------------------------------------------------------------------------
# The deficits
# --------------------------------------------------------------------------------------------
def blur(
    x: torch.Tensor,
    factor: float = 4,
    *,
    size: int | tuple[int, ...] | None = None,
    dims: int = 2,
    antialias: bool = True,
) -> torch.Tensor:
    """Blur by downsampling to ``1/factor`` of the side and upsampling back (bilinear).

    The thesis's cataract deficit (§6.1): on CIFAR the 32x32 images are downsampled to 8x8 and
    upsampled back to 32x32 with bilinear interpolation (``factor=4``; on MNIST 28 -> 7 -> 28).
    The thesis prefers it to a Gaussian blur because the information lost is easy to quantify:
    what is left is exactly an 8x8 image.

    Args:
        x: images ``(..., H, W)`` (any leading dimensions: ``(N, C, H, W)``, ``(R, B, C, H, W)``,
            ...), or sequences ``(..., L)`` when ``dims=1`` (MNIST-1D).
        factor: side reduction; the low-resolution side is ``max(1, round(side / factor))``.
        size: the low-resolution size instead of ``factor`` (e.g. ``4`` for 14 -> 4 -> 14).
        dims: number of trailing spatial dimensions (2 for images, 1 for sequences).
        antialias: **our choice: True.** With ``antialias=True`` the downsampling uses a
            triangle filter whose support grows with ``factor`` (as PIL's bilinear resize does, which
            is what the 2018-era torchvision pipelines applied to PIL images), so the 8x8 image is
            a proper low-pass summary and every input pixel contributes. With ``antialias=False``
            each low-resolution pixel interpolates only the 2x2 input pixels nearest to its centre
            and ignores the others: high frequencies alias into the small image instead of being
            removed. The upsampling is the same either way. ``antialias=True`` needs float input.

    Returns:
        A tensor with the shape, dtype and device of ``x``.
    """
    if dims not in (1, 2):
        raise ValueError("dims must be 1 (sequences) or 2 (images)")
    if x.ndim < dims:
        raise ValueError(f"blur with dims={dims} needs at least {dims} dimensions, got {tuple(x.shape)}")
    spatial = tuple(x.shape[-dims:])
    if size is None:
        small = tuple(max(1, int(round(s / factor))) for s in spatial)
    else:
        small = (size,) * dims if isinstance(size, int) else tuple(size)
    mode = "bilinear" if dims == 2 else "linear"
    dtype = x.dtype
    h = x if x.is_floating_point() else x.float()
    h = h.reshape(-1, 1, *spatial)  # blur acts on each channel alone: fold everything into the batch
    aa = dict(antialias=antialias) if dims == 2 else {}
    if dims == 1 and antialias:
        # interpolate has no antialiased 1-D mode: run the 2-D one on a 1-pixel-high image.
        h = F.interpolate(h.unsqueeze(-2), size=(1, small[0]), mode="bilinear", align_corners=False, antialias=True)
        h = F.interpolate(h, size=(1, spatial[0]), mode="bilinear", align_corners=False).squeeze(-2)
    else:
        h = F.interpolate(h, size=small, mode=mode, align_corners=False, **aa)
        h = F.interpolate(h, size=spatial, mode=mode, align_corners=False)
    h = h.reshape(x.shape)
    if not dtype.is_floating_point:
        h = h.round()
    return h.to(dtype)


def vertical_flip(x: torch.Tensor) -> torch.Tensor:
    """Flip images upside down (the rows, dimension ``-2``); any leading dimensions."""
    return torch.flip(x, dims=(-2,))


def label_permutation(num_classes: int, seed: int = 0, *, derangement: bool = False) -> torch.Tensor:
    """The fixed random permutation of ``range(num_classes)`` determined by ``seed`` (CPU, int64).

    With ``derangement=True`` no class is mapped to itself (redrawn deterministically until so).
    """
    if num_classes < 1:
        raise ValueError("num_classes must be positive")
    g = torch.Generator().manual_seed(int(seed))
    while True:
        perm = torch.randperm(num_classes, generator=g)
        if not derangement or num_classes < 2 or bool((perm != torch.arange(num_classes)).all()):
            return perm


def permute_labels(
    y: torch.Tensor,
    num_classes: int,
    seed: int = 0,
    *,
    random: bool = False,
    generator: torch.Generator | None = None,
    derangement: bool = False,
) -> torch.Tensor:
    """Relabel: class ``k`` becomes ``perm[k]`` for a fixed random permutation given by ``seed``.

    The same ``seed`` always gives the same permutation, so the deficit is a consistent (learnable)
    relabelling across batches and epochs. With ``random=True`` each example instead gets an
    independent uniformly random label (see :func:`random_labels`): applied to a whole dataset
    once, that is the random-label experiment; applied per batch, labels are fresh each time.
    """
    if random:
        return random_labels(y, num_classes, generator=generator)
    perm = label_permutation(num_classes, seed, derangement=derangement).to(y.device)
    return perm[y.long()].to(y.dtype)


def _rand_on(x: torch.Tensor, generator: torch.Generator | None, fn, *args, **kw) -> torch.Tensor:
    """Draw ``fn(*args, generator=...)`` on the generator's device and move it to ``x``'s device."""
    if generator is None:
        return fn(*args, device=x.device, **kw)
    out = fn(*args, generator=generator, device=generator.device, **kw)
    return out.to(x.device)


def random_labels(
    y: torch.Tensor, num_classes: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniformly random labels with the shape, dtype and device of ``y``."""
    return _rand_on(y, generator, torch.randint, 0, num_classes, tuple(y.shape)).to(y.dtype)


def white_noise(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    seed: int | None = None,
    mean: float | torch.Tensor | None = None,
    std: float | torch.Tensor | None = None,
    dim: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """Sensory deprivation: replace ``x`` by Gaussian white noise with the same mean and std.

    Args:
        x: a batch of inputs (any shape).
        generator: random source (its device may differ from ``x``'s; the noise is moved).
        seed: alternatively, seed a fresh CPU generator (reproducible noise).
        mean, std: the statistics to match; by default those of ``x`` itself, computed over
            the dimensions ``dim`` (``None``: over the whole tensor, a single mean and std;
            e.g. ``dim=(0, 2, 3)`` for per-channel statistics of an ``(N, C, H, W)`` batch).
            Passing the dataset's mean/std makes the noise independent of the batch.
    """
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    xf = x if x.is_floating_point() else x.float()
    if mean is None or std is None:
        reduce = tuple(range(x.ndim)) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
        m = xf.mean(dim=reduce, keepdim=True) if mean is None else torch.as_tensor(mean, dtype=xf.dtype, device=x.device)
        s = xf.std(dim=reduce, keepdim=True, unbiased=False) if std is None else torch.as_tensor(std, dtype=xf.dtype, device=x.device)
    else:
        m = torch.as_tensor(mean, dtype=xf.dtype, device=x.device)
        s = torch.as_tensor(std, dtype=xf.dtype, device=x.device)
    z = _rand_on(x, generator, torch.randn, tuple(x.shape), dtype=xf.dtype)
    return (m + s * z).to(x.dtype)


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeficitSchedule:
    """A deficit ``kind`` applied during the epochs ``start <= epoch < end``.

    ``end=math.inf`` (the default) keeps it forever; ``kind="none"`` never applies anything.
    The remaining fields configure the deficit: ``factor``/``size``/``dims``/``antialias`` for
    :func:`blur`, ``num_classes``/``seed`` for the label deficits, ``mean``/``std`` for
    :func:`white_noise` (``None``: match each batch's own statistics).

    Epochs may be fractional (e.g. ``step / steps_per_epoch``) for finer schedules.

    Examples:
        >>> DeficitSchedule.until(40).active(39), DeficitSchedule.until(40).active(40)
        (True, False)
        >>> DeficitSchedule.window(onset=20, length=40).name()
        'blur[20,60)'
        >>> DeficitSchedule.until(40, kind="flip").active(0)
        True
    """

    kind: str = "none"
    start: float = 0
    end: float = math.inf
    factor: float = 4
    size: int | None = None
    dims: int = 2
    antialias: bool = True
    num_classes: int = 10
    seed: int = 0
    mean: float | None = None
    std: float | None = None
    label: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _canonical(self.kind))
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must be >= start ({self.start})")

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def none(cls, **options) -> "DeficitSchedule":
        """The control: no deficit ever."""
        return cls("none", **options)

    @classmethod
    def until(cls, t0: float, kind: str = "blur", **options) -> "DeficitSchedule":
        """Deficit for epochs ``[0, t0)``, then clean (``t0 = 0`` is the control)."""
        return cls(kind, 0, t0, **options)

    @classmethod
    def window(cls, onset: float, length: float, kind: str = "blur", **options) -> "DeficitSchedule":
        """Deficit for epochs ``[onset, onset + length)`` only (the sensitivity protocol)."""
        return cls(kind, onset, onset + length, **options)

    # -- queries ------------------------------------------------------------------------------
    def active(self, epoch: float) -> bool:
        """Whether the deficit applies at ``epoch``: ``kind != "none"`` and ``start <= epoch < end``."""
        return self.kind != "none" and self.start <= epoch < self.end

    @property
    def duration(self) -> float:
        return 0 if self.kind == "none" else self.end - self.start

    def key(self) -> tuple:
        """What the transformation depends on (not when): schedules with equal keys share one op."""
        return (self.kind, self.factor, self.size, self.dims, self.antialias, self.num_classes,
                self.seed, self.mean, self.std)

    def with_(self, **changes) -> "DeficitSchedule":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def name(self) -> str:
        """A short readable label, e.g. ``"blur[0,40)"``."""
        if self.label:
            return self.label
        if self.kind == "none":
            return "none"
        end = "inf" if math.isinf(self.end) else f"{self.end:g}"
        return f"{self.kind}[{self.start:g},{end})"

    # -- application --------------------------------------------------------------------------
    def transform(
        self, x: torch.Tensor, y: torch.Tensor | None, *, generator: torch.Generator | None = None,
        noise_dim: int | Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply the deficit unconditionally (ignoring the epoch)."""
        k = self.kind
        if k == "none":
            return x, y
        if k == "blur":
            return blur(x, self.factor, size=self.size, dims=self.dims, antialias=self.antialias), y
        if k == "vertical_flip":
            return vertical_flip(x), y
        if k == "white_noise":
            return white_noise(x, generator, mean=self.mean, std=self.std, dim=noise_dim), y
        if y is None:
            raise ValueError(f"the {k} deficit needs the labels y")
        if k == "label_permutation":
            return x, permute_labels(y, self.num_classes, self.seed)
        if k == "random_labels":
            return x, random_labels(y, self.num_classes, generator=generator)
        raise AssertionError(k)  # pragma: no cover

    def apply(
        self, x: torch.Tensor, y: torch.Tensor | None, epoch: float, *,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, y)`` with the deficit applied if :meth:`active` at ``epoch``, else unchanged."""
        if not self.active(epoch):
            return x, y
        return self.transform(x, y, generator=generator)

    __call__ = apply


def active_mask(
    schedules: Sequence[DeficitSchedule], epoch: float, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean tensor ``(R,)``: which of the ``R`` runs have their deficit active at ``epoch``."""
    return torch.tensor([s.active(epoch) for s in schedules], dtype=torch.bool, device=device)


def apply_stacked(
    schedules: Sequence[DeficitSchedule],
    x_stack: torch.Tensor,
    y_stack: torch.Tensor | None,
    epoch: float,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply run ``r``'s schedule to ``x_stack[r]``, ``y_stack[r]`` for all runs at once.

    Args:
        schedules: one :class:`DeficitSchedule` per run (length ``R``).
        x_stack: inputs of the ``R`` runs, ``(R, B, ...)`` e.g. ``(R, B, C, H, W)``.
        y_stack: labels ``(R, B)`` (or ``None`` if no schedule touches labels).
        epoch: the current epoch (the same for every run).

    The runs whose deficit is active are grouped by :meth:`DeficitSchedule.key`; each group is
    transformed with a single batched op on its slice of the stack and written back, the other
    runs pass through untouched (no copy at all when no deficit is active). Which runs are active
    is decided on the host from the schedules, so nothing synchronises with the device. The result
    equals applying each schedule to its run separately (white noise statistics are computed per
    run, as they would be for that run's batch alone).
    """
    if len(schedules) != x_stack.shape[0]:
        raise ValueError(f"{len(schedules)} schedules for a stack of {x_stack.shape[0]} runs")
    if y_stack is not None and y_stack.shape[0] != x_stack.shape[0]:
        raise ValueError("x_stack and y_stack must have the same leading (run) dimension")
    groups: dict[tuple, list[int]] = {}
    for r, s in enumerate(schedules):
        if s.active(epoch):
            groups.setdefault(s.key(), []).append(r)
    if not groups:
        return x_stack, y_stack
    x_out, y_out = x_stack, y_stack
    for rows in groups.values():
        s = schedules[rows[0]]
        idx = torch.tensor(rows, device=x_stack.device)
        xs = x_stack if len(rows) == x_stack.shape[0] else x_stack.index_select(0, idx)
        ys = None
        if y_stack is not None:
            ys = y_stack if len(rows) == y_stack.shape[0] else y_stack.index_select(0, idx.to(y_stack.device))
        noise_dim = tuple(range(1, x_stack.ndim))  # per-run statistics
        xt, yt = s.transform(xs, ys, generator=generator, noise_dim=noise_dim)
        if xt is not xs:
            if x_out is x_stack:
                x_out = x_stack.clone()
            x_out[idx] = xt
        if yt is not ys:
            if y_out is y_stack:
                y_out = y_stack.clone()
            y_out[idx.to(y_stack.device)] = yt
    return x_out, y_out
