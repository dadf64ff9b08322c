"""Tests of emergent.invariance: Prop 2.1.1, Prop 2.4.1, Cor 2.4.4 and Prop 2.4.5, exactly."""
import math

import numpy as np
import pytest

from emergent import info
from emergent.invariance import (
    Joint,
    chain_terms,
    deterministic_channel,
    flip_channel,
    invariance_terms,
    product,
    product_channel,
    symmetric_channel,
    task_nuisance_decomposition,
)

LN2 = math.log(2)


def h2(p):
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


# ------------------------------------------------------------------------------------------
# the Joint helper
# ------------------------------------------------------------------------------------------


def test_joint_marginals_and_push():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6)).reshape(2, 3)
    j = Joint(p, ("a", "b"))
    np.testing.assert_allclose(j.marginal("b", "a"), p.T)
    c = rng.dirichlet(np.ones(4), size=3)  # p(c | b)
    j2 = j.push("b", c, "c")
    assert j2.sizes == {"a": 2, "b": 3, "c": 4}
    np.testing.assert_allclose(j2.marginal("b", "c"), p.sum(0)[:, None] * c)
    # Markov chain a -> b -> c: I(a;c|b) = 0 and the DPI
    assert j2.mi("a", "c", given="b") == pytest.approx(0.0, abs=1e-14)
    assert j2.mi("a", "c") <= j2.mi("a", "b") + 1e-14
    assert j2.mi("a", "b") == pytest.approx(info.mutual_information(p), abs=1e-14)
    assert j2.cond_entropy("b", "a") == pytest.approx(info.conditional_entropy(p), abs=1e-14)


def test_joint_push_from_two_sources_in_any_order():
    j = product(("y", [0.5, 0.5]), ("n", [0.25] * 4))
    f = np.arange(8).reshape(2, 4)  # x = 4y + n
    a = j.push(("y", "n"), deterministic_channel(f, 8), "x")
    b = j.push(("n", "y"), deterministic_channel(f.T, 8), "x")
    c = j.push(("y", "n"), deterministic_channel(f, 8).reshape(8, 8), "x")  # flattened rows
    np.testing.assert_array_equal(a.p, b.p)
    np.testing.assert_array_equal(a.p, c.p)
    assert a.entropy("x") == pytest.approx(math.log(8), abs=1e-14)
    assert a.mi("x", "y") == pytest.approx(LN2, abs=1e-14)


def test_joint_validation():
    j = product(("y", [0.5, 0.5]))
    with pytest.raises(ValueError):
        j.push("y", np.array([[0.5, 0.6], [0.5, 0.5]]), "z")  # rows do not sum to 1
    with pytest.raises(ValueError):
        j.push("y", np.eye(3), "z")  # wrong shape
    with pytest.raises(ValueError):
        j.push("y", np.eye(2), "y")  # duplicate name
    with pytest.raises(ValueError):
        j.mi("y", "nope")
    with pytest.raises(ValueError):
        Joint(np.full((2, 2), 0.25), ("a",))


def test_channels():
    np.testing.assert_allclose(symmetric_channel(4, 0.0), np.eye(4))
    np.testing.assert_allclose(symmetric_channel(4, 1.0), np.full((4, 4), 0.25))
    np.testing.assert_allclose(flip_channel(0.2).sum(1), 1.0)
    pc = product_channel(flip_channel(0.1), symmetric_channel(3, 0.5))
    assert pc.shape == (6, 6)
    np.testing.assert_allclose(pc.sum(1), 1.0)
    # (a, b) -> (a', b') factorizes: entry [(a*3+b), (a'*3+b')] = Ca[a,a'] Cb[b,b']
    assert pc[1 * 3 + 2, 0 * 3 + 2] == pytest.approx(0.1 * (0.5 + 0.5 / 3))


