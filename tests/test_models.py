"""Tests of emergent.models: shapes, noise switches, packed models (course spec ch02 §11, §14)."""
import math

import pytest
import torch

from emergent import models
from emergent.layers import InformationDropout, deterministic, information_dropout_kl, noisy_evaluation


def _x(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _noisy_sizes(model, x):
    sizes = []
    hooks = [l.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:]))) for l in model.noisy_layers]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sizes


@pytest.mark.parametrize("method", models.METHODS)
def test_mlp_shapes_and_layers(method):
    m = models.MLP(784, 16, depth=3, method=method)
    assert m(_x(5, 1, 28, 28)).shape == (5, 10)
    assert len(m.noisy_layers) == 3
    assert len(m.id_layers) == (3 if method == "information" else 0)
    assert _noisy_sizes(m, _x(5, 1, 28, 28)) == [(16,)] * 3


def test_all_cnn_shapes():
    m = models.all_cnn_96(0.1)
    assert m(_x(2, 1, 96, 96)).shape == (2, 10)
    # thesis Fig. 2.2: the first three noisy layers are 48x48, 24x24 and 12x12
    assert [s[1:] for s in _noisy_sizes(m, _x(2, 1, 96, 96))] == [(48, 48), (24, 24), (12, 12), (6, 6)]
    m = models.all_cnn_32(0.25)
    assert m(_x(2, 3, 32, 32)).shape == (2, 10)
    assert _noisy_sizes(m, _x(2, 3, 32, 32)) == [(24, 16, 16), (48, 8, 8)]  # 25% of 96 and 192 filters
    assert [s[1:] for s in _noisy_sizes(models.cluttered_cnn_fast(), _x(2, 1, 48, 48))] == [(24, 24), (12, 12), (6, 6)]
    occ = models.occlusion_cnn_fast(in_channels=1)
    assert [s[1:] for s in _noisy_sizes(occ, _x(2, 1, 32, 32))] == [(16, 16), (8, 8)]
    s = _noisy_sizes(models.small_all_cnn(0.5, base=32), _x(2, 1, 28, 28))
    assert s == [(16, 14, 14), (32, 7, 7)]  # channels double between the two noisy layers


@pytest.mark.parametrize("method", ["information", "binary", "lognormal"])
def test_noise_on_in_train_off_in_eval(method):
    torch.manual_seed(0)
    m = models.MLP(20, 32, method=method)
    x = _x(64, 20)
    m.train()
    assert not torch.allclose(m(x), m(x))
    m.eval()
    assert torch.equal(m(x), m(x))
    if method == "information":
        with noisy_evaluation(m):
            assert not torch.allclose(m(x), m(x))
        m.train()
        with deterministic(m):
            m.eval()
            assert torch.equal(m(x), m(x))


def test_constant_lognormal_variance():
    torch.manual_seed(0)
    layer = models.ConstantLogNormal(0.7).train()
    eps = layer(torch.ones(400_000))
    # thesis §2.8: variance ~ 1 at alpha = 0.7 (exactly (e^0.49 - 1) e^0.49 = 1.032)
    assert abs(eps.var().item() - (math.exp(0.49) - 1) * math.exp(0.49)) < 0.02
    assert torch.equal(layer.eval()(torch.ones(3)), torch.ones(3))


def test_filter_percentage_scales_channels():
    full = models.count_parameters(models.all_cnn_32(1.0))
    quarter = models.count_parameters(models.all_cnn_32(0.25))
    assert 0.04 < quarter / full < 0.1  # ~ 1/16 of the weights


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_packed_members_match_plain_networks(activation):
    torch.manual_seed(0)
    for make, x in [(lambda **k: models.MLP(30, 8, **k), _x(6, 30)),
                    (lambda **k: models.small_all_cnn(0.25, base=8, **k), _x(6, 1, 12, 12))]:
        m = make(method="information", activation=activation, members=3)
        m.train()
        m(x)  # move BatchNorm statistics away from their init
        with torch.no_grad():  # make each member's prior different
            for layer in m.id_layers:
                if hasattr(layer, "mu"):
                    layer.mu.copy_(torch.tensor([0.1, -0.2, 0.3]))
        m.eval()
        out = m(x)
        assert out.shape == (6, 3, 10)
        kl_packed = [l.kl for l in m.id_layers]
        for e in range(3):
            p = models.member(m, e).eval()
            assert not p.training and p.members == 1
            torch.testing.assert_close(p(x), out[:, e], atol=1e-5, rtol=1e-5)
            for lp, kp in zip(p.id_layers, kl_packed):
                c = lp.kl.shape[1]
                torch.testing.assert_close(lp.kl, kp[:, e * c:(e + 1) * c], atol=1e-5, rtol=1e-5)


def test_packed_members_are_independent():
    torch.manual_seed(0)
    m = models.MLP(10, 4, depth=2, method="information", members=2).train()
    out = m(_x(8, 10))
    out[:, 0].sum().backward()  # a loss of member 0 only
    plain = models.member(m, 1)
    for name, p in m.named_parameters():
        if p.grad is None:
            continue
        g = p.grad
        # the slice belonging to member 1 gets no gradient
        if g.dim() >= 1 and g.shape[0] == 2 and name.startswith("noisy.1"):
            assert g[1].abs().max() == 0, name
        elif name.startswith("head"):
            assert g[1].abs().max() == 0, name
    assert plain(_x(3, 10)).shape == (3, 10)


def test_information_dropout_kl_sums_layers():
    m = models.MLP(10, 4, depth=2, method="information").train()
    m(_x(5, 10))
    manual = sum(l.kl.sum(1).mean() for l in m.id_layers)
    torch.testing.assert_close(information_dropout_kl(m), manual)
    assert all(isinstance(l, InformationDropout) for l in m.noisy_layers)


def test_train_packed_lowers_each_members_loss():
    from emergent.experiments.information_dropout import member_kl, train_packed
    from emergent.train import Trainer

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 12, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    m = models.MLP(12, 16, depth=2, n_classes=4, method="information", members=3)
    h = train_packed(m, (x, y), [0.0, 1.0, 100.0], Trainer(epochs=8, lr=1e-2, optimizer="adam", batch_size=64))
    assert len(h["ce"]) == 8 and len(h["ce"][0]) == 3
    assert all(h["ce"][-1][e] < h["ce"][0][e] for e in range(2))
    m.train()
    m(x[:10])
    kl = member_kl(m, 10)
    assert kl.shape == (3,) and kl[2] < kl[0]  # a large beta transmits less
