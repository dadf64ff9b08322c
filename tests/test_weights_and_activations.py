"""Tests of emergent.experiments.weights_and_activations (thesis Fig 4.5) on tiny configurations (seconds)."""
import json
import math

import pytest
import torch

from emergent import cache, weight_noise
from emergent import variational as var
from emergent.experiments import weights_and_activations as wa

TINY = dict(data=dict(n_train=300, n_test=100), nuisance=dict(masks=4), hidden=[16, 12], betas=[0.01, 1.0],
            steps=30, eval_samples=2, pairs=1, estimator=dict(n_train=200, hidden=16, epochs=2))


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMERGENT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("EMERGENT_DEVICE", "cpu")


@pytest.mark.parametrize("bad", [dict(epochs=3), dict(nuisance=dict(mask=3)), dict(layer=2), dict(layer=-3),
                                 dict(betas=[]), dict(nuisance=dict(masks=1)), dict(pairs=0),
                                 dict(data=dict(source="cifar10")), dict(scale="full"), dict(seeds=[]),
                                 dict(nuisance=dict(rects=[4, 2]))])
def test_config_errors_before_any_work(bad):
    with pytest.raises(cache.ConfigError):
        wa.run_fig4_5(bad, "fast")


def test_unknown_figure():
    with pytest.raises(cache.ConfigError):
        wa.default_config("fig4_6")


def test_tiny_run_end_to_end_and_cached():
    r = wa.run_fig4_5(TINY, "fast")
    nb = len(TINY["betas"])
    assert r["beta"] == TINY["betas"] and r["source"] == "mnist-small" and r["n_train_used"] == 300
    for k in ("test_acc", "kl_per_sample", "i_zn_disc", "i_zn_probe", "i_zy_probe", "i_zy_net", "cor_bound"):
        assert len(r[k]) == nb and all(math.isfinite(v) for v in r[k]), k
    assert all(0 <= a <= 1 for a in r["test_acc"])
    assert r["units"] == [16, 12, 10] and r["n_weights"] == [196 * 16, 16 * 12, 12 * 10]
    assert len(r["layers"]) == 3 and all(len(lay["alpha"]) == nb for lay in r["layers"])
    assert r["log_masks"] == pytest.approx(math.log(4))
    # the probe's Barber–Agakov estimate never exceeds H(n) = log |N|
    assert all(v <= math.log(4) + 1e-9 for v in r["i_zn_probe"]) and r["i_xn_probe"] <= math.log(4) + 1e-9
    # the reported bound is Cor 4.5.3 of the reported alphas (min over the layers up to z = hidden layer 2)
    for i in range(nb):
        alphas = [lay["alpha"][i] for lay in r["layers"]]
        kl = [lay["kl"][i] for lay in r["layers"]]
        assert alphas == pytest.approx([math.exp(-k / w) for k, w in zip(kl, r["n_weights"])])
        full = weight_noise.layer_bounds(r["units"], alphas)
        assert [lay["bound"][i] for lay in r["layers"]] == pytest.approx(full["bound"])
        assert r["cor_bound"][i] == pytest.approx(weight_noise.layer_bounds(r["units"][:2], alphas[:2])["min"])
    assert wa.run_fig4_5(TINY, "fast") == r  # cached
    two = wa.run_fig4_5(dict(TINY, seeds=2), "fast")
    assert two["config"]["seeds"] == [0, 1] and all(len(s) == 2 for s in two["test_acc_seeds"])
    assert [s[0] for s in two["test_acc_seeds"]] == r["test_acc"]  # seed 0's group is reused


def test_masks_data_and_estimator_pairs():
    m = wa.occlusion_masks(16, (2, 4), (3, 8), seed=0)
    assert m.shape == (16, 28, 28) and m.dtype == torch.bool
    assert torch.equal(m, wa.occlusion_masks(16, (2, 4), (3, 8), seed=0))
    assert len({tuple(x.flatten().tolist()) for x in m}) == 16  # distinct patterns
    area = m.flatten(1).float().mean(1)
    assert bool((area > 0).all()) and bool((area < 0.5).all())
    cfg = wa._config("fig4_5", TINY, "fast")
    d = wa.load_data(cfg, seed=0, device="cpu")
    x, y = d["train"]
    assert x.shape == (300, 196) and float(x.max()) <= 1.0
    # occlusion paints exactly the mask (before pooling)
    img = wa.occlude(d["train_digits"][:1], d["masks"], d["n_train"][:1], 1.0)
    assert bool((img[0, 0][d["masks"][d["n_train"][0]]] == 1.0).all())
    p = wa.estimator_pairs(cfg, d, seed=0)
    assert int(p["first"].sum()) == 200 and len(p["x"]) == 200 + 100
    assert torch.equal(p["y"][~p["first"]], d["test_labels"])  # evaluated on the held-out digits


def test_layer_activations_match_the_forward_pass():
    torch.manual_seed(0)
    model = var.VariationalMLP([20, 8, 6, 3], members=2)
    x = torch.rand(7, 20)
    ins, outs = wa.layer_activations(model, x, noisy=False)
    model.eval()
    assert torch.allclose(outs[-1], model(x), atol=1e-6)
    assert [t.shape for t in ins] == [(7, 1, 20), (7, 2, 8), (7, 2, 6)]
    assert bool((outs[0] >= 0).all())  # after the ReLU
    assert torch.equal(wa.representation(model, x, -1, noisy=False), outs[1])
    one = var.member(model, 1)
    _, outs1 = wa.layer_activations(one, x, noisy=False)
    assert torch.allclose(outs1[-1][:, 0], outs[-1][:, 1], atol=1e-6)


def test_cli_writes_the_result(tmp_path):
    small = json.dumps(TINY["hidden"])
    wa.main(["fig4_5", "--scale", "fast", "--seeds", "1", "--set", f"hidden={small}", "--set", "steps=5",
             "--set", "betas=[0.1]", "--set", "pairs=1",
             "--set", 'data={"n_train": 200, "n_test": 60}', "--set", 'nuisance={"masks": 3}',
             "--set", 'estimator={"n_train": 100, "hidden": 8, "epochs": 1}'])
    out = tmp_path / "results" / "ch04_fig4_5_fast_1seeds.json"
    res = json.loads(out.read_text())
    assert res["beta"] == [0.1] and "run" in res and res["config"]["seeds"] == [0]
    with pytest.raises(SystemExit):
        wa.main(["fig4_5", "--set", "nope=1"])
