"""Props 4.5.1/4.5.2 and Cor 4.5.3 (emergent.weight_noise) against closed forms and Monte Carlo."""
import math

import numpy as np
import pytest
from scipy.special import digamma

from emergent import weight_noise as wn


# --------------------------------------------------------------------------------------------------
# g(α) and α = exp(−I/dim W)
# --------------------------------------------------------------------------------------------------
def test_g_closed_forms_and_limits():
    a = np.logspace(-4, 1.5, 200)
    assert np.allclose(wn.g(a), 0.5 * np.log1p(1 / np.expm1(a)), rtol=1e-12)  # ½ log(1 + 1/α̃)
    assert wn.g(1.0) == pytest.approx(-0.5 * math.log(1 - math.exp(-1)), rel=1e-14)
    assert np.all(np.diff(wn.g(a)) < 0)  # decreasing in α (erratum: not "strictly increasing")
    small = np.array([1e-8, 1e-6, 1e-4])
    assert np.allclose(wn.g(small), -0.5 * np.log(small), rtol=1e-3)  # g ≈ −½ log α
    assert np.allclose(wn.g(small) + 0.5 * np.log(small), small / 4, rtol=1e-2)  # next term: +α/4
    big = np.array([10.0, 20.0, 40.0])
    assert np.allclose(wn.g(big), 0.5 * np.exp(-big), rtol=1e-4)  # g ≈ ½ e^{−α} → 0
    assert isinstance(wn.g(0.3), float)


@pytest.mark.parametrize("bad", [0.0, -1.0, [0.5, 0.0], float("nan")])
def test_alpha_must_be_positive(bad):
    with pytest.raises(ValueError):
        wn.g(bad)
    with pytest.raises(ValueError):
        wn.alpha_tilde(bad)
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), bad, np.ones((5, 3)))


def test_alpha_tilde_is_the_lognormal_variance():
    eps = wn.lognormal_noise(0.7, (400_000,), rng=0)
    assert eps.mean() == pytest.approx(1.0, abs=5e-3)
    assert eps.var() == pytest.approx(wn.alpha_tilde(0.7), rel=2e-2)
    assert wn.alpha_tilde(0.7) == pytest.approx(math.exp(0.7) - 1)


def test_alpha_from_information():
    assert wn.alpha_from_information(0.0, 100) == 1.0
    assert wn.alpha_from_information(100 * 2.0, 100) == pytest.approx(math.exp(-2.0))
    assert wn.information_from_alpha(wn.alpha_from_information(37.0, 10), 10) == pytest.approx(37.0)
    # more information in the weights -> smaller α -> larger g: g increases with I(W;D)
    infos = np.linspace(0, 500, 50)
    assert np.all(np.diff(wn.g(wn.alpha_from_information(infos, 100))) > 0)
    for bad in [(-1.0, 10), (1.0, 0), (1.0, 2.5)]:
        with pytest.raises(ValueError):
            wn.alpha_from_information(*bad)


def test_alpha_from_gaussian_matches_moments():
    mu, var = np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, 0.0])
    a = wn.alpha_from_gaussian(mu, var)
    assert np.allclose(np.expm1(a) * mu ** 2, var)


# --------------------------------------------------------------------------------------------------
# (4.7) against Monte Carlo
# --------------------------------------------------------------------------------------------------
def _gauss_logpdf(z, m, v):
    return -0.5 * (np.log(2 * np.pi * v) + (z - m) ** 2 / v)


