"""Tests of emergent.pacbayes: the mathematics of the bounds and of the closed-form information.

Each test checks a mathematical fact (a hand computation, a known identity, an exact probability,
a Monte Carlo average with its standard error), not the implementation against itself.
"""
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln, xlogy

from emergent.pacbayes import (
    bayes_linear_information,
    bayes_linear_posterior,
    fisher_matrix,
    gaussian_kl,
    kl_bernoulli,
    kl_inverse,
    kl_inverse_bound,
    linear_gibbs_error,
    logistic_fisher,
    logistic_laplace_bounds,
    logistic_map,
    lookup_table_structure,
    mcallester_bound,
    optimal_gaussian_posterior,
    quadratic_coding_cost,
    sample_error_bound,
    union_bound_grid,
    vc_bound,
)


# ----------------------------------------------------------------------------------------------
# McAllester, Theorem 4.4.1 eq. (4.5)
# ----------------------------------------------------------------------------------------------
def test_mcallester_hand_computed_case():
    # L = 0.1, KL = 50 nats, N = 1000, beta = 2, delta = 0.05:
    # B = [0.1 + (2/1000)(50 + ln 20)] / (1 - 1/4) = (0.1 + 0.002 * 52.995732273553991) / 0.75
    expected = (0.1 + 0.002 * 52.995732273553991) / 0.75
    assert expected == pytest.approx(0.274655286, abs=1e-9)
    assert mcallester_bound(0.1, 50.0, 1000, 2.0, 0.05) == pytest.approx(expected, rel=1e-14)
    # the summed form (4.5): [E L_D + beta KL + beta log 1/delta] / (N (1 - 1/(2 beta))), E L_D = N * 0.1
    summed = (100.0 + 2.0 * 50.0 + 2.0 * math.log(20.0)) / (1000 * 0.75)
    assert mcallester_bound(0.1, 50.0, 1000, 2.0, 0.05) == pytest.approx(summed, rel=1e-14)


def test_mcallester_is_vectorised():
    betas = np.array([0.75, 1.0, 3.0, 10.0])
    vec = mcallester_bound(0.05, 20.0, 500, betas, 0.1)
    assert isinstance(vec, np.ndarray) and vec.shape == (4,)
    for b, v in zip(betas, vec):
        assert v == pytest.approx(mcallester_bound(0.05, 20.0, 500, float(b), 0.1), rel=1e-15)
    assert isinstance(mcallester_bound(0.05, 20.0, 500, 1.0, 0.1), float)


def test_mcallester_optimal_beta_closed_form():
    # B(beta) = (L + a beta) / (1 - 1/(2 beta)) with a = (KL + log 1/delta)/N. dB/dbeta = 0 gives
    # a beta^2 - a beta - L/2 = 0, i.e. beta* = (1 + sqrt(1 + 2 L / a)) / 2; at L = 0, beta* = 1, B* = 2a.
    n, kl, delta = 2000, 30.0, 0.05
    a = (kl + math.log(1 / delta)) / n
    betas = np.linspace(0.6, 5.0, 200001)
    for emp in (0.0, 0.03, 0.2):
        b = mcallester_bound(emp, kl, n, betas, delta)
        beta_star = 0.5 * (1 + math.sqrt(1 + 2 * emp / a))
        assert betas[np.argmin(b)] == pytest.approx(beta_star, abs=1e-3)
        b_star = (emp + a * beta_star) / (1 - 1 / (2 * beta_star))
        assert b.min() == pytest.approx(b_star, rel=1e-9)
    assert mcallester_bound(0.0, kl, n, 1.0, delta) == pytest.approx(2 * a, rel=1e-14)


def test_mcallester_large_beta_asymptote():
    # (L + a beta)(1 + 1/(2 beta) + ...) = L + a beta + a/2 + O(1/beta)
    emp, kl, n, delta = 0.1, 10.0, 1000, 0.05
    a = (kl + math.log(1 / delta)) / n
    for beta in (1e4, 1e6):
        gap = mcallester_bound(emp, kl, n, beta, delta) - (emp + a * beta + a / 2)
        assert 0 < gap < (emp + a) / beta


@pytest.mark.parametrize(
    "args",
    [
        dict(emp_loss=0.1, kl=1.0, n=100, beta=0.5, delta=0.05),  # beta <= 1/2
        dict(emp_loss=0.1, kl=1.0, n=100, beta=0.2, delta=0.05),
        dict(emp_loss=-0.01, kl=1.0, n=100, beta=1.0, delta=0.05),  # loss outside [0, 1]
        dict(emp_loss=1.5, kl=1.0, n=100, beta=1.0, delta=0.05),
        dict(emp_loss=0.1, kl=-1.0, n=100, beta=1.0, delta=0.05),  # negative KL
        dict(emp_loss=0.1, kl=1.0, n=0, beta=1.0, delta=0.05),  # n < 1
        dict(emp_loss=0.1, kl=1.0, n=100, beta=1.0, delta=0.0),  # delta outside (0, 1)
        dict(emp_loss=0.1, kl=1.0, n=100, beta=1.0, delta=1.0),
        dict(emp_loss=0.1, kl=1.0, n=100, beta=[1.0, 0.4], delta=0.05),  # one bad entry
    ],
)
def test_mcallester_rejects_bad_inputs(args):
    with pytest.raises(ValueError):
        mcallester_bound(**args)


