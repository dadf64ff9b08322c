"""Tests of emergent.fisher: per-example Fisher traces against closed forms and brute force."""
import math

import pytest
import torch
import torch.nn as nn

from emergent.fisher import (
    fisher_trace,
    fisher_trace_loop,
    logistic_fisher_trace_closed_form,
    sample_model_labels,
    shares,
)

torch.set_default_dtype(torch.float32)


def _softmax_regression(d=6, c=4, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(d, c).double()
    with torch.no_grad():
        lin.weight.mul_(3.0)  # sharper predictions: p far from uniform
    x = torch.randn(40, d, dtype=torch.float64)
    return lin, x


class _Binary(nn.Module):
    """Binary logistic regression written as a 2-logit softmax [0, w.x + b]."""

    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1)

    def forward(self, x):
        z = self.lin(x)
        return torch.cat([torch.zeros_like(z), z], dim=-1)


def _small_convnet(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, stride=2, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 8),
        nn.Tanh(),
        nn.Linear(8, 5),
    ).double()
    with torch.no_grad():  # non-trivial BatchNorm state
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.normal_()
        net[1].bias.normal_()
    x = torch.randn(9, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 5, (9,))
    return net, x, y


def test_closed_form_softmax_regression_exact():
    lin, x = _softmax_regression()
    got = fisher_trace(lin, x, exact=True)
    cf = logistic_fisher_trace_closed_form(lin.weight, lin.bias, x, per_layer=True)
    assert got["total"] == pytest.approx(cf["total"], rel=1e-10)
    assert got["params"]["weight"] == pytest.approx(cf["weight"], rel=1e-10)
    assert got["params"]["bias"] == pytest.approx(cf["bias"], rel=1e-10)
    # the same thing written out: E_x[(|x|^2 + 1) sum_k p_k (1 - p_k)]
    with torch.no_grad():
        p = torch.softmax(lin(x), -1)
    direct = ((x.pow(2).sum(1) + 1) * (p * (1 - p)).sum(1)).mean()
    assert cf["total"] == pytest.approx(float(direct), rel=1e-12)


def test_closed_form_without_bias_and_binary():
    torch.manual_seed(1)
    lin = nn.Linear(5, 3, bias=False).double()
    x = torch.randn(30, 5, dtype=torch.float64)
    assert fisher_trace(lin, x, exact=True, per_layer=False) == pytest.approx(
        logistic_fisher_trace_closed_form(lin.weight, None, x), rel=1e-10)
    model = _Binary(5).double()
    cf = logistic_fisher_trace_closed_form(model.lin.weight, model.lin.bias, x)
    assert fisher_trace(model, x, exact=True, per_layer=False) == pytest.approx(cf, rel=1e-10)
    with torch.no_grad():
        p = torch.sigmoid(model.lin(x))[:, 0]
    assert cf == pytest.approx(float(((x.pow(2).sum(1) + 1) * p * (1 - p)).mean()), rel=1e-12)


def test_sampled_true_fisher_converges_to_closed_form():
    lin, x = _softmax_regression(d=4, c=3, seed=2)
    cf = logistic_fisher_trace_closed_form(lin.weight, lin.bias, x)
    g = torch.Generator().manual_seed(0)
    mc = fisher_trace(lin, x, n_samples=400, per_layer=False, generator=g)
    # 16000 draws; the per-draw relative std is O(1), so 5% is > 5 standard errors
    assert mc == pytest.approx(cf, rel=0.05)


def test_vmap_matches_loop_on_convnet_with_batchnorm():
    net, x, y = _small_convnet()
    net.train()  # fisher_trace must switch to eval mode and back
    for kw in (dict(kind="empirical", y=y), dict(exact=True), dict(n_samples=3)):
        a = fisher_trace(net, x, chunk_size=4, generator=torch.Generator().manual_seed(5),
                         normalize="relative", **kw)
        b = fisher_trace_loop(net, x, generator=torch.Generator().manual_seed(5),
                              normalize="relative", **kw)
        assert a["total"] == pytest.approx(b["total"], rel=1e-10)
        for k in b["params"]:
            assert a["params"][k] == pytest.approx(b["params"][k], rel=1e-9, abs=1e-14)
        for k in b["normalized"]:
            assert a["normalized"][k] == pytest.approx(b["normalized"][k], rel=1e-9, abs=1e-14)
    assert net.training