def test_47_equals_monte_carlo_of_the_gaussian_log_ratio():
    """(4.7) per unit against E_x E_{z|x} log[p(z|x)/p(z)], with z drawn from the log-normal weight noise
    and p(z|x), p(z) the Gaussians with the *empirical* moments of the draws (nothing from the library)."""
    rng = np.random.default_rng(0)
    dz, dx, K, R = 2, 3, 40, 20_000
    W = rng.normal(size=(dz, dx))
    alpha = np.array([0.3, 1.2])  # one α per unit (Prop 4.5.1)
    X = rng.normal(loc=[0.5, -1.0, 2.0], scale=[1.0, 0.5, 0.3], size=(K, dx))  # x uniform on K points
    eps = np.exp(-alpha[None, :, None, None] / 2
                 + np.sqrt(alpha)[None, :, None, None] * rng.standard_normal((K, dz, R, dx)))
    z = np.einsum("kurj,uj,kj->kur", eps, W, X)  # (K, dz, R)
    m0, v0 = z.mean(2, keepdims=True), z.var(2, keepdims=True)
    m1, v1 = z.mean((0, 2), keepdims=True), z.var((0, 2), keepdims=True)
    mc = (_gauss_logpdf(z, m0, v0) - _gauss_logpdf(z, m1, v1)).mean((0, 2))
    ours = wn.activation_information(W, alpha, X, per_unit=True)
    assert ours.shape == (dz,)
    assert np.allclose(ours, mc, rtol=0.03), (ours, mc)
    assert wn.activation_information(W, alpha, X) == pytest.approx(ours.sum())


def test_47_with_a_shared_alpha_or_one_per_weight():
    rng = np.random.default_rng(1)
    W, X = rng.normal(size=(3, 5)), rng.normal(size=(200, 5))
    shared = wn.activation_information(W, 0.5, X, per_unit=True)
    assert np.allclose(wn.activation_information(W, np.full(3, 0.5), X, per_unit=True), shared)
    assert np.allclose(wn.activation_information(W, np.full((3, 5), 0.5), X, per_unit=True), shared)
    # a variational layer's posterior N(μ, σ²) is the same as ε μ with α̃ = σ²/μ²
    var = rng.uniform(0.1, 1.0, size=(3, 5))
    direct = wn.gaussian_activation_information(W, var, X, per_unit=True)
    assert np.allclose(wn.activation_information(W, wn.alpha_from_gaussian(W, var), X, per_unit=True), direct)


def test_47_decreases_in_alpha_and_the_split_is_exact():
    rng = np.random.default_rng(2)
    W, X = rng.normal(size=(4, 20)), rng.normal(0.3, 1.0, size=(500, 20))
    vals = [wn.activation_information(W, a, X) for a in (0.05, 0.2, 1.0, 5.0)]
    assert all(a > b for a, b in zip(vals, vals[1:]))
    for a in (0.05, 1.0):
        d = wn.decompose(W, np.expm1(a) * W * W, X)
        assert np.allclose(d["value"], d["signal"] + d["fluctuation"])
        assert np.all(d["fluctuation"] >= 0)  # Jensen, with sample moments
        assert np.allclose(d["signal"], 0.5 * np.log1p(d["rho"] / np.expm1(a)))  # ½ log(1 + ρ/α̃)


@pytest.mark.parametrize("dist", ["uniform", "gaussian", "rademacher"])
def test_prop_452_sandwich_and_gap_of_order_one_over_dim_x(dist):
    """Zero-mean iid inputs of bounded kurtosis: g(α) ≤ value/dim z ≤ g(α) + 1, and the gap c shrinks
    like O(1/dim x): it approaches the second-order value ¼ Var(x²)/E[x²]² · Σŵ⁴/(Σŵ²)² (a Taylor
    expansion of −½ E log(1 + u), computed here independently), and c·dim x stays bounded."""
    rng = np.random.default_rng(3)
    draw = {"uniform": lambda s: rng.uniform(-1, 1, s), "gaussian": lambda s: rng.standard_normal(s),
            "rademacher": lambda s: rng.choice([-1.0, 1.0], s)}[dist]
    kurt_term = {"uniform": 0.8, "gaussian": 2.0, "rademacher": 0.0}[dist]  # Var(x²)/E[x²]²
    alpha, dz = 0.5, 6
    dims = (16, 64, 256, 1024)
    gaps, predicted = [], []
    for dx in dims:
        W = rng.standard_normal((dz, dx))
        X = draw((4000, dx))
        var_x = np.full(dx, 1 / 3 if dist == "uniform" else 1.0)  # the population (diagonal) covariance
        d = wn.decompose(W, wn.alpha_tilde(alpha) * W * W, X, cov=var_x)  # E[x²]: the sample's
        assert wn.g(alpha) - 2e-3 <= d["value"].mean() <= wn.g(alpha) + 1
        assert np.allclose(d["signal"], wn.g(alpha), atol=1e-2)  # ρ ≈ 1: the signal term is ≈ g(α)
        gaps.append(d["fluctuation"].mean())
        w2 = W * W
        predicted.append(float(np.mean(0.25 * kurt_term * (w2 ** 2).sum(1) / w2.sum(1) ** 2)))
    gaps, predicted = np.array(gaps), np.array(predicted)
    if dist == "rademacher":  # x² = 1: no fluctuation at all, the value is exactly g(α)
        assert np.allclose(gaps, 0, atol=1e-12)
        return
    assert np.all(np.diff(gaps) < 0) and gaps[-1] < 2e-3
    scaled = gaps * np.array(dims)
    assert scaled.max() / scaled.min() < 2  # c = O(1/dim x)
    assert np.allclose(gaps[2:], predicted[2:], rtol=0.2), (gaps, predicted)


