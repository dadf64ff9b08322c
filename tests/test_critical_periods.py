"""Tests of emergent.experiments.critical_periods on a tiny configuration (a few seconds)."""
import json

import numpy as np
import pytest

from emergent.experiments import critical_periods as cp

TINY = dict(data=dict(source="mnist-small", side=7, n_train=256, n_test=200, seed=0),
            net=dict(kind="mlp", in_shape=(1, 7, 7), hidden=(16,)), blur_size=2, lr_min=0.0, clean=2, batch_size=64,
            t0s=[0, 2], window=1, onsets=[0, 1], kind_t0s=[0, 2], depths=[1, 2], depth_width=8, depth_t0=2,
            artefact_t0s=[0, 2], cnn_t0=1,
            cnn_net=dict(kind="cnn", in_shape=(1, 7, 7), conv=((4, 3, 2),), batchnorm=True), weight_decays=[5e-4], fisher_probe=16, fisher_points=4, fisher_early=1,
            fisher_late=2, two_phase=dict(hidden=(8,), lr=0.01, epochs=2))


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMERGENT_RESULTS", str(tmp_path / "results"))


def test_removal_and_sensitivity_share_the_clean_run():
    r = cp.run_removal(TINY, "fast")
    for mode in ("annealed", "constant"):
        assert len(r[mode]["final"]) == 2 and all(0 <= a <= 1 for a in r[mode]["final"])
        assert len(r[mode]["clean_curve"]["acc"]) == 4  # max(t0) + clean epochs
    s = cp.run_sensitivity(TINY, "fast")
    assert len(s["drop"]) == 2 and s["window"] == 1
    assert s["clean_curve"] == r["annealed"]["clean_curve"]  # same cached clean run
    again = cp.run_removal(TINY, "fast")
    assert again["annealed"]["final"] == r["annealed"]["final"]


def test_deficits_depth_artefact():
    d = cp.run_deficits(TINY, "fast")
    assert set(d["kinds"]) == {"blur", "vertical_flip", "label_permutation", "white_noise"}
    assert all(len(d[k]["final"]) == 2 for k in d["kinds"])
    assert set(d["cnn"]["final"]) == {"blur", "vertical_flip", "label_permutation"}
    # the late-start control: t0 = 0 is the clean baseline itself; a later start trains at a decayed rate
    assert len(d["late_start"]["final"]) == 2 and d["late_start"]["final"][0] == d["blur"]["final"][0]
    dep = cp.run_depth(TINY, "fast")
    assert [row["depth"] for row in dep["rows"]] == [1, 2]
    a = cp.run_artefact(TINY, "fast")
    assert {"sgd, annealed lr", "sgd, constant lr", "adam, annealed lr", "adam, constant lr"} <= set(a["variants"])


def test_fisher_probes_log_spaced():
    f = cp.run_fisher(TINY, "fast")
    assert len(f["runs"]) == 5
    run = f["runs"]["no deficit"]
    assert run["step"][0] == 0 and run["step"] == sorted(run["step"]) and len(run["step"]) >= 4
    assert set(run["layers"]) == {"fc1", "fc2"} and all(t > 0 for t in run["total"])
    two = cp.run_fisher(dict(TINY, seeds=[0, 1]), "fast")
    assert two["runs"]["no deficit"]["total"] == run["total"]  # the first seed's curves are the 1-seed run's
    s = two["seeds"]["no deficit"]
    assert s["seed"] == [0, 1] and s["total"][0] == run["total"] and s["total"][1] != run["total"]


def test_cli_writes_results(tmp_path, monkeypatch):
    monkeypatch.setattr(cp, "_BASE", {"fast": {**cp._BASE["fast"], **TINY}, "full": cp._BASE["full"]})
    cp.main(["removal", "--scale", "fast"])
    path = tmp_path / "results" / "ch06_removal_fast.json"
    res = json.loads(path.read_text())
    assert res["t0"] == [0, 2]