def test_bounds_hold_with_probability_at_least_1_minus_delta_exactly():
    # Q = P = a point mass on one fixed classifier with true error p: KL = 0 and N * emp ~ Binomial(N, p).
    # The failure probability P[bound(emp) < p] is computed exactly by summing the binomial pmf.
    delta = 0.05
    for n in (20, 100, 400):
        k = np.arange(n + 1)
        emp = k / n
        b_kl = kl_inverse_bound(emp, 0.0, n, delta)
        b_mc = {beta: mcallester_bound(emp, 0.0, n, beta, delta) for beta in (1.0, 3.0)}
        for p in (0.02, 0.1, 0.3, 0.5):
            pmf = stats.binom.pmf(k, n, p)
            assert pmf[b_kl < p].sum() <= delta
            for b in b_mc.values():
                assert pmf[b < p].sum() <= delta


# ----------------------------------------------------------------------------------------------
# kl and its inverse; the kl (Seeger / Maurer) bound
# ----------------------------------------------------------------------------------------------
def test_kl_bernoulli_values():
    assert kl_bernoulli(0.5, 0.25) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-14)
    assert kl_bernoulli(0.0, 0.3) == pytest.approx(-math.log(0.7), rel=1e-14)
    assert kl_bernoulli(1.0, 0.3) == pytest.approx(-math.log(0.3), rel=1e-14)
    assert kl_bernoulli(0.3, 0.3) == 0.0
    assert kl_bernoulli(0.3, 0.0) == math.inf and kl_bernoulli(0.3, 1.0) == math.inf
    assert kl_bernoulli(0.0, 0.0) == 0.0 and kl_bernoulli(1.0, 1.0) == 0.0
    # second-order behaviour near p = q: (p - q)^2 / (2 q (1 - q)), kept without cancellation
    eps = 1e-7
    assert kl_bernoulli(0.3, 0.3 + eps) == pytest.approx(eps**2 / (2 * 0.21), rel=1e-6)
    # Pinsker: kl(q||p) >= 2 (p - q)^2
    q, p = np.meshgrid(np.linspace(0, 1, 41), np.linspace(0.005, 0.995, 41))
    assert np.all(kl_bernoulli(q, p) >= 2 * (p - q) ** 2 - 1e-15)
    with pytest.raises(ValueError):
        kl_bernoulli(1.2, 0.5)


def test_kl_inverse_solves_the_equation():
    q = np.array([0.0, 0.01, 0.1, 0.3, 0.6])[:, None]
    c = np.array([1e-4, 1e-2, 0.1, 0.5])[None, :]
    p = kl_inverse(q, c)
    assert p.shape == (5, 4)
    assert np.all((p >= q) & (p <= 1))
    inner = p < 1 - 1e-6
    assert inner.all()  # these (q, c) have their inverse well inside (q, 1)
    np.testing.assert_allclose(kl_bernoulli(q, p), np.broadcast_to(c, p.shape), rtol=1e-9)
    # the closed case q = 0: kl(0||p) = -log(1 - p) = c  =>  p = 1 - exp(-c)
    np.testing.assert_allclose(p[0], -np.expm1(-c[0]), rtol=0, atol=1e-13)  # bisection to 1e-14


def test_kl_inverse_edge_cases():
    for q in (0.0, 0.2, 0.7):
        assert kl_inverse(q, 0.0) == pytest.approx(q, abs=1e-12)
    assert kl_inverse(1.0, 0.3) == 1.0
    assert kl_inverse(0.2, math.inf) == 1.0
    assert kl_inverse(0.2, 1e6) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError):
        kl_inverse(0.2, -0.1)


def test_kl_inverse_monotone_and_pinsker():
    c = np.geomspace(1e-6, 20, 200)
    for q in (0.0, 0.05, 0.4):
        p = kl_inverse(q, c)
        assert np.all(np.diff(p) >= 0) and np.all(p <= 1)
        # Pinsker kl >= 2 (p - q)^2 gives p <= q + sqrt(c/2); kl >= (p - q)^2 / (2p) for p >= q
        # gives p <= q + c + sqrt(c^2 + 2 q c)
        assert np.all(p <= q + np.sqrt(c / 2) + 1e-12)
        assert np.all(p <= q + c + np.sqrt(c**2 + 2 * q * c) + 1e-12)


