"""Tests of emergent.disentangle against exact answers: hand values, closed forms, brute force, Monte Carlo."""
import itertools
import math

import numpy as np
import pytest

from emergent import disentangle as dis
from emergent import info

LN2 = math.log(2)


# ------------------------------------------------------------------------------------------
# factorized priors on discrete codes
# ------------------------------------------------------------------------------------------


def brute_force_rate(p_x, p_z_given_x, q_factors):
    """E_x KL(p(z|x) || prod q_j) by an explicit loop over x and every cell of z."""
    total = 0.0
    zshape = p_z_given_x.shape[1:]
    for i, px in enumerate(p_x):
        for cell in itertools.product(*[range(k) for k in zshape]):
            p = p_z_given_x[(i,) + cell]
            if p > 0:
                q = math.prod(q_factors[j][c] for j, c in enumerate(cell))
                total += px * p * math.log(p / q)
    return total


def test_copy_code_hand_values():
    # x a fair bit, z = (x, x): I(x;z) = ln 2, TC(z) = ln 2; a uniform prior is the optimal one
    p_x = np.array([0.5, 0.5])
    pzx = np.zeros((2, 2, 2))
    pzx[0, 0, 0] = pzx[1, 1, 1] = 1.0
    d = dis.factorized_kl_decomposition(p_x, pzx)
    assert d.mutual_information == pytest.approx(LN2, abs=1e-15)
    assert d.total_correlation == pytest.approx(LN2, abs=1e-15)
    assert d.rate == pytest.approx(2 * LN2, abs=1e-15)
    assert d.excess == pytest.approx(0.0, abs=1e-15)
    # a fixed prior Bern(0.25) per bit adds 2 KL(Bern(.5) || Bern(.25))
    q = [np.array([0.75, 0.25])] * 2
    d2 = dis.factorized_kl_decomposition(p_x, pzx, q)
    kl_bit = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert d2.rate == pytest.approx(2 * LN2 + 2 * kl_bit, abs=1e-14)
    assert d2.excess == pytest.approx(2 * kl_bit, abs=1e-14)


def test_independent_noise_code_has_zero_tc():
    # z_j = independent noisy copies of independent parts of x: TC = 0
    p_x = np.full(4, 0.25)  # x = (a, b), two fair bits
    pzx = np.zeros((4, 2, 2))
    for i, (a, b) in enumerate(itertools.product((0, 1), repeat=2)):
        pa = np.array([0.9, 0.1]) if a == 0 else np.array([0.1, 0.9])
        pb = np.array([0.8, 0.2]) if b == 0 else np.array([0.2, 0.8])
        pzx[i] = np.outer(pa, pb)
    d = dis.factorized_kl_decomposition(p_x, pzx)
    assert d.total_correlation == pytest.approx(0.0, abs=1e-14)
    h2 = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert d.mutual_information == pytest.approx(2 * LN2 - h2(0.1) - h2(0.2), abs=1e-13)


@pytest.mark.parametrize("zshape", [(2, 2), (2, 3, 2)])
def test_decomposition_identity_and_brute_force(zshape):
    rng = np.random.default_rng(3)
    for _ in range(5):
        p_x = rng.dirichlet(np.ones(5))
        pzx = dis.random_channel(5, zshape, rng)
        q = [rng.dirichlet(np.ones(k)) for k in zshape]
        d = dis.factorized_kl_decomposition(p_x, pzx, q)
        assert d.rate == pytest.approx(brute_force_rate(p_x, pzx, q), abs=1e-12)
        assert d.rate == pytest.approx(d.mutual_information + d.total_correlation + d.excess, abs=1e-12)
        assert d.excess > 0
        opt = dis.factorized_kl_decomposition(p_x, pzx)  # q = marginals
        assert opt.rate == pytest.approx(opt.mutual_information + opt.total_correlation, abs=1e-12)
        assert opt.rate < d.rate


