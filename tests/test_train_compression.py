import numpy as np
import pytest
import torch
from torch import nn

from emergent import compression, train


def test_lr_schedule_exact():
    cfg = train.Trainer(lr=0.1, milestones=(3, 5), gamma=0.5, lr_decay=1.0)
    assert [train.lr_at(e, cfg) for e in (0, 2, 3, 4, 5, 9)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    cfg = train.Trainer(lr=0.05, lr_decay=0.97)
    assert train.lr_at(10, cfg) == pytest.approx(0.05 * 0.97**10)


def test_fit_learns_a_separable_problem_and_logs_history():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Linear(2, 2)
    seen = []
    hist = train.fit(model, (x, y), epochs=15, lr=0.5, test=(x, y), progress=False,
                     callbacks=[lambda e, m, h: seen.append(e)])
    assert seen == list(range(15))
    assert set(hist) >= {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc"}
    assert hist.last("test_acc") > 0.95
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert len(hist.frame()) == 15


def test_fit_regularizer_and_transform_are_used():
    x = torch.randn(64, 3)
    y = torch.zeros(64, dtype=torch.long)
    model = nn.Linear(3, 2)
    calls = {"reg": 0, "tf": 0}

    def reg(m, xb, yb, out):
        calls["reg"] += 1
        return 0.0 * out.sum()

    def tf(xb, yb, epoch):
        calls["tf"] += 1
        return xb, yb

    train.fit(model, (x, y), epochs=2, batch_size=32, regularizer=reg, transform=tf, progress=False)
    assert calls == {"reg": 4, "tf": 4}
    with pytest.raises(TypeError):
        train.fit(model, (x, y), epochs=1, not_an_option=1, progress=False)


class _Packed(nn.Module):
    """E independent linear classifiers in one module: logits (batch, E, classes)."""

    def __init__(self, members: list[nn.Linear]):
        super().__init__()
        self.w = nn.Parameter(torch.stack([m.weight.detach().clone() for m in members]))
        self.b = nn.Parameter(torch.stack([m.bias.detach().clone() for m in members]))
        self.members = len(members)

    def forward(self, x):
        return torch.einsum("bi,eoi->beo", x, self.w) + self.b


def test_fit_loss_fn_trains_packed_members_as_if_alone():
    # fit minimises the sum of the per-member losses: each member's gradient is that of its own loss,
    # so (same minibatch order, SGD) every member ends exactly where it ends when trained alone
    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    torch.manual_seed(1)
    singles = [nn.Linear(5, 2) for _ in range(3)]
    packed = _Packed(singles)
    coef = torch.tensor([0.0, 0.1, 1.0])  # a different L2 penalty per member

    def packed_loss(m, xb, yb):
        out = m(xb)
        ce = nn.functional.cross_entropy(out.permute(0, 2, 1), yb[:, None].expand(-1, 3), reduction="none").mean(0)
        l2 = (m.w ** 2).sum(dim=(1, 2))
        return ce + coef * l2, {"ce": ce, "train_acc": (out.argmax(-1) == yb[:, None]).double().mean(0)}

    cfg = dict(epochs=3, lr=0.1, batch_size=32, optimizer="sgd", momentum=0.9)
    hist = train.fit(packed, (x, y), train.Trainer(**cfg), loss_fn=packed_loss, progress=False, seed=3)
    for e, single in enumerate(singles):
        h1 = train.fit(single, (x, y), train.Trainer(**cfg), progress=False, seed=3,
                       regularizer=lambda m, xb, yb, out, c=coef[e]: c * (m.weight ** 2).sum())
        torch.testing.assert_close(packed.w[e], single.weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(packed.b[e], single.bias, rtol=1e-5, atol=1e-6)
        assert hist["train_acc"][-1][e] == pytest.approx(h1["train_acc"][-1], abs=1e-9)
        assert hist["train_loss"][-1][e] == pytest.approx(h1["train_loss"][-1], rel=1e-5)
    assert len(hist["ce"]) == 3 and len(hist["ce"][0]) == 3


def test_fit_min_batch_skips_small_batches_and_rejects_two_losses():
    x, y = torch.randn(65, 3), torch.randint(0, 2, (65,))
    seen = []

    def loss_fn(m, xb, yb):
        seen.append(len(xb))
        return nn.functional.cross_entropy(m(xb), yb), {}

    train.fit(nn.Linear(3, 2), (x, y), epochs=1, batch_size=32, loss_fn=loss_fn, min_batch=2, progress=False)
    assert seen == [32, 32]  # the last batch of 1 is skipped
    with pytest.raises(TypeError):
        train.fit(nn.Linear(3, 2), (x, y), epochs=1, loss_fn=loss_fn, regularizer=lambda *a: 0, progress=False)


def test_evaluate_counts_exactly():
    class Fixed(nn.Module):
        def forward(self, x):
            return torch.stack([x[:, 0], -x[:, 0]], 1)

    x = torch.tensor([[1.0], [-1.0], [2.0], [-3.0]])
    y = torch.tensor([0, 0, 0, 1])
    ev = train.evaluate(Fixed(), (x, y), batch_size=3)
    assert ev["acc"] == pytest.approx(0.75)
    logits = torch.stack([x[:, 0], -x[:, 0]], 1)
    assert ev["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)


def test_pool_quantize_exact():
    img = np.array([[[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.5, 0.5], [1.0, 1.0, 0.5, 0.5]]])
    codes = compression.pool_quantize(img, pool=2, levels=3)
    assert codes.tolist() == [[[1, 0], [2, 1]]]  # means 0.5, 0, 1, 0.5 -> levels 0, 0.5, 1
    assert compression.decode(codes, 2, 3).shape == (1, 4, 4)
    assert compression.code_bits((2, 2), 4) == 8.0
    with pytest.raises(ValueError):
        compression.pool_quantize(img, pool=3)


def test_plugin_entropy_exact():
    codes = np.array([[0], [0], [1], [1]])
    assert compression.plugin_entropy_bits(codes) == pytest.approx(1.0)


def test_task_information_bounds():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    informative = (y[:, None] * 10 + rng.normal(size=(200, 2)))
    ti = compression.task_information(informative, y)
    assert ti.h_y == pytest.approx(np.log(2))
    assert ti.accuracy == 1.0 and ti.info_lower == pytest.approx(np.log(2), abs=0.05)
    noise = rng.normal(size=(200, 2))
    tn = compression.task_information(noise, y)
    assert tn.info_lower < 0.05  # a code independent of y carries (almost) nothing, never more than H(y)


def test_task_aware_code_is_short_and_informative():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 150)
    images = (y[:, None, None] * 0.6 + rng.uniform(0, 0.4, size=(300, 4, 4)))
    codes, bits = compression.encode(images, y, {"family": "task", "levels": 2})
    assert bits == 1.0 and set(np.unique(codes)) <= {0, 1}
    row = compression.ladder(images, y, [{"family": "task", "levels": 2}])[0]
    assert row["info_lower"] > 0.6