def test_kl_inverse_bound_right_hand_side():
    emp, kl, n, delta = 0.04, 35.0, 5000, 0.05
    rhs = (kl + math.log(2 * math.sqrt(n) / delta)) / n
    b = kl_inverse_bound(emp, kl, n, delta)
    assert emp < b < 1
    assert kl_bernoulli(emp, b) == pytest.approx(rhs, rel=1e-9)
    # monotone in KL, never above 1 even when the KL is huge, and the same input checks as (4.5)
    kls = np.array([0.0, 1.0, 10.0, 100.0, 1e3, 1e5])
    bs = kl_inverse_bound(emp, kls, n, delta)
    assert np.all(np.diff(bs) > 0) and np.all(bs < 1)
    # near p = 1, kl(q || p) = -H(q) - (1 - q) log(1 - p) + O(1 - p), so 1 - p = exp(-(rhs + H(q)) / (1 - q))
    rhs_big = (1e5 + math.log(2 * math.sqrt(n) / delta)) / n
    entropy = -(emp * math.log(emp) + (1 - emp) * math.log(1 - emp))
    assert 1 - bs[-1] == pytest.approx(math.exp(-(rhs_big + entropy) / (1 - emp)), rel=1e-4)  # ~7.5e-10
    assert kl_inverse_bound(emp, 1e7, n, delta) == pytest.approx(1.0, abs=1e-12)
    for bad in (dict(emp_loss=-0.1), dict(kl=-1.0), dict(n=0), dict(delta=1.0)):
        args = dict(emp_loss=emp, kl=kl, n=n, delta=delta) | bad
        with pytest.raises(ValueError):
            kl_inverse_bound(**args)


def test_maurer_constant_holds_for_the_binary_loss():
    # xi(N) = E exp(N kl(L_hat || p)) for N * L_hat ~ Binomial(N, p) equals
    # sum_k C(N, k) (k/N)^k (1 - k/N)^(N-k) for every p; Maurer: sqrt(N) <= xi(N) <= 2 sqrt(N).
    for n in range(1, 401):
        k = np.arange(n + 1)
        q = k / n
        log_terms = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, q) + xlogy(n - k, 1 - q)
        xi = np.exp(log_terms).sum()
        assert math.sqrt(n) - 1e-9 <= xi <= 2 * math.sqrt(n) + 1e-9


def test_neither_bound_dominates():
    # checked numerically: the kl bound pays log(2 sqrt N) but has the right shape; (4.5) optimised
    # over beta (without paying for the choice) can still be lower at very small KL/N.
    betas = np.geomspace(0.51, 1e4, 4000)

    def best_mc(emp, kl, n):
        return mcallester_bound(emp, kl, n, betas, 0.05).min()

    assert kl_inverse_bound(0.05, 50.0, 1000, 0.05) < best_mc(0.05, 50.0, 1000)
    assert kl_inverse_bound(0.1, 500.0, 1000, 0.05) < 1 < best_mc(0.1, 500.0, 1000)
    assert best_mc(0.02, 5.0, 100_000) < kl_inverse_bound(0.02, 5.0, 100_000, 0.05)


# ----------------------------------------------------------------------------------------------
# union bound over a grid
# ----------------------------------------------------------------------------------------------
def test_union_bound_kl_inverse_equals_single_bound_at_delta_over_k():
    emps = np.array([0.02, 0.05, 0.08, 0.15])
    kls = np.array([400.0, 80.0, 30.0, 5.0])
    n, delta = 2000, 0.05
    res = union_bound_grid(emps, kls, n, delta)
    singles = [kl_inverse_bound(e, k, n, delta / 4) for e, k in zip(emps, kls)]
    assert res.n_candidates == 4 and res.beta is None
    assert res.index == int(np.argmin(singles))
    assert res.value == pytest.approx(min(singles), rel=1e-13)
    # paying for the grid costs something: the best candidate at the full delta is lower
    assert kl_inverse_bound(emps[res.index], kls[res.index], n, delta) < res.value
    # a grid of one is the plain bound
    one = union_bound_grid([0.05], [80.0], n, delta)
    assert one.value == pytest.approx(kl_inverse_bound(0.05, 80.0, n, delta), rel=1e-13)


def test_union_bound_mcallester_over_candidates_and_betas():
    emps = np.array([0.02, 0.05, 0.1])
    kls = np.array([300.0, 60.0, 10.0])
    betas = np.array([0.75, 1.0, 1.5, 2.0, 4.0])
    n, delta = 1000, 0.1
    res = union_bound_grid(emps, kls, n, delta, bound="mcallester", betas=betas)
    m = 3 * 5
    assert res.n_candidates == m
    table = np.array([[mcallester_bound(e, k, n, b, delta / m) for b in betas] for e, k in zip(emps, kls)])
    i, j = np.unravel_index(np.argmin(table), table.shape)
    assert (res.index, res.beta) == (i, betas[j])
    assert res.value == pytest.approx(table.min(), rel=1e-13)
    # the price of the grid at the chosen (candidate, beta) is exactly (beta/N) log(m) / (1 - 1/(2 beta))
    b = res.beta
    price = res.value - mcallester_bound(emps[i], kls[i], n, b, delta)
    assert price == pytest.approx(b / n * math.log(m) / (1 - 1 / (2 * b)), rel=1e-10)
    single = union_bound_grid([0.05], [60.0], n, delta, bound="mcallester", betas=[2.0])
    assert single.value == pytest.approx(mcallester_bound(0.05, 60.0, n, 2.0, delta), rel=1e-14)


def test_union_bound_rejects_bad_calls():
    with pytest.raises(ValueError):
        union_bound_grid([0.1], [1.0], 100, 0.05, bound="mcallester")  # betas required
    with pytest.raises(ValueError):
        union_bound_grid([0.1], [1.0], 100, 0.05, betas=[1.0])  # betas only for mcallester
    with pytest.raises(ValueError):
        union_bound_grid([0.1, 0.2], [1.0], 100, 0.05)  # lengths differ
    with pytest.raises(ValueError):
        union_bound_grid([0.1], [1.0], 100, 0.05, bound="catoni")


