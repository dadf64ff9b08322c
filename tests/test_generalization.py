"""emergent.experiments.generalization: configuration checks, and tiny end-to-end runs whose certificates
are recomputed from the reported numbers with the closed forms of emergent.pacbayes."""
import math

import numpy as np
import pytest

from emergent import cache, pacbayes
from emergent.experiments import generalization as G


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path))


TINY_NET = dict(tasks=["binary"], n_train=300, hidden=8, sigma0s=[0.1, 0.3], betas=[0.3, 1.0], steps=40,
                gibbs_samples=4)


def test_config_errors_before_any_work():
    with pytest.raises(cache.ConfigError):
        G.run_bounds(dict(nope=1))
    with pytest.raises(cache.ConfigError):
        G.run_bounds(dict(network=dict(tasks=["three"])))
    with pytest.raises(cache.ConfigError):
        G.run_beta(dict(noise=[1.5]))
    with pytest.raises(cache.ConfigError):
        G.default_config("nope")
    with pytest.raises(cache.ConfigError):
        G.digits_binary((3, 8), n_train=10_000)


def test_digits_binary_is_a_fixed_split_with_a_bias_column():
    a = G.digits_binary((3, 8), 100, seed=0)
    b = G.digits_binary((3, 8), 100, seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    xtr, ytr, xte, yte = a
    assert xtr.shape == (100, 65) and np.all(xtr[:, -1] == 1) and set(np.unique(ytr)) == {0.0, 1.0}
    assert len(xtr) + len(xte) == 357  # 183 threes + 174 eights in scikit-learn's digits


def test_network_certificates_recompute_from_their_parts():
    r = G.run_bounds(dict(logistic=dict(n_trains=[60], n_train=60, sigma0s=[1.0], scales=[1.0]),
                          network=TINY_NET))
    run = r["network"]["binary"]["runs"][0]
    k, n = run["n_candidates"], run["n_train"]
    assert k == 4 and n == 300 and run["sigma0"] == [0.1, 0.1, 0.3, 0.3] and run["beta"] == [0.3, 1.0, 0.3, 1.0]
    for e in range(k):
        up = pacbayes.sample_error_bound(run["gibbs_train"][e], n * TINY_NET["gibbs_samples"], 0.01)
        assert run["gibbs_train_certified"][e] == pytest.approx(up, abs=1e-12)
        assert run["gibbs_train_certified"][e] >= run["gibbs_train"][e]
        assert run["bound"][e] == pytest.approx(pacbayes.kl_inverse_bound(up, run["kl"][e], n, 0.05 / k),
                                                abs=1e-12)
        assert run["kl"][e] >= 0
    assert run["bound"][run["best"]] == min(run["bound"])
    # the network's VC bound: d = |theta| log |theta| with |theta| = 64*8 + 8 + 8*2 + 2 weights and biases
    assert run["n_params"] == 64 * 8 + 8 + 8 * 2 + 2
    assert run["vc_bound"] > 1
    lg = r["logistic"][0]
    assert lg["bound"][0] >= lg["gibbs_train"][0] and lg["n_candidates"] == 1


def test_width_and_beta_tiny_runs():
    w = G.run_width(dict(widths=[2, 16], epochs=3, n_train=200))
    assert w["n_weights"] == [64 * 2 + 2 + 2 * 10 + 10, 64 * 16 + 16 + 16 * 10 + 10]
    assert all(0 <= e <= 1 for e in w["test_error"] + w["train_error"])
    fractions = []
    b = G.run_beta(dict(n_train=200, betas=[0.01, 3.0], noise=[0.0, 1.0], steps=20),
                   report=lambda f, msg: fractions.append(f))
    assert fractions and fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    assert set(b["test_error"]) == {"0.0", "1.0"} and len(b["test_error"]["0.0"]) == 2
    # beta = 3 on 200 samples: the KL term wins, the posterior falls back to the prior (KL/N ~ 0)
    assert b["kl_per_sample"]["0.0"][1] < b["kl_per_sample"]["0.0"][0]
    assert math.isfinite(b["kl_per_sample"]["1.0"][0])