def test_chunking_does_not_change_the_result():
    net, x, y = _small_convnet(seed=3)
    ref = fisher_trace(net, x, kind="empirical", y=y, per_layer=False)
    for cs in (1, 2, 5, 100):
        assert fisher_trace(net, x, kind="empirical", y=y, chunk_size=cs, per_layer=False) == pytest.approx(ref, rel=1e-12)


def test_per_layer_sums_to_total_and_grouping():
    net, x, y = _small_convnet(seed=4)
    r = fisher_trace(net, x, exact=True, normalize="count")
    assert set(r["layers"]) == {"0", "1", "4", "6"}
    assert sum(r["layers"].values()) == pytest.approx(r["total"], rel=1e-12)
    assert sum(r["params"].values()) == pytest.approx(r["total"], rel=1e-12)
    assert r["layers"]["0"] == pytest.approx(r["params"]["0.weight"] + r["params"]["0.bias"])
    assert r["numel"]["0"] == 3 * 9 + 3
    assert r["normalized"]["4"] == pytest.approx(r["layers"]["4"] / r["numel"]["4"])
    assert sum(shares(r["layers"]).values()) == pytest.approx(1.0)


def test_empirical_differs_from_true():
    net, x, y = _small_convnet(seed=6)
    true = fisher_trace(net, x, exact=True, per_layer=False)
    emp = fisher_trace(net, x, kind="empirical", y=y, per_layer=False)
    assert abs(true - emp) > 1e-3 * true
    with pytest.raises(ValueError):
        fisher_trace(net, x, kind="empirical")


def test_relative_normalization_is_scale_invariant_through_batchnorm():
    net, x, _ = _small_convnet(seed=7)
    net[1].eps = 0.0
    before = fisher_trace(net, x, exact=True, normalize="relative")
    out_before = net.eval()(x)
    a = 3.0
    with torch.no_grad():  # same function: conv scaled by a, BN statistics follow
        net[0].weight.mul_(a)
        net[0].bias.mul_(a)
        net[1].running_mean.mul_(a)
        net[1].running_var.mul_(a * a)
    assert torch.allclose(net(x), out_before, atol=1e-10)
    after = fisher_trace(net, x, exact=True, normalize="relative")
    assert after["total"] != pytest.approx(before["total"], rel=1e-3)  # raw trace changes
    assert after["layers"]["0"] == pytest.approx(before["layers"]["0"] / a**2, rel=1e-8)
    for k in before["normalized"]:
        assert after["normalized"][k] == pytest.approx(before["normalized"][k], rel=1e-8)


def test_sampler_is_reproducible_and_matches_probabilities():
    logits = torch.tensor([[0.0, math.log(3.0)], [5.0, -5.0]])
    s1 = sample_model_labels(logits, 4000, torch.Generator().manual_seed(0))
    s2 = sample_model_labels(logits, 4000, torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2) and s1.shape == (2, 4000)
    assert float(s1[0].double().mean()) == pytest.approx(0.75, abs=0.03)
    assert float(s1[1].double().mean()) < 0.01


def test_float32_mlp_and_param_subset():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))
    x = torch.rand(64, 1, 28, 28)
    r = fisher_trace(net, x, generator=torch.Generator().manual_seed(0))
    assert math.isfinite(r["total"]) and r["total"] > 0
    sub = fisher_trace(net, x, params=["3.weight"], generator=torch.Generator().manual_seed(0))
    assert sub["total"] == pytest.approx(r["params"]["3.weight"], rel=1e-5)