def test_the_printed_lower_bound_needs_zero_mean_inputs():
    """With a mean, ρ < 1 and (4.7) falls below g(α); at dim x = 1 the gap c is large (here exact)."""
    rng = np.random.default_rng(4)
    W = rng.standard_normal((5, 400))
    X = rng.uniform(0, 1, (4000, 400))  # uncorrelated, bounded kurtosis, mean 1/2
    alpha = 0.5
    per = wn.activation_information(W, alpha, X, cov=np.full(400, 1 / 12), second_moment=np.full(400, 1 / 3),
                                    per_unit=True)
    assert np.all(per < wn.g(alpha))
    expected = 0.5 * np.log1p(0.25 / np.expm1(alpha))  # ρ = Var/E[x²] = (1/12)/(1/3)
    assert np.allclose(per, expected, atol=2e-3)
    # dim x = 1, Gaussian x: c = −½ E log(x²) = −½(ψ(½) + log 2) ≈ 0.635, independent of α
    x1 = rng.standard_normal((400_000, 1))
    c1 = wn.activation_information(np.ones((1, 1)), 2.0, x1, cov=[1.0], second_moment=[1.0]) - wn.g(2.0)
    assert c1 == pytest.approx(-0.5 * (digamma(0.5) + math.log(2)), abs=0.01)


def test_shapes_are_checked():
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), 0.5, np.ones((5, 4)))
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), np.ones(3), np.ones((5, 3)))  # 3 alphas for 2 units
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), 0.5, np.ones((5, 3)), cov=np.ones((2, 2)))
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3)), 0.5, np.ones((5, 3)), second_moment=np.ones(2))
    with pytest.raises(ValueError):
        wn.activation_information(np.ones((2, 3, 1)), 0.5, np.ones((5, 3)))
    with pytest.raises(ValueError):
        wn.gaussian_activation_information(np.ones((2, 3)), -np.ones((2, 3)), np.ones((5, 3)))
    # a single unit as a vector
    assert wn.activation_information(np.ones(3), 0.5, np.random.default_rng(0).normal(size=(10, 3))) > 0


# --------------------------------------------------------------------------------------------------
# Cor 4.5.3
# --------------------------------------------------------------------------------------------------
def test_layer_bounds():
    r = wn.layer_bounds([100, 50, 10], [0.2, 0.05, 1.0])
    expected = [d * (wn.g(a) + 1) for d, a in [(100, 0.2), (50, 0.05), (10, 1.0)]]
    assert np.allclose(r["bound"], expected)
    assert r["min"] == pytest.approx(min(expected)) and r["argmin"] == 2
    # α = exp(−I/dim W): one nat per weight in every layer, the narrowest layer binds
    alphas = [wn.alpha_from_information(1000.0, 1000)] * 3
    assert wn.layer_bounds([64, 8, 32], alphas)["argmin"] == 1
    with pytest.raises(ValueError):
        wn.layer_bounds([10, 20], [0.5])
    with pytest.raises(ValueError):
        wn.layer_bounds([10], [0.0])
    with pytest.raises(ValueError):
        wn.layer_bounds([0], [0.5])
