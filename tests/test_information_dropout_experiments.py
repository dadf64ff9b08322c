"""Tests of emergent.experiments.information_dropout on tiny configurations (seconds)."""
import json

import numpy as np
import pytest

from emergent.experiments import information_dropout as idx

DATA = dict(source="mnist-small", n_train=256, n_test=128, seed=0, side=14)
TINY_23B = dict(data=DATA, filter_percentages=[0.125], seeds=2, id_betas=[1.0], epochs=1, milestones=[],
                batch_size=64)
TINY_25 = dict(data=DATA, width=16, betas=[0.0, 10.0], epochs=1)
TINY_21 = dict(data=DATA, width=16, betas=[1.0], epochs=1, bins=10)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMERGENT_RESULTS", str(tmp_path / "results"))


def test_fig2_3b_sweep_and_models_share_the_cache(monkeypatch):
    r = idx.run_fig2_3b(TINY_23B, "fast")
    assert r["labels"] == ["none", "binary", "lognormal", "information β=1"]
    for lab in r["labels"]:
        errs = r["errors"][lab]["0.125"]
        assert len(errs) == 2 and all(0 <= e <= 1 for e in errs)
        assert r["mean"][lab][0] == pytest.approx(np.mean(errs)) and r["std"][lab][0] == pytest.approx(np.std(errs, ddof=1))
    alpha = r["alpha"]["information β=1"][0]  # one mean α per noisy layer, below the cap
    assert len(alpha) == 2 and all(0 < a <= 0.7 for a in alpha)
    # the models the notebook's widget loads are the ones the sweep trained (same cache entry, no retraining)
    def no_training(*a, **k):
        raise AssertionError("fig2_3b_models retrained a network that the sweep had cached")

    monkeypatch.setattr(idx, "train_packed", no_training)
    tr, te = idx.mnist_data(idx._config("fig2_3b", TINY_23B, "fast"))
    nets, betas, _ = idx.fig2_3b_models("binary", 0.125, TINY_23B, "fast")
    assert betas == [0.0, 0.0]
    assert [idx.error_D(n, tr, te) for n in nets] == pytest.approx(r["errors"]["binary"]["0.125"])
    nets, betas, _ = idx.fig2_3b_models("information", 0.125, TINY_23B, "fast")
    assert betas == [1.0, 1.0] and len(nets[0].id_layers) == 2


def test_fig2_5_and_fig2_1_models_per_beta_and_activation():
    nets, cfg = idx.fig2_5_models(TINY_25, "fast", verbose=False)
    assert len(nets) == 2 and nets[0].activation == "softplus" and nets[0].widths == [16, 16]
    by_act, cfg = idx.fig2_1_models(TINY_21, "fast", verbose=False)
    assert set(by_act) == {"relu", "softplus"}
    assert [n[0].activation for n in by_act.values()] == ["relu", "softplus"]


def test_cli_writes_json_with_run_info(tmp_path):
    sets = [f"{k}={json.dumps(v)}" for k, v in TINY_23B.items()]
    idx.main(["fig2_3b", "--scale", "fast", "--tag", "tiny"] + [a for s in sets for a in ("--set", s)])
    res = json.loads((tmp_path / "results" / "ch02_fig2_3b_fast_tiny.json").read_text())
    assert res["filter_percentages"] == [0.125] and res["config"]["data"]["n_train"] == 256
    assert res["config"]["data"]["side"] == 14  # --set merges into the default's nested dict
    assert res["run"]["device"] == "cpu" and isinstance(res["run"]["seconds"], float) and "torch" in res["run"]


def test_offline_stand_in_of_full_size_mnist():
    tr, te = idx.mnist_data(dict(data=dict(source="mnist-small", n_train=60000, n_test=10000, seed=0)))
    assert (len(tr), len(te)) == (4000, 1000)


def test_fig2_3b_full_is_the_thesis_setup():
    cfg = idx.default_config("fig2_3b", "full")
    assert cfg["arch"] == "all_cnn_32" and cfg["epochs"] == 160 and cfg["lr"] == 0.1
    assert cfg["milestones"] == [80, 120] and cfg["data"]["source"] == "cifar10"
    net = idx._fig23b_net(cfg, "information", 0.25, 1)
    assert net.activation == "softplus" and [l.f.out_channels for l in net.id_layers] == [24, 48]


