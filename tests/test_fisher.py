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


# --------------------------------------------------------------------------------------------
# The diagonal (Task2Vec, thesis Ch. 5)
# --------------------------------------------------------------------------------------------
from collections import OrderedDict  # noqa: E402

from emergent.fisher import (  # noqa: E402
    fisher_cotangents,
    fisher_diagonal,
    fisher_diagonal_loop,
    fisher_diagonal_minibatch,
)

torch.set_num_threads(1)


def _brute_force_diagonal(model, x, params=None):
    """Per example, per class: autograd of log p_k, then sum_k p_k g_k**2; mean over examples."""
    model.eval()
    named = OrderedDict((n, p) for n, p in model.named_parameters() if params is None or n in params)
    acc = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in named.items()}
    for i in range(x.shape[0]):
        logp = torch.log_softmax(model(x[i:i + 1]), -1)[0]
        p = logp.detach().exp()
        for k in range(logp.shape[0]):
            grads = torch.autograd.grad(logp[k], list(named.values()), retain_graph=True, allow_unused=True)
            for (n, _), g in zip(named.items(), grads):
                if g is not None:
                    acc[n] += p[k].double() * g.double() ** 2
    return {n: v / x.shape[0] for n, v in acc.items()}


class _OddNet(nn.Module):
    """Dilated and strided convs, BatchNorm, a linear layer applied over spatial positions."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, padding=2, dilation=2)
        self.bn = nn.BatchNorm2d(3)
        self.c2 = nn.Conv2d(3, 4, (3, 2), stride=2, padding=(1, 0))
        self.l1 = nn.Linear(4, 5)
        self.l2 = nn.Linear(5 * 4 * 3, 6, bias=False)

    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))
        h = torch.tanh(self.c2(h))                 # (n, 4, 4, 3)
        h = self.l1(h.permute(0, 2, 3, 1))         # (n, 4, 3, 5): one linear layer per position
        return self.l2(h.flatten(1))


def _odd_net(seed=0):
    torch.manual_seed(seed)
    net = _OddNet().double()
    with torch.no_grad():
        net.bn.running_mean.normal_()
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.normal_()
    return net, torch.randn(7, 2, 8, 7, dtype=torch.float64)


def _max_rel(a, b):
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-300)) for k in b)


def test_diagonal_equals_brute_force_loop_both_methods():
    net, x = _odd_net()
    net.train()  # must be measured in eval mode and restored
    ref = _brute_force_diagonal(net, x)
    net.train()
    for method in ("auto", "vmap"):  # "auto" falls back to vmap: BatchNorm parameters are selected
        got = fisher_diagonal(net, x, method=method, chunk=3)
        assert list(got) == [n for n, _ in net.named_parameters()]
        assert all(got[k].shape == p.shape for k, p in net.named_parameters())
        assert _max_rel(got, ref) < 1e-12
    assert net.training
    assert _max_rel(fisher_diagonal_loop(net, x), ref) < 1e-12
    convs = ["c1.weight", "c1.bias", "c2.weight", "c2.bias", "l1.weight", "l1.bias", "l2.weight"]
    for chunk in (2, 7):
        got = fisher_diagonal(net, x, params=convs, method="hooks", chunk=chunk)
        assert _max_rel(got, {k: ref[k] for k in convs}) < 1e-12
    with pytest.raises(ValueError):
        fisher_diagonal(net, x, method="hooks")  # BatchNorm's affine parameters: not hookable


def test_diagonal_sums_to_exact_fisher_trace():
    net, x, _ = _small_convnet(seed=2)
    diag = fisher_diagonal(net, x)
    tr = fisher_trace(net, x, exact=True)
    for k, v in diag.items():
        assert float(v.sum()) == pytest.approx(tr["params"][k], rel=1e-10)
    assert sum(float(v.sum()) for v in diag.values()) == pytest.approx(tr["total"], rel=1e-10)
    net2, x2 = _odd_net(seed=3)
    names = ["c2.weight", "l1.weight"]
    d2 = fisher_diagonal(net2, x2, params=names, method="hooks")
    t2 = fisher_trace(net2, x2, exact=True, params=names)
    for k in names:
        assert float(d2[k].sum()) == pytest.approx(t2["params"][k], rel=1e-10)


def test_diagonal_softmax_regression_closed_form():
    # grad_W log p_k = (e_k - p) x^T, so F_W[c, d] = E[p_c (1 - p_c) x_d^2] and F_b[c] = E[p_c (1 - p_c)]
    lin, x = _softmax_regression(d=5, c=4, seed=4)
    with torch.no_grad():
        p = torch.softmax(lin(x), -1)
    v = p * (1 - p)
    got = fisher_diagonal(lin, x)
    assert torch.allclose(got["weight"], (v[:, :, None] * x[:, None, :] ** 2).mean(0), rtol=1e-10, atol=0)
    assert torch.allclose(got["bias"], v.mean(0), rtol=1e-10, atol=0)


def test_cotangents_factorise_the_softmax_covariance():
    logits = torch.randn(6, 5, dtype=torch.float64) * 3
    logits[0] = torch.tensor([0.0, -800.0, -800.0, -800.0, -800.0])  # one-hot p: empty tails (0/0)
    logits[1, 3:] = -800.0  # the last two classes impossible
    for c in (2, 5):
        lg = logits[:, :c]
        V = fisher_cotangents(lg)
        assert V.shape == (6, c - 1, c) and torch.isfinite(V).all()
        p = torch.softmax(lg, -1)
        cov = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        assert torch.allclose(V.transpose(1, 2) @ V, cov, atol=1e-15)
        assert V.sum(-1).abs().max() < 1e-15  # zero-sum: the vjp through log_softmax is J^T v
    labels = fisher_cotangents(logits, exact=False, n_samples=4, generator=torch.Generator().manual_seed(0))
    assert labels.shape == (6, 4, 5) and torch.allclose(labels.sum(-1), torch.full((6, 4), 0.5, dtype=torch.float64))


def test_sampled_diagonal_converges_within_standard_errors():
    # per draw, the (c, d) entry is (1[y=c] - p_c)^2 x_d^2: mean p_c(1-p_c) x_d^2 and, over y ~ p,
    # variance [p_c(1-p_c)^4 + (1-p_c) p_c^4 - (p_c(1-p_c))^2] x_d^4 (closed forms)
    lin, x = _softmax_regression(d=4, c=3, seed=5)
    S = 400
    mc = fisher_diagonal(lin, x, exact=False, n_samples=S, generator=torch.Generator().manual_seed(1))
    exact = fisher_diagonal(lin, x)
    with torch.no_grad():
        p = torch.softmax(lin(x), -1)
    var_y = p * (1 - p) ** 4 + (1 - p) * p ** 4 - (p * (1 - p)) ** 2  # (N, C)
    n = x.shape[0]
    se_w = (var_y[:, :, None] * x[:, None, :] ** 4).sum(0).sqrt() / (n * S ** 0.5)
    se_b = var_y.sum(0).sqrt() / (n * S ** 0.5)
    z = torch.cat([((mc["weight"] - exact["weight"]) / se_w).flatten(), (mc["bias"] - exact["bias"]) / se_b])
    assert z.abs().max() < 5.0
    assert z.abs().mean() < 1.5  # about 0.8 for standard normal errors


def test_minibatch_shortcut_expectation_is_diagonal_over_batch_size():
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    torch.manual_seed(6)
    for p in net.parameters():
        nn.init.normal_(p, std=1.0)
    x = torch.randn(20, 4, dtype=torch.float64)
    exact = fisher_diagonal(net, x)
    # batch size 1: the per-example sampled estimator (same labels from the same generator state)
    a = fisher_diagonal_minibatch(net, x, batch_size=1, generator=torch.Generator().manual_seed(2))
    b = fisher_diagonal(net, x, exact=False, n_samples=1, generator=torch.Generator().manual_seed(2))
    assert _max_rel(a, b) < 1e-12
    # raw = rescaled / B for equal batches
    raw = fisher_diagonal_minibatch(net, x, batch_size=4, generator=torch.Generator().manual_seed(3))
    res = fisher_diagonal_minibatch(net, x, batch_size=4, generator=torch.Generator().manual_seed(3), rescale=True)
    assert _max_rel({k: 4 * v for k, v in raw.items()}, res) < 1e-12
    # rescaled is unbiased for the diagonal: the mean of 12 independent runs is within 5 standard errors
    runs = torch.stack([
        sum(v.sum() for v in fisher_diagonal_minibatch(
            net, x, batch_size=4, epochs=10, rescale=True, generator=torch.Generator().manual_seed(100 + r)).values())
        for r in range(12)])
    target = sum(float(v.sum()) for v in exact.values())
    assert abs(float(runs.mean()) - target) < 5 * float(runs.std()) / 12 ** 0.5
    # and the raw shortcut is a batch size too small
    assert float(runs.mean()) / 4 < 0.5 * target


def test_kl_over_half_quadratic_form_tends_to_one():
    # E_x KL(p_{w+d} || p_w) = 1/2 d^T F d + o(|d|^2); the thesis prints it without the 1/2 (erratum)
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()
    x = torch.randn(50, 3, dtype=torch.float64)
    diag = fisher_diagonal(net, x)
    name = "0.weight"
    idx = int(diag[name].argmax())
    with torch.no_grad():
        logp = torch.log_softmax(net(x), -1)
    gaps = []
    for eps in (1e-1, 1e-2, 1e-3):
        pert = __import__("copy").deepcopy(net)
        with torch.no_grad():
            pert.state_dict()[name].view(-1)[idx] += eps
            logq = torch.log_softmax(pert(x), -1)
        kl = float((logq.exp() * (logq - logp)).sum(-1).mean())
        ratio = kl / (0.5 * eps ** 2 * float(diag[name].view(-1)[idx]))
        gaps.append(abs(ratio - 1))
    assert gaps[-1] < 5e-3
    assert gaps[0] > gaps[1] > gaps[2]


def test_hooks_fall_back_when_a_layer_runs_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(3, 3)

        def forward(self, x):
            return self.l(torch.tanh(self.l(x)))

    torch.manual_seed(8)
    net = Twice().double()
    x = torch.randn(6, 3, dtype=torch.float64)
    ref = _brute_force_diagonal(net, x)
    assert _max_rel(fisher_diagonal(net, x), ref) < 1e-12  # auto -> vmap
    with pytest.raises(ValueError):
        fisher_diagonal(net, x, method="hooks")