# ----------------------------------------------------------------------------------------------
# VC contrast
# ----------------------------------------------------------------------------------------------
def test_vc_bound_hand_computed_and_vacuous_for_networks():
    # 10 parameters: d = 10 ln 10; N = 10000, delta = 0.05 (Vapnik's form, 2N > d)
    d = 10 * math.log(10)
    expected = math.sqrt((d * (math.log(2 * 10000 / d) + 1) + math.log(4 / 0.05)) / 10000)
    assert vc_bound(10, 10000, 0.05) == pytest.approx(expected, rel=1e-14)
    assert vc_bound(10, 10000, 0.05, train_error=0.1) == pytest.approx(0.1 + expected, rel=1e-14)
    assert vc_bound(10, 10000, 0.05, vc_dim=d) == pytest.approx(expected, rel=1e-14)
    # spec §2: |theta| ~ 1e5, m = 4000: 2N < d, growth function 2^(2N): sqrt(2 ln 2 + ...) > 1
    v = vc_bound(100_000, 4000, 0.05)
    assert v == pytest.approx(math.sqrt((8000 * math.log(2) + math.log(80)) / 4000), rel=1e-14)
    assert v > 1
    ns = [1000, 10_000, 100_000, 1_000_000]
    vals = [vc_bound(50, n, 0.05) for n in ns]
    assert all(a > b for a, b in zip(vals, vals[1:]))
    with pytest.raises(ValueError):
        vc_bound(10, 100, 1.5)


# ----------------------------------------------------------------------------------------------
# Gaussians and Bayesian linear regression (E1)
# ----------------------------------------------------------------------------------------------
def test_gaussian_kl_one_dimensional_closed_form():
    m1, s1, m2, s2 = 0.3, 0.7, -1.1, 2.5
    expected = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert gaussian_kl([m1], [[s1**2]], [m2], [[s2**2]]) == pytest.approx(expected, rel=1e-13)
    assert gaussian_kl(m1, s1**2, m2, s2**2) == pytest.approx(expected, rel=1e-13)


def _random_spd(rng, k, scale=1.0):
    A = rng.normal(size=(k, k))
    return scale * (A @ A.T / k + 0.3 * np.eye(k))


def test_gaussian_kl_against_monte_carlo():
    rng = np.random.default_rng(0)
    k = 3
    mu_q, mu_p = rng.normal(size=k), rng.normal(size=k)
    Sq, Sp = _random_spd(rng, k), _random_spd(rng, k, 2.0)
    w = rng.multivariate_normal(mu_q, Sq, size=20000)
    ratio = stats.multivariate_normal(mu_q, Sq).logpdf(w) - stats.multivariate_normal(mu_p, Sp).logpdf(w)
    se = ratio.std(ddof=1) / math.sqrt(ratio.size)
    assert abs(gaussian_kl(mu_q, Sq, mu_p, Sp) - ratio.mean()) < 4 * se
    assert gaussian_kl(mu_q, Sq, mu_q, Sq) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_kl(mu_q, Sq, mu_p, Sp) > 0
    # a batch of means is the same as one call per mean
    mus = rng.normal(size=(4, k))
    batch = gaussian_kl(mus, Sq, mu_p, Sp)
    assert batch.shape == (4,)
    np.testing.assert_allclose(batch, [gaussian_kl(m, Sq, mu_p, Sp) for m in mus], rtol=1e-13)
    with pytest.raises(ValueError):
        gaussian_kl(mu_q, -np.eye(k), mu_p, Sp)
    with pytest.raises(ValueError):
        gaussian_kl(mu_q, np.eye(2), mu_p, Sp)


def _design(rng, n, d, corr=0.5):
    C = corr * np.ones((d, d)) + (1 - corr) * np.eye(d)
    return rng.normal(size=(n, d)) @ np.linalg.cholesky(C).T


def test_bayes_linear_information_is_expected_kl_posterior_prior():
    # Prop 4.2.1 with the exact posterior: E_y KL(p(w|D) || p(w)) = I(w; D), and for any other
    # prior P: E_y KL(p(w|D) || P) = I(w; D) + KL(p(w) || P).
    rng = np.random.default_rng(1)
    n, d, sigma, sigma0, m = 12, 3, 0.8, 1.5, 2000
    X = _design(rng, n, d)
    w = sigma0 * rng.normal(size=(m, d))
    Y = X @ w.T + sigma * rng.normal(size=(n, m))
    mu, Sigma = bayes_linear_posterior(X, Y, sigma, sigma0)
    assert mu.shape == (m, d)
    kl = gaussian_kl(mu, Sigma, np.zeros(d), sigma0**2 * np.eye(d))
    info = bayes_linear_information(X, sigma, sigma0)
    se = kl.std(ddof=1) / math.sqrt(m)
    assert abs(kl.mean() - info) < 4 * se
    other = 0.7**2 * np.eye(d)
    kl_other = gaussian_kl(mu, Sigma, np.zeros(d), other)
    excess = gaussian_kl(np.zeros(d), sigma0**2 * np.eye(d), np.zeros(d), other)
    se_other = kl_other.std(ddof=1) / math.sqrt(m)
    assert abs(kl_other.mean() - (info + excess)) < 4 * se_other


