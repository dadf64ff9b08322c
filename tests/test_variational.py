"""Variational weights (Chapter 4): the KL, the local reparametrisation, packing and the training hooks."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from emergent import train
from emergent import variational as V


def _randomise(layer, seed=0, prior=True):
    """Posterior (and learned prior) parameters away from the initialisation, so that no term is trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight_mean.copy_(torch.randn(layer.weight_mean.shape, generator=g))
        layer.weight_logvar.copy_(torch.rand(layer.weight_logvar.shape, generator=g) * 3 - 2.5)
        if layer.bias is not None:
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
        if prior:
            layer.prior_logvar.copy_(torch.rand(layer.prior_logvar.shape, generator=g) * 2 - 1)
    return layer


def _gaussian_kl_reference(layer):
    """Σ_weights KL(N(μ, σ²) ‖ N(0, λ²)) per member from torch.distributions, in float64."""
    E = layer.members
    mu = layer.weight_mean.detach().double().reshape(E, -1)
    sd = torch.exp(0.5 * layer.weight_logvar.detach().double().clamp(-20, 5)).reshape(E, -1)
    lam = torch.exp(0.5 * layer.prior_logvar.detach().double())[:, None].expand_as(mu)
    return kl_divergence(Normal(mu, sd), Normal(torch.zeros_like(mu), lam)).sum(1)


# --------------------------------------------------------------------------------------------------
# initialisation and the KL
# --------------------------------------------------------------------------------------------------
def test_initialisation_follows_pilot_a():
    torch.manual_seed(0)
    layer = V.VariationalLinear(200, 300, members=2)
    he = 2 / 200
    assert layer.weight_mean.shape == (2, 300, 200) and layer.bias.shape == (2, 300)
    assert layer.weight_mean.std().item() == pytest.approx(math.sqrt(he), rel=0.02)
    assert abs(layer.weight_mean.mean().item()) < 0.01 * math.sqrt(he)
    torch.testing.assert_close(layer.weight_logvar, torch.full_like(layer.weight_logvar, math.log(he) - 6))
    torch.testing.assert_close(layer.prior_logvar, torch.full((2,), math.log(he)))
    assert isinstance(layer.prior_logvar, nn.Parameter) and layer.n_weights == 60000
    fixed = V.VariationalConv2d(3, 4, 3, prior="fixed", sigma0=0.5)
    assert fixed.fan_in == 27 and not isinstance(fixed.prior_logvar, nn.Parameter)
    assert fixed.prior_logvar.item() == pytest.approx(2 * math.log(0.5))
    assert fixed.weight_logvar[0, 0, 0, 0, 0].item() == pytest.approx(math.log(2 / 27) - 6)
    with pytest.raises(ValueError):
        V.VariationalLinear(3, 2, prior="flat")


@pytest.mark.parametrize("make", [
    lambda: V.VariationalLinear(4, 3, members=3),
    lambda: V.VariationalLinear(4, 3, members=2, prior="fixed", sigma0=0.7),
    lambda: V.VariationalConv2d(2, 3, 3, members=2),
])
def test_kl_is_the_closed_form_gaussian_kl(make):
    torch.manual_seed(0)
    layer = _randomise(make())
    got = layer.kl()
    assert got.dtype == torch.float64 and got.shape == (layer.members,)
    torch.testing.assert_close(got.detach(), _gaussian_kl_reference(layer), rtol=1e-12, atol=1e-10)
    # the formula of spec §3.1, written out literally
    E, k = layer.members, layer.n_weights
    mu = layer.weight_mean.detach().double().reshape(E, -1)
    lv = layer.weight_logvar.detach().double().reshape(E, -1)
    lam2 = torch.exp(layer.prior_logvar.detach().double())
    literal = 0.5 * ((mu**2).sum(1) / lam2 + lv.exp().sum(1) / lam2 + k * lam2.log() - lv.sum(1) - k)
    torch.testing.assert_close(got.detach(), literal, rtol=1e-12, atol=1e-10)


