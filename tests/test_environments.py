"""emergent.environments: the Chapter 3 environments are seeded, in [0, 1], and their factors are
right (the object is where its offsets say, with the identity its label says)."""
from __future__ import annotations

import pytest
import torch

from emergent import environments as E


@pytest.mark.parametrize("name", E.ENVIRONMENTS)
def test_seeded_shapes_ranges_and_factors(name):
    a = E.environment(name, n=200, seed=3)
    b = E.environment(name, n=200, seed=3)
    c = E.environment(name, n=200, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.meta["factors"], b.meta["factors"])
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (200, 1, 32, 32) and a.x.dtype == torch.float32
    assert float(a.x.min()) >= 0 and float(a.x.max()) <= 1
    f = a.meta["factors"]
    assert a.meta["factor_names"] == ("identity", "x", "y")
    assert torch.equal(f[:, 0].long(), a.y)
    assert float(f[:, 1:].min()) >= 0 and float(f[:, 1:].max()) <= 1
    if a.meta["moving"]:
        assert len(torch.unique(f[:, 1])) > 5 and len(torch.unique(f[:, 2])) > 5
    else:
        assert torch.all(f[:, 1:] == 0.5)


def _ink_box(img, inverse=False):
    ink = (1 - img if inverse else img)[0] > 0.05
    rows = torch.nonzero(ink.any(1)).flatten()
    cols = torch.nonzero(ink.any(0)).flatten()
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


@pytest.mark.parametrize("name", ["moving_sprites", "moving_digits", "inverse_sprites"])
def test_the_object_sits_inside_its_box(name):
    ds = E.environment(name, n=100, seed=0)
    inverse = name == "inverse_sprites"
    for img, (r, c) in zip(ds.x, ds.meta["offsets"]):
        r0, r1, c0, c1 = _ink_box(img, inverse)
        assert r <= r0 and r1 < r + 16 and c <= c0 and c1 < c + 16
    # and the normalised factors are the offsets / 16
    assert torch.allclose(ds.meta["factors"][:, 1], ds.meta["offsets"][:, 1].float() / 16)
    assert torch.allclose(ds.meta["factors"][:, 2], ds.meta["offsets"][:, 0].float() / 16)


def test_sprites_are_the_templates_of_their_identity():
    ds = E.environment("moving_sprites", n=50, seed=1)
    templ = E.sprite_templates()
    for img, k, (r, c) in zip(ds.x, ds.y, ds.meta["offsets"]):
        assert torch.equal(img[0, r:r + 16, c:c + 16], templ[k])
        assert float(img.sum()) == pytest.approx(float(templ[k].sum()), rel=1e-5)
    # five distinct shapes of roughly 12 px
    assert len({round(float(t.sum()), 2) for t in templ}) == 5
    for t in templ:
        on = torch.nonzero(t > 0.5)
        assert 9 <= int(on[:, 0].max() - on[:, 0].min()) + 1 <= 13


def test_static_and_moving_digits_are_the_same_digits():
    static = E.environment("static_digits", n=30, seed=2)
    moving = E.environment("moving_digits", n=30, seed=2)
    px, py = E.digit_pool("train")
    for ds in (static, moving):
        for img, s, lab, (r, c) in zip(ds.x, ds.meta["sample"], ds.y, ds.meta["offsets"]):
            assert torch.equal(img[0, r:r + 16, c:c + 16], px[s]) and int(py[s]) == int(lab)


def test_digit_pools_are_disjoint_and_sized():
    pools = {p: E.digit_pool(p)[0] for p in ("train", "probe_train", "probe_test")}
    assert [len(v) for v in pools.values()] == [3500, 750, 750]
    flat = {p: {tuple(v.flatten()[::7].tolist()) for v in x} for p, x in pools.items()}
    assert not (flat["train"] & flat["probe_test"]) and not (flat["probe_train"] & flat["probe_test"])


def test_inverse_is_one_minus_static_and_sequence_seeds_differ():
    a = E.environment("static_sprites", n=40, seed=5)
    b = E.environment("inverse_sprites", n=40, seed=5)
    assert torch.allclose(b.x, 1 - a.x) and torch.equal(a.y, b.y)
    seq = E.sequence(n=20, seed=0)
    assert [d.meta["name"] for d in seq] == ["moving_sprites", "static_digits", "moving_digits"]
    assert seq[0].meta["seed"] != seq[2].meta["seed"]
    with pytest.raises(ValueError):
        E.environment("moving_fashion")
