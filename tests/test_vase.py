"""emergent.vase, stage 1: atypicality (eq. 3.4, moment-matched), the mask (eq. 3.5) and the exact
linear-Gaussian world T10 (spec §7): α = 0 for unused latents, a dropped factor becomes atypical,
batch estimates converge to the closed form."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emergent import vase


def test_atypicality_of_a_single_gaussian_is_its_kl():
    mu = torch.full((10, 2), 0.7, dtype=torch.float64)
    logvar = torch.full((10, 2), math.log(0.3), dtype=torch.float64)
    want = 0.5 * (0.3 + 0.49 - 1 - math.log(0.3))
    assert torch.allclose(vase.atypicality(mu, logvar), torch.full((2,), want, dtype=torch.float64))


def test_prior_matching_posteriors_have_zero_atypicality():
    # unused latents: mu = 0, sigma = 1 in every example -> alpha = 0 exactly, on any batch
    assert torch.all(vase.atypicality(torch.zeros(7, 3), torch.zeros(7, 3)) == 0)
    # a used latent whose aggregate matches the prior exactly (+-a, variance 1 - a^2)
    a = 0.8
    mu = torch.tensor([[a], [-a]], dtype=torch.float64)
    logvar = torch.full((2, 1), math.log(1 - a * a), dtype=torch.float64)
    assert float(vase.atypicality(mu, logvar)) == pytest.approx(0.0, abs=1e-15)


def test_moment_matching_is_a_lower_bound_of_the_exact_mixture_kl():
    # Pythagoras for a Gaussian prior: KL(mix || p) = KL(mix || mm) + KL(mm || p) >= alpha
    mu = torch.tensor([[-1.5], [1.5]], dtype=torch.float64)
    logvar = torch.full((2, 1), math.log(0.2), dtype=torch.float64)
    alpha = float(vase.atypicality(mu, logvar))
    exact = float(vase.mixture_kl_mc(mu, logvar, samples=200_000))
    # KL(mix || mm) by Monte Carlo, independently
    m, v = vase.moment_match(mu, logvar)
    g = torch.Generator().manual_seed(1)
    comp = torch.randint(2, (200_000,), generator=g)
    z = mu[comp, 0] + math.sqrt(0.2) * torch.randn(200_000, generator=g, dtype=torch.float64)
    mix = torch.logsumexp(torch.stack([-0.5 * (z - c) ** 2 / 0.2 for c in (-1.5, 1.5)]), 0) \
        - math.log(2) - 0.5 * math.log(2 * math.pi * 0.2)
    mm = -0.5 * (z - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v)
    gap = float((mix - mm).mean())
    assert exact > alpha
    assert exact == pytest.approx(alpha + gap, abs=0.01)


def test_latent_mask_is_eq_3_5():
    assert vase.latent_mask([0.0, 0.5, 0.6, 2.0], 0.6).tolist() == [1, 1, 0, 0]


def test_t10_unused_latents_and_the_exact_posterior():
    w = vase.t10_world(n_factors=6, used=4, variant="drop")
    a1 = w.atypicality(0)
    assert np.all(a1[4:] == 0)  # spare capacity: exactly zero
    assert np.all(a1[:4] > 0) and np.all(a1[:4] < 0.05)  # mean-field: v slightly below 1
    _, v = w.moments(0)
    assert np.all(v[:4] < 1)
    exact = vase.t10_world(n_factors=6, used=4, variant="drop", exact_variance=True)
    assert np.allclose(exact.atypicality(0), 0, atol=1e-12)  # Cov(mu) + S = I
    assert np.allclose(exact.moments(0)[1], 1, atol=1e-12)


def test_t10_dropped_factor_becomes_atypical_and_grows_with_its_strength():
    alphas = []
    for strength in (0.3, 0.6, 1.0, 2.0):
        w = vase.t10_world(variant="drop", factor=1, strength=strength)
        a2 = w.atypicality(1)
        assert a2[1] == max(a2) and np.all(a2[4:] == 0)
        alphas.append(a2[1])
    assert np.all(np.diff(alphas) > 0)
    # orthogonal columns: the dropped latent sees only pixel noise, Var mu_k = s^2 (1 - s^2), so its
    # aggregate variance is s^2 (2 - s^2): about twice its posterior variance s_k^2, far below 1
    w = vase.t10_world(variant="drop", factor=0, orthogonal=True)
    _, v = w.moments(1)
    _, s2 = w.encoder()
    want = s2[0] * (2 - s2[0])
    assert v[0] == pytest.approx(want, rel=1e-10)
    assert w.atypicality(1)[0] == pytest.approx(0.5 * (want - 1 - math.log(want)))
    assert w.masks_at(0.5).tolist() == [[1] * 6, [0] + [1] * 5]
    same = vase.t10_world(variant="same")
    assert np.allclose(same.atypicality(1), same.atypicality(0))
    rer = vase.t10_world(variant="rerender", factor=2)
    assert rer.atypicality(1)[2] > 10 * rer.atypicality(0)[2]


def test_t10_closed_form_matches_simulation_and_batches_converge():
    w = vase.t10_world(variant="drop", factor=0)
    # the closed-form moments against a large simulated sample of the encoder's output
    x, _ = w.sample(1, 200_000, rng=0)
    mu, logvar = w.encode(x)
    _, v = w.moments(1)
    sim = mu.var(0) + np.exp(logvar[0])
    assert np.allclose(sim, v, rtol=0.01)
    exact = w.atypicality(1)
    errs = []
    for b in (16, 128, 1024):
        est = w.batch_atypicality(1, b, n_batches=300, rng=1).mean(0)
        errs.append(np.abs(est - exact).max())
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01
    # and on the used-but-typical latents of env 1 the floor shrinks like 1/B
    lo = w.batch_atypicality(0, 32, 300, rng=2)[:, 1:4].mean()
    hi = w.batch_atypicality(0, 512, 300, rng=2)[:, 1:4].mean()
    assert lo > 5 * hi


def test_batch_atypicality_on_tensors():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(1000, 2, generator=g) * torch.tensor([0.0, 0.9])
    logvar = torch.log(torch.tensor([1.0, 0.19])).expand(1000, 2)
    a = vase.batch_atypicality(mu, logvar, batch_size=64, n_batches=50)
    assert a.shape == (50, 2)
    assert torch.all(a[:, 0] == 0) and float(a[:, 1].mean()) < 0.1


def test_experiment_module_trains_caches_and_measures(tmp_path, monkeypatch):
    from emergent import cache
    from emergent.experiments import vase as xv

    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path))
    with pytest.raises(cache.ConfigError):
        xv._config("capacity", {"c_maxs": [1.0]}, "fast")
    with pytest.raises(cache.ConfigError):
        xv.live_config("fast", stepz=3)
    cfg = xv.live_config("fast", n=256, steps=40, c_max=2.0, hidden=[32], n_eval=200)
    res = xv.cci_vae(cfg)
    assert res["steps"] == 40 and len(res["history"]["kl"]) == 10  # 4 batches × 10 epochs
    again = xv.cci_vae(cfg)  # from the cache: the same weights
    assert all(torch.equal(res["state"][k], again["state"][k]) for k in res["state"])
    ev = xv.evaluate(xv.load_model(res), cfg)
    assert len(ev["kl_per_latent"]) == 16 and ev["n_active"] == len(ev["active"])
    assert 0.0 <= ev["identity_acc"] <= 1.0
    tab = xv.atypicality_table(xv.load_model(res), cfg, n=256, n_batches=5)
    assert {k: v.shape for k, v in tab.items()} == {
        "moving_sprites": (5, 16), "static_digits": (5, 16), "moving_digits": (5, 16)}
    beta = xv.run_beta(dict(betas=[4.0], steps=8, n=128, n_eval=100, hidden=[16]))
    assert beta["beta"] == [4.0] and len(beta["recon"][0]) == 1 and beta["recon"][0][0] > 0
    assert beta["config"]["betas"] == [4.0]
