"""Tests of emergent.layers: Information Dropout and its closed-form costs (thesis §2.6, spec ch02 §9, §11, T8)."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from emergent.layers import (
    ALPHA_MAX,
    ALPHA_MIN,
    ALPHA_UNIT_VARIANCE_THESIS,
    ALPHA_UNIT_VARIANCE_UNIT_MEAN,
    InformationDropout,
    alpha_for_noise_variance,
    binary_dropout_variance,
    deterministic,
    information_dropout_kl,
    information_dropout_layers,
    information_dropout_loss,
    kl_relu_log_uniform,
    kl_softplus_log_normal,
    log_uniform_log_c,
    lognormal_noise_mean,
    lognormal_noise_variance,
    noise_mode,
    noisy_evaluation,
)

N_MC = 500_000
LOG_2PI = math.log(2 * math.pi)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _normal_logpdf(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * LOG_2PI


def _mc(values):
    """Monte-Carlo mean and its standard error."""
    return values.mean().item(), values.std().item() / math.sqrt(values.numel())


def _log_z_samples(alpha, log_fx, noise, seed=0):
    u = torch.randn(N_MC, generator=_gen(seed), dtype=torch.float64)
    m = log_fx - alpha**2 / 2 if noise == "unit_mean" else log_fx
    return m + alpha * u, m


# ---------------------------------------------------------------------------------------------
# noise moments and the alpha < 0.7 rule (T8)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", ["thesis", "unit_mean"])
@pytest.mark.parametrize("alpha", [0.2, 0.7])
def test_noise_moments_match_monte_carlo(noise, alpha):
    u = torch.randn(N_MC, generator=_gen(1), dtype=torch.float64)
    eps = torch.exp(alpha * u - (alpha**2 / 2 if noise == "unit_mean" else 0.0))
    assert eps.mean().item() == pytest.approx(lognormal_noise_mean(alpha, noise), rel=3e-3)
    assert eps.var().item() == pytest.approx(lognormal_noise_variance(alpha, noise), rel=2.5e-2)


def test_alpha_rule_numbers():
    # thesis noise: variance at 0.7 is ~1.03 ("approximately 1"); exactly 1 at sqrt(ln golden ratio)
    assert lognormal_noise_variance(0.7) == pytest.approx((math.exp(0.49) - 1) * math.exp(0.49))
    assert lognormal_noise_variance(0.7) == pytest.approx(1.0321, abs=1e-4)
    assert lognormal_noise_mean(0.7) == pytest.approx(1.2776, abs=1e-4)
    assert lognormal_noise_variance(0.7, "unit_mean") == pytest.approx(0.6323, abs=1e-4)
    assert ALPHA_UNIT_VARIANCE_THESIS == pytest.approx(0.69369, abs=1e-5)
    assert ALPHA_UNIT_VARIANCE_UNIT_MEAN == pytest.approx(math.sqrt(math.log(2)))
    assert alpha_for_noise_variance(1.0) == pytest.approx(ALPHA_UNIT_VARIANCE_THESIS)
    assert alpha_for_noise_variance(1.0, "unit_mean") == pytest.approx(ALPHA_UNIT_VARIANCE_UNIT_MEAN)
    for noise in ("thesis", "unit_mean"):
        for v in (0.1, 1.0, 3.0):
            assert lognormal_noise_variance(alpha_for_noise_variance(v, noise), noise) == pytest.approx(v)
    # binary dropout p=1/2 rescaled to mean 1: values {0, 2}, variance 1
    assert binary_dropout_variance(0.5) == 1.0
    b = (torch.rand(N_MC, generator=_gen(2)) > 0.5).double() * 2.0
    assert b.var().item() == pytest.approx(1.0, abs=5e-3)
    # the squared coefficient of variation e^{a^2}-1 is the same in both conventions
    a = torch.tensor([0.1, 0.5, 0.7], dtype=torch.float64)
    cv2 = lognormal_noise_variance(a) / lognormal_noise_mean(a) ** 2
    assert torch.allclose(cv2, lognormal_noise_variance(a, "unit_mean"))


def test_functions_accept_floats_numpy_and_tensors():
    assert isinstance(kl_relu_log_uniform(0.3), float)
    assert isinstance(kl_softplus_log_normal(0.3, 0.1, 0.0, 1.0), float)
    a = np.array([0.1, 0.4])
    out = kl_softplus_log_normal(a, np.array([0.2, -1.0]), 0.5, 2.0)
    ref = kl_softplus_log_normal(torch.tensor(a), torch.tensor([0.2, -1.0]), 0.5, 2.0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref.numpy())
    with pytest.raises(ValueError):
        lognormal_noise_variance(0.5, "bernoulli")


# ---------------------------------------------------------------------------------------------
# Prop 2.6.1: ReLU / log-uniform prior
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", ["thesis", "unit_mean"])
@pytest.mark.parametrize("alpha", [0.05, 0.3, ALPHA_MAX])
def test_relu_kl_matches_monte_carlo_with_documented_constant(alpha, noise):
    # KL(p(log z|x) || c) = E[log N(log z; m, a^2)] - log c, with c the documented constant
    log_z, m = _log_z_samples(alpha, log_fx=0.8, noise=noise, seed=3)
    est, se = _mc(_normal_logpdf(log_z, m, alpha) - log_uniform_log_c(ALPHA_MAX))
    exact = kl_relu_log_uniform(alpha, ALPHA_MAX)
    assert exact == pytest.approx(math.log(ALPHA_MAX) - math.log(alpha))
    assert abs(est - exact) < 4 * se


def test_relu_kl_alpha_dependence_monte_carlo():
    # the difference between two alphas does not depend on the (improper) constant: -log(a1/a2)
    u = torch.randn(N_MC, generator=_gen(4), dtype=torch.float64)
    a1, a2 = 0.1, 0.45
    d = _normal_logpdf(0.3 + a1 * u, 0.3, a1) - _normal_logpdf(0.3 + a2 * u, 0.3, a2)
    est, se = _mc(d)
    assert est == pytest.approx(-math.log(a1 / a2), abs=max(4 * se, 1e-9))
    assert kl_relu_log_uniform(a1) - kl_relu_log_uniform(a2) == pytest.approx(-math.log(a1 / a2))


def test_relu_kl_constant():
    # entropy of N(0, a^2) is log a + 1/2 log(2 pi e) (errata #4: alpha is a standard deviation)
    assert log_uniform_log_c(ALPHA_MAX) == pytest.approx(-math.log(0.7) - 0.5 * math.log(2 * math.pi * math.e))
    assert kl_relu_log_uniform(ALPHA_MAX) == 0.0  # zero at the top of alpha's range
    assert kl_relu_log_uniform(0.35) == pytest.approx(math.log(2))
    # units with f(x) = 0 cost -log q0 when masked
    a = torch.tensor([0.1, 0.1, 0.5])
    fx = torch.tensor([0.0, 1.0, 0.0])
    kl = kl_relu_log_uniform(a, fx=fx, mask_zeros=True, q0=0.25)
    assert torch.allclose(kl, torch.tensor([math.log(4), math.log(7.0), math.log(4)]))
    with pytest.raises(ValueError):
        kl_relu_log_uniform(a, mask_zeros=True)


# ---------------------------------------------------------------------------------------------
# Prop 2.6.2: Softplus / log-normal prior, eq. 2.5 corrected
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", ["thesis", "unit_mean"])
@pytest.mark.parametrize(
    "alpha,log_fx,mu,sigma", [(0.3, 1.5, 0.2, 0.8), (0.05, -2.0, 0.0, 1.0), (0.7, 0.4, -0.5, 2.5)]
)
def test_softplus_kl_matches_monte_carlo(alpha, log_fx, mu, sigma, noise):
    log_z, m = _log_z_samples(alpha, log_fx, noise, seed=5)
    est, se = _mc(_normal_logpdf(log_z, m, alpha) - _normal_logpdf(log_z, mu, sigma))
    exact = kl_softplus_log_normal(alpha, log_fx, mu, sigma, noise=noise)
    assert abs(est - exact) < 4 * se + 1e-12


def test_softplus_kl_printed_eq_2_5_is_wrong():
    alpha, mu, sigma = 0.3, 0.2, 0.8
    printed = lambda a: (a**2 + mu**2) / (2 * sigma**2) - math.log(a / sigma) - 0.5  # noqa: E731
    # with log f(x) = 0 the printed formula coincides with the corrected one ...
    assert kl_softplus_log_normal(alpha, 0.0, mu, sigma) == pytest.approx(printed(alpha))
    # ... otherwise it does not, and Monte Carlo sides with the corrected one
    log_z, m = _log_z_samples(alpha, 1.5, "thesis", seed=6)
    est, se = _mc(_normal_logpdf(log_z, m, alpha) - _normal_logpdf(log_z, mu, sigma))
    assert abs(est - printed(alpha)) > 100 * se
    assert abs(est - kl_softplus_log_normal(alpha, 1.5, mu, sigma)) < 4 * se


def test_softplus_kl_is_zero_when_posterior_equals_prior():
    assert kl_softplus_log_normal(0.4, 0.3, 0.3, 0.4) == pytest.approx(0.0, abs=1e-12)
    a = torch.tensor(0.4, dtype=torch.float64)
    assert kl_softplus_log_normal(a, 0.3 + 0.08, 0.3, 0.4, noise="unit_mean").item() == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# the layer
# ---------------------------------------------------------------------------------------------
def _constant_alpha(layer: InformationDropout, alpha: float) -> None:
    """Make the alpha branch output a constant alpha (zero weights, bias at the right logit)."""
    p = (alpha - layer.alpha_min) / (layer.alpha_max - layer.alpha_min)
    with torch.no_grad():
        layer.alpha_branch.weight.zero_()
        layer.alpha_branch.bias.fill_(math.log(p / (1 - p)))


def test_conv_and_linear_shapes():
    torch.manual_seed(0)
    conv = InformationDropout(3, 8, kernel_size=3, stride=2)
    x = torch.randn(4, 3, 10, 10)
    z = conv(x)
    assert z.shape == (4, 8, 5, 5)
    assert conv.kl.shape == z.shape and conv.last_alpha.shape == z.shape
    assert conv.kl_per_sample().shape == (4,)
    assert isinstance(conv.f, nn.Conv2d) and isinstance(conv.bn, nn.BatchNorm2d)
    lin = InformationDropout(5, 7, activation="softplus")
    z = lin(torch.randn(6, 5))
    assert z.shape == (6, 7) and lin.kl.shape == (6, 7) and lin.kl_per_sample().shape == (6,)
    assert isinstance(lin.f, nn.Linear) and lin.prior == "log_normal"
    assert torch.allclose(lin.kl_per_sample(), lin.kl.sum(1))


@pytest.mark.parametrize("activation", ["relu", "softplus"])
@pytest.mark.parametrize("conv", [False, True])
def test_eval_is_deterministic_and_equals_fx(activation, conv):
    torch.manual_seed(1)
    if conv:
        layer, x = InformationDropout(2, 4, 3, activation=activation), torch.randn(3, 2, 6, 6)
    else:
        layer, x = InformationDropout(5, 6, activation=activation), torch.randn(8, 5)
    layer.train()
    layer(x)  # update BN running stats
    layer.eval()
    z1, z2 = layer(x), layer(x)
    act = F.relu if activation == "relu" else F.softplus
    expected = act(layer.bn(layer.f(x)))
    assert torch.equal(z1, expected) and torch.equal(z2, expected)
    assert torch.equal(layer.last_fx, expected)
    assert layer.kl is not None and layer.kl.shape == z1.shape  # KL is computed in eval mode too


def test_noisy_eval_flag_and_context_managers():
    torch.manual_seed(2)
    layer = InformationDropout(5, 6, activation="softplus").eval()
    model = nn.Sequential(layer)
    x = torch.randn(16, 5)
    fx = layer(x)
    with noisy_evaluation(model):
        assert layer.noise_active
        assert not torch.equal(layer(x), fx)
    assert not layer.noise_active and torch.equal(layer(x), fx)
    layer.noisy_eval = True
    assert not torch.equal(layer(x), fx)
    with deterministic(model):
        assert torch.equal(layer(x), fx)
    layer.noisy_eval = False
    model.train()
    with deterministic(model):
        z = layer(x)
        assert torch.equal(z, layer.last_fx)
    with noise_mode(model, None):
        assert layer.noise_active
    assert layer.noise_override is None
    assert InformationDropout(5, 6, noisy_eval=True).eval().noise_active


@pytest.mark.parametrize("noise", ["thesis", "unit_mean"])
def test_train_noise_is_lognormal_with_std_alpha(noise):
    torch.manual_seed(3)
    layer = InformationDropout(20, 40, activation="softplus", noise=noise).train()
    _constant_alpha(layer, 0.5)
    x = torch.randn(500, 20)
    z1 = layer(x)
    assert torch.allclose(layer.last_alpha, torch.full_like(z1, 0.5), atol=1e-6)
    log_ratio = torch.log(z1 / layer.last_fx).double()
    assert log_ratio.std().item() == pytest.approx(0.5, rel=2e-2)
    expected_mean = -0.125 if noise == "unit_mean" else 0.0
    assert log_ratio.mean().item() == pytest.approx(expected_mean, abs=1.5e-2)
    z2 = layer(x)
    assert not torch.equal(z1, z2)  # fresh noise each pass


def test_relu_train_noise_keeps_zeros():
    torch.manual_seed(4)
    layer = InformationDropout(10, 30).train()
    z = layer(torch.randn(64, 10))
    fx = layer.last_fx
    assert torch.equal(z == 0, fx == 0)
    assert (fx == 0).any() and (fx > 0).any()


def test_gradient_reaches_alpha_branch():
    torch.manual_seed(5)
    for layer, x in [
        (InformationDropout(3, 4, 3), torch.randn(2, 3, 8, 8)),
        (InformationDropout(6, 5, activation="softplus"), torch.randn(7, 6)),
    ]:
        layer.train()
        # through the KL term only
        layer(x)
        layer.kl.sum().backward()
        g = layer.alpha_branch.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        # through the reparametrized noise only
        layer.zero_grad()
        (layer(x) ** 2).sum().backward()
        g = layer.alpha_branch.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        assert layer.f.weight.grad.abs().sum() > 0


def test_log_normal_prior_parameters():
    torch.manual_seed(6)
    layer = InformationDropout(6, 5, activation="softplus", mu=0.3, sigma=2.0).train()
    assert isinstance(layer.mu, nn.Parameter) and isinstance(layer.log_sigma, nn.Parameter)
    x = torch.randn(9, 6)
    layer(x)
    ref = kl_softplus_log_normal(layer.last_alpha, torch.log(layer.last_fx.clamp(min=1e-4)), 0.3, 2.0)
    assert torch.allclose(layer.kl, ref, atol=1e-6)
    layer.kl.sum().backward()
    assert layer.mu.grad.abs() > 0 and layer.log_sigma.grad.abs() > 0
    # fixed prior: buffers; one (mu, sigma) per channel
    fixed = InformationDropout(6, 5, activation="softplus", learn_prior=False)
    assert "mu" in dict(fixed.named_buffers()) and "mu" not in dict(fixed.named_parameters())
    conv = InformationDropout(2, 4, 3, activation="softplus", prior_params="channel")
    conv(torch.randn(3, 2, 5, 5))
    assert conv.mu.shape == (4,) and conv.kl.shape == (3, 4, 5, 5)
    with torch.no_grad():
        conv.mu.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    conv(torch.randn(3, 2, 5, 5))
    lf = torch.log(conv.last_fx.clamp(min=1e-4))
    ref = kl_softplus_log_normal(conv.last_alpha, lf, conv.mu.view(4, 1, 1).detach(), 1.0)
    assert torch.allclose(conv.kl, ref, atol=1e-5)


@pytest.mark.parametrize("squash", ["sigmoid", "softplus"])
def test_alpha_never_exceeds_alpha_max(squash):
    torch.manual_seed(7)
    layer = InformationDropout(4, 8, squash=squash).train()
    x = torch.randn(32, 4)
    for scale in (1.0, 1e2, 1e6):
        with torch.no_grad():
            layer.alpha_branch.bias.fill_(scale)
        layer(x * scale)
        a = layer.last_alpha
        assert (a <= ALPHA_MAX).all() and (a > 0).all()
        assert (a >= ALPHA_MIN - 1e-7).all()
        assert (layer.kl >= -1e-6).all()
    # saturated at the top: alpha = alpha_max and the ReLU cost is the documented constant, 0
    with torch.no_grad():
        layer.alpha_branch.weight.zero_()
        layer.alpha_branch.bias.fill_(1e3)
    layer(x)
    assert torch.allclose(layer.last_alpha, torch.full_like(layer.last_alpha, ALPHA_MAX))
    assert torch.allclose(layer.kl, torch.zeros_like(layer.kl), atol=1e-6)


def test_relu_layer_kl_and_mask_zeros():
    torch.manual_seed(8)
    layer = InformationDropout(10, 30).train()
    x = torch.randn(64, 10)
    layer(x)
    assert torch.allclose(layer.kl, math.log(ALPHA_MAX) - torch.log(layer.last_alpha), atol=1e-6)
    masked = InformationDropout(10, 30, mask_zeros=True, q0=0.5).train()
    masked.load_state_dict(layer.state_dict())
    masked(x)
    dead = masked.last_fx == 0
    assert dead.any()
    assert torch.allclose(masked.kl[dead], torch.full_like(masked.kl[dead], math.log(2)))
    assert torch.allclose(masked.kl[~dead], layer.kl[~dead], atol=1e-6)


def test_custom_branches():
    torch.manual_seed(9)
    layer = InformationDropout(f=nn.Identity(), alpha_branch=nn.Linear(5, 5)).eval()
    x = torch.randn(4, 5)
    assert torch.equal(layer(x), F.relu(x)) and layer.bn is None
    bad = InformationDropout(f=nn.Identity(), alpha_branch=nn.Linear(5, 3))
    with pytest.raises(ValueError):
        bad(x)
    with pytest.raises(ValueError):
        InformationDropout(5)
    with pytest.raises(ValueError):
        InformationDropout(5, 5, activation="tanh")


def _toy_model(activation="relu"):
    return nn.Sequential(
        InformationDropout(1, 4, 3, stride=2, activation=activation),
        InformationDropout(4, 6, 3, stride=2, activation=activation),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 3),
    )


def test_information_dropout_kl_sums_layers():
    torch.manual_seed(10)
    model = _toy_model("softplus").train()
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 3, (5,))
    logits = model(x)
    l1, l2 = information_dropout_layers(model)
    per = l1.kl.flatten(1).sum(1) + l2.kl.flatten(1).sum(1)
    assert torch.allclose(information_dropout_kl(model), per.mean())
    assert torch.allclose(information_dropout_kl(model, "sum"), per.sum())
    assert information_dropout_kl(model, "none").shape == (5,)
    out = information_dropout_loss(logits, y, model, beta=2.0, n_train=100)
    assert torch.allclose(out.loss, F.cross_entropy(logits, y) + 2.0 * per.mean() / 100)
    out.loss.backward()
    assert l1.alpha_branch.weight.grad.abs().sum() > 0
    assert information_dropout_kl(nn.Linear(2, 2)).item() == 0.0
    assert information_dropout_kl(_toy_model()).item() == 0.0  # no forward yet


def test_deepcopy_and_state_dict_after_forward():
    torch.manual_seed(11)
    model = _toy_model().train()
    model(torch.randn(3, 1, 8, 8))
    clone = copy.deepcopy(model)
    assert information_dropout_layers(clone)[0].kl is None
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model(x), clone(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_without_host_sync():
    model = _toy_model("softplus").cuda().train()
    x = torch.randn(4, 1, 8, 8, device="cuda")
    y = torch.randint(0, 3, (4,), device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        logits = model(x)
        loss = information_dropout_loss(logits, y, model, beta=1.0, n_train=10).loss
    finally:
        torch.cuda.set_sync_debug_mode("default")
    loss.backward()
    assert loss.device.type == "cuda" and information_dropout_layers(model)[0].kl.device.type == "cuda"
