"""Tests of emergent.task2vec (thesis Ch. 5): distances, probe, task library, embeddings, exact toys.

Every test runs on tiny models or data (one torch thread); the only real data are the offline
MNIST and scikit-learn digits, read from disk.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.func import jacrev

from emergent import task2vec as T
from emergent.fisher import fisher_diagonal

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# Distances (T2V-2)
# --------------------------------------------------------------------------------------------


def _emb(seed, d=12):
    return np.random.default_rng(seed).gamma(0.7, 1.0, d) + 1e-3


def test_d_sym_zero_symmetric_bounded_and_invariances():
    Fa, Fb = _emb(0), _emb(1)
    assert T.d_sym(Fa, Fa) == pytest.approx(0.0, abs=1e-15)
    assert T.d_sym(Fa, Fb) == pytest.approx(T.d_sym(Fb, Fa), abs=1e-15)
    assert 0.0 < T.d_sym(Fa, Fb) < 1.0
    D = np.random.default_rng(2).uniform(1e-3, 1e3, Fa.size)  # per-filter rescaling of both
    assert T.d_sym(D * Fa, D * Fb) == pytest.approx(T.d_sym(Fa, Fb), rel=1e-12)
    assert T.d_sym(7.0 * Fa, 7.0 * Fb) == pytest.approx(T.d_sym(Fa, Fb), rel=1e-12)
    # tensors are accepted; d_sym is by definition the cosine of the element-wise ratios
    ta, tb = torch.tensor(Fa), torch.tensor(Fb)
    assert T.d_sym(ta, tb) == pytest.approx(T.d_cos(Fa / (Fa + Fb), Fb / (Fa + Fb)), rel=1e-12)
    a, b = Fa / (Fa + Fb), Fb / (Fa + Fb)
    assert T.d_cos(a, b) == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-12)


def test_scalar_normalisation_is_a_no_op_for_the_cosine_not_for_d_sym():
    # the review's Def 6.1, d_cos(Fa/|Fa|, Fb/|Fb|), is just d_cos(Fa, Fb) (spec §6.1)
    Fa, Fb = _emb(3), 50.0 * _emb(4)
    na, nb = Fa / np.linalg.norm(Fa), Fb / np.linalg.norm(Fb)
    assert T.d_cos(na, nb) == pytest.approx(T.d_cos(Fa, Fb), rel=1e-12)
    # the thesis's element-wise normalisation does depend on the relative scale of the two tasks
    assert abs(T.d_sym(na, nb) - T.d_sym(Fa, Fb)) > 1e-2


def test_d_asym_alpha_zero_and_penalty_on_the_source():
    Fa, Fb, F0 = _emb(5), _emb(6), np.ones(12)
    assert T.d_asym(Fa, Fb, F0, alpha=0.0) == T.d_sym(Fa, Fb)
    assert T.d_asym(Fa, Fb, F0, 0.15) == pytest.approx(T.d_sym(Fa, Fb) - 0.15 * T.d_sym(Fa, F0), rel=1e-12)
    # the penalty depends on the source: swapping source and target changes the score
    assert T.d_asym(Fa, Fb, F0) != pytest.approx(T.d_asym(Fb, Fa, F0), abs=1e-6)


def test_asymmetric_choice_flips_to_the_complex_source_as_alpha_grows():
    # target t; a similar-but-simple source (close to t and to the trivial embedding) and a complex
    # source (farther from t, far from trivial). Alpha trades similarity against complexity.
    d = 8
    F0 = np.ones(d)
    t = np.array([2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    simple = np.array([1.6, 1.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    complex_ = np.array([6.0, 6.0, 0.2, 3.0, 0.2, 3.0, 0.2, 3.0])
    srcs = np.stack([simple, complex_])
    gap_sim = T.d_sym(complex_, t) - T.d_sym(simple, t)
    gap_cplx = T.d_sym(complex_, F0) - T.d_sym(simple, F0)
    assert gap_sim > 0 and gap_cplx > 0
    flip = gap_sim / gap_cplx  # the alpha at which both scores are equal
    assert 0 < flip < 1
    assert T.select_source(t, srcs, "sym") == 0
    assert T.select_source(t, srcs, "asym", F0, alpha=0.0) == 0
    assert T.select_source(t, srcs, "asym", F0, alpha=0.9 * flip) == 0
    assert T.select_source(t, srcs, "asym", F0, alpha=1.1 * flip) == 1
    a, b = (T.d_asym(s, t, F0, alpha=flip) for s in srcs)
    assert a == pytest.approx(b, abs=1e-12)


def test_distance_matrix_matches_pairwise_functions():
    E = np.stack([_emb(s) for s in range(5)])
    F0 = np.full(12, 0.5)
    Ds, Dc, Da = (T.distance_matrix(E, k, F0=F0, alpha=0.2) for k in ("sym", "cos", "asym"))
    for i in range(5):
        for j in range(5):
            assert Ds[i, j] == pytest.approx(T.d_sym(E[i], E[j]), abs=1e-12)
            assert Dc[i, j] == pytest.approx(T.d_cos(E[i], E[j]), abs=1e-12)
            assert Da[i, j] == pytest.approx(T.d_asym(E[i], E[j], F0, 0.2), abs=1e-12)  # row = source
    assert np.allclose(Ds, Ds.T) and np.all(np.diag(Ds) == 0)
    assert np.allclose(T.distance_matrix(list(torch.tensor(E))), Ds)


def test_distances_reject_bad_embeddings():
    Fa = _emb(7)
    bad_nan, bad_neg = Fa.copy(), Fa.copy()
    bad_nan[3], bad_neg[2] = np.nan, -0.1
    for bad in (bad_nan, bad_neg, Fa[:-1], np.zeros((2, 12))):
        with pytest.raises(ValueError):
            T.d_sym(Fa, bad)
    with pytest.raises(ValueError):
        T.d_cos(Fa, np.zeros(12))
    with pytest.raises(ValueError):
        T.distance_matrix(np.stack([Fa, bad_neg]))
    with pytest.raises(ValueError):
        T.distance_matrix(np.stack([Fa, Fa]), kind="asym")  # no F0
    with pytest.raises(ValueError):
        T.distance_matrix(np.stack([Fa, Fa]), kind="euclid")
    # an entry zero in both (a dead filter) is 0/0: an error, or left out with zeros="drop"
    Fb = _emb(8)
    Fa0, Fb0 = Fa.copy(), Fb.copy()
    Fa0[[1, 4]] = Fb0[[1, 4]] = 0.0
    with pytest.raises(ValueError, match="zeros='drop'"):
        T.d_sym(Fa0, Fb0)
    keep = np.ones(12, bool)
    keep[[1, 4]] = False
    assert T.d_sym(Fa0, Fb0, zeros="drop") == pytest.approx(T.d_sym(Fa[keep], Fb[keep]), rel=1e-12)
    D = T.distance_matrix(np.stack([Fa0, Fb0, Fb]), zeros="drop")
    assert D[0, 1] == pytest.approx(T.d_sym(Fa[keep], Fb[keep]), rel=1e-12)
    assert D[0, 2] == pytest.approx(T.d_sym(Fa0, Fb), rel=1e-12)  # 0 vs positive is well defined
    with pytest.raises(ValueError):
        T.distance_matrix(np.stack([Fa0, Fb0]))


# --------------------------------------------------------------------------------------------
# Probe
# --------------------------------------------------------------------------------------------


def test_probe_architecture_and_initialisation():
    torch.manual_seed(0)
    probe = T.Probe()
    assert probe.n_filters == 144 and T.PROBE_WIDTHS == (16, 32, 32, 64)
    assert sum(p.numel() for p in probe.parameters()) == 160 + 4640 + 9248 + 18496 + 650
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in probe.modules())
    assert [tuple(c.weight.shape) for c in probe.convs] == [(16, 1, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (64, 32, 3, 3)]
    for c in probe.convs:
        assert torch.all(c.bias == 0)
    w = probe.convs[3].weight  # Kaiming normal: std sqrt(2 / fan_in), 18,432 draws
    assert float(w.detach().std()) == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.05)
    # the input normalisation is inside the model: a constant image at the mean gives zero features
    x = torch.full((2, 1, 28, 28), 0.13)
    assert torch.allclose(probe.features(x), torch.zeros(2, 64), atol=1e-6)
    acts = probe.activations(torch.rand(3, 1, 28, 28))
    assert [tuple(a.shape[1:]) for a in acts] == [(16, 28, 28), (32, 14, 14), (32, 7, 7), (64, 7, 7)]
    assert probe(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert probe.filter_names() == [f"convs.{i}.weight" for i in range(4)]


def test_apply_domain():
    x = torch.rand(2, 1, 5, 5)
    assert torch.equal(T.apply_domain(x, "M"), x)
    assert torch.allclose(T.apply_domain(x, "I"), 1 - x)
    assert torch.equal(T.apply_domain(x, "R")[0, 0, :, 0], x[0, 0, 0, :].flip(0))  # 90 deg counter-clockwise
    with pytest.raises(ValueError):
        T.apply_domain(x, "S")


def test_pretrain_probe_trains_through_fit_and_is_cached(tmp_path, monkeypatch):
    from emergent import train

    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path))
    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(k) or real_fit(*a, **k))
    probe, info = T.pretrain_probe(seed=1, epochs=1, n_train=96, n_heldout=60, device="cpu")
    assert len(calls) == 1 and calls[0]["epochs"] == 1 and calls[0]["optimizer"] == "adam"
    assert not info["cached"] and set(info["heldout_acc"]) == {"M", "I", "R"}
    assert all(0.0 <= a <= 1.0 for a in info["heldout_acc"].values())
    assert not probe.training
    again, info2 = T.pretrain_probe(seed=1, epochs=1, n_train=96, n_heldout=60, device="cpu")
    assert info2["cached"] and len(calls) == 1
    for (k, a), b in zip(probe.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    torch.manual_seed(1)
    init = T.Probe()
    assert not torch.equal(init.convs[0].weight, probe.convs[0].weight)  # it did train
    assert list(tmp_path.glob("ch05/probe/*.pt"))


# --------------------------------------------------------------------------------------------
# Task library A
# --------------------------------------------------------------------------------------------


def test_build_tasks_library_a():
    tasks = T.build_tasks()
    assert len(tasks) == 28
    assert len({t.name for t in tasks}) == 28
    counts = {d: sum(t.domain == d for t in tasks) for d in "MIRS"}
    assert counts == {"M": 10, "I": 6, "R": 6, "S": 6}
    by = {t.name: t for t in tasks}
    for t in tasks:
        lmap = torch.tensor(t.meta["label_map"])
        assert torch.equal(t.y, lmap[t.digits])  # labels are the label function of the digits
        assert t.x.shape[1:] == (1, 28, 28) and 0 <= float(t.x.min()) and float(t.x.max()) <= 1
        assert len(t) <= 500 and t.x_test is not None
        assert t.taxonomy == (t.domain, t.family, t.name)
    assert set(by["M-3v5v8"].digits.tolist()) == {3, 5, 8} and by["M-3v5v8"].n_classes == 3
    assert by["M-mod3"].n_classes == 3 and by["M-parity"].n_classes == 2
    assert len(by["M-0v6"]) == 500 and len(by["S-0v6"]) < 500  # scikit-learn has ~180 images per digit
    # attribute tasks of a domain share their images; subset tasks and other domains do not
    for d in "MIRS":
        attrs = [t for t in tasks if t.domain == d and t.family == "attribute"]
        assert len(attrs) == (5 if d == "M" else 3)
        for t in attrs[1:]:
            assert torch.equal(t.x, attrs[0].x) and torch.equal(t.x_test, attrs[0].x_test)
    assert not torch.equal(by["M-parity"].y, by["M-ge5"].y)
    assert not torch.equal(by["M-parity"].x, by["I-parity"].x)
    assert not torch.equal(by["M-0v6"].x, by["M-parity"].x)


def test_domains_and_custom_tasks():
    xm, dm = T.domain_images("M")
    xi, _ = T.domain_images("I")
    xr, _ = T.domain_images("R")
    xs, ds = T.domain_images("S")
    assert xm.shape == (5000, 1, 28, 28) and xs.shape == (1797, 1, 28, 28)
    assert torch.allclose(xi, 1 - xm) and torch.equal(xr, torch.rot90(xm, 1, (2, 3)))
    assert float(xs[:, :, :4].abs().max()) == 0.0 and float(xs[:, :, 4:24, 4:24].max()) > 0.5  # padded 20x20
    # a random binary partition of all ten digits shares the attribute tasks' images
    rng = np.random.default_rng(0)
    part = T.digit_task("M", rng.permutation([0] * 5 + [1] * 5), name="M-rand")
    assert torch.equal(part.x, T.digit_task("M", "parity").x) and part.family == "custom"
    small = T.digit_task("M", "0v6", n_train=40, n_test=10)
    assert len(small) == 40 and len(small.x_test) == 10
    # the test images do not depend on n_train
    assert torch.equal(small.x_test, T.digit_task("M", "0v6", n_train=100, n_test=10).x_test)


def test_task_validation():
    x = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="single class"):
        T.Task("one", "M", "custom", x, torch.zeros(4, dtype=torch.long), n_classes=2)
    with pytest.raises(ValueError, match="single class"):
        T.Task("one", "M", "custom", x, torch.tensor([0, 1, 0, 1]), n_classes=1)
    with pytest.raises(ValueError, match="no examples"):
        T.Task("none", "M", "custom", x[:0], torch.zeros(0, dtype=torch.long), n_classes=2)
    with pytest.raises(ValueError):
        T.Task("range", "M", "custom", x, torch.tensor([0, 1, 2, 1]), n_classes=2)
    for bad in ("nope", [0] * 10, [0, 2] + [-1] * 8, [0, 1]):
        with pytest.raises(ValueError):
            T.label_map(bad)
    with pytest.raises(ValueError):
        T.digit_task("M", {3: 0})  # one class


def test_taxonomic_distance():
    tasks = T.build_tasks()
    by = {t.name: t for t in tasks}
    assert T.taxonomic_distance(by["M-0v6"], by["M-0v6"]) == 0
    assert T.taxonomic_distance(by["M-0v6"], by["M-1v7"]) == 1
    assert T.taxonomic_distance(by["M-0v6"], by["M-parity"]) == 2
    assert T.taxonomic_distance(by["M-0v6"], by["I-0v6"]) == 3
    D = T.taxonomy_matrix(tasks)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)
    iu = np.triu_indices(28, 1)
    # pairs: 38 siblings, 52 same domain, 288 across domains -> mean 1006 / 378 (spec pilot: 2.66)
    assert D[iu].sum() == 1006 and len(iu[0]) == 378
    assert np.all(D[iu] >= 1)  # an ultrametric: D(a,c) <= max(D(a,b), D(b,c))
    assert all(D[a, c] <= max(D[a, b], D[b, c]) for a in range(0, 28, 3) for b in range(28) for c in range(1, 28, 4))


# --------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------


def _tiny_probe(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return T.Probe(n_classes=3, widths=(2, 3, 3, 4)).to(dtype).eval()


def _tiny_task(name="a", y=None, seed=0, n=24, k=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 12, 12, generator=g, dtype=dtype)
    if y is None:
        y = torch.arange(n) % k
    return T.Task(name, "M", "attribute", x, y, n_classes=int(y.max()) + 1)


def test_filter_average_values_and_shapes():
    diag = {"a": torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2),
            "b": torch.tensor([[1.0, 3.0], [5.0, 9.0], [0.0, 0.0]], dtype=torch.float64)}
    v = T.filter_average(diag)
    assert v.shape == (5,)
    assert np.allclose(v, [5.5, 17.5, 2.0, 7.0, 0.0])
    assert np.allclose(T.filter_average(diag, ["b"]), [2.0, 7.0, 0.0])
    with pytest.raises(ValueError):
        T.filter_average({"bias": torch.ones(3)})
    # on a hand-built probe: one value per conv filter, the mean of that filter's Fisher entries
    probe, task = _tiny_probe(), _tiny_task()
    head = T.LinearHead(4, 3)
    net = T.TaskNet(probe, head).double().eval()
    emb = T.task2vec_embedding(probe, task.x, head)
    assert emb.shape == (probe.n_filters,) == (12,)
    full = fisher_diagonal(net, task.x, method="vmap", params=net.filter_names())
    manual = np.concatenate([full[f"probe.convs.{i}.weight"].mean(dim=(1, 2, 3)).numpy() for i in range(4)])
    assert np.allclose(emb, manual, rtol=1e-12, atol=0)
    assert np.all(emb >= 0)


def test_task2vec_invariant_to_label_permutation():
    probe, task = _tiny_probe(seed=1), _tiny_task(seed=1)
    torch.manual_seed(2)
    head = T.LinearHead(4, 3).double()
    with torch.no_grad():
        head.linear.weight.mul_(3.0)
        head.mean.normal_()
        head.std.uniform_(0.5, 2.0)
    perm = torch.tensor([2, 0, 1])
    permuted = T.LinearHead(4, 3, head.mean, head.std).double()
    with torch.no_grad():
        permuted.linear.weight.copy_(head.linear.weight[perm])
        permuted.linear.bias.copy_(head.linear.bias[perm])
    e1 = T.task2vec_embedding(probe, task.x, head)
    e2 = T.task2vec_embedding(probe, task.x, permuted)
    assert np.allclose(e1, e2, rtol=1e-12, atol=0)
    # trained heads: labels permuted and the initial head's rows permuted with them
    inv = torch.argsort(perm)  # class c of the original task is class inv[c] of the permuted one
    t2 = T.Task("b", "M", "attribute", task.x, inv[task.y], n_classes=3)
    lin = nn.Linear(4, 3).double()
    h1 = T.fit_head(probe, task, steps=40, init=lin)
    h2 = T.fit_head(probe, t2, steps=40, init=(lin.weight[perm], lin.bias[perm]))
    assert torch.allclose(h2.linear.weight, h1.linear.weight[perm], atol=1e-10)
    assert np.allclose(T.task2vec_embedding(probe, task.x, h1), T.task2vec_embedding(probe, t2.x, h2), rtol=1e-8)


def test_domain_embedding_sees_images_only_task2vec_sees_labels():
    probe = _tiny_probe(seed=3)
    base = _tiny_task(seed=3, n=40, k=2)
    g = torch.Generator().manual_seed(4)
    other = T.Task("b", "M", "attribute", base.x, torch.randint(0, 2, (40,), generator=g), n_classes=2)
    d1, d2 = T.domain_embedding(probe, base), T.domain_embedding(probe, other)
    assert np.array_equal(d1, d2)
    f1 = T.task2vec_embedding(probe, base, steps=50)
    f2 = T.task2vec_embedding(probe, other, steps=50)
    assert T.d_sym(f1, f2, zeros="drop") > 1e-3  # a tiny random probe has dead filters
    # the domain embedding is the mean post-ReLU activation per filter
    with torch.no_grad():
        acts = probe.activations(base.x)
    assert np.allclose(d1, torch.cat([a.mean(dim=(0, 2, 3)) for a in acts]).numpy(), rtol=1e-12)


def test_estimators_trivial_embedding_and_frozen_probe():
    probe, task = _tiny_probe(seed=5), _tiny_task(seed=5, n=32)
    head = T.fit_head(probe, task, steps=30)
    exact = T.task2vec_embedding(probe, task, head)
    gen = torch.Generator().manual_seed(0)
    sampled = T.task2vec_embedding(probe, task, head, estimator="sampled", n_samples=300, generator=gen)
    assert np.corrcoef(exact, sampled)[0, 1] > 0.98
    mb = T.task2vec_embedding(probe, task, head, estimator="minibatch", batch_size=8, generator=gen)
    assert mb.shape == exact.shape and np.all(np.isfinite(mb))
    with pytest.raises(ValueError):
        T.task2vec_embedding(probe, task, head, estimator="variational")
    for p in probe.parameters():  # a frozen probe can be measured, and stays frozen
        p.requires_grad_(False)
    assert np.allclose(T.task2vec_embedding(probe, task, head), exact, rtol=1e-12)
    assert not any(p.requires_grad for p in probe.parameters())
    t0 = T.trivial_embedding(probe)
    assert t0.shape == (12,)
    for i, (lo, hi) in enumerate([(0, 2), (2, 5), (5, 8), (8, 12)]):
        assert np.allclose(t0[lo:hi], 1.0 / float(probe.convs[i].weight.pow(2).mean()))
    E = np.stack([exact, sampled])
    assert T.trivial_embedding(probe, "uniform", match=E).mean() == pytest.approx(E.mean())
    assert T.trivial_embedding(probe, scale=2.0) == pytest.approx(2 * t0)


def test_embed_tasks_record():
    probe = _tiny_probe(seed=6)
    tasks = [_tiny_task("a", seed=6), _tiny_task("b", seed=7, k=2)]
    tasks[1].x_test, tasks[1].y_test = tasks[1].x[:5], tasks[1].y[:5]
    out = T.embed_tasks(probe, tasks, head_kw=dict(steps=20))
    assert out["names"] == ["a", "b"]
    assert out["fisher"].shape == (2, 12) and out["domain"].shape == (2, 12)
    assert math.isnan(out["test_error"][0]) and 0 <= out["test_error"][1] <= 1
    assert set(out["seconds"]) == {"head", "fisher", "domain"}


# --------------------------------------------------------------------------------------------
# Exact toys
# --------------------------------------------------------------------------------------------


def _two_layer(seed=0, d=3, h=4, n=60):
    torch.manual_seed(seed)
    model = T.TwoLayerSigmoid(d, h).double()
    with torch.no_grad():
        model.U.weight.normal_(0, 1.0)
        model.w.weight.normal_(0, 2.0)
    means = torch.randn(2, d, dtype=torch.float64) * 1.5  # a two-component Gaussian mixture
    x = means[torch.arange(n) % 2] + torch.randn(n, d, dtype=torch.float64)
    return model, x


def test_two_layer_sigmoid_closed_form_diagonal():
    model, x = _two_layer()
    closed = T.two_layer_fisher_diagonal(model, x)
    for method in ("hooks", "vmap"):
        got = fisher_diagonal(model, x, params=["U.weight"], method=method)["U.weight"]
        assert torch.allclose(got, closed, rtol=1e-10, atol=0)
    full = T.two_layer_fisher(model, x)
    assert torch.allclose(torch.diagonal(full), closed.flatten(), rtol=1e-12)
    # the full Kronecker form against autograd: E_x sum_y p(y|x) g g^T, g the per-example score
    def logp(U, xi):
        z = torch.sigmoid(U @ xi)
        return torch.log_softmax(torch.stack([torch.zeros((), dtype=xi.dtype), model.w.weight[0] @ z]), 0)

    U = model.U.weight.detach()
    F = torch.zeros_like(full)
    for xi in x:
        J = jacrev(logp)(U, xi).reshape(2, -1)  # (classes, hidden * d_in)
        p = logp(U, xi).exp()
        F += (p[:, None, None] * J[:, :, None] * J[:, None, :]).sum(0)
    assert torch.allclose(F / len(x), full, rtol=1e-10, atol=1e-14)
    # Monte Carlo with labels from the model converges to it
    mc = fisher_diagonal(model, x, exact=False, n_samples=400, params=["U.weight"],
                         generator=torch.Generator().manual_seed(0))["U.weight"]
    assert float((mc - closed).abs().sum() / closed.abs().sum()) < 0.1


def test_two_layer_useless_unit_has_zero_fisher():
    model, x = _two_layer(seed=1)
    with torch.no_grad():
        model.w.weight[0, 2] = 0.0  # hidden unit 2 is not used by the classifier
    emb = T.filter_average(fisher_diagonal(model, x, params=["U.weight"]))
    assert emb[2] == 0.0 and np.all(np.delete(emb, 2) > 0)
    assert np.allclose(emb, T.two_layer_fisher_diagonal(model, x).mean(1).numpy(), rtol=1e-10)


def test_pixel_gain_closed_form():
    torch.manual_seed(2)
    model = T.PixelGainLogistic(6).double()
    with torch.no_grad():
        model.head.weight.normal_(0, 2.0)
    x = torch.rand(30, 1, 2, 3, dtype=torch.float64)
    got = fisher_diagonal(model, x, params=["gain"])["gain"]  # a bare parameter: vmap path
    assert torch.allclose(got, T.pixel_gain_fisher_diagonal(model, x), rtol=1e-10, atol=0)
