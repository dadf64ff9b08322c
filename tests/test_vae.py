"""emergent.vae: the KL per latent, the likelihoods, the β-VAE and CCI-VAE objectives (thesis eq. 3.3
and Burgess et al.'s absolute form), the capacity schedule inside emergent.train.fit, active
latents, traversals, and the rotation-robust R²."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from emergent import vae as V


def test_kl_per_latent_matches_torch_closed_form_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64)
    ours = V.kl_per_latent(mu, logvar)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(ours, kl_divergence(q, p), atol=1e-12)
    assert torch.allclose(V.gaussian_kl_per_latent(mu, logvar.exp()), ours, atol=1e-12)
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    se = (q.log_prob(z) - p.log_prob(z)).std(0) / math.sqrt(200_000)
    assert torch.all((mc - ours).abs() < 5 * se + 1e-3)
    assert torch.all(V.kl_per_latent(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


def test_reconstruction_nll_is_the_negative_log_likelihood():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 1, 3, 3, generator=g) > 0.5).double()
    logits = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64)
    want = -Bernoulli(logits=logits).log_prob(x).reshape(4, -1).sum(1)
    assert torch.allclose(V.reconstruction_nll(x, logits, "bernoulli"), want, atol=1e-12)
    means = torch.rand(4, 1, 3, 3, generator=g, dtype=torch.float64)
    want = -Normal(means, 0.2).log_prob(x).reshape(4, -1).sum(1)
    assert torch.allclose(V.reconstruction_nll(x, means, "gaussian", sigma=0.2), want, atol=1e-12)
    with pytest.raises(ValueError):
        V.reconstruction_nll(x, means, "poisson")


def test_capacity_penalty_forms():
    # thesis eq. 3.3 (squared) and Burgess et al. (absolute), on both sides of C
    assert float(V.capacity_penalty(7.0, 5.0, 3.0, "squared")) == pytest.approx(12.0)
    assert float(V.capacity_penalty(3.0, 5.0, 3.0, "squared")) == pytest.approx(12.0)
    assert float(V.capacity_penalty(7.0, 5.0, 3.0, "absolute")) == pytest.approx(6.0)
    assert float(V.capacity_penalty(3.0, 5.0, 3.0, "absolute")) == pytest.approx(6.0)
    assert float(V.capacity_penalty(5.0, 5.0, 3.0, "absolute")) == 0.0
    with pytest.raises(ValueError):
        V.capacity_penalty(1.0, 0.0, 1.0, "cubic")


def test_capacity_schedule_is_linear_then_flat():
    s = V.CapacitySchedule(c_max=10.0, ramp_steps=4)
    assert [s.advance() for _ in range(6)] == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0, 10.0])
    assert V.CapacitySchedule(3.0, 0).value == 3.0


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return V.VAE(n_latents=3, side=8, hidden=(16,), **kw)


def test_objectives_equal_their_definitions():
    model = _tiny()
    x = (torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2)) > 0.7).float()
    mu, logvar = model.encode(x)
    kl = V.kl_per_latent(mu, logvar).sum(1).mean()
    torch.manual_seed(5)
    sched = V.CapacitySchedule(4.0, 2)
    sched.step = 1  # C = 2
    loss, m = V.cci_vae_loss(sched, gamma=7.0, form="squared")(model, x, None)
    assert float(m["kl"]) == pytest.approx(float(kl.detach()), rel=1e-5)
    assert float(m["capacity"]) == pytest.approx(2.0)
    assert float(loss.detach()) == pytest.approx(float(m["recon"] + 7.0 * (m["kl"] - 2.0) ** 2),
                                                rel=1e-5)
    assert sched.step == 2  # advanced once, in training mode
    loss, m = V.cci_vae_loss(sched, gamma=7.0, form="absolute")(model, x, None)
    assert float(loss.detach()) == pytest.approx(float(m["recon"] + 7.0 * abs(m["kl"] - 4.0)),
                                                rel=1e-5)
    # the reconstruction term with the same noise equals the NLL of the decoded sample
    torch.manual_seed(9)
    loss, m = V.beta_vae_loss(3.0)(model, x, None)
    torch.manual_seed(9)
    out, *_ = model(x)
    nll = V.reconstruction_nll(x, out).mean().detach()
    assert float(m["recon"]) == pytest.approx(float(nll), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(m["recon"] + 3.0 * m["kl"]), rel=1e-6)
    model.eval()
    V.cci_vae_loss(sched, 1.0)(model, x, None)
    assert sched.step == 3


def test_init_scale_starts_latents_at_the_prior():
    model = V.VAE(n_latents=4, side=32, hidden=(64,), init_scale=0.0)
    x = torch.rand(10, 1, 32, 32)
    mu, logvar = model.encode(x)
    assert torch.all(mu == 0) and torch.all(logvar == 0)
    assert np.all(V.mean_kl_per_latent(model, x) == 0)


def test_training_through_fit_ramps_capacity_and_records_kl():
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(64, 1, 8, 8)
    rows, cols = torch.randint(6, (64,), generator=g), torch.randint(6, (64,), generator=g)
    for i in range(64):
        x[i, 0, rows[i]:rows[i] + 3, cols[i]:cols[i] + 3] = 1.0
    model = _tiny()
    sched = V.CapacitySchedule(6.0, 20)
    rec = V.KLRecorder(x, sched)
    hist = V.train_vae(model, x, V.cci_vae_loss(sched, 10.0), steps=30, batch_size=16, lr=3e-3,
                       callbacks=[rec])
    assert sched.step == 32  # 8 epochs of 4 batches: at least the 30 steps asked for
    assert rec.capacity[-1] == 6.0 and len(rec.kl) == 8 and len(rec.kl[0]) == 3
    assert hist["capacity"][0] == pytest.approx(np.mean([0, 0.3, 0.6, 0.9]))
    assert sum(rec.kl[-1]) > sum(rec.kl[0])  # the KL follows C upwards


def test_gaussian_and_conv_variants_and_environment_conditioning():
    m = V.VAE(n_latents=2, side=16, arch="conv", likelihood="gaussian", n_envs=3)
    x = torch.rand(5, 1, 16, 16)
    out, mu, logvar, z = m(x, torch.tensor([0, 1, 2, 0, 1]))
    assert out.shape == x.shape and mu.shape == (5, 2) and float(out.detach().min()) >= 0
    z = torch.zeros(2, 2)
    assert not torch.allclose(m.decode(z, torch.tensor([0, 0])), m.decode(z, torch.tensor([1, 1])))
    with pytest.raises(ValueError):
        V.VAE(side=8, arch="conv")


def test_active_latents_and_traversals():
    assert V.active_latents([0.05, 2.0, 0.2, 0.1, 5.0]).tolist() == [4, 1, 2]
    model = _tiny(1)
    x0 = torch.rand(1, 8, 8)
    vals = [-2.0, 0.0, 2.0]
    imgs = V.traversal(model, x0, 1, vals)
    mu, _ = model.encode(x0.reshape(1, 1, 8, 8))
    z = mu.repeat(3, 1)
    z[:, 1] = torch.tensor(vals)
    assert torch.allclose(imgs, torch.sigmoid(model.decode(z)))
    grid = V.traversal_grid(model, x0, [0, 2], vals)
    assert grid.shape == (6, 1, 8, 8) and torch.allclose(grid[3:], V.traversal(model, x0, 2, vals))


def test_linear_r2_is_rotation_robust_and_exact():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((500, 2))
    t = f @ np.array([[1.0, 0.5], [-2.0, 1.0]]) + 3.0
    assert np.allclose(V.linear_r2(f, t), 1.0)
    rot = np.array([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    noisy = t + rng.standard_normal(t.shape)
    assert np.allclose(V.linear_r2(f, noisy), V.linear_r2(f @ rot, noisy))
    # one regressor with known R²: y = x + e, Var x = Var e = 1 -> R² ≈ 1/2
    x = rng.standard_normal(200_000)
    r2 = V.linear_r2(x[:, None], x + rng.standard_normal(200_000))
    assert r2[0] == pytest.approx(0.5, abs=0.01)