def test_bayes_linear_information_is_output_entropy_difference():
    # I(w; y) = h(y) - h(y|w), y ~ N(0, sigma0^2 X X^T + sigma^2 I), y|w ~ N(Xw, sigma^2 I);
    # both n > d and n < d (Sylvester's identity picks the smaller matrix)
    rng = np.random.default_rng(2)
    sigma, sigma0 = 0.5, 2.0
    for n, d in [(20, 4), (3, 7)]:
        X = _design(rng, n, d)
        _, logdet_y = np.linalg.slogdet(sigma0**2 * X @ X.T + sigma**2 * np.eye(n))
        expected = 0.5 * logdet_y - n * math.log(sigma)
        assert bayes_linear_information(X, sigma, sigma0) == pytest.approx(expected, rel=1e-12)
    assert bayes_linear_information(np.zeros((5, 2)), sigma, sigma0) == 0.0


def test_posterior_covariance_is_inverse_hessian_of_negative_log_posterior():
    rng = np.random.default_rng(3)
    n, d, sigma, sigma0 = 15, 4, 0.6, 1.3
    X = _design(rng, n, d, corr=0.7)
    y = X @ rng.normal(size=d) + sigma * rng.normal(size=n)

    def neg_log_post(w):
        return np.sum((y - X @ w) ** 2) / (2 * sigma**2) + np.sum(w**2) / (2 * sigma0**2)

    mu, Sigma = bayes_linear_posterior(X, y, sigma, sigma0)
    h = 1e-3
    E = np.eye(d) * h
    H = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            H[i, j] = (
                neg_log_post(mu + E[i] + E[j])
                - neg_log_post(mu + E[i] - E[j])
                - neg_log_post(mu - E[i] + E[j])
                + neg_log_post(mu - E[i] - E[j])
            ) / (4 * h * h)
    grad = np.array([(neg_log_post(mu + E[i]) - neg_log_post(mu - E[i])) / (2 * h) for i in range(d)])
    np.testing.assert_allclose(grad, 0.0, atol=1e-7)  # mu_N is the MAP
    np.testing.assert_allclose(Sigma @ H, np.eye(d), atol=1e-6)
    # spec §6 erratum 3: the printed constant I/(2 sigma0^2) is not the curvature of the posterior
    printed = X.T @ X / sigma**2 + np.eye(d) / (2 * sigma0**2)
    assert not np.allclose(printed, H, atol=1e-3)
    # one dataset or a batch of datasets give the same posterior
    mu2, _ = bayes_linear_posterior(X, np.stack([y, 2 * y], axis=1), sigma, sigma0)
    np.testing.assert_allclose(mu2, [mu, 2 * mu], rtol=1e-12)


def test_kl_minus_half_logdet_fisher_tends_to_c_sigma0():
    # Prop 4.2.2 (corrected): with Sigma_N = (F + I/sigma0^2)^-1, F = X^T X / sigma^2,
    # KL(q || p) - 1/2 log|F| - c(sigma0) -> 0 with c(sigma0) = d log sigma0 - d/2, which diverges.
    rng = np.random.default_rng(4)
    n, d, sigma = 30, 3, 0.5
    X = _design(rng, n, d)
    y = X @ rng.normal(size=d) + sigma * rng.normal(size=n)
    _, logdet_f = np.linalg.slogdet(X.T @ X / sigma**2)
    gaps = []
    for sigma0 in (1e1, 1e2, 1e3, 1e4):
        mu, Sigma = bayes_linear_posterior(X, y, sigma, sigma0)
        kl = gaussian_kl(mu, Sigma, np.zeros(d), sigma0**2 * np.eye(d))
        gaps.append(abs(kl - 0.5 * logdet_f - (d * math.log(sigma0) - d / 2)))
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-6


# ----------------------------------------------------------------------------------------------
# Random labels: lookup table (E4)
# ----------------------------------------------------------------------------------------------
def test_lookup_table_lagrangian_flips_exactly_at_beta_star():
    n, labels = 1000, 10
    log_y = math.log(labels)
    for c in (None, 25.0, 45.0, 1.0):
        cost = log_y if c is None else c
        beta_star = log_y / cost
        r = lookup_table_structure(n, labels, beta_star, c)
        assert r["beta_star"] == pytest.approx(beta_star, rel=1e-15)
        below = lookup_table_structure(n, labels, np.nextafter(beta_star, 0), c)
        above = lookup_table_structure(n, labels, np.nextafter(beta_star, 2 * beta_star), c)
        assert below["k_star"] == n and above["k_star"] == 0
        # brute force over every k of the Lagrangian (N - k) log|Y| + beta k c
        k = np.arange(n + 1)
        for beta in (0.2 * beta_star, 0.999 * beta_star, beta_star, 1.001 * beta_star, 5 * beta_star):
            lag = (n - k) * log_y + beta * k * cost
            r = lookup_table_structure(n, labels, beta, c)
            assert r["lagrangian"] == pytest.approx(lag.min(), rel=1e-12)
            assert lag[r["k_star"]] == pytest.approx(lag.min(), rel=1e-12)
    # default cost: beta* = 1 whatever N (thesis §4.6); pilot costs 25-45 nats give beta* ~ 0.05-0.09
    for n in (10, 1000, 50_000):
        assert lookup_table_structure(n, 10, 0.5)["beta_star"] == pytest.approx(1.0, rel=1e-15)
    assert lookup_table_structure(10, 10, 0.5, c=45.0)["beta_star"] == pytest.approx(0.0512, abs=1e-4)


