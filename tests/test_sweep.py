"""Tests of emergent.sweep: stacked networks equal their plain copies, stacking equals looping."""
import math

import pytest
import torch

from emergent.data import ArrayDataset
from emergent.deficits import DeficitSchedule
from emergent.sweep import (NetSpec, RunSpec, StackedNet, StackedOptimizer, all_cnn, default_group_size,
                            plain_net, train_sweep)

SPECS = [
    NetSpec(kind="mlp", in_shape=(1, 6, 6), hidden=(16, 8)),
    NetSpec(kind="cnn", in_shape=(1, 8, 8), conv=((4, 3, 1), (6, 3, 2))),
    NetSpec(kind="cnn", in_shape=(1, 8, 8), conv=((4, 3, 1), (6, 3, 2)), batchnorm=False),
    NetSpec(kind="cnn", in_shape=(3, 8, 8), conv=((4, 3, 1), (4, 1, 1)), head="conv"),
]


def _toy(n=96, shape=(1, 6, 6), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    y = (x.flatten(1)[:, :4].sum(1) * 2.5).long().clamp(0, 9)
    return ArrayDataset(x, y)


@pytest.mark.parametrize("spec", SPECS)
def test_stacked_forward_matches_plain(spec):
    net = StackedNet.init(spec, [0, 1, 2]).eval()
    x = torch.randn(3, 5, *spec.in_shape)
    out = net(x)
    assert out.shape == (3, 5, spec.n_classes)
    for r in range(3):
        torch.manual_seed(r)
        ref = plain_net(spec).eval()
        assert torch.allclose(ref(x[r]), out[r], atol=1e-5)
        assert torch.allclose(net.extract(r)(x[r]), out[r], atol=1e-5)


def test_all_cnn_shape():
    spec = all_cnn()
    assert spec.conv[2] == (192, 3, 2) and spec.conv[5] == (192, 3, 2) and spec.head == "conv"
    net = StackedNet.init(spec, [0, 1])
    assert net(torch.rand(2, 2, 3, 32, 32)).shape == (2, 2, 10)


def test_optimizer_matches_torch_sgd_per_run_lr():
    spec = SPECS[0]
    net = StackedNet.init(spec, [0, 1])
    plains = []
    for r in range(2):
        torch.manual_seed(r)
        plains.append(plain_net(spec))
    lrs, wd = [0.1, 0.02], 1e-2
    opt = StackedOptimizer(list(net.parameters()), 2, "sgd", 0.9, wd)
    opt.lr = torch.tensor(lrs)
    popts = [torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, weight_decay=wd) for m, lr in zip(plains, lrs)]
    x = torch.randn(2, 7, *spec.in_shape)
    y = torch.randint(0, 10, (2, 7))
    for _ in range(3):
        opt.zero_grad()
        loss = sum(torch.nn.functional.cross_entropy(net(x)[r], y[r]) for r in range(2))
        loss.backward()
        opt.step()
        for r, (m, o) in enumerate(zip(plains, popts)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(x[r]), y[r]).backward()
            o.step()
    for r, m in enumerate(plains):
        for a, b in zip(m.parameters(), net.extract(r).parameters()):
            assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[1]])
def test_stacking_equals_looping(spec):
    data = _toy(shape=spec.in_shape)
    runs = [RunSpec(DeficitSchedule.until(1, kind="blur", size=2), epochs=2, seed=0, lr=0.05),
            RunSpec(DeficitSchedule.none(), epochs=3, seed=1, lr=0.05, lr_decay=0.9),
            RunSpec(DeficitSchedule.until(2, kind="flip"), epochs=3, seed=2, lr=0.02)]
    stacked = train_sweep(spec, runs, data, data, batch_size=32, group_size=3, device="cpu")
    looped = train_sweep(spec, runs, data, data, batch_size=32, group_size=1, device="cpu")
    for a, b in zip(stacked, looped):
        assert a["name"] == b["name"] and len(a["test_acc"]) == a["epochs"]
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=0.02)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3, abs=1e-4)
    assert [len(r["test_acc"]) for r in stacked] == [2, 3, 3]


def test_probes_and_noise():
    spec = SPECS[0]
    data = _toy()
    runs = [RunSpec(DeficitSchedule.until(1, kind="noise"), epochs=2, seed=0),
            RunSpec(DeficitSchedule.until(1, kind="permute"), epochs=1, seed=1)]
    seen = []

    def probe(run, step, model):
        assert not model.training
        seen.append((run, step))
        return {"w": float(sum(p.detach().square().sum() for p in model.parameters()))}

    recs = train_sweep(spec, runs, data, data, batch_size=32, group_size=2, device="cpu",
                       probe_steps=[0, 2, 6], probe=probe)
    assert [p["step"] for p in recs[0]["probes"]] == [0, 2, 6]
    assert [p["step"] for p in recs[1]["probes"]] == [0, 2]  # the 1-epoch run has only 3 steps
    assert all(math.isfinite(r["final_acc"]) for r in recs)


def test_default_group_size():
    assert default_group_size(SPECS[0], torch.device("cpu"), 8) == 1
    assert default_group_size(SPECS[1], torch.device("cuda"), 8) == 8
