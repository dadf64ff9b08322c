"""Tests of emergent.deficits: the sensory deficits and their schedules."""

import pytest
import torch

from emergent.deficits import (
    DeficitSchedule,
    active_mask,
    apply_stacked,
    blur,
    label_permutation,
    permute_labels,
    random_labels,
    vertical_flip,
    white_noise,
)


def _checkerboard(n=32):
    i = torch.arange(n)
    return ((i[:, None] + i[None, :]) % 2).float()


@pytest.mark.parametrize("shape", [(5, 3, 32, 32), (4, 1, 28, 28), (2, 3, 2, 1, 16, 16), (28, 28)])
@pytest.mark.parametrize("antialias", [True, False])
def test_blur_shape_dtype(shape, antialias):
    x = torch.rand(shape)
    out = blur(x, 4, antialias=antialias)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_blur_constant_image_is_constant():
    x = torch.full((2, 3, 32, 32), 0.7)
    for aa in (True, False):
        assert torch.allclose(blur(x, antialias=aa), x, atol=1e-6)


def test_blur_removes_high_frequencies():
    x = _checkerboard(32)[None, None]
    out = blur(x)
    assert x.std() > 0.49
    assert float(out.std()) < 1e-3
    assert float(out.mean()) == pytest.approx(0.5, abs=1e-3)
    # period-6 stripes (above the 8x8 Nyquist limit): plain bilinear sampling aliases them into
    # the small image, the antialiased blur (default) removes them
    stripes = ((torch.arange(32) // 3) % 2).float().expand(32, 32)[None, None]
    assert float(blur(stripes).std()) < 0.2 * float(stripes.std())
    assert float(blur(stripes, antialias=False).std()) > 0.5 * float(stripes.std())


def test_blur_keeps_low_frequencies_and_sizes():
    t = torch.linspace(0, 1, 32)
    smooth = (t[:, None] + t[None, :])[None, None]  # a linear ramp is barely changed
    assert torch.allclose(blur(smooth)[..., 4:-4, 4:-4], smooth[..., 4:-4, 4:-4], atol=0.02)
    x = torch.rand(3, 1, 14, 14)
    assert blur(x, size=4).shape == x.shape
    assert blur(torch.randint(0, 255, (2, 1, 8, 8), dtype=torch.uint8)).dtype == torch.uint8


def test_blur_1d():
    x = (torch.arange(40) % 2).float().expand(3, 40)
    out = blur(x, 4, dims=1)
    assert out.shape == x.shape
    assert float(out[:, 4:-4].std()) < 0.05


def test_vertical_flip_twice_is_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(vertical_flip(vertical_flip(x)), x)
    assert torch.equal(vertical_flip(x)[..., 0, :], x[..., -1, :])
    assert torch.equal(vertical_flip(x)[..., :, 0], x[..., :, 0].flip(-1))  # columns are reversed


def test_label_permutation_is_a_fixed_bijection():
    y = torch.arange(10).repeat(3)
    a = permute_labels(y, 10, seed=3)
    b = permute_labels(y, 10, seed=3)
    assert torch.equal(a, b)
    assert sorted(a[:10].tolist()) == list(range(10))
    assert torch.equal(a[:10], a[10:20])  # a function of the label only
    assert not torch.equal(label_permutation(10, 3), label_permutation(10, 4))
    d = label_permutation(10, 0, derangement=True)
    assert bool((d != torch.arange(10)).all())
    assert permute_labels(y.int(), 10, seed=3).dtype == torch.int32


def test_random_labels_and_white_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(1000, dtype=torch.long)
    r = random_labels(y, 10, generator=g)
    assert r.min() >= 0 and r.max() <= 9 and len(r.unique()) == 10
    assert permute_labels(y, 10, random=True, generator=g).shape == y.shape
    x = torch.rand(64, 1, 16, 16) * 2 + 3
    n = white_noise(x, seed=0)
    assert n.shape == x.shape
    assert float(n.mean()) == pytest.approx(float(x.mean()), abs=0.02)
    assert float(n.std()) == pytest.approx(float(x.std()), rel=0.02)
    assert torch.equal(n, white_noise(x, seed=0))
    assert float(torch.corrcoef(torch.stack([n.flatten(), x.flatten()]))[0, 1]) < 0.05
    m = white_noise(x, mean=0.0, std=1.0, seed=1)
    assert abs(float(m.mean())) < 0.02


def test_schedule_boundaries():
    s = DeficitSchedule.until(40)
    assert s.kind == "blur" and (s.start, s.end) == (0, 40)
    assert s.active(0) and s.active(39) and s.active(39.99) and not s.active(40)
    w = DeficitSchedule.window(onset=20, length=10, kind="flip")
    assert w.kind == "vertical_flip"
    assert [w.active(e) for e in (19, 20, 29, 30)] == [False, True, True, False]
    assert not DeficitSchedule.until(0).active(0)  # t0 = 0 is the control
    assert not any(DeficitSchedule.none().active(e) for e in range(5))
    assert DeficitSchedule("blur").active(10**6)  # end defaults to infinity
    assert DeficitSchedule("noise", 0, 5).name() == "white_noise[0,5)"
    with pytest.raises(ValueError):
        DeficitSchedule("cataracts?")
    with pytest.raises(ValueError):
        DeficitSchedule("blur", 5, 2)


def test_schedule_apply():
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    s = DeficitSchedule.until(3, kind="blur")
    xb, yb = s.apply(x, y, 2)
    assert torch.equal(xb, blur(x)) and yb is y
    xc, yc = s.apply(x, y, 3)
    assert xc is x and yc is y
    xp, yp = DeficitSchedule.until(3, kind="permute", seed=7).apply(x, y, 0)
    assert xp is x and torch.equal(yp, permute_labels(y, 10, 7))


def test_apply_stacked_matches_separate_application():
    R, B = 7, 5
    x = torch.rand(R, B, 1, 28, 28)
    y = torch.randint(0, 10, (R, B))
    scheds = [
        DeficitSchedule.none(),
        DeficitSchedule.until(10),
        DeficitSchedule.until(3),
        DeficitSchedule.window(2, 5, kind="vertical_flip"),
        DeficitSchedule.until(10, kind="label_permutation", seed=1),
        DeficitSchedule.until(10, kind="label_permutation", seed=2),
        DeficitSchedule.until(10, kind="blur", factor=2),
    ]
    for epoch in (0, 3, 4, 9, 10):
        mask = active_mask(scheds, epoch)
        assert mask.dtype == torch.bool and mask.tolist() == [s.active(epoch) for s in scheds]
        xs, ys = apply_stacked(scheds, x, y, epoch)
        for r, s in enumerate(scheds):
            xr, yr = s.apply(x[r], y[r], epoch)
            assert torch.allclose(xs[r], xr, atol=1e-6), (epoch, r)
            assert torch.equal(ys[r], yr), (epoch, r)
    xs, ys = apply_stacked(scheds, x, y, 100)
    assert xs is x and ys is y  # nothing active: no copy
    assert torch.equal(x, x.clone())  # inputs never modified in place


def test_apply_stacked_white_noise_per_run_statistics():
    x = torch.stack([torch.rand(16, 1, 8, 8), 10 + 5 * torch.rand(16, 1, 8, 8)])
    scheds = [DeficitSchedule.until(5, kind="noise")] * 2
    xs, _ = apply_stacked(scheds, x, None, 0, generator=torch.Generator().manual_seed(0))
    for r in range(2):
        assert float(xs[r].mean()) == pytest.approx(float(x[r].mean()), abs=0.1 * float(x[r].std()))
        assert float(xs[r].std()) == pytest.approx(float(x[r].std()), rel=0.1)
