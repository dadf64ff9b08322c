import subprocess
import sys

import pytest
import torch

import emergent
from emergent import runtime


def test_scale_default_and_env(monkeypatch):
    monkeypatch.delenv("EMERGENT_SCALE", raising=False)
    assert emergent.scale() == "fast"
    monkeypatch.setenv("EMERGENT_SCALE", "FULL")
    assert emergent.scale() == "full"
    assert emergent.scale("fast") == "fast"  # an explicit argument wins
    monkeypatch.setenv("EMERGENT_SCALE", "huge")
    with pytest.raises(ValueError, match="fast"):
        emergent.scale()


def test_pick(monkeypatch):
    monkeypatch.delenv("EMERGENT_SCALE", raising=False)
    assert runtime.pick({"fast": 1, "full": 2}) == 1
    assert runtime.pick({"fast": 1, "full": 2}, "full") == 2


def test_device_fallback(monkeypatch):
    monkeypatch.delenv("EMERGENT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert emergent.device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert emergent.device() == torch.device("cuda")
    monkeypatch.setenv("EMERGENT_DEVICE", "cpu")
    assert emergent.device() == torch.device("cpu")


def test_seed_everything_reproducible():
    emergent.seed_everything(3)
    a = torch.randn(5)
    emergent.seed_everything(3)
    b = torch.randn(5)
    emergent.seed_everything(4)
    c = torch.randn(5)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_headless_flags(monkeypatch):
    monkeypatch.setenv("EMERGENT_HEADLESS", "0")
    assert not runtime.headless()
    monkeypatch.setenv("EMERGENT_HEADLESS", "1")
    assert runtime.headless()


def test_import_does_not_load_torchvision_or_heavy_modules():
    code = ("import sys, emergent, emergent.data, emergent.viz, emergent.widgets, emergent.train, emergent.cache; "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_info_records_where_and_when():
    from emergent.runtime import run_info

    info = run_info(12.345, "cpu")
    assert info["device"] == "cpu" and info["seconds"] == 12.3
    assert info["torch"] == torch.__version__ and info["cpu_count"] >= 1 and info["date"].endswith("UTC")


def _no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "mps", "gpu", "cuda:x"])
def test_device_that_is_not_there_says_what_is(monkeypatch, asked):
    _no_accelerators(monkeypatch)
    monkeypatch.setenv("EMERGENT_DEVICE", asked)
    with pytest.raises(ValueError, match="EMERGENT_DEVICE") as e:
        runtime.device()
    assert repr(asked) in str(e.value) and "cpu" in str(e.value)
    monkeypatch.delenv("EMERGENT_DEVICE")
    with pytest.raises(ValueError) as e:
        runtime.device(asked)
    assert repr(asked) in str(e.value) and "cpu" in str(e.value)


def test_device_fails_at_once_not_in_data_loading(monkeypatch):
    from emergent.data import ArrayDataset

    _no_accelerators(monkeypatch)
    monkeypatch.setenv("EMERGENT_DEVICE", "cuda")
    ds = ArrayDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long), {"name": "t"})
    with pytest.raises(ValueError, match="'cuda'"):
        ds.to()


def test_cuda_index_beyond_the_count(monkeypatch):
    monkeypatch.delenv("EMERGENT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert runtime.device("cuda:1") == torch.device("cuda:1")
    assert runtime.device("cuda") == torch.device("cuda")
    with pytest.raises(ValueError, match="'cuda:2'") as e:
        runtime.device("cuda:2")
    assert "cuda:0" in str(e.value) and "cuda:1" in str(e.value)


def test_valid_forced_devices_keep_working(monkeypatch):
    _no_accelerators(monkeypatch)
    monkeypatch.setenv("EMERGENT_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("EMERGENT_DEVICE", " CPU ")
    assert runtime.device() == torch.device("cpu")
    assert runtime.device(torch.device("cpu")) == torch.device("cpu")
    assert runtime.available_devices() == ["cpu"]


def test_import_emergent_keeps_the_slow_iri_checker_out():
    # rfc3987_syntax (pulled in by plotly -> nbformat -> jsonschema) took 3.2 s of every kernel start
    import subprocess
    import sys

    code = ("import sys, emergent, emergent.viz, nbformat; "
            "nbformat.validate(nbformat.v4.new_notebook()); "
            "print(sys.modules.get('rfc3987_syntax') is None)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "EMERGENT_KEEP_RFC3987"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
    kept = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "EMERGENT_KEEP_RFC3987": "1"})
    assert kept.stdout.strip() == "False", kept.stderr[-2000:]