def test_lookup_table_points_lie_on_the_structure_function():
    # S(t) = N log|Y| - t for c = log|Y|: loss + IIW = N log|Y| at both solutions
    n, labels = 500, 10
    for beta in (0.3, 3.0):
        r = lookup_table_structure(n, labels, beta)
        assert r["loss"] + r["iiw"] == pytest.approx(n * math.log(labels), rel=1e-14)
    r = lookup_table_structure(n, labels, 0.3)
    assert (r["loss"], r["iiw"]) == (0.0, pytest.approx(n * math.log(labels)))
    r = lookup_table_structure(n, labels, 3.0)
    assert (r["loss"], r["iiw"]) == (pytest.approx(n * math.log(labels)), 0.0)
    for bad in (dict(n=0), dict(n_labels=1), dict(beta=-1.0), dict(c=0.0)):
        with pytest.raises(ValueError):
            lookup_table_structure(**(dict(n=10, n_labels=10, beta=1.0) | bad))



# ----------------------------------------------------------------------------------------------
# Prop 4.2.2 (corrected) and Fisher = Hessian (E1, E2)
# ----------------------------------------------------------------------------------------------
def test_quadratic_coding_cost_is_exact_for_a_quadratic_loss_and_bits_back():
    # Bayesian linear regression: L_D(w) = ||y - Xw||^2 / (2 sigma^2) + n/2 log(2 pi sigma^2) is
    # quadratic, so E_q L_D = L_D(m) + 1/2 tr(Sigma H) exactly (checked by Monte Carlo), and at the
    # exact posterior the coding cost is the code length of the labels: -log p(y) (bits-back).
    rng = np.random.default_rng(5)
    n, d, sigma, sigma0 = 25, 3, 0.7, 1.4
    X = _design(rng, n, d)
    y = X @ (sigma0 * rng.normal(size=d)) + sigma * rng.normal(size=n)

    def loss(w):  # summed negative log-likelihood, nats; w (..., d)
        r = y - np.asarray(w) @ X.T
        return np.sum(r**2, axis=-1) / (2 * sigma**2) + n / 2 * math.log(2 * math.pi * sigma**2)

    H = X.T @ X / sigma**2
    mu, Sigma = bayes_linear_posterior(X, y, sigma, sigma0)
    cost = quadratic_coding_cost(mu, Sigma, H, sigma0, loss0=loss(mu))
    neg_log_evidence = -stats.multivariate_normal(np.zeros(n), sigma0**2 * X @ X.T
                                                  + sigma**2 * np.eye(n)).logpdf(y)
    assert cost == pytest.approx(neg_log_evidence, rel=1e-10)
    # Monte Carlo of E_q L_D at an arbitrary mean and covariance
    m, S = rng.normal(size=d), _random_spd(rng, d, 0.05)
    w = rng.multivariate_normal(m, S, size=40000)
    vals = loss(w)
    kl = gaussian_kl(m, S, np.zeros(d), sigma0**2 * np.eye(d))
    mc = vals.mean() + 2.0 * kl
    se = vals.std(ddof=1) / math.sqrt(vals.size)
    assert abs(quadratic_coding_cost(m, S, H, sigma0, beta=2.0, loss0=loss(m)) - mc) < 4 * se


def test_optimal_gaussian_posterior_minimises_the_coding_cost():
    rng = np.random.default_rng(6)
    k, sigma0 = 4, 1.7
    A = rng.normal(size=(k, k))
    H = A @ A.T + 0.1 * np.eye(k)
    w0 = rng.normal(size=k)
    for beta in (0.3, 1.0, 4.0):
        Sigma, kl = optimal_gaussian_posterior(w0, H, sigma0, beta)
        np.testing.assert_allclose(np.linalg.inv(Sigma), H / beta + np.eye(k) / sigma0**2, rtol=1e-10)
        assert kl == pytest.approx(gaussian_kl(w0, Sigma, np.zeros(k), sigma0**2 * np.eye(k)), rel=1e-12)
        best = quadratic_coding_cost(w0, Sigma, H, sigma0, beta)
        for _ in range(50):  # every nearby positive-definite covariance costs more
            B = rng.normal(size=(k, k)) * 0.05
            S = Sigma + 0.5 * (B + B.T) * np.sqrt(np.outer(np.diag(Sigma), np.diag(Sigma)))
            if np.linalg.eigvalsh(S).min() > 0:
                assert quadratic_coding_cost(w0, S, H, sigma0, beta) > best
        # the thesis's printed constant I/(2 sigma0^2) (spec §6 erratum 3) is not the minimiser
        printed = np.linalg.inv(H / beta + np.eye(k) / (2 * sigma0**2))
        assert quadratic_coding_cost(w0, printed, H, sigma0, beta) > best + 1e-6
    # Bayesian linear regression: the optimal Sigma is the exact posterior covariance
    X = _design(rng, 20, k)
    _, Sigma_N = bayes_linear_posterior(X, np.zeros(20), 0.5, sigma0)
    np.testing.assert_allclose(optimal_gaussian_posterior(w0, X.T @ X / 0.25, sigma0)[0], Sigma_N,
                               rtol=1e-10, atol=1e-14)
    # sigma0 -> infinity: KL - 1/2 log|H| -> k log sigma0 - k/2
    _, logdet = np.linalg.slogdet(H)
    gap = [optimal_gaussian_posterior(w0, H, s)[1] - 0.5 * logdet - (k * math.log(s) - k / 2)
           for s in (1e2, 1e4)]
    assert abs(gap[1]) < abs(gap[0]) and abs(gap[1]) < 1e-6
    with pytest.raises(ValueError):
        optimal_gaussian_posterior(w0, -10 * np.eye(k), sigma0)
    with pytest.raises(ValueError):
        optimal_gaussian_posterior(w0, H, sigma0, beta=0.0)


