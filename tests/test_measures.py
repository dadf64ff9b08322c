"""Tests of emergent.measures: KL maps, the digit-KL fraction, TC, the nuisance probe, the BN dry run."""

import numpy as np
import pytest
import torch

from emergent import measures, models


def _x(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_digit_kl_fraction_concentrated_map_is_one():
    maps = torch.zeros(3, 24, 24)
    boxes = torch.tensor([[4, 8, 24, 28], [0, 0, 48, 48], [10, 10, 30, 30]])
    for i, (y0, x0, y1, x1) in enumerate(boxes.tolist()):
        maps[i, y0 // 2:y1 // 2, x0 // 2:x1 // 2] = torch.rand(y1 // 2 - y0 // 2, x1 // 2 - x0 // 2) + 1.0
    frac = measures.digit_kl_fraction(maps, boxes, 48)
    torch.testing.assert_close(frac, torch.ones(3))
    # a map with all its mass outside the box gives 0
    out = torch.ones(1, 24, 24)
    out[0, 2:12, 4:14] = 0
    out[0, 0, 0] = 0  # the minimum, subtracted
    assert measures.digit_kl_fraction(out, boxes[:1], 48).item() == pytest.approx(0.0)


def test_digit_kl_fraction_uniform_map_is_box_area():
    boxes = torch.tensor([[3, 5, 23, 25]])  # not aligned with the 2-pixel cells
    m = torch.ones(1, 24, 24)
    frac = measures.digit_kl_fraction(m, boxes, 48, subtract_min=False)
    area = measures.box_area_fraction(boxes, 48)
    assert frac.item() == pytest.approx(area.item(), rel=1e-5)
    assert area.item() == pytest.approx(400 / 48 ** 2)
    # subtracting the minimum of a uniform map leaves nothing: NaN
    assert torch.isnan(measures.digit_kl_fraction(m, boxes, 48)).all()


def test_kl_by_region():
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 0:4, 0:4] = 1.0   # the digit, inside the box
    x[0, 0, 12:16, 12:16] = 1.0  # clutter
    maps = torch.zeros(1, 4, 4)
    maps[0, 0, 0], maps[0, 3, 3], maps[0, 1, 2] = 5.0, 2.0, 0.5
    r = measures.kl_by_region(maps, x, torch.tensor([[0, 0, 8, 8]]))
    assert r["digit"] == pytest.approx(5.0) and r["clutter"] == pytest.approx(2.0)
    assert r["background"] == pytest.approx(0.5 / 11)  # 11 blank cells outside the box


def test_total_correlation_independent_is_near_zero():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 8))
    t = measures.total_correlation(samples=z, null=True)
    assert abs(t["tc"]) < 0.05 and t["d"] == 8 and t["n"] == 4000
    assert t["bias"] == pytest.approx(8 * 7 / (4 * 4000), rel=0.1)
    # correlated features: TC well above the permutation null, and close to the exact value
    c = np.full((8, 8), 0.5) + 0.5 * np.eye(8)
    zc = rng.multivariate_normal(np.zeros(8), c, size=4000)
    tc = measures.total_correlation(samples=zc, null=True)
    exact = -0.5 * np.linalg.slogdet(c)[1]
    assert tc["tc"] == pytest.approx(exact, rel=0.1) and tc["null"] < 0.05


def test_layer_outputs_read_the_right_layer_and_noise_switch():
    torch.manual_seed(0)
    m = models.MLP(12, 8, widths=[8, 5], method="information").eval()
    x = _x(20, 12)
    z0, z1 = measures.layer_outputs(m, x, [0, 1])
    assert z0.shape == (20, 8) and z1.shape == (20, 5)
    (again,) = measures.layer_outputs(m, x, [0])
    assert torch.equal(z0, again)  # noise off: deterministic
    (n1,), (n2,) = measures.layer_outputs(m, x, [0], noisy=True), measures.layer_outputs(m, x, [0], noisy=True)
    assert not torch.equal(n1, n2)  # noise on
    assert not m.training  # mode restored


def test_kl_maps_and_kl_per_layer():
    torch.manual_seed(0)
    m = models.cluttered_cnn_fast(0.25).eval()
    x = _x(4, 1, 48, 48)
    maps = measures.kl_maps(m, x)
    assert [tuple(t.shape) for t in maps] == [(4, 24, 24), (4, 12, 12), (4, 6, 6)]
    assert torch.allclose(maps[0].flatten(1).amin(1), torch.zeros(4))
    rows = measures.kl_per_layer(m, x)
    assert len(rows) == 3
    for r in rows:
        assert r["per_unit"] * r["units"] == pytest.approx(r["total"])
    raw = measures.kl_maps(m, x, subtract_min=False)
    assert raw[0].flatten(1).sum(1).mean().item() == pytest.approx(rows[0]["total"], rel=1e-4)


def test_nuisance_probe_reads_the_chosen_layer():
    torch.manual_seed(0)
    n = 600
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 4, (n,), generator=g)
    x = 0.1 * torch.randn(n, 16, generator=g)
    x[torch.arange(n), labels] += 3.0  # the label is written in the input
    m = models.MLP(16, 32, widths=[32, 3], method="information").eval()
    r0 = measures.nuisance_probe(m, 0, x[:400], labels[:400], x[400:], labels[400:], epochs=15, n_classes=4)
    assert r0["shape"] == [32] and r0["layer"] == 0
    assert r0["error"] < 0.2  # a 32-unit random layer keeps the label
    r1 = measures.nuisance_probe(m, 1, x[:400], labels[:400], x[400:], labels[400:], epochs=2, n_classes=4)
    assert r1["shape"] == [3]


def test_reestimate_batchnorm_dry_run():
    torch.manual_seed(0)
    m = models.MLP(6, 10, depth=2, method="information")
    x = _x(256, 6) * 3
    m.train()
    for _ in range(5):
        m(x)  # running statistics accumulated with the noise on
    bn = m.noisy[1].bn
    measures.reestimate_batchnorm(m, x, batch_size=256)  # one batch: layer 1 sees exactly the eval-mode input
    assert m.training and bn.momentum == 0.1
    # the statistics now are those of the deterministic pre-activations of layer 2
    with torch.no_grad():
        m.eval()
        (z0,) = measures.layer_outputs(m, x, [0], noisy=False)
        pre = m.noisy[1].f(z0)
    torch.testing.assert_close(bn.running_mean, pre.mean(0), atol=2e-3, rtol=1e-2)
    torch.testing.assert_close(bn.running_var, pre.var(0), atol=2e-3, rtol=1e-2)


def test_error_and_evaluate_modes():
    torch.manual_seed(0)
    m = models.MLP(6, 10, depth=2, method="information").eval()
    x, y = _x(100, 6), torch.randint(0, 10, (100,))
    e = measures.error(m, (x, y))
    assert 0 <= e <= 1 and measures.error(m, (x, y)) == e
    r = measures.evaluate_modes(m, (x, y), bn_data=x)
    assert set(r) == {"N", "D", "N_running", "D_no_dry_run"}
    assert not m.training