def test_kl_matches_monte_carlo_over_weight_samples():
    layer = _randomise(V.VariationalLinear(3, 2, members=2), seed=1)
    E, S = 2, 200_000
    mu = layer.weight_mean.detach().double().reshape(E, -1)
    sd = torch.exp(0.5 * layer.weight_logvar.detach().double()).reshape(E, -1)
    lam = torch.exp(0.5 * layer.prior_logvar.detach().double())[:, None]
    g = torch.Generator().manual_seed(2)
    w = mu + sd * torch.randn(S, *mu.shape, generator=g, dtype=torch.float64)
    log_ratio = (Normal(mu, sd).log_prob(w) - Normal(0.0, lam).log_prob(w)).sum(-1)  # (S, E)
    est, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(S)
    assert ((est - layer.kl().detach()).abs() < 5 * se).all(), (est, layer.kl(), se)


def test_model_kl_sums_layers_and_is_differentiable():
    torch.manual_seed(0)
    m = V.VariationalMLP([5, 7, 6, 3], members=2)
    total = sum(layer.kl() for layer in m.layers)
    torch.testing.assert_close(m.kl(), total)
    torch.testing.assert_close(V.kl(m), total)
    m.kl().sum().backward()
    for name, p in m.named_parameters():  # every parameter but the (deterministic) bias enters the KL
        assert (p.grad is None) == name.endswith("bias"), name
    with pytest.raises(ValueError):
        V.kl(nn.Linear(2, 2))


def test_clamping_keeps_kl_and_gradients_finite_for_extreme_log_variances():
    torch.manual_seed(0)
    m = V.VariationalMLP([4, 6, 3], members=2)
    with torch.no_grad():
        lay = m.layers[0]
        lay.weight_logvar[0].fill_(1e4)
        lay.weight_logvar[1].fill_(-1e4)
        m.layers[1].weight_logvar.fill_(float("inf"))
        m.layers[1].prior_logvar.fill_(-1e4)
    k = m.kl()
    assert torch.isfinite(k).all()
    # the clamped KL is the KL at the clamped values
    ref = _gaussian_kl_reference(lay)
    torch.testing.assert_close(lay.kl().detach(), ref)
    assert ref[0] > 0 and ref[1] > 0
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    m.train()
    loss, _ = V.variational_loss([0.1, 1.0], n_train=8)(m, x, y)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


# --------------------------------------------------------------------------------------------------
# local reparametrisation vs explicit weight samples
# --------------------------------------------------------------------------------------------------
def _check_moments(samples, mean, var, n_sigma=6.0):
    """Sample mean and variance of ``samples`` (first axis = draws) against the exact Gaussian moments."""
    S = samples.shape[0]
    emp_mean, emp_var = samples.mean(0), samples.var(0)
    assert ((emp_mean - mean).abs() <= n_sigma * (var / S).sqrt()).all()
    assert ((emp_var - var).abs() <= n_sigma * var * math.sqrt(2 / (S - 1))).all()


