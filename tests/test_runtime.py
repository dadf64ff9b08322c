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
