import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from emergent import cache


def test_cached_computes_once_and_roundtrips(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"acc": np.float32(0.5), "curve": torch.arange(3), "nested": (1, 2)}

    cfg = {"beta": 0.1, "widths": [8, 16]}
    r1 = cache.cached("exp/a", cfg, compute, root=tmp_path)
    r2 = cache.cached("exp/a", cfg, compute, root=tmp_path)
    assert calls == [1]
    assert r1 == r2 == {"acc": 0.5, "curve": [0, 1, 2], "nested": [1, 2]}
    cache.cached("exp/a", {**cfg, "beta": 0.2}, compute, root=tmp_path)
    assert len(calls) == 2  # another config is another key
    cache.cached("exp/a", cfg, compute, root=tmp_path, refresh=True)
    assert len(calls) == 3


def test_key_depends_on_version_and_config_order_does_not_matter():
    a = cache.config_hash({"x": 1, "y": 2}, version="1")
    assert a == cache.config_hash({"y": 2, "x": 1}, version="1")
    assert a != cache.config_hash({"x": 1, "y": 2}, version="2")


def test_pt_format(tmp_path):
    out = cache.cached("exp/t", {"n": 1}, lambda: {"w": torch.ones(2)}, fmt="pt", root=tmp_path)
    again = cache.cached("exp/t", {"n": 1}, lambda: pytest.fail("recomputed"), fmt="pt", root=tmp_path)
    assert torch.equal(out["w"], again["w"])


def test_atomic_write_leaves_no_partial_file_when_killed(tmp_path):
    """A process killed in the middle of writing leaves the old file intact and no temporary file."""
    target = tmp_path / "r.json"
    cache.save(target, {"old": True})
    script = textwrap.dedent(f"""
        import os, signal
        from emergent import cache
        real_fsync = os.fsync
        def die(fd):  # simulate a kill after the data is written but before the rename
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = die
        cache.save({str(target)!r}, {{"new": list(range(100000))}})
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode != 0
    assert json.loads(target.read_text()) == {"old": True}
    leftovers = [p for p in os.listdir(tmp_path) if p != "r.json"]
    # the killed process may leave its temporary file, but never under the target's name
    assert all(p.startswith(".r.json.") and p.endswith(".tmp") for p in leftovers)


def test_failed_compute_writes_nothing(tmp_path):
    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.cached("exp/b", {}, boom, root=tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def test_results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_RESULTS", str(tmp_path))
    assert cache.load_result("nope") is None
    cache.save_result("ch/x", {"a": 1})
    assert cache.load_result("ch/x") == {"a": 1}


def test_parse_overrides_reads_json_values():
    from emergent.cache import parse_overrides

    assert parse_overrides(["widths=[16, 32]", "epochs=5", "arch=small_all_cnn", "data={\"n_train\": 100}"]) == {
        "widths": [16, 32], "epochs": 5, "arch": "small_all_cnn", "data": {"n_train": 100}}
    with pytest.raises(ValueError):
        parse_overrides(["no-equals-sign"])


def _count_calls(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_truncated_json_is_recomputed_with_a_warning(tmp_path):
    value = {"acc": [0.5, 0.75], "name": "x" * 200}
    compute, calls = _count_calls(value)
    assert cache.cached("exp/j", {"n": 1}, compute, root=tmp_path) == value
    path = cache.key_path("exp/j", {"n": 1}, root=tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # cut in half
    with pytest.warns(cache.CorruptCacheWarning, match=path.name):
        assert cache.cached("exp/j", {"n": 1}, compute, root=tmp_path) == value
    assert len(calls) == 2
    assert json.loads(path.read_text()) == value  # overwritten with a whole file
    assert cache.cached("exp/j", {"n": 1}, compute, root=tmp_path) == value and len(calls) == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_corrupt_pt_is_recomputed_with_a_warning(tmp_path, damage):
    value = {"w": torch.arange(50.0), "history": [1, 2]}
    compute, calls = _count_calls(value)
    cache.cached("exp/p", {"n": 1}, compute, fmt="pt", root=tmp_path)
    path = cache.key_path("exp/p", {"n": 1}, "pt", root=tmp_path)
    good = path.read_bytes()
    path.write_bytes({"garbage": b"\x80\x04not a pickle at all \x00\xff" * 8, "empty": b"",
                      "truncated": good[: len(good) // 2]}[damage])
    with pytest.warns(cache.CorruptCacheWarning, match=path.name):
        out = cache.cached("exp/p", {"n": 1}, compute, fmt="pt", root=tmp_path)
    assert len(calls) == 2 and torch.equal(out["w"], value["w"]) and out["history"] == [1, 2]
    again = cache.cached("exp/p", {"n": 1}, lambda: pytest.fail("recomputed a repaired file"), fmt="pt", root=tmp_path)
    assert torch.equal(again["w"], value["w"])


def test_check_config_names_unknown_keys_and_the_valid_ones():
    fast = {"epochs": 1, "data": {"n_train": 10, "seed": 0}}
    full = {"epochs": 2, "arch": "big", "data": {"n_train": 100, "seed": 0}}
    cache.check_config(None, fast, full)
    cache.check_config({"epochs": 3, "arch": "x", "data": {"seed": 1}}, fast, full)  # keys of either template
    cache.check_config({"side": 3}, fast, {"side": None})
    with pytest.raises(cache.ConfigError) as e:
        cache.check_config({"epoch": 3}, fast, full, what="fig")
    msg = str(e.value)
    assert "'epoch'" in msg and all(k in msg for k in ("epochs", "arch", "data"))
    with pytest.raises(ValueError, match="data.n_trian") as e:  # a ConfigError is a ValueError
        cache.check_config({"data": {"n_trian": 3}}, fast, full)
    assert "n_train" in str(e.value)