@pytest.mark.parametrize("per_member_input", [False, True])
def test_linear_local_reparametrisation_matches_explicit_weight_samples(per_member_input):
    torch.manual_seed(0)
    E, S = 2, 40_000
    layer = _randomise(V.VariationalLinear(4, 3, members=E), seed=3).double()
    x = torch.randn(5, E, 4, dtype=torch.float64) if per_member_input else torch.randn(5, 4, dtype=torch.float64)
    mean, var = layer.moments(x)
    assert mean.shape == var.shape == (5, E, 3)
    # explicit weight matrices W ~ q, one per draw
    mu, sd = layer.weight_mean.detach(), torch.exp(0.5 * layer.weight_logvar.detach())
    W = mu + sd * torch.randn(S, *mu.shape, dtype=torch.float64)  # (S, E, out, in)
    xe = x if per_member_input else x[:, None].expand(-1, E, -1)
    explicit = torch.einsum("bei,seoi->sbeo", xe, W) + layer.bias.detach()
    _check_moments(explicit, mean.detach(), var.detach())
    # the layer's own samples (train mode: one Gaussian draw per example and unit)
    layer.train()
    with torch.no_grad():
        own = torch.stack([layer(x) for _ in range(2000)])
        big = layer(x.repeat(S // 5, *([1] * (x.dim() - 1)))).reshape(S // 5, 5, E, 3)
    _check_moments(own, mean.detach(), var.detach())
    _check_moments(big, mean.detach(), var.detach())


def test_eval_mode_uses_mean_weights_and_the_sampling_switch():
    torch.manual_seed(0)
    layer = _randomise(V.VariationalLinear(4, 3, members=2))
    x = torch.randn(6, 4)
    mean, _ = layer.moments(x)
    layer.eval()
    torch.testing.assert_close(layer(x), mean)
    with V.sampling(layer, True):
        assert not torch.allclose(layer(x), mean)
    layer.train()
    assert not torch.allclose(layer(x), mean)
    with V.sampling(layer, False):
        torch.testing.assert_close(layer(x), mean)
    assert layer.sample is None
    single = V.VariationalLinear(4, 3)
    assert single(x).shape == (6, 3) and single(x[:, None]).shape == (6, 1, 3)


def test_conv_local_reparametrisation_matches_explicit_kernel_samples():
    torch.manual_seed(0)
    E, C, O, S = 2, 2, 3, 20_000
    conv = _randomise(V.VariationalConv2d(C, O, 3, padding=1, members=E), seed=4).double()
    x = torch.randn(2, C, 4, 4, dtype=torch.float64)
    mean, var = conv.moments(x)
    assert mean.shape == (2, E, O, 4, 4)
    mu, sd = conv.weight_mean.detach(), torch.exp(0.5 * conv.weight_logvar.detach())
    K = mu + sd * torch.randn(S, *mu.shape, dtype=torch.float64)  # (S, E, O, C, 3, 3)
    explicit = torch.nn.functional.conv2d(x, K.reshape(S * E * O, C, 3, 3), padding=1)
    explicit = explicit.reshape(2, S, E, O, 4, 4).transpose(0, 1) + conv.bias.detach()[:, :, None, None]
    _check_moments(explicit, mean.detach(), var.detach())
    conv.train()
    with torch.no_grad():
        own = conv(x.repeat(S, 1, 1, 1)).reshape(S, 2, E, O, 4, 4)
    _check_moments(own, mean.detach(), var.detach())
    # a per-member input (B, E, C, H, W) equal to the shared one gives the same moments; strides work
    m2, v2 = conv.moments(x[:, None].expand(-1, E, -1, -1, -1))
    torch.testing.assert_close(m2, mean)
    torch.testing.assert_close(v2, var)
    strided = V.VariationalConv2d(C, O, 3, stride=2, padding=1)
    assert strided(x.float()).shape == (2, O, 2, 2)


# --------------------------------------------------------------------------------------------------
# packed members
# --------------------------------------------------------------------------------------------------
def test_members_are_independent():
    torch.manual_seed(0)
    E = 3
    m = V.VariationalMLP([5, 8, 4], members=E).train()
    x, y = torch.randn(16, 5), torch.randint(0, 4, (16,))
    loss_fn = V.variational_loss([0.01, 1.0, 10.0], n_train=16)
    for e in range(E):
        m.zero_grad()
        loss, _ = loss_fn(m, x, y)
        loss[e].backward()
        for name, p in m.named_parameters():
            assert p.shape[0] == E, name
            assert p.grad[e].abs().sum() > 0, name
            for f in range(E):
                if f != e:
                    assert torch.count_nonzero(p.grad[f]) == 0, (name, e, f)


def test_member_extraction_gives_the_same_network():
    torch.manual_seed(0)
    m = V.VariationalMLP([5, 8, 4], members=3).eval()
    x = torch.randn(7, 5)
    out = m(x)
    for e, single in enumerate(V.members_of(m)):
        assert single.members == 1 and not single.training
        torch.testing.assert_close(single(x), out[:, e])
        torch.testing.assert_close(single.kl(), m.kl()[e:e + 1])
    with pytest.raises(IndexError):
        V.member(m, 3)


class _SharedNoise:
    """Deterministic noise for one layer: call t draws a (B, E_total, ...) table; a single model reads its
    member's column, so a packed model and its members alone see the same noise."""

    def __init__(self, layer_index, total, column=None):
        self.layer_index, self.total, self.column, self.t = layer_index, total, column, 0

    def __call__(self, like):
        g = torch.Generator().manual_seed(10_000 * self.layer_index + self.t)
        self.t += 1
        z = torch.randn(like.shape[0], self.total, *like.shape[2:], generator=g)
        return z if self.column is None else z[:, self.column:self.column + 1]


def test_packed_members_train_exactly_like_single_models_through_fit():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 5, generator=g)
    y = torch.randint(0, 3, (48,), generator=g)
    betas = [0.01, 1.0, 30.0]
    E = len(betas)
    torch.manual_seed(1)
    packed = V.VariationalMLP([5, 8, 3], members=E)
    singles = V.members_of(packed)
    kl_start = packed.kl().detach()
    start = packed.layers[0].weight_mean.detach().clone()
    for i, layer in enumerate(V.variational_layers(packed)):
        layer._noise = _SharedNoise(i, E)
    cfg = dict(epochs=4, batch_size=16)
    hp = train.fit(packed, (x, y), V.trainer(**cfg), loss_fn=V.variational_loss(betas, 48), progress=False, seed=5)
    for e, single in enumerate(singles):
        for i, layer in enumerate(V.variational_layers(single)):
            layer._noise = _SharedNoise(i, E, column=e)
        h1 = train.fit(single, (x, y), V.trainer(**cfg), loss_fn=V.variational_loss([betas[e]], 48),
                       progress=False, seed=5)
        for (name, p), (_, q) in zip(packed.named_parameters(), single.named_parameters()):
            torch.testing.assert_close(p[e:e + 1], q, rtol=1e-5, atol=1e-5, msg=name)
        for key in ("ce", "kl_per_sample", "train_acc", "train_loss"):
            assert hp[key][-1][e] == pytest.approx(h1[key][-1][0], rel=1e-5), key
    assert not torch.allclose(packed.layers[0].weight_mean, start)
    # the members really differ: β = 30 lowers its KL faster than β = 0.01
    change = packed.kl().detach() - kl_start
    assert change[2] < change[0]


# --------------------------------------------------------------------------------------------------
# loss, parameter groups, fit integration
# --------------------------------------------------------------------------------------------------
def test_variational_loss_is_mean_ce_plus_beta_kl_over_n():
    torch.manual_seed(0)
    m = V.VariationalMLP([5, 8, 4], members=2)
    x, y = torch.randn(10, 5), torch.randint(0, 4, (10,))
    with V.sampling(m, False):
        loss, metrics = V.variational_loss([0.5, 2.0], n_train=100)(m, x, y)
        out = m(x)
    assert set(metrics) == {"ce", "kl_per_sample", "train_acc"}
    kl = m.kl().detach()
    for e, beta in enumerate([0.5, 2.0]):
        ce = nn.functional.cross_entropy(out[:, e], y)
        assert loss[e].item() == pytest.approx((ce + beta * kl[e] / 100).item(), rel=1e-6)
        assert metrics["ce"][e].item() == pytest.approx(ce.item(), rel=1e-6)
        assert metrics["kl_per_sample"][e].item() == pytest.approx(kl[e].item() / 100, rel=1e-12)
        assert metrics["train_acc"][e].item() == pytest.approx((out[:, e].argmax(1) == y).double().mean().item())
    single = V.VariationalMLP([5, 8, 4])
    loss1, _ = V.variational_loss(0.1, n_train=10)(single, x, y)
    assert loss1.shape == (1,)
    with pytest.raises(ValueError):
        V.variational_loss([0.1, 0.2, 0.3], n_train=10)(m, x, y)


def test_param_groups_split_means_from_variances():
    m = V.VariationalMLP([5, 8, 4], members=2)
    groups = V.param_groups(m)
    assert [g["lr"] for g in groups] == [1e-3, 1e-2]
    mean_ids = {id(p) for p in groups[0]["params"]}
    var_ids = {id(p) for p in groups[1]["params"]}
    assert not mean_ids & var_ids and mean_ids | var_ids == {id(p) for p in m.parameters()}
    for layer in m.layers:
        assert {id(layer.weight_mean), id(layer.bias)} <= mean_ids
        assert {id(layer.weight_logvar), id(layer.prior_logvar)} <= var_ids
    fixed = V.VariationalMLP([5, 4], prior="fixed")
    assert len(V.param_groups(fixed)[1]["params"]) == 1  # the prior is a buffer


def test_fit_applies_each_group_learning_rate_and_schedule():
    torch.manual_seed(0)
    m = V.VariationalMLP([5, 8, 4], members=2)
    x, y = torch.randn(12, 5), torch.randint(0, 4, (12,))
    loss_fn = V.variational_loss([0.1, 1.0], n_train=12)
    # gradient of one full-batch step of the mean net (deterministic)
    ref = copy.deepcopy(m)
    with V.sampling(ref, False):
        loss_fn(ref, x, y)[0].sum().backward()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    lrs = dict(lr_mean=0.03, lr_var=0.2)
    cfg = train.Trainer(epochs=2, batch_size=12, optimizer="sgd", momentum=0.0, lr=0.03, milestones=(1,),
                        gamma=0.5, param_groups=lambda mod: V.param_groups(mod, **lrs))
    after_first = {}
    with V.sampling(m, False):
        train.fit(m, (x, y), cfg, loss_fn=loss_fn, progress=False,
                  callbacks=[lambda e, mod, h: after_first.update(
                      {n: p.detach().clone() for n, p in mod.named_parameters()}) if e == 0 else None])
    var_names = ("weight_logvar", "prior_logvar")
    for n, p in ref.named_parameters():
        lr = lrs["lr_var"] if n.endswith(var_names) else lrs["lr_mean"]
        torch.testing.assert_close(after_first[n], before[n] - lr * p.grad, rtol=1e-5, atol=1e-7, msg=n)
    assert train.lr_at(1, cfg, 0.2) == pytest.approx(0.1) and train.lr_at(1, cfg) == pytest.approx(0.015)


def test_evaluate_reports_sampled_and_mean_accuracy():
    torch.manual_seed(0)
    m = V.VariationalMLP([5, 8, 4], members=2).train()
    x, y = torch.randn(30, 5), torch.randint(0, 4, (30,))
    ev = V.evaluate(m, (x, y), samples=3)
    assert m.training and set(ev) == {"acc_sampled", "acc_mean", "ce_sampled", "ce_mean"}
    with torch.no_grad(), V.sampling(m, False):
        out = m(x)
    for e in range(2):
        assert ev["acc_mean"][e] == pytest.approx((out[:, e].argmax(1) == y).double().mean().item())
        assert ev["ce_mean"][e] == pytest.approx(nn.functional.cross_entropy(out[:, e], y).item(), rel=1e-5)
        assert 0 <= ev["acc_sampled"][e] <= 1


def test_per_member_fixed_priors_give_each_member_its_own_kl():
    torch.manual_seed(0)
    s0 = [0.1, 0.5, 2.0]
    packed = V.VariationalLinear(5, 4, members=3, prior="fixed", sigma0=s0)
    with torch.no_grad():
        packed.weight_logvar.uniform_(-6, 0)
    mu = packed.weight_mean.detach().double()
    var = packed.logvar().detach().double().exp()
    for e, s in enumerate(s0):  # closed form, one member at a time
        kl_e = 0.5 * torch.sum(mu[e] ** 2 / s ** 2 + var[e] / s ** 2 - torch.log(var[e] / s ** 2) - 1)
        assert packed.kl()[e].item() == pytest.approx(kl_e.item(), rel=1e-6)  # log λ² is float32
    with pytest.raises(ValueError):
        V.VariationalLinear(5, 4, members=3, prior="fixed", sigma0=[0.1, 0.2])
    with pytest.raises(ValueError):
        V.VariationalLinear(5, 4, members=2, prior="fixed", sigma0=[0.1, -1.0])
