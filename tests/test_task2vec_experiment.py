"""Tests of emergent.experiments.task2vec: the configuration checks, the k-nearest-neighbour
taxonomy curve against brute force, and one tiny end-to-end run (two domains, few images)."""
import itertools

import numpy as np
import pytest
import torch

from emergent import cache
from emergent.experiments import task2vec as E

torch.set_num_threads(1)


def test_config_errors_are_clear():
    with pytest.raises(cache.ConfigError, match="no key .n_trian"):
        E.run_embeddings({"n_trian": 5}, scale="fast")
    with pytest.raises(cache.ConfigError, match="estimator"):
        E.run_embeddings({"estimator": "guess"}, scale="fast")
    with pytest.raises(cache.ConfigError, match="domains"):
        E.run_embeddings({"domains": ["X"]}, scale="fast")
    with pytest.raises(cache.ConfigError, match="replicates"):
        E.run_embeddings({"domains": ["I"]}, scale="fast")


def test_knn_taxonomy_against_brute_force():
    rng = np.random.default_rng(0)
    n = 7
    dist = rng.uniform(size=(n, n))
    dist = dist + dist.T
    np.fill_diagonal(dist, 0)
    tax = rng.integers(0, 4, size=(n, n)).astype(float)
    tax = np.triu(tax, 1) + np.triu(tax, 1).T
    out = E.knn_taxonomy(dist, tax, k_max=n - 1)
    for k in out["k"]:
        emb = np.mean([tax[i, np.argsort(np.where(np.arange(n) == i, np.inf, dist[i]))[:k]].mean()
                       for i in range(n)])
        # the oracle: the best achievable mean over every k-subset of the other tasks
        best = np.mean([min(np.mean([tax[i, j] for j in s])
                            for s in itertools.combinations([j for j in range(n) if j != i], k))
                        for i in range(n)])
        # random order, by Monte Carlo over 4000 orders (the function returns the exact expectation)
        rng2 = np.random.default_rng(k)
        rand = np.mean([np.mean([tax[i, rng2.permutation([j for j in range(n) if j != i])[:k]].mean()
                                 for i in range(n)]) for _ in range(4000)])
        assert out["embedding"][k - 1] == pytest.approx(emb)
        assert out["oracle"][k - 1] == pytest.approx(best)
        assert out["random"][k - 1] == pytest.approx(rand, abs=0.04)
    assert out["embedding"][-1] == pytest.approx(out["oracle"][-1])   # k = n - 1: every task


def test_tiny_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path))
    cfg = dict(probe=dict(epochs=1, n_train=300), n_train=40, n_test=20, domains=["M", "I"],
               head=dict(steps=20, lr=1e-2, weight_decay=1e-4), replicates=["parity", "0v6"], knn=3)
    r = E.run_embeddings(cfg, scale="fast")
    s = r["per_seed"][0]
    n = len(s["names"])
    assert n == 16 and len(s["fisher"]) == n and len(s["fisher"][0]) == 144
    for k in ("fisher", "domain"):
        D = np.array(s["d_sym"][k])
        assert np.allclose(D, D.T) and np.allclose(np.diag(D), 0) and (D >= 0).all()
    # attribute tasks of one domain share their images: their domain embeddings are identical
    assert max(s["same_image_pairs"]["domain"]) < 1e-12
    assert min(s["same_image_pairs"]["fisher"]) > 1e-6
    assert s["replicates"]["names"] == ["M-parity", "M-0v6"]
    assert len(s["knn_taxonomy"]["fisher"]["k"]) == 3
    assert sorted(s["cluster_order"]["fisher"]) == list(range(n))
    # cached: a second call computes nothing and returns the same numbers
    again = E.run_embeddings(cfg, scale="fast")
    assert again["per_seed"][0]["d_sym"] == s["d_sym"]


def test_fit_pixel_gain_keeps_the_gain_and_matches_the_closed_form():
    from sklearn.datasets import load_digits

    from emergent.fisher import fisher_diagonal
    from emergent.task2vec import fit_pixel_gain, pixel_gain_fisher_diagonal

    d = load_digits()
    keep = (d.target == 0) | (d.target == 6)
    x = torch.tensor(d.data[keep] / 16.0, dtype=torch.float64)
    y = torch.tensor((d.target[keep] == 6).astype(int))
    m = fit_pixel_gain(x.float(), y, steps=100).double()
    assert torch.equal(m.gain, torch.ones(64, dtype=torch.float64))   # the gain did not train
    logits = m(x)
    assert (logits.argmax(1) == y).double().mean() > 0.95               # the head did
    exact = fisher_diagonal(m, x, params=["gain"])["gain"]
    assert torch.allclose(exact, pixel_gain_fisher_diagonal(m, x), rtol=1e-10, atol=1e-14)
