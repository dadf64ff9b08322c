"""The estimators of I(z;n) (emergent.nuisance_info) on synthetic cases with a known answer."""
import math

import numpy as np
import pytest
import torch

from emergent import nuisance_info as ni

K, D = 8, 4
MEANS = np.random.default_rng(123).standard_normal((K, D))


def _mixture(sigma, m, seed):
    """n uniform on K values, z = μ_n + σ ξ in D dimensions."""
    g = np.random.default_rng(seed)
    n = g.integers(K, size=m)
    return (MEANS[n] + sigma * g.standard_normal((m, D))).astype(np.float32), n


def _true_information(sigma, m=50_000, seed=9):
    """I(z;n) = E log p(z|n)/p(z) by Monte Carlo with the exact densities of the mixture."""
    z, n = _mixture(sigma, m, seed)
    ll = -((z.astype(np.float64)[:, None, :] - MEANS[None]) ** 2).sum(-1) / (2 * sigma ** 2)
    log_pz = np.logaddexp.reduce(ll, axis=1) - math.log(K)
    return float((ll[np.arange(m), n] - log_pz).mean())


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setenv("EMERGENT_DEVICE", "cpu")


def test_both_estimators_recover_a_known_information():
    truth = _true_information(1.0)
    assert 0.5 < truth < 1.5  # an intermediate case (measured 0.94 nats)
    zt, nt = _mixture(1.0, 2000, 0)
    zv, nv = _mixture(1.0, 2000, 1)
    probe = ni.probe_information(zt, nt, zv, nv, K, entropy=math.log(K))
    disc = ni.discriminator_information(zt, nt, zv, nv, K)
    assert probe["info"] == pytest.approx(truth, abs=0.1)  # measured 0.92 vs 0.94
    assert probe["info"] <= truth + 0.05  # a lower bound, up to sampling noise
    assert disc["info"] == pytest.approx(truth, abs=0.15)  # measured 0.92
    assert disc["neg_log_ratio"] < 0 < disc["info"]  # E_neg ℓ ≈ −KL(p(z)p(n) ‖ p(z,n))


def test_independent_z_carries_nothing():
    g = np.random.default_rng(0)
    zt, zv = g.standard_normal((2000, D)).astype(np.float32), g.standard_normal((2000, D)).astype(np.float32)
    nt, nv = g.integers(K, size=2000), g.integers(K, size=2000)
    assert abs(ni.probe_information(zt, nt, zv, nv, K, entropy=math.log(K))["info"]) < 0.1
    assert abs(ni.discriminator_information(zt, nt, zv, nv, K)["info"]) < 0.1


def test_z_equal_to_n_carries_log_k():
    g = np.random.default_rng(1)
    nt, nv = g.integers(K, size=2000), g.integers(K, size=1000)
    zt, zv = np.eye(K, dtype=np.float32)[nt], np.eye(K, dtype=np.float32)[nv]
    probe = ni.probe_information(zt, nt, zv, nv, K, entropy=math.log(K))
    assert math.log(K) - 0.05 < probe["info"] <= math.log(K)
    assert probe["acc"] == 1.0
    disc = ni.discriminator_information(zt, nt, zv, nv, K)
    assert disc["info"] == pytest.approx(math.log(K), abs=0.25)


def test_probe_never_exceeds_the_entropy():
    for sigma in (0.01, 0.3, 3.0):
        zt, nt = _mixture(sigma, 500, 2)
        zv, nv = _mixture(sigma, 500, 3)
        r = ni.probe_information(zt, nt, zv, nv, K, entropy=math.log(K), epochs=10)
        assert r["info"] <= math.log(K) == r["entropy"]


def test_discriminator_reads_as_in_the_thesis():
    """D(z;n) is the probability of the 'prior' class: D* = p(z)/(p(z) + p(z|n)) and
    log[(1 − D)/D] is the log-ratio ℓ the estimate averages; forward gives the class logits [0, ℓ]."""
    torch.manual_seed(0)
    z = torch.randn(50, 3)
    n = torch.randint(4, (50,))
    disc = ni.Discriminator(z, 4, hidden=8)
    ell = disc.log_ratio(z, n)
    D = disc.D(z, n)
    assert torch.allclose(torch.log((1 - D) / D), ell, atol=1e-5)
    out = disc(torch.cat([z, n.float()[:, None]], 1))
    assert torch.allclose(out[:, 1] - out[:, 0], ell)
    assert torch.allclose(torch.softmax(out, 1)[:, 0], D, atol=1e-6)


def test_label_entropy_and_errors():
    assert ni.label_entropy([0, 1, 2, 3] * 5) == pytest.approx(math.log(4))
    assert ni.label_entropy([1, 1, 1]) == pytest.approx(0.0)
    z = np.zeros((10, 2), np.float32)
    n = np.zeros(10, int)
    with pytest.raises(ValueError):
        ni.probe_information(z, n[:5], z, n, 2)
    with pytest.raises(ValueError):
        ni.discriminator_information(z, n, np.zeros((10, 3), np.float32), n, 2)
    with pytest.raises(ValueError):
        ni.probe_information(z, n + 5, z, n, 2)
    with pytest.raises(ValueError):
        ni.discriminator_information(z, n, z, n, 2, n_prior=[0.2, 0.2])