def test_precomputed_says_how_to_make_a_missing_result(tmp_path, capsys):
    assert idx.precomputed("fig2_2", "fast", tag="seed1") is None
    assert "--scale fast --tag seed1" in capsys.readouterr().out
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "ch02_fig2_2_fast_seed1.json").write_text(json.dumps(
        {"betas": [0.1], "run": {"device_name": "x CPU", "threads": 1, "seconds": 80.0, "date": "d"}}))
    assert idx.precomputed("fig2_2", "fast", tag="seed1")["betas"] == [0.1]
    assert "made on x CPU (1 thread(s)) in 80 s" in capsys.readouterr().out


def _no_training(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("trained with a configuration that should have been refused")

    monkeypatch.setattr(idx, "train_packed", fail)
    for name in ("mnist_data", "cluttered_data", "occluded_data"):
        monkeypatch.setattr(idx, name, fail)


@pytest.mark.parametrize("figure", idx.FIGURES)
def test_unknown_config_key_is_refused_before_training(monkeypatch, figure):
    from emergent.cache import ConfigError

    _no_training(monkeypatch)
    with pytest.raises(ConfigError, match="'nope'") as e:
        idx._RUNNERS[figure]({"nope": 1}, "fast")
    assert "epochs" in str(e.value)  # lists the valid keys
    models_of = {"fig2_1": lambda c: idx.fig2_1_models(c, "fast"), "fig2_2": lambda c: idx.fig2_2_models(c, "fast"),
                 "fig2_3": lambda c: idx.fig2_3_models("information", 16, c, "fast"),
                 "fig2_3b": lambda c: idx.fig2_3b_models("information", 0.25, c, "fast"),
                 "fig2_4": lambda c: idx.fig2_4_models(c, "fast"), "fig2_5": lambda c: idx.fig2_5_models(c, "fast"),
                 "fig2_6": lambda c: idx.fig2_6_models(c, "fast")}
    with pytest.raises(ConfigError, match="'nope'"):
        models_of[figure]({"nope": 1})


def test_nested_and_optional_keys(monkeypatch):
    from emergent.cache import ConfigError

    _no_training(monkeypatch)
    with pytest.raises(ConfigError, match="data.n_trian"):
        idx.run_fig2_3({"data": {"n_trian": 10}}, "fast")
    with pytest.raises(ConfigError, match="'widths'"):  # fig2_3's key, not fig2_5's
        idx.run_fig2_5({"widths": [16]}, "fast")
    # keys of the other scale, and those the code reads with a default, are accepted
    cfg = idx._config("fig2_5", {"activation": "relu", "weight_decay": 1e-4, "milestones": [2], "arch": "mlp",
                                 "data": {"side": 14}}, "fast")
    assert cfg["weight_decay"] == 1e-4 and cfg["data"]["side"] == 14 and cfg["data"]["n_train"] == 4000
    for fig in idx.FIGURES:  # a merged configuration goes back in unchanged (the figures do this internally)
        for sc in ("fast", "full"):
            cfg = idx._config(fig, None, sc)
            assert idx._config(fig, cfg, sc) == cfg


def test_cli_refuses_an_unknown_key_with_an_error_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, EMERGENT_RESULTS=str(tmp_path / "results"), EMERGENT_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-m", "emergent.experiments.information_dropout", "fig2_2", "--set", "nope=1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0
    assert "nope" in out.stderr and "epochs" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


def test_cli_checks_every_figure_and_the_device_first(tmp_path, monkeypatch, capsys):
    import torch

    def fail(*a, **k):
        raise AssertionError("ran a figure before checking the others")

    monkeypatch.setattr(idx, "_RUNNERS", {f: fail for f in idx.FIGURES})
    with pytest.raises(SystemExit) as e:  # widths is a key of fig2_3 only
        idx.main(["all", "--scale", "fast", "--set", "widths=[16]"])
    assert e.value.code != 0 and "widths" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("EMERGENT_DEVICE", "cuda")
    with pytest.raises(SystemExit) as e:
        idx.main(["fig2_5", "--scale", "fast"])
    assert e.value.code != 0 and "'cuda'" in capsys.readouterr().err
