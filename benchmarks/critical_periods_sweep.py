"""Time the plain training loop against the stacked sweep runner, side by side, and print the ratio.

The workload is a critical-period sweep: R runs of the same network, each with its own blur schedule
(half of them blurred during the timed epochs), trained for a few epochs. The plain loop trains the
R runs one after the other with an ordinary ``nn.Module`` and ``torch.optim.SGD``
(:func:`emergent.sweep.train_plain`); the sweep runner trains them stacked
(:func:`emergent.sweep.train_sweep` with ``group_size=R``: batched matmuls / grouped convolutions,
per-run learning rates, data resident on the device, no per-step host synchronisation).

Examples::

    # CPU, a small net (what the course measured on a 2-core CPU)
    python benchmarks/critical_periods_sweep.py --net mlp --runs 8 --epochs 2
    python benchmarks/critical_periods_sweep.py --net cnn --runs 8 --epochs 1

    # GPU: the full All-CNN on CIFAR-shaped random data (50,000 images, batch 128), bf16 autocast
    python benchmarks/critical_periods_sweep.py --net allcnn --runs 8 --epochs 2 --amp

Prints seconds per model-epoch for both and ``speed-up = plain / sweep``.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from emergent.data import ArrayDataset, mnist_small
from emergent.deficits import DeficitSchedule
from emergent.sweep import NetSpec, RunSpec, all_cnn, train_plain, train_sweep


def workload(net: str, n: int | None, device: torch.device) -> tuple[NetSpec, ArrayDataset, ArrayDataset, int]:
    """The network, (train, test) data and the blur size for ``net``."""
    if net == "allcnn":
        n = n or 50_000
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
        xt, yt = torch.rand(1000, 3, 32, 32, generator=g), torch.randint(0, 10, (1000,), generator=g)
        return all_cnn(), ArrayDataset(x, y).to(device), ArrayDataset(xt, yt).to(device), 8
    ds = mnist_small("cpu")
    ds = ArrayDataset(F.adaptive_avg_pool2d(ds.x, 14), ds.y, ds.meta)
    train, test = ds.split(0.2, seed=0)
    if n:
        train = train.subset(n)
    spec = (NetSpec(kind="mlp", in_shape=(1, 14, 14), hidden=(256, 256)) if net == "mlp"
            else NetSpec(kind="cnn", in_shape=(1, 14, 14)))
    return spec, train.to(device), test.to(device), 4


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--net", choices=["mlp", "cnn", "allcnn"], default="mlp")
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--n", type=int, default=None, help="training images (default: all)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--device", default=None)
    p.add_argument("--amp", action="store_true", help="bf16 autocast in the sweep runner (CUDA)")
    p.add_argument("--skip-plain", action="store_true", help="time only the sweep runner")
    a = p.parse_args(argv)
    from emergent.runtime import device as default_device

    dev = torch.device(a.device) if a.device else default_device()
    spec, train, test, size = workload(a.net, a.n, dev)
    runs = [RunSpec(DeficitSchedule("blur", 0, a.epochs if r % 2 else 0, size=size) if r % 2
                    else DeficitSchedule.none(), epochs=a.epochs, seed=r, lr=0.05, lr_decay=0.97)
            for r in range(a.runs)]
    print(f"{a.net}: {a.runs} runs x {a.epochs} epochs, {len(train)} training images, batch {a.batch}, "
          f"device {dev}, threads {torch.get_num_threads()}")
    # warm-up (kernels, allocator, cuDNN autotuning) on a tiny slice
    warm = ArrayDataset(train.x[: 4 * a.batch], train.y[: 4 * a.batch])
    train_sweep(spec, runs[:2], warm, None, batch_size=a.batch, group_size=2, device=dev, amp=a.amp)
    train_plain(spec, RunSpec(epochs=1), warm, None, batch_size=a.batch, device=dev)
    model_epochs = a.runs * a.epochs
    out = {}
    if not a.skip_plain:
        _sync(dev)
        t = time.perf_counter()
        for r in runs:
            train_plain(spec, r, train, test, batch_size=a.batch, device=dev)
        _sync(dev)
        out["plain"] = (time.perf_counter() - t) / model_epochs
        print(f"plain loop : {out['plain']:.4f} s per model-epoch")
    _sync(dev)
    t = time.perf_counter()
    train_sweep(spec, runs, train, test, batch_size=a.batch, group_size=a.runs, device=dev, amp=a.amp)
    _sync(dev)
    out["sweep"] = (time.perf_counter() - t) / model_epochs
    print(f"sweep (R={a.runs}): {out['sweep']:.4f} s per model-epoch")
    if "plain" in out:
        out["ratio"] = out["plain"] / out["sweep"]
        print(f"speed-up plain/sweep = {out['ratio']:.2f}x")
    return out


if __name__ == "__main__":
    main()