def _logistic_data(rng, n=40, d=5):
    X = np.concatenate([rng.normal(size=(n, d - 1)), np.ones((n, 1))], axis=1)
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(float)
    return X, y


def test_logistic_fisher_is_the_autograd_hessian_at_every_w():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    X, y = _logistic_data(rng)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def ce(w):
        return torch.nn.functional.binary_cross_entropy_with_logits(Xt @ w, yt, reduction="sum")

    for w in (np.zeros(X.shape[1]), rng.normal(size=X.shape[1]), 20 * rng.normal(size=X.shape[1])):
        H = torch.autograd.functional.hessian(ce, torch.tensor(w)).numpy()
        F = logistic_fisher(X, w)
        np.testing.assert_allclose(F, H, rtol=1e-9, atol=1e-12)
        assert np.linalg.eigvalsh(F).min() > -1e-10


def test_logistic_map_is_the_regularised_minimum():
    from scipy.optimize import minimize

    rng = np.random.default_rng(8)
    X, y = _logistic_data(rng, n=30)
    for l2 in (1e-2, 1.0):
        w = logistic_map(X, y, l2)

        def obj(v):
            z = X @ v
            return np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * v @ v

        h = 1e-6
        grad = np.array([(obj(w + h * e) - obj(w - h * e)) / (2 * h) for e in np.eye(len(w))])
        np.testing.assert_allclose(grad, 0.0, atol=1e-5)
        ref = minimize(obj, np.zeros(len(w)), method="BFGS", options=dict(gtol=1e-9))
        assert obj(w) <= ref.fun + 1e-9
        np.testing.assert_allclose(w, ref.x, atol=1e-4)
    with pytest.raises(ValueError):
        logistic_map(X, y, 0.0)
    with pytest.raises(ValueError):
        logistic_map(X, 2 * y, 1.0)


def test_fisher_matrix_closed_forms_and_expected_hessian():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    X, _ = _logistic_data(rng, n=12, d=4)
    Xt = torch.tensor(X)

    # binary logistic regression as a 2-class model with logits (0, w.x)
    def logistic_log_probs(w):
        z = Xt @ w
        return torch.stack([-torch.nn.functional.softplus(z), -torch.nn.functional.softplus(-z)], 1)

    w = rng.normal(size=4)
    F = fisher_matrix(logistic_log_probs, torch.tensor(w)).numpy()
    np.testing.assert_allclose(F, logistic_fisher(X, w), rtol=1e-10, atol=1e-13)

    # softmax regression: F = sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T
    C, D = 3, X.shape[1]
    W = rng.normal(size=(C, D))

    def softmax_log_probs(theta):
        return torch.log_softmax(Xt @ theta.reshape(C, D).T, dim=1)

    P = torch.softmax(Xt @ torch.tensor(W).T, 1).numpy()
    expected = sum(np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x)) for p, x in zip(P, X))
    F = fisher_matrix(softmax_log_probs, torch.tensor(W.ravel())).numpy()
    np.testing.assert_allclose(F, expected, rtol=1e-10, atol=1e-13)

    # a tiny tanh MLP: F is PSD and equals the expected Hessian of -log p(y|x) over y ~ p_theta,
    # while the Hessian on fixed labels is not PSD at a random point
    sizes = [(3, D), (3,), (C, 3), (C,)]
    n_par = sum(int(np.prod(s)) for s in sizes)

    def mlp_log_probs(theta):
        parts, i = [], 0
        for s in sizes:
            m = int(np.prod(s))
            parts.append(theta[i:i + m].reshape(s))
            i += m
        W1, b1, W2, b2 = parts
        return torch.log_softmax(torch.tanh(Xt @ W1.T + b1) @ W2.T + b2, dim=1)

    theta = torch.tensor(rng.normal(size=n_par) * 1.5)
    F = fisher_matrix(mlp_log_probs, theta).numpy()
    assert np.linalg.eigvalsh(F).min() > -1e-10
    with torch.no_grad():
        p = mlp_log_probs(theta).exp().numpy()
    H_expected = np.zeros((n_par, n_par))
    for k in range(C):
        def nll_k(t, k=k):
            return -(torch.tensor(p[:, k]) * mlp_log_probs(t)[:, k]).sum()
        H_expected += torch.autograd.functional.hessian(nll_k, theta).numpy()
    np.testing.assert_allclose(F, H_expected, rtol=1e-8, atol=1e-10)
    labels = torch.tensor(rng.integers(0, C, size=X.shape[0]))
    H = torch.autograd.functional.hessian(
        lambda t: -mlp_log_probs(t)[torch.arange(X.shape[0]), labels].sum(), theta).numpy()
    assert np.linalg.eigvalsh(H).min() < -1e-3