def test_numerical_minimum_is_at_the_marginals():
    """§2.5: min over factorized q of E_x KL(p(z|x) || prod_j q_j) = I(x;z) + TC(z), at q_j = p(z_j).

    Asserted on the value and the argmin, not on the optimizer's status flag (BFGS may stop with
    "precision loss" at a tight gtol once it is at the minimum). Tolerances: near its minimum the
    objective is E_j KL(p_j || q_j) above I + TC, quadratic in q - p_j, so a value within 1e-10 puts
    q within ~1e-5 of the marginals; and no other factorized prior does better (brute force).
    """
    rng = np.random.default_rng(7)
    p_x = rng.dirichlet(np.ones(6))
    pzx = dis.random_channel(6, (2, 2), rng)
    q, val, _ = dis.minimize_factorized_prior(p_x, pzx, seed=1)
    d = dis.factorized_kl_decomposition(p_x, pzx)
    assert val == pytest.approx(d.mutual_information + d.total_correlation, abs=1e-10)
    p_z = (p_x[:, None, None] * pzx).sum(0)
    np.testing.assert_allclose(q[0], p_z.sum(1), atol=1e-5)
    np.testing.assert_allclose(q[1], p_z.sum(0), atol=1e-5)
    for _ in range(200):  # random factorized priors never go below the minimum
        other = [rng.dirichlet(np.ones(2)), rng.dirichlet(np.ones(2))]
        assert dis.factorized_kl_decomposition(p_x, pzx, other).rate >= val - 1e-12


def test_zero_prior_mass_gives_infinite_rate():
    p_x = np.array([1.0])
    pzx = np.full((1, 2, 2), 0.25)
    d = dis.factorized_kl_decomposition(p_x, pzx, [np.array([1.0, 0.0]), np.array([0.5, 0.5])])
    assert d.rate == math.inf


def test_bad_inputs():
    with pytest.raises(ValueError):
        dis.factorized_kl_decomposition([0.5, 0.5], np.full((3, 2, 2), 0.25))
    with pytest.raises(ValueError):
        dis.factorized_kl_decomposition([1.0], np.full((1, 2, 2), 0.25), [np.array([0.5, 0.5])])
    with pytest.raises(ValueError):
        dis.factorized_kl_decomposition([1.0], np.full((1, 2, 2), 0.25), [np.ones(3) / 3, np.ones(2) / 2])


# ------------------------------------------------------------------------------------------
# linear-Gaussian codes
# ------------------------------------------------------------------------------------------

A = np.array([[1.5, 0.4], [0.7, 1.0]])
COV_X = np.diag([2.0, 0.5])


def test_rotation_is_orthogonal():
    for th in np.linspace(0, 2 * np.pi, 13):
        R = dis.rotation(th)
        np.testing.assert_allclose(R @ R.T, np.eye(2), atol=1e-15)
        assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(dis.rotation(np.pi / 2) @ [1, 0], [0, 1], atol=1e-15)


