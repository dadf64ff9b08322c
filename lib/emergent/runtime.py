"""Where and how big: the compute device, seeding, and the fast/full scale switch.

Every experiment in the course takes ``scale=`` explicitly and picks its sizes from it:

* ``"fast"`` (default): a 2-core CPU with no internet, a few minutes per notebook;
* ``"full"``: the thesis's setup, meant for a GPU.

The default comes from the environment variable ``EMERGENT_SCALE``.
"""
from __future__ import annotations

import contextlib
import os
import random
from typing import Any, Iterator, Mapping, TypeVar

import numpy as np
import torch

SCALES = ("fast", "full")
T = TypeVar("T")


def scale(value: str | None = None) -> str:
    """Return the scale to run at: ``value`` if given, else ``$EMERGENT_SCALE``, else ``"fast"``.

    Raises ``ValueError`` for anything but ``"fast"`` or ``"full"``.
    """
    s = value if value is not None else os.environ.get("EMERGENT_SCALE", "fast")
    s = str(s).strip().lower()
    if s not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {s!r} (check EMERGENT_SCALE)")
    return s


def pick(options: Mapping[str, T], scale_: str | None = None) -> T:
    """Pick the entry of ``options`` (keys ``"fast"`` and ``"full"``) for the current scale."""
    return options[scale(scale_)]


def available_devices() -> list[str]:
    """The devices this machine can use: ``"cpu"``, and ``"cuda:0"``... and/or ``"mps"`` where available."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cuda"]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def _usable(d: torch.device) -> bool:
    """Whether ``d`` names a device this machine has (a CUDA index below the count; CPU always)."""
    if d.type == "cpu":
        return True
    if d.type == "cuda":
        return torch.cuda.is_available() and (d.index is None or d.index < torch.cuda.device_count())
    if d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available() and (d.index is None or d.index == 0)
    backend = getattr(torch, d.type, None)  # e.g. torch.xpu
    if backend is None or not callable(getattr(backend, "is_available", None)) or not backend.is_available():
        return False
    count = getattr(backend, "device_count", None)
    return d.index is None or not callable(count) or d.index < count()


def device(prefer: str | torch.device | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or ``$EMERGENT_DEVICE``) forces one, e.g. ``"cpu"`` or ``"cuda:1"``; a device this
    machine does not have, or a name that is not a device, raises ``ValueError`` at once, naming the
    devices there are.
    """
    forced = prefer or os.environ.get("EMERGENT_DEVICE")
    if forced:
        who = "emergent.device() was asked for" if prefer else "EMERGENT_DEVICE asks for"
        have = ", ".join(available_devices())
        try:
            d = torch.device(str(forced).strip().lower())
        except (RuntimeError, ValueError, TypeError):
            raise ValueError(f"{who} {str(forced)!r}, which is not a device name (e.g. 'cpu', 'cuda', 'cuda:1', "
                             f"'mps'); this machine has: {have}") from None
        if not _usable(d):
            raise ValueError(f"{who} {str(forced)!r}, but this machine has: {have}")
        return d
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a CPU ``torch.Generator`` seeded alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, the book build, nbval)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and ip.__class__.__name__ == "ZMQInteractiveShell"


def headless() -> bool:
    """True when nobody is there to click: tests, CI, the book build.

    Set ``EMERGENT_HEADLESS=1`` to force it; ``CI`` or ``PYTEST_CURRENT_TEST`` also count.
    """
    flag = os.environ.get("EMERGENT_HEADLESS")
    if flag is not None:
        return flag not in ("", "0", "false", "False")
    return bool(os.environ.get("CI") or os.environ.get("PYTEST_CURRENT_TEST"))


def describe(scale_: str | None = None, **extra: Any) -> str:
    """One line saying where and at what scale a notebook runs; notebooks print it first."""
    parts = [f"scale={scale(scale_)}", f"device={device()}", f"torch={torch.__version__}"]
    parts += [f"{k}={v}" for k, v in extra.items()]
    return "emergent: " + ", ".join(parts)


@contextlib.contextmanager
def cpu_threads(dev: torch.device | str | None = None) -> Iterator[None]:
    """Train with few CPU threads where that is faster.

    On a CPU with at most 2 cores, small networks train faster on 1 thread (small ops gain nothing from
    2, and a machine running other kernels makes 2 threads much slower). ``$EMERGENT_THREADS`` overrides
    (the test command sets it to 1, since it runs several kernels side by side).
    """
    dev = torch.device(dev) if dev is not None else device()
    old = torch.get_num_threads()
    want = os.environ.get("EMERGENT_THREADS")
    n = int(want) if want else (1 if (dev.type == "cpu" and (os.cpu_count() or 1) <= 2) else old)
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


if os.environ.get("EMERGENT_THREADS"):
    torch.set_num_threads(max(1, int(os.environ["EMERGENT_THREADS"])))


def run_info(seconds: float, dev: torch.device | str | None = None) -> dict:
    """Where and when a precomputed result was made (stored with every JSON in ``results/``)."""
    import datetime
    import platform

    from . import __version__

    d = torch.device(dev) if dev is not None else device()
    name = torch.cuda.get_device_name(d) if d.type == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    return {"device": str(d), "device_name": name, "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "emergent": __version__,
            "seconds": round(float(seconds), 1),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