# ----------------------------------------------------------------------------------------------
# certified Gibbs errors
# ----------------------------------------------------------------------------------------------
def test_linear_gibbs_error_matches_monte_carlo_over_weights():
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal((40, 3)), np.ones(40)]
    y = (rng.random(40) < 0.5).astype(float)
    mu = rng.standard_normal(4)
    A = rng.standard_normal((4, 4))
    S = 0.3 * A @ A.T
    W = rng.multivariate_normal(mu, S, size=200_000)           # one weight vector per draw
    per = ((X @ W.T > 0) != (y[:, None] > 0.5)).mean(1)      # P(error) per example
    exact = linear_gibbs_error(X, y, mu, S, per_example=True)
    se = np.sqrt(exact * (1 - exact) / W.shape[0]) + 1e-12
    assert np.all(np.abs(per - exact) < 5 * se + 1e-9)
    assert linear_gibbs_error(X, y, mu, S) == pytest.approx(exact.mean())
    # a point posterior is the deterministic classifier
    assert linear_gibbs_error(X, y, mu, np.zeros((4, 4))) == pytest.approx(np.mean((X @ mu > 0) != (y > 0.5)))


def test_linear_gibbs_error_rejects_bad_shapes_and_labels():
    X = np.ones((3, 2))
    with pytest.raises(ValueError):
        linear_gibbs_error(X, np.array([0.0, 1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError):
        linear_gibbs_error(X, np.array([0.0, 1.0, 2.0]), np.zeros(2), np.eye(2))


def test_sample_error_bound_covers_the_true_error_with_probability_1_minus_delta():
    # exact coverage over the binomial distribution of the estimate (no simulation)
    for p, n, delta in [(0.05, 200, 0.05), (0.3, 50, 0.1), (0.01, 1000, 0.01)]:
        k = np.arange(n + 1)
        bounds = np.atleast_1d(sample_error_bound(k / n, n, delta))
        miss = stats.binom.pmf(k, n, p)[bounds < p].sum()
        assert miss <= delta
        assert np.all(bounds >= k / n)
    # it solves kl(e || B) = log(1/delta) / n
    b = sample_error_bound(0.1, 500, 0.05)
    assert kl_bernoulli(0.1, b) == pytest.approx(math.log(20) / 500, rel=1e-9)
    with pytest.raises(ValueError):
        sample_error_bound(1.5, 10, 0.05)
    with pytest.raises(ValueError):
        sample_error_bound(0.1, 10, 1.5)


def test_logistic_laplace_bounds_are_the_kl_inverse_bound_of_each_candidate():
    rng = np.random.default_rng(1)
    X = np.c_[rng.standard_normal((120, 3)), np.ones(120)]
    y = (X[:, 0] + 0.5 * rng.standard_normal(120) > 0).astype(float)
    Xt = np.c_[rng.standard_normal((400, 3)), np.ones(400)]
    yt = (Xt[:, 0] + 0.5 * rng.standard_normal(400) > 0).astype(float)
    r = logistic_laplace_bounds(X, y, [0.5, 2.0], [0.3, 1.0, 3.0], 0.05, X_test=Xt, y_test=yt)
    assert r["n_candidates"] == 6 and r["bound_kl_inverse"].shape == (2, 3)
    # recompute one candidate by hand: MAP, corrected Laplace covariance, KL, exact Gibbs error
    w = logistic_map(X, y, 1 / 2.0 ** 2)
    S = 3.0 * np.linalg.inv(logistic_fisher(X, w) + np.eye(4) / 2.0 ** 2)
    kl = gaussian_kl(w, S, np.zeros(4), 4.0 * np.eye(4))
    g = linear_gibbs_error(X, y, w, S)
    assert r["kl"][1, 2] == pytest.approx(kl, rel=1e-8)
    assert r["gibbs_train"][1, 2] == pytest.approx(g, rel=1e-8)
    assert r["bound_kl_inverse"][1, 2] == pytest.approx(kl_inverse_bound(g, kl, 120, 0.05 / 6), abs=1e-12)
    # the certificate is the minimum, it is above the train error and (here) non-vacuous
    assert r["bound"] == pytest.approx(r["bound_kl_inverse"].min())
    assert r["gibbs_train"][r["best"]] < r["bound"] < 0.5
    assert r["gibbs_test"] < r["bound"]
    # McAllester pays for the beta grid too and is looser here
    assert r["bound_mcallester"] > r["bound"]