def test_decorrelating_angle_diagonalizes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        B = rng.normal(size=(2, 2))
        C = B @ B.T + 0.1 * np.eye(2)
        th = dis.decorrelating_angle(C)
        assert 0 <= th < np.pi / 2
        for k in range(4):
            R = dis.rotation(th + k * np.pi / 2)
            assert (R @ C @ R.T)[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert dis.decorrelating_angle(np.eye(2)) == 0.0
    assert dis.decorrelating_angle(np.diag([3.0, 1.0])) == pytest.approx(0.0, abs=1e-15)


def test_mi_constant_and_tc_zero_at_the_eigenbasis():
    s2 = 0.3
    mis, tcs = [], []
    for th in np.linspace(0, np.pi, 37):
        J = dis.linear_gaussian_code(dis.rotation(th) @ A, COV_X, s2)
        mis.append(info.gaussian_mutual_information(J, [0, 1], [2, 3]))
        tcs.append(info.gaussian_total_correlation(J[2:, 2:]))
    # closed form: I = ½ log det(I + A Σx Aᵀ / σ²), independent of θ
    closed = 0.5 * np.linalg.slogdet(np.eye(2) + A @ COV_X @ A.T / s2)[1]
    np.testing.assert_allclose(mis, closed, atol=1e-12)
    assert min(tcs) >= 0 and max(tcs) > 0.05
    th = dis.decorrelating_angle(A @ COV_X @ A.T + s2 * np.eye(2))
    J = dis.linear_gaussian_code(dis.rotation(th) @ A, COV_X, s2)
    assert info.gaussian_total_correlation(J[2:, 2:]) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_rate_decomposition_and_monte_carlo():
    s2 = 0.3
    for th in (0.0, 0.4, 1.1):
        M = dis.rotation(th) @ A
        J = dis.linear_gaussian_code(M, COV_X, s2)
        mi = info.gaussian_mutual_information(J, [0, 1], [2, 3])
        cz = J[2:, 2:]
        tc = info.gaussian_total_correlation(cz)
        # optimal factorized prior: rate = I + TC (thesis §2.5, Gaussian case)
        assert dis.gaussian_rate(M, COV_X, s2) == pytest.approx(mi + tc, abs=1e-12)
        # fixed N(0, I): + sum_j KL(N(0, Var z_j) || N(0, 1))
        klj = sum(0.5 * (v - 1 - math.log(v)) for v in np.diag(cz))
        assert dis.gaussian_rate(M, COV_X, s2, prior_var=1.0) == pytest.approx(mi + tc + klj, abs=1e-12)
    # a fixed isotropic prior with isotropic encoder noise: the rate does not depend on the rotation
    rates = [dis.gaussian_rate(dis.rotation(t) @ A, COV_X, s2, prior_var=1.0) for t in np.linspace(0, 3, 7)]
    np.testing.assert_allclose(rates, rates[0], atol=1e-12)
    # Monte Carlo of E_x KL(N(Mx, s2 I) || N(0, diag v)) from samples of x and z
    rng = np.random.default_rng(0)
    M = dis.rotation(0.7) @ A
    v = np.array([2.0, 0.5])
    x = rng.multivariate_normal(np.zeros(2), COV_X, size=400_000)
    z = x @ M.T + math.sqrt(s2) * rng.standard_normal(x.shape)
    mean = x @ M.T
    log_post = -0.5 * np.sum((z - mean) ** 2 / s2 + np.log(2 * np.pi * s2), axis=1)
    log_prior = -0.5 * np.sum(z ** 2 / v + np.log(2 * np.pi * v), axis=1)
    diff = log_post - log_prior
    se = diff.std() / math.sqrt(len(diff))
    assert abs(diff.mean() - dis.gaussian_rate(M, COV_X, s2, prior_var=v)) < 4 * se


def test_linear_gaussian_code_checks():
    with pytest.raises(ValueError):
        dis.linear_gaussian_code(A, np.eye(3), 0.1)
    with pytest.raises(ValueError):
        dis.linear_gaussian_code(A, COV_X, 0.0)
    J = dis.linear_gaussian_code(A, COV_X, [0.1, 0.2])
    np.testing.assert_allclose(J[2:, 2:], A @ COV_X @ A.T + np.diag([0.1, 0.2]))


# ------------------------------------------------------------------------------------------
# the Gaussian TC estimator
# ------------------------------------------------------------------------------------------


def test_ar1_exact_tc_matches_determinant():
    for d, rho in [(2, 0.5), (5, -0.3), (40, 0.8)]:
        R = dis.ar1_correlation(d, rho)
        assert np.linalg.det(R) == pytest.approx((1 - rho ** 2) ** (d - 1), rel=1e-9)
        assert dis.ar1_total_correlation(d, rho) == pytest.approx(info.gaussian_total_correlation(R), rel=1e-10)
    assert dis.ar1_total_correlation(2, 0.6) == pytest.approx(-0.5 * math.log(0.64))
    assert dis.ar1_total_correlation(10, 0.0) == 0.0


def test_sample_ar1_covariance():
    x = dis.sample_ar1(200_000, 6, 0.7, rng=0)
    np.testing.assert_allclose(np.cov(x.T), dis.ar1_correlation(6, 0.7), atol=0.015)


def test_plain_estimator_bias_and_its_fixes():
    # Monte Carlo: the plain estimator's mean is exact + gaussian_tc_bias (within 4 standard errors)
    res = dis.tc_estimator_study(n=60, d=8, rho=0.5, reps=300, seed=0)
    exact, bias = res["exact"], res["bias"]
    assert bias == pytest.approx(info.gaussian_tc_bias(60, 8))
    for name, target in [("plain", exact + bias), ("debiased", exact), ("permutation", exact)]:
        v = res[name]
        assert abs(v.mean() - target) < 4 * v.std() / math.sqrt(len(v)) + 0.01, name
    assert res["ledoit-wolf"].mean() < res["plain"].mean()  # shrinkage pulls toward 0


def test_permutation_null_matches_bias_on_independent_data():
    rng = np.random.default_rng(1)
    vals = [dis.tc_permutation_null(rng.standard_normal((80, 10)), rng) for _ in range(200)]
    se = np.std(vals) / math.sqrt(len(vals))
    assert abs(np.mean(vals) - info.gaussian_tc_bias(80, 10)) < 4 * se + 0.01


def test_study_undefined_when_too_few_samples():
    res = dis.tc_estimator_study(n=10, d=16, rho=0.3, reps=2)
    assert np.all(np.isnan(res["plain"])) and np.all(np.isnan(res["debiased"]))
    assert np.all(np.isfinite(res["ledoit-wolf"]))
    with pytest.raises(ValueError):
        dis.tc_estimator_study(20, 4, 0.1, variants=("nope",))