# ------------------------------------------------------------------------------------------
# Prop 2.1.1: task-nuisance decomposition
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, seed", [((5, 2), 0), ((7, 3), 1), ((4, 4), 2), ((9, 2), 3)])
def test_decomposition_reproduces_joint_and_is_independent(shape, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(shape[0] * shape[1]) * 0.7).reshape(shape)
    p[0, 0] += p[1, 0]  # put in an exact zero
    p[1, 0] = 0.0
    d = task_nuisance_decomposition(p)
    np.testing.assert_allclose(d.p_xyn.sum(axis=2), p, atol=1e-12)
    p_yn = d.p_xyn.sum(axis=0)
    assert info.mutual_information(p_yn) <= 1e-12
    np.testing.assert_allclose(p_yn, np.outer(p.sum(0), d.p_n), atol=1e-15)
    # x is a deterministic function of (y, n): exactly one x per (y, n) cell
    assert np.all((d.p_xyn > 0).sum(axis=0) <= 1)
    for y in range(shape[1]):
        for k in range(d.p_n.size):
            if d.p_xyn[:, y, k].sum() > 0:
                assert d.p_xyn[d.f[y, k], y, k] > 0
    assert d.p_n.sum() == pytest.approx(1.0, abs=1e-15)
    assert d.breakpoints[0] == 0.0 and d.breakpoints[-1] == 1.0


def test_decomposition_depends_on_order_but_stays_valid():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(12)).reshape(6, 2)
    d1 = task_nuisance_decomposition(p)
    d2 = task_nuisance_decomposition(p, order=[5, 3, 1, 0, 2, 4])
    assert not (d1.p_n.shape == d2.p_n.shape and np.allclose(d1.p_n, d2.p_n))
    for d in (d1, d2):
        np.testing.assert_allclose(d.p_xyn.sum(axis=2), p, atol=1e-12)
        assert d.joint().mi("y", "n") <= 1e-12
    with pytest.raises(ValueError):
        task_nuisance_decomposition(p, order=[0, 1, 2])


# ------------------------------------------------------------------------------------------
# Prop 2.4.1 (spec T4)
# ------------------------------------------------------------------------------------------


def setup_a():
    """x = (y, n), y uniform bit, n uniform on 4 values; x indexed 4y + n."""
    j = product(("y", [0.5, 0.5]), ("n", [0.25] * 4))
    return j.push(("y", "n"), deterministic_channel(np.arange(8).reshape(2, 4), 8), "x")


def eta_encoder(eta):
    """z = (y, ñ): keep the first part, the eta-channel on the second."""
    return product_channel(np.eye(2), symmetric_channel(4, eta))


@pytest.mark.parametrize("eta, expected", [(0.0, math.log(4)), (0.5, 0.313), (1.0, 0.0)])
def test_setup_a_equality(eta, expected):
    t = invariance_terms(setup_a().push("x", eta_encoder(eta), "z"))
    assert t["I_xy"] == pytest.approx(LN2, abs=1e-14)
    assert t["sufficient"] and t["nuisance"]
    assert t["I_zn"] == pytest.approx(t["I_zx"] - t["I_xy"], abs=1e-12)  # equality, eps = 0
    assert t["eps"] == pytest.approx(0.0, abs=1e-12)
    assert t["I_zn"] == pytest.approx(expected, abs=5e-4 if eta == 0.5 else 1e-12)


@pytest.mark.parametrize("eta", [0.0, 0.3, 0.7])
def test_partial_nuisance_strict_inequality(eta):
    j = setup_a().push("n", deterministic_channel(np.arange(4) % 2, 2), "n1").push("x", eta_encoder(eta), "z")
    t = invariance_terms(j, n="n1")
    assert t["nuisance"] and t["sufficient"]
    assert t["I_zn"] < t["bound"] - 1e-3


def test_inequality_for_random_functions_of_the_nuisance():
    rng = np.random.default_rng(5)
    for trial in range(10):
        g = rng.integers(0, 3, size=4)
        eta = rng.uniform()
        j = setup_a().push("n", deterministic_channel(g, 3), "g").push("x", eta_encoder(eta), "z")
        t = invariance_terms(j, n="g")
        assert t["nuisance"] and t["sufficient"]
        assert t["I_zn"] <= t["bound"] + 1e-12


def noisy_label_joint(rho):
    """Variant (b): x = (b, m) uniform, index 4b + m; y = b flipped with probability rho."""
    p = np.zeros((8, 2))
    for x in range(8):
        b = x // 4
        p[x, b] += (1 - rho) / 8
        p[x, 1 - b] += rho / 8
    return p


