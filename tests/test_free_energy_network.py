"""The RDC-VAE of Chapter 7: its terms against closed forms and Monte Carlo, common random numbers,
the optimizer carried across calls of the one training loop, and the task mixture (eq. 23)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emergent import data, train
from emergent.free_energy import (RDCVAE, adam, binarizer, c_derivatives, clone, equilibrate, eval_set,
                                  evaluate, gaussian_kl, iso_classification, mixture, rdc_terms)


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(0)
    ds = data.digits()
    x, y = ds.x.flatten(1), ds.y
    return (x[:1200], y[:1200]), (x[1200:], y[1200:])


def small_model(seed=0):
    torch.manual_seed(seed)
    return RDCVAE(n_in=64, hidden=32, z_dim=4)


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(1)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    m_mu, m_logvar = torch.randn(3), torch.randn(3)
    p = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    q = torch.distributions.Normal(m_mu, (0.5 * m_logvar).exp())
    assert torch.allclose(gaussian_kl(mu, logvar, m_mu, m_logvar),
                          torch.distributions.kl_divergence(p, q).sum(-1), atol=1e-6)


def test_rdc_terms_rate_is_monte_carlo_log_ratio_and_d_c_are_the_losses(digits):
    (x, y), _ = digits
    model = small_model()
    with torch.no_grad():
        model.m_mu.copy_(torch.randn(4) * 0.3)
        model.m_logvar.copy_(torch.randn(4) * 0.3)
    xb = torch.bernoulli(x[:6], generator=torch.Generator().manual_seed(0))
    eps = torch.randn(6, 4)
    with torch.no_grad():
        R, D, C, logits = rdc_terms(model, xb, y[:6], eps)
        mu, logvar = model.encode(xb)
        z = mu + (0.5 * logvar).exp() * eps
        assert torch.allclose(D, F.binary_cross_entropy_with_logits(model.decoder(z), xb, reduction="none")
                              .sum(1))
        assert torch.allclose(C, F.cross_entropy(model.head(z), y[:6], reduction="none"))
        # R = E_e[log e(z|x) - log m(z)], by Monte Carlo over 200,000 samples of z
        zs = mu + (0.5 * logvar).exp() * torch.randn(200_000, *mu.shape)
        e = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        m = torch.distributions.Normal(model.m_mu, (0.5 * model.m_logvar).exp())
        ratio = (e.log_prob(zs) - m.log_prob(zs)).sum(-1)
        se = ratio.std(0) / 200_000 ** 0.5
        assert torch.all((ratio.mean(0) - R).abs() < 5 * se + 1e-4)


def test_binarizer_is_reproducible_per_seed():
    x = torch.rand(50, 64)
    a, b, c = binarizer(3), binarizer(3), binarizer(4)
    assert torch.equal(a(x, None, 0)[0], b(x, None, 0)[0])
    assert torch.equal(a(x, None, 0)[0], b(x, None, 0)[0])  # second draws agree too
    assert not torch.equal(binarizer(3)(x, None, 0)[0], c(x, None, 0)[0])
    assert abs(a(x.fill_(0.3), None, 0)[0].mean().item() - 0.3) < 0.05


def test_fit_continues_with_the_given_optimizer(digits):
    (x, y), _ = digits
    model = small_model()
    _, opt = equilibrate(model, (x, y), 1.0, 1.0, epochs=1, batch_size=200)
    steps = opt.state[model.head.weight]["step"].item()
    assert steps == 6  # 1200 images in batches of 200
    equilibrate(model, (x, y), 1.0, 1.0, epochs=2, opt=opt, batch_size=200)
    assert opt.state[model.head.weight]["step"].item() == steps + 12
    with pytest.raises(ValueError, match="not the model's"):
        train.fit(small_model(), (x, y), epochs=1, resume_optimizer=opt,
                  loss_fn=lambda m, xb, yb: (m(xb).sum() * 0, {}))


def test_clone_copies_weights_and_adam_state(digits):
    (x, y), _ = digits
    model = small_model()
    _, opt = equilibrate(model, (x, y), 1.0, 1.0, epochs=1, batch_size=200)
    m2, o2 = clone(model, opt)
    for (p1, p2) in zip(model.parameters(), m2.parameters()):
        assert torch.equal(p1, p2) and p1 is not p2
    s1, s2 = opt.state[model.head.weight], o2.state[m2.head.weight]
    assert torch.equal(s1["exp_avg_sq"], s2["exp_avg_sq"]) and s1["exp_avg_sq"] is not s2["exp_avg_sq"]
    # the same seed from the same state gives the same result (common random numbers)
    equilibrate(model, (x, y), 1.0, 1.0, epochs=1, opt=opt, seed=5, batch_size=200)
    equilibrate(m2, (x, y), 1.0, 1.0, epochs=1, opt=o2, seed=5, batch_size=200)
    assert all(torch.equal(p1, p2) for p1, p2 in zip(model.parameters(), m2.parameters()))


def test_common_random_numbers_make_the_finite_differences_repeatable(digits):
    (x, y), _ = digits
    model = small_model()
    _, opt = equilibrate(model, (x, y), 0.5, 4.0, epochs=15, batch_size=100)
    ev = eval_set(x, y, z_dim=4, seed=9)
    runs = [c_derivatives(model, opt, (x, y), ev, 0.5, 4.0, epochs=2, seed=s, gamma_factor=1.5)
            for s in (0, 0, 1)]
    assert runs[0]["dC_dgamma"] == runs[1]["dC_dgamma"]  # same seed, same numbers
    # a larger gamma lowers C whichever common seed is used
    assert runs[0]["dC_dgamma"] < 0 and runs[2]["dC_dgamma"] < 0
    # the unperturbed clone is returned and the original model is untouched by the clones
    assert evaluate(runs[0]["model"], ev)["C"] == pytest.approx(runs[0]["C"])


def test_iso_classification_moves_lambda_by_the_first_step_and_keeps_a_control(digits):
    (x, y), (xv, yv) = digits
    model = small_model()
    _, opt = equilibrate(model, (x, y), 0.25, 4.0, epochs=10, batch_size=100)
    res = iso_classification(model, opt, (x, y), eval_set(xv, yv, z_dim=4), 0.25, 4.0, steps=2,
                             k_epochs=1, relax_epochs=1, first_dlam=0.1, gamma_factor=1.5)
    assert res["path"]["lam"][1] == pytest.approx(0.35)
    assert len(res["path"]["C"]) == len(res["control"]["C"]) == 3
    assert res["control"]["lam"] == [0.25] * 3
    # eq. (22): Δγ = α ∂C/∂λ at the first step
    assert res["path"]["gamma"][1] - 4.0 == pytest.approx(res["alpha"] * res["dC_dlam"][0])


def test_mixture_draws_the_fraction_t_from_the_target():
    xs, ys = torch.zeros(100, 3), torch.zeros(100, dtype=torch.long)
    xt, yt = torch.ones(40, 3), torch.ones(40, dtype=torch.long)
    mix = mixture((xs, ys), (xt, yt))
    for t in (0.0, 0.3, 1.0):
        xm, ym = mix(t)
        assert len(xm) == 100 and ym.float().mean().item() == pytest.approx(t)
        assert torch.equal(mix(t)[0], xm)
    with pytest.raises(ValueError, match="t must be"):
        mix(1.5)


def test_lagrangian_rejects_bad_multipliers(digits):
    (x, y), _ = digits
    with pytest.raises(ValueError, match="λ > 0"):
        equilibrate(small_model(), (x, y), 0.0, 1.0, epochs=1)
    assert adam(small_model()).param_groups[0]["lr"] == 1e-3


def test_experiment_cli_checks_the_configuration_before_training(capsys):
    from emergent.experiments import free_energy as fx

    with pytest.raises(SystemExit) as e:
        fx.main(["iso", "--set", "bogus=1"])
    assert e.value.code == 2 and "bogus" in capsys.readouterr().err
    with pytest.raises(Exception, match="data.source"):
        fx.config({"data": {"source": "cifar10"}}, "fast", "grid")
    cfg = fx.config({"gamma0s": [8.0]}, "fast", "iso")
    assert cfg["gamma0s"] == [8.0] and cfg["lam0"] == 0.25 and cfg["seeds"] == [0]
