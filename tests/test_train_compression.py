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
