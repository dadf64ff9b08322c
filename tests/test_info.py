"""Tests of emergent.info against hand-computed values, SciPy, and closed forms."""
import math

import numpy as np
import pytest
from scipy import stats

from emergent import info

LN2 = math.log(2)


def h2(p):
    """Binary entropy in nats, by hand."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


# ------------------------------------------------------------------------------------------
# discrete measures
# ------------------------------------------------------------------------------------------


def test_entropy_hand_values():
    assert info.entropy([0.25] * 4) == pytest.approx(math.log(4), abs=1e-15)
    assert info.entropy([0.25] * 4, base=2) == pytest.approx(2.0, abs=1e-15)
    assert info.entropy([0.5, 0.5, 0.0]) == pytest.approx(LN2, abs=1e-15)  # 0 log 0 = 0
    assert info.entropy([1.0, 0.0]) == 0.0
    assert info.entropy([0.1, 0.9], base=2) == pytest.approx(0.4689955935892812, abs=1e-14)
    # a joint is flattened: H of a 2x2 uniform is log 4
    assert info.entropy(np.full((2, 2), 0.25)) == pytest.approx(math.log(4), abs=1e-15)


def test_entropy_and_kl_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(10):
        p = rng.dirichlet(np.ones(7))
        q = rng.dirichlet(np.ones(7))
        assert info.entropy(p) == pytest.approx(stats.entropy(p), rel=1e-12)
        assert info.entropy(p, base=2) == pytest.approx(stats.entropy(p, base=2), rel=1e-12)
        assert info.kl(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)
        assert info.kl(p, q, base=2) == pytest.approx(stats.entropy(p, q, base=2), rel=1e-12)


def test_kl_hand_values():
    assert info.kl([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert info.kl([0.3, 0.7], [0.3, 0.7]) == 0.0
    assert info.kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert info.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(LN2)


def test_mutual_information_hand_values():
    assert info.mutual_information([[0.5, 0.0], [0.0, 0.5]]) == pytest.approx(LN2, abs=1e-15)
    assert info.mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2) == pytest.approx(1.0, abs=1e-15)
    # binary symmetric channel with crossover 0.2 and uniform input: ln 2 - h(0.2)
    p = np.array([[0.4, 0.1], [0.1, 0.4]])
    assert info.mutual_information(p) == pytest.approx(LN2 - h2(0.2), abs=1e-14)
    # independent variables
    rng = np.random.default_rng(1)
    px, py = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(3))
    assert info.mutual_information(np.outer(px, py)) == pytest.approx(0.0, abs=1e-14)


def test_mutual_information_equals_entropy_identity():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(12)).reshape(4, 3)
    hx, hy, hxy = stats.entropy(p.sum(1)), stats.entropy(p.sum(0)), stats.entropy(p.ravel())
    assert info.mutual_information(p) == pytest.approx(hx + hy - hxy, rel=1e-12)


def test_conditional_entropy_orientation():
    # X uniform; Y|X=0 deterministic, Y|X=1 uniform -> H(Y|X) = ½ ln 2
    p = np.array([[0.5, 0.0], [0.25, 0.25]])
    assert info.conditional_entropy(p) == pytest.approx(0.5 * LN2, abs=1e-15)
    # H(X|Y) = H(X,Y) - H(Y), a different number
    hxy = stats.entropy([0.5, 0.25, 0.25])
    assert info.conditional_entropy(p.T) == pytest.approx(hxy - stats.entropy([0.75, 0.25]), abs=1e-14)
    # BSC: H(Y|X) = h(eps)
    eps = 0.1
    bsc = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
    assert info.conditional_entropy(bsc) == pytest.approx(h2(eps), abs=1e-14)


def test_conditional_mutual_information_xor():
    # x, y independent fair bits, z = x xor y: I(x;y) = 0 but I(x;y|z) = ln 2
    p = np.zeros((2, 2, 2))
    for x in range(2):
        for y in range(2):
            p[x, y, x ^ y] = 0.25
    assert info.mutual_information(p.sum(axis=2)) == pytest.approx(0.0, abs=1e-15)
    assert info.conditional_mutual_information(p) == pytest.approx(LN2, abs=1e-14)


def test_total_correlation():
    rng = np.random.default_rng(3)
    a, b, c = (rng.dirichlet(np.ones(k)) for k in (2, 3, 4))
    indep = np.multiply.outer(np.multiply.outer(a, b), c)
    assert info.total_correlation(indep) == pytest.approx(0.0, abs=1e-14)
    # three copies of one fair bit: TC = 3 ln 2 - ln 2
    copies = np.zeros((2, 2, 2))
    copies[0, 0, 0] = copies[1, 1, 1] = 0.5
    assert info.total_correlation(copies) == pytest.approx(2 * LN2, abs=1e-14)
    assert info.total_correlation(copies, base=2) == pytest.approx(2.0, abs=1e-14)
    # for two variables TC is the mutual information
    p = rng.dirichlet(np.ones(6)).reshape(2, 3)
    assert info.total_correlation(p) == pytest.approx(info.mutual_information(p), rel=1e-12)


def test_marginal_axis_order():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(24)).reshape(2, 3, 4)
    m = info.marginal(p, (2, 0))
    assert m.shape == (4, 2)
    np.testing.assert_allclose(m, p.sum(axis=1).T)


@pytest.mark.parametrize(
    "call",
    [
        lambda: info.entropy([0.5, -0.1, 0.6]),
        lambda: info.entropy([0.5, 0.6]),
        lambda: info.entropy([]),
        lambda: info.entropy([0.5, np.nan]),
        lambda: info.kl([0.5, 0.5], [0.2, 0.3, 0.5]),
        lambda: info.mutual_information([0.5, 0.5]),
        lambda: info.mutual_information([[0.5, 0.6], [0.0, 0.0]]),
        lambda: info.conditional_mutual_information(np.full((2, 2), 0.25)),
        lambda: info.entropy([0.5, 0.5], base=1),
        lambda: info.total_correlation(np.full((2, 2), 0.3)),
    ],
)
def test_validation_errors(call):
    with pytest.raises(ValueError):
        call()


def test_validation_messages_are_clear():
    with pytest.raises(ValueError, match="negative"):
        info.entropy([1.1, -0.1])
    with pytest.raises(ValueError, match="sums to"):
        info.entropy([0.2, 0.2])
    with pytest.raises(ValueError, match="same shape"):
        info.kl([1.0, 0.0], [1.0, 0.0, 0.0])


# ------------------------------------------------------------------------------------------
# Gaussian measures
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.3, -0.7, 0.95])
def test_gaussian_tc_2d_closed_form(rho):
    cov = np.array([[2.0, rho * math.sqrt(2 * 0.5)], [rho * math.sqrt(2 * 0.5), 0.5]])
    expected = -0.5 * math.log(1 - rho ** 2)
    assert info.gaussian_total_correlation(cov) == pytest.approx(expected, abs=1e-14)
    assert info.gaussian_mutual_information(cov, [0], [1]) == pytest.approx(expected, abs=1e-14)


def test_gaussian_tc_ar1_and_independent():
    d, rho = 6, 0.6
    idx = np.arange(d)
    r = rho ** np.abs(idx[:, None] - idx[None, :])
    assert info.gaussian_total_correlation(r) == pytest.approx(-0.5 * (d - 1) * math.log(1 - rho ** 2), rel=1e-12)
    assert info.gaussian_total_correlation(np.diag([1.0, 4.0, 9.0])) == pytest.approx(0.0, abs=1e-15)
    # invariant to rescaling the coordinates
    s = np.diag([1.0, 10.0, 0.1, 2.0, 3.0, 5.0])
    assert info.gaussian_total_correlation(s @ r @ s) == pytest.approx(info.gaussian_total_correlation(r), rel=1e-12)


def test_gaussian_mi_signal_plus_noise_and_entropy():
    # y = x + noise with var(x) = s, var(noise) = 1: I = ½ log(1 + s)
    s = 3.0
    cov = np.array([[s, s], [s, s + 1.0]])
    assert info.gaussian_mutual_information(cov, 0, 1) == pytest.approx(0.5 * math.log(1 + s), abs=1e-14)
    assert info.gaussian_entropy([[2.0]]) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 2.0), abs=1e-14)
    with pytest.raises(ValueError):
        info.gaussian_total_correlation([[1.0, 2.0], [2.0, 1.0]])  # not positive definite
    with pytest.raises(ValueError):
        info.gaussian_mutual_information(np.eye(3), [0, 1], [1, 2])  # overlapping blocks


def test_tc_bias_formula_against_monte_carlo():
    # small d, n so the bias is large; the formula is exact for Gaussian data, any covariance
    rng = np.random.default_rng(5)
    d, n, reps = 4, 12, 3000
    bias = info.gaussian_tc_bias(n, d)
    for rho in (0.0, 0.7):
        idx = np.arange(d)
        r = rho ** np.abs(idx[:, None] - idx[None, :])
        chol = np.linalg.cholesky(r)
        x = rng.standard_normal((reps, n, d)) @ chol.T
        est = np.array([info.gaussian_tc_estimate(xi) for xi in x])
        err = est - info.gaussian_total_correlation(r)
        assert abs(err.mean() - bias) < 4 * err.std() / math.sqrt(reps)
    # the large-n approximation d(d-1)/(4n) of spec T9
    assert info.gaussian_tc_bias(100000, 10) == pytest.approx(info.gaussian_tc_bias(100000, 10, approx=True), rel=2e-3)
    with pytest.raises(ValueError):
        info.gaussian_tc_bias(5, 5)


def test_tc_estimate_converges_ar1():
    rng = np.random.default_rng(6)
    d, rho, n = 5, 0.6, 200000
    idx = np.arange(d)
    r = rho ** np.abs(idx[:, None] - idx[None, :])
    x = rng.standard_normal((n, d)) @ np.linalg.cholesky(r).T * np.array([1, 2, 3, 4, 5])
    exact = -0.5 * (d - 1) * math.log(1 - rho ** 2)
    assert info.gaussian_tc_estimate(x) == pytest.approx(exact, abs=0.01)
    assert info.gaussian_tc_estimate(x, debias=True) == pytest.approx(exact, abs=0.01)
    assert info.gaussian_tc_estimate(x, per_dimension=True) == pytest.approx(exact / d, abs=0.002)


def test_tc_estimate_shrinkage():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((40, 20))
    plain = info.gaussian_tc_estimate(x)
    lw = info.gaussian_tc_estimate(x, shrinkage="ledoit-wolf")
    assert 0 <= lw < plain  # shrinkage toward independence lowers the estimate
    assert info.gaussian_tc_estimate(x, shrinkage=1.0) == pytest.approx(0.0, abs=1e-12)
    assert info.gaussian_tc_estimate(x, shrinkage=0.0) == pytest.approx(plain, rel=1e-12)
    with pytest.raises(ValueError):
        info.gaussian_tc_estimate(x, shrinkage="oas")
    with pytest.raises(ValueError):
        info.gaussian_tc_estimate(x, shrinkage=0.5, debias=True)


def test_ledoit_wolf_intensity_matches_sklearn():
    sk = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((30, 8)) @ rng.standard_normal((8, 8))
    assert info.ledoit_wolf_shrinkage(x) == pytest.approx(sk.ledoit_wolf_shrinkage(x), rel=1e-10)