@pytest.mark.parametrize(
    "rho, eta, i_zn, bound, eps",
    [
        (0.0, 0.0, 1.386, 1.386, 0.0),
        (0.0, 0.5, 0.313, 0.313, 0.0),
        (0.1, 0.0, 1.421, 1.711, 0.290),
        (0.1, 1.0, 0.139, 0.325, 0.186),
        (0.3, 0.0, 1.490, 1.997, 0.507),
        (0.3, 1.0, 0.416, 0.611, 0.195),
    ],
)
def test_noisy_label_residual(rho, eta, i_zn, bound, eps):
    d = task_nuisance_decomposition(noisy_label_joint(rho))
    t = invariance_terms(d.joint().push("x", eta_encoder(eta), "z"))
    assert t["nuisance"] and t["sufficient"]
    assert t["H_y_given_x"] == pytest.approx(h2(rho), abs=1e-12)
    # the exact identity of Prop 2.4.1 for the Prop 2.1.1 nuisance, and the residual bounds
    assert t["I_zn"] == pytest.approx(t["I_zx"] - t["I_xy"] - t["eps"], abs=1e-12)
    assert -1e-12 <= t["eps"] <= t["H_y_given_x"] + 1e-12
    assert t["I_zn"] <= t["bound"] + 1e-12
    # the spec's computed values (they depend on the enumeration order 4b + m)
    assert t["I_zn"] == pytest.approx(i_zn, abs=1e-3)
    assert t["bound"] == pytest.approx(bound, abs=1e-3)
    assert t["eps"] == pytest.approx(eps, abs=1e-3)


def test_residual_zero_iff_deterministic_labels():
    for eta in (0.0, 0.4, 1.0):
        t0 = invariance_terms(task_nuisance_decomposition(noisy_label_joint(0.0)).joint().push("x", eta_encoder(eta), "z"))
        assert t0["eps"] == pytest.approx(0.0, abs=1e-12)
        t1 = invariance_terms(task_nuisance_decomposition(noisy_label_joint(0.2)).joint().push("x", eta_encoder(eta), "z"))
        assert t1["eps"] > 1e-3


# ------------------------------------------------------------------------------------------
# Cor 2.4.4 and Prop 2.4.5 (spec T5)
# ------------------------------------------------------------------------------------------


def test_chain_of_layers():
    j = product(("y", [0.5, 0.5]), ("n", [1 / 8] * 8))
    j = j.push(("y", "n"), deterministic_channel(np.arange(16).reshape(2, 8), 16), "x")
    merge = deterministic_channel(np.arange(8) // 2, 8)  # n -> floor(n / 2), a pooling bottleneck
    layers = [
        product_channel(np.eye(2), symmetric_channel(8, 0.2)),
        product_channel(np.eye(2), merge),
        product_channel(np.eye(2), symmetric_channel(8, 0.3)),
        product_channel(flip_channel(0.1), np.eye(8)),  # break layer: destroys sufficiency
    ]
    t = chain_terms(j, layers)
    assert t["I_xy"] == pytest.approx(LN2, abs=1e-14)
    assert t["I_xn"] == pytest.approx(math.log(8), abs=1e-14)
    # DPI: I(z_k; n) is non-increasing along the chain
    assert np.all(np.diff(t["I_zn"]) <= 1e-12)
    assert t["I_zn"][0] <= t["I_xn"] + 1e-12
    suff = t["sufficient"]
    np.testing.assert_array_equal(suff, [True, True, True, False])
    # Cor 2.4.4 for every sufficient layer, and Prop 2.4.1 (equality: x = f(y, n), y = g(x))
    assert np.all(t["I_zn"][suff] <= t["bound"][suff] + 1e-12)
    np.testing.assert_allclose(t["I_zn"][suff], t["bound_x"][suff], atol=1e-12)
    assert np.all(t["bound_x"] <= t["bound"] + 1e-12)
    # the break layer: I(z;y) < I(x;y), and the Prop 2.4.1 "bound" no longer holds
    assert t["I_zy"][-1] < t["I_xy"] - 1e-3
    assert t["I_zn"][-1] > t["bound_x"][-1] + 1e-3