def test_full_config_is_the_thesis_protocol():
    cfg = cp.default_config("full")
    assert cfg["clean"] == 160 and cfg["window"] == 40 and cfg["lr_decay"] == 0.97 and cfg["blur_size"] == 8
    spec = cp.net_spec(cfg)
    assert spec.head == "conv" and spec.in_shape == (3, 32, 32)


def test_seed_spread_is_paired_and_sample_sd():
    cfg = dict(TINY, seeds=[0, 1, 2])
    s = cp.run_sensitivity(cfg, "fast")
    for d, ds, sd in zip(s["drop"], s["drop_seeds"], s["drop_sd"]):
        assert len(ds) == 3 and d == pytest.approx(sum(ds) / 3, abs=1e-6)
        assert sd == pytest.approx(float(np.std(ds, ddof=1)), abs=1e-9)
    r = cp.run_removal(cfg, "fast")["annealed"]
    assert [len(a) for a in r["final_seeds"]] == [3, 3]
    assert r["final"] == pytest.approx([float(np.mean(a)) for a in r["final_seeds"]])
    one = cp.run_removal(dict(TINY, seeds=[0]), "fast")["annealed"]
    assert one["final_sd"] == [0.0, 0.0]


def test_cli_seeds_suffix_and_precomputed(tmp_path, monkeypatch, capsys):
    assert cp.precomputed("depth", "fast", seeds=2) is None
    assert "--seeds 2" in capsys.readouterr().out  # says how to make it
    monkeypatch.setattr(cp, "_BASE", {"fast": {**cp._BASE["fast"], **TINY}, "full": cp._BASE["full"]})
    cp.main(["depth", "--scale", "fast", "--seeds", "2"])
    assert (tmp_path / "results" / "ch06_depth_fast_2seeds.json").exists()
    res = cp.precomputed("depth", "fast", seeds=2)
    assert res["config"]["seeds"] == [0, 1] and len(res["rows"][0]["drop_seeds"]) == 2
    assert isinstance(res["run"]["seconds"], float) and "2 seed(s)" in capsys.readouterr().out


def _no_training(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("trained with a configuration that should have been refused")

    monkeypatch.setattr(cp, "train_sweep", fail)
    monkeypatch.setattr(cp, "load_data", fail)


@pytest.mark.parametrize("figure", cp.FIGURES)
def test_unknown_config_key_is_refused_before_training(monkeypatch, figure):
    from emergent.cache import ConfigError

    _no_training(monkeypatch)
    with pytest.raises(ConfigError, match="'nope'") as e:
        cp._RUNNERS[figure](dict(TINY, nope=1), "fast")
    assert "clean" in str(e.value)  # lists the valid keys
    with pytest.raises(ConfigError, match="'net.hiden'"):
        cp._RUNNERS[figure](dict(TINY, net=dict(kind="mlp", in_shape=(1, 7, 7), hiden=(16,))), "fast")


def test_unknown_config_key_in_default_config_and_train_one(monkeypatch):
    from emergent.cache import ConfigError

    _no_training(monkeypatch)
    with pytest.raises(ConfigError, match="'nope'"):
        cp.default_config("fast", nope=1)
    with pytest.raises(ConfigError, match="'nope'"):
        cp.train_one(config={"nope": 1}, scale="fast")
    assert cp.default_config("fast", **cp.default_config("full"))["clean"] == 160  # every real key passes


def test_cli_refuses_an_unknown_key_before_training(tmp_path, monkeypatch, capsys):
    _no_training(monkeypatch)
    with pytest.raises(SystemExit) as e:
        cp.main(["removal", "--scale", "fast", "--set", "nope=1"])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "nope" in err and "clean" in err
    assert not (tmp_path / "results").exists()


def test_cli_set_and_tag(tmp_path, monkeypatch):
    monkeypatch.setattr(cp, "_BASE", {"fast": {**cp._BASE["fast"], **TINY}, "full": cp._BASE["full"]})
    cp.main(["removal", "--scale", "fast", "--set", "t0s=[0, 1]", "--tag", "t1"])
    res = json.loads((tmp_path / "results" / "ch06_removal_fast_t1.json").read_text())
    assert res["t0"] == [0, 1] and res["config"]["t0s"] == [0, 1]
