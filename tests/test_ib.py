"""Tests of emergent.ib: properties of the IB solutions, closed forms, and the spec's numbers."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from emergent import info
from emergent.ib import (
    binary_entropy,
    blahut_arimoto,
    critical_beta,
    effective_clusters,
    gaussian_ib_curve,
    gaussian_ib_encoder,
    gaussian_ib_information,
    gaussian_ib_spectrum,
    ib_lagrangian,
    ib_origin_slope,
    information_curve,
    noisy_bit_lagrangian,
    noisy_bit_optimum,
)

BETAS = np.logspace(-3, 0.5, 200)


@pytest.fixture(scope="module")
def ref():
    """Spec T1 reference example: 8 equiprobable x, binary y."""
    q = np.array([0.05, 0.1, 0.15, 0.3, 0.7, 0.85, 0.9, 0.95])
    return np.stack([(1 - q) / 8, q / 8], axis=1)


@pytest.fixture(scope="module")
def ref_curve(ref):
    return information_curve(ref, BETAS, n_z=8)


def test_reference_example_constants(ref):
    assert info.mutual_information(ref) == pytest.approx(0.304, abs=5e-4)
    assert info.entropy(ref.sum(1)) == pytest.approx(math.log(8), abs=1e-14)
    assert critical_beta(ref) == pytest.approx(0.525, abs=1e-3)
    assert 1 / critical_beta(ref) == pytest.approx(1.905, abs=1e-3)  # Tishby's convention


def test_critical_beta_binary_symmetric_channel():
    # y ~ Bern(½), x = y xor Bern(eps): lambda_2 = (1 - 2 eps)^2
    for eps in (0.1, 0.25):
        p = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
        assert critical_beta(p) == pytest.approx((1 - 2 * eps) ** 2, abs=1e-12)
    assert critical_beta(np.full((3, 2), 1 / 6)) == pytest.approx(0.0, abs=1e-12)  # y independent of x


def test_origin_slope_equals_critical_beta_for_continuous_transitions(ref):
    assert ib_origin_slope(ref) == pytest.approx(critical_beta(ref), abs=1e-9)
    for eps in (0.1, 0.25):  # binary symmetric channel: s* = rho_m^2 = (1 - 2 eps)^2
        p = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
        assert ib_origin_slope(p) == pytest.approx((1 - 2 * eps) ** 2, abs=1e-9)


def test_trivial_solution_can_lose_global_optimality_above_lambda2():
    # a 64x8 joint whose first transition is discontinuous: lambda_2 < s*
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(8, 0.5), size=64) / 64
    lam2 = critical_beta(p)
    s, r = ib_origin_slope(p, return_r=True)
    assert s > lam2 + 0.05
    beta = 0.5 * (lam2 + s)
    # a rare cluster p(z=1|x) = eps r(x)/p(x) (scaled to be <= 1) beats the trivial encoder
    w = r / p.sum(1)
    enc = np.zeros((64, 2))
    enc[:, 1] = 1e-3 * w / w.max()
    enc[:, 0] = 1 - enc[:, 1]
    h_y = info.entropy(p.sum(0))
    assert ib_lagrangian(p, enc, beta) < h_y - 1e-7
    # ... while the trivial encoder is still a local minimum there (beta > lambda_2): BA started
    # next to it returns to it
    near = np.full((64, 2), 0.5) + 1e-4 * rng.standard_normal((64, 2))
    r_ba = blahut_arimoto(p, beta, init=near, accelerate=True, iters=20000)
    assert r_ba.i_xz < 1e-8


def test_bounds_on_random_joints():
    rng = np.random.default_rng(0)
    for trial in range(6):
        p = rng.dirichlet(np.ones(15)).reshape(5, 3)
        i_xy, h_x = info.mutual_information(p), info.entropy(p.sum(1))
        for beta in (0.02, 0.2, 1.5):
            r = blahut_arimoto(p, beta, seed=trial)
            assert -1e-12 <= r.i_zy <= i_xy + 1e-12
            assert -1e-12 <= r.i_xz <= h_x + 1e-12
            np.testing.assert_allclose(r.encoder.sum(1), 1.0, atol=1e-12)
            np.testing.assert_allclose(r.decoder.sum(1), 1.0, atol=1e-12)
            assert r.lagrangian == pytest.approx(ib_lagrangian(p, r.encoder, beta), abs=1e-12)
            # L = H(y|z) + beta I(x;z), with H(y|z) = H(y) - I(z;y)
            assert r.lagrangian == pytest.approx(info.entropy(p.sum(0)) - r.i_zy + beta * r.i_xz, abs=1e-12)


@pytest.mark.parametrize("accelerate", [False, True])
def test_lagrangian_non_increasing(ref, accelerate):
    rng = np.random.default_rng(1)
    joints = [ref, rng.dirichlet(np.ones(24)).reshape(6, 4)]
    for p in joints:
        for beta in (0.05, 0.3, 0.52):
            r = blahut_arimoto(p, beta, seed=3, iters=400, accelerate=accelerate)
            assert r.history.size >= 2
            assert np.all(np.diff(r.history) <= 1e-12)
            assert r.history[-1] == pytest.approx(r.lagrangian, abs=1e-12)


@pytest.mark.parametrize("beta", [0.6, 0.53, 1.0, 3.0])
def test_trivial_solution_above_critical_beta(ref, beta):
    for seed in range(3):
        r = blahut_arimoto(ref, beta, n_z=8, seed=seed, accelerate=True, iters=20000)
        assert r.i_xz < 1e-6
        assert effective_clusters(r) == 1
        assert r.lagrangian == pytest.approx(math.log(2), abs=1e-6)  # H(y)


def test_non_trivial_just_below_critical_beta(ref):
    r = blahut_arimoto(ref, 0.52, n_z=8, seed=0, accelerate=True, iters=20000)
    assert r.i_xz == pytest.approx(0.021, abs=2e-3)  # spec: I(x;z) ≈ 0.021 nats
    assert r.lagrangian < math.log(2) - 1e-6
    assert effective_clusters(r) == 2


@pytest.mark.parametrize(
    "beta, i_xz, i_zy, k",
    [(0.4, 0.377, 0.177, 2), (0.2, 0.650, 0.264, 2), (0.05, 0.958, 0.286, 4), (0.01, 1.252, 0.297, 4)],
)
def test_spec_table_nz4(ref, beta, i_xz, i_zy, k):
    best = min((blahut_arimoto(ref, beta, n_z=4, seed=s, accelerate=True) for s in range(8)),
               key=lambda r: r.lagrangian)
    assert best.i_xz == pytest.approx(i_xz, abs=2e-3)
    assert best.i_zy == pytest.approx(i_zy, abs=2e-3)
    assert effective_clusters(best) == k


def test_nz8_finds_six_clusters_at_small_beta(ref):
    # spec: with |Z| = 8, beta = 0.01 has a 6-cluster solution with a lower L than the |Z| = 4 one
    c = information_curve(ref, [0.6, 0.2, 0.05, 0.03, 0.01], n_z=8)
    assert c.n_clusters[-1] == 6
    assert c.i_xz[-1] == pytest.approx(1.564, abs=2e-3)
    assert c.i_zy[-1] == pytest.approx(0.301, abs=2e-3)
    assert c.lagrangian[-1] == pytest.approx(0.4076, abs=2e-4)


def test_sufficiency_as_beta_goes_to_zero(ref_curve):
    c = ref_curve
    assert c.i_zy[-1] == pytest.approx(c.i_xy, abs=1e-5)
    assert c.i_zy[-1] <= c.i_xy + 1e-12
    # the minimal sufficient statistic of this example is x itself (all p(y|x) distinct)
    assert c.i_xz[-1] <= c.h_x + 1e-12
    assert c.n_clusters[-1] == 8


def test_curve_monotone_and_concave(ref_curve):
    c = ref_curve
    assert np.all(np.diff(c.beta) < 0)  # annealing order
    assert np.all(np.diff(c.i_xz) >= -1e-9)
    assert np.all(np.diff(c.i_zy) >= -1e-9)
    # Optimality at consecutive betas brackets the chord slope: b_{k+1} <= dI(z;y)/dI(x;z) <= b_k
    # (compare L at b_k and b_{k+1} of both solutions). This implies concavity.
    d_x, d_y = np.diff(c.i_xz), np.diff(c.i_zy)
    m = d_x > 1e-6
    slope = d_y[m] / d_x[m]
    assert np.all(slope <= c.beta[:-1][m] + 1e-6)
    assert np.all(slope >= c.beta[1:][m] - 1e-6)
    assert np.all(np.diff(slope) <= 1e-6)


def test_curve_transitions(ref, ref_curve):
    c = ref_curve
    ratio = BETAS[1] / BETAS[0]
    bc = critical_beta(ref)
    # the first split is the first grid point below beta_c
    assert bc / ratio <= c.transitions[0] < bc
    assert c.transition_clusters[0] == (1, 2)
    assert c.n_clusters[0] == 1
    assert np.all(c.i_xz[c.beta > bc] < 1e-8)
    # the cluster count only grows along this curve, up to |X| = 8
    assert all(after > before for before, after in c.transition_clusters)


def test_annealing_not_worse_than_random_starts(ref_curve, ref):
    for beta in (0.3, 0.1, 0.02):
        k = int(np.argmin(np.abs(ref_curve.beta - beta)))
        b = ref_curve.beta[k]
        best = min(blahut_arimoto(ref, b, n_z=8, seed=s, accelerate=True).lagrangian for s in range(4))
        assert ref_curve.lagrangian[k] <= best + 1e-6


def test_restarts_and_encoders_shape(ref):
    c = information_curve(ref, [0.5, 0.1, 0.02], n_z=5, restarts=3, seed=1)
    assert c.encoders.shape == (3, 8, 5)
    np.testing.assert_allclose(c.encoders.sum(axis=2), 1.0, atol=1e-12)
    for k in range(3):
        assert c.lagrangian[k] == pytest.approx(ib_lagrangian(ref, c.encoders[k], c.beta[k]), abs=1e-10)


def test_curve_on_a_large_joint_is_the_concave_envelope():
    # L*(beta) = min over encoders of H(y|z) + beta I(x;z) is a minimum of affine functions of beta:
    # concave, with slope I(x;z) (envelope theorem), so I(x;z) and I(z;y) fall as beta grows.
    # (64 x-values, 8 y-values, n_z = 64: the size of the notebooks' largest curves.)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(8), size=64) / 64
    c = information_curve(p, BETAS)
    b, L = c.beta[::-1], c.lagrangian[::-1]  # beta increasing
    chord = L[:-2] + (L[2:] - L[:-2]) * (b[1:-1] - b[:-2]) / (b[2:] - b[:-2])
    assert np.all(L[1:-1] >= chord - 1e-7)
    assert np.all(np.diff(c.i_xz[::-1]) <= 1e-7) and np.all(np.diff(c.i_zy[::-1]) <= 1e-7)
    assert np.all(np.diff(c.i_zy) >= -1e-8)


def _random_joint(rng):
    n_x, n_y = rng.integers(4, 12), rng.integers(2, 5)
    return rng.dirichlet(np.full(n_x * n_y, 0.5)).reshape(n_x, n_y)


def test_curve_reaches_the_best_of_random_starts():
    # On random joints the curve is the lower envelope: at each beta no worse than the best of 15
    # converged random Blahut-Arimoto runs (annealing alone was up to 0.02 nats above it); 4 joints
    # (10 joints and 30 starts took 38 s of the test run)
    rng = np.random.default_rng(2024)
    targets = (0.05, 0.2, 0.5)
    grid = np.concatenate([np.logspace(-2.5, 0.5, 40), targets])
    for trial in range(4):
        p = _random_joint(rng)
        c = information_curve(p, grid, seed=trial)
        assert c.converged.all()
        h_y = info.entropy(p.sum(0))
        for k, beta in enumerate(c.beta):  # the reported numbers are those of the reported encoder
            assert c.lagrangian[k] == pytest.approx(ib_lagrangian(p, c.encoders[k], beta), abs=1e-10)
            assert c.lagrangian[k] == pytest.approx(h_y - c.i_zy[k] + beta * c.i_xz[k], abs=1e-12)
        # L(beta_k) <= H_j(y|z) + beta_k I_j(x;z): no returned encoder is better at another beta
        lines = (c.lagrangian - c.beta * c.i_xz)[None, :] + c.beta[:, None] * c.i_xz[None, :]
        assert np.all(c.lagrangian <= lines.min(axis=1) + 1e-7)
        for beta in targets:
            k = int(np.nonzero(c.beta == beta)[0][0])
            best = min(blahut_arimoto(p, beta, seed=s, iters=5000, tol=1e-10,
                                      accelerate=True).lagrangian for s in range(15))
            assert c.lagrangian[k] <= best + 1e-3, (trial, beta, c.lagrangian[k] - best)


def test_curve_finds_a_discontinuous_first_transition():
    # lambda_2 < origin slope: the first split shows up at the last grid value below the origin
    # slope (where a rare cluster beats the trivial solution), not at lambda_2 (hysteresis)
    p = np.random.default_rng(0).dirichlet(np.full(8, 0.5), size=64) / 64
    grid = np.logspace(-1, -0.3, 40)
    c = information_curve(p, grid, n_z=4)
    s = ib_origin_slope(p)
    assert critical_beta(p) < s - 0.1
    first = c.transitions[0]
    assert c.transition_clusters[0][0] == 1
    assert first < s <= grid[grid > first].min()
    assert np.all(c.i_xz[c.beta > s] < 1e-8)
    assert c.lagrangian[c.beta == first][0] < info.entropy(p.sum(0)) - 1e-9


def test_effective_clusters_counts_distinct_decoders():
    res = SimpleNamespace(
        p_z=np.array([0.3, 0.3, 0.4, 1e-9]),
        decoder=np.array([[0.2, 0.8], [0.2 + 1e-4, 0.8 - 1e-4], [0.9, 0.1], [0.5, 0.5]]),
    )
    assert effective_clusters(res) == 2  # rows 0 and 1 merge, row 3 has no mass
    assert effective_clusters(res, tol=1e-5) == 3


def test_empty_clusters_and_zero_rows_are_safe():
    p = np.array([[0.25, 0.25], [0.0, 0.0], [0.5, 0.0]])
    init = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # cluster 2 empty
    r = blahut_arimoto(p, 0.1, init=init)
    assert np.all(np.isfinite(r.encoder)) and np.all(np.isfinite(r.decoder))
    assert r.p_z[2] == 0.0
    np.testing.assert_allclose(r.encoder[1], 1 / 3)  # the p(x) = 0 row is reported uniform
    with pytest.raises(ValueError):
        blahut_arimoto(p, 0.0)
    with pytest.raises(ValueError):
        blahut_arimoto(p, 0.1, n_z=2, init=init)


# ------------------------------------------------------------------------------------------
# T2: the noisy bit
# ------------------------------------------------------------------------------------------


def test_noisy_bit_endpoints():
    for eps in (0.05, 0.1, 0.3):
        for beta in (0.2, 0.531, 0.9):
            assert noisy_bit_lagrangian(0.0, eps, beta) == pytest.approx(binary_entropy(eps) + beta, abs=1e-14)
            assert noisy_bit_lagrangian(0.5, eps, beta) == pytest.approx(1.0, abs=1e-14)
            assert noisy_bit_lagrangian(1.0, eps, beta) == pytest.approx(noisy_bit_lagrangian(0.0, eps, beta), abs=1e-14)
    assert binary_entropy(0.1) == pytest.approx(0.469, abs=5e-4)


def test_noisy_bit_stochastic_beats_deterministic():
    opt = noisy_bit_optimum(0.1, 0.531)
    assert opt["gain"] > 0.03
    assert opt["L"] < min(opt["L_identity"], opt["L_constant"]) - 0.03
    assert opt["delta"] == pytest.approx(0.078, abs=2e-3)
    assert opt["L"] == pytest.approx(0.961, abs=1e-3)
    tiny = noisy_bit_optimum(0.1, 0.2)
    assert 0 < tiny["delta"] < 1e-3 and 0 < tiny["gain"] < 1e-4


def test_noisy_bit_constant_optimal_above_critical_beta():
    eps = 0.1
    bc = critical_beta(0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]]))  # (1 - 2 eps)^2 = 0.64
    assert noisy_bit_optimum(eps, 0.8)["delta"] == 0.5
    assert noisy_bit_optimum(eps, bc + 0.01)["delta"] == 0.5
    assert noisy_bit_optimum(eps, bc - 0.01)["delta"] < 0.49


def test_noisy_bit_matches_blahut_arimoto():
    # BA over all 2-cluster encoders finds the same optimum as the symmetric noisy-bit family
    eps = 0.1
    p = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
    for beta in (0.3, 0.531, 0.6):
        r = blahut_arimoto(p, beta, n_z=2, seed=0, accelerate=True, iters=20000, tol=1e-12)
        assert r.lagrangian == pytest.approx(noisy_bit_optimum(eps, beta)["L"] * math.log(2), abs=1e-9)


# ------------------------------------------------------------------------------------------
# T6: Gaussian IB
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gauss():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((7, 7))
    cov = m @ m.T + 0.5 * np.eye(7)
    return cov, gaussian_ib_spectrum(cov[:4, :4], cov[:4, 4:], cov[4:, 4:])


def _explicit_info(cov, a):
    """I(z;x), I(z;y) from the full covariance of (x, y, z) with z = A x + xi."""
    dx = a.shape[1]
    d = cov.shape[0]
    k = a.shape[0]
    full = np.zeros((d + k, d + k))
    full[:d, :d] = cov
    full[d:, :d] = a @ cov[:dx, :]
    full[:d, d:] = full[d:, :d].T
    full[d:, d:] = a @ cov[:dx, :dx] @ a.T + np.eye(k)
    z = list(range(d, d + k))
    return (info.gaussian_mutual_information(full, z, list(range(dx))),
            info.gaussian_mutual_information(full, z, list(range(dx, d))))


def test_gaussian_ib_closed_form_vs_explicit_encoder(gauss):
    cov, sp = gauss
    assert np.all((sp.lambdas >= 0) & (sp.lambdas <= 1))
    np.testing.assert_allclose(sp.critical_betas, 1 - sp.lambdas)
    for beta in (0.9, 0.4, 0.2, 0.05, 0.01):
        a = gaussian_ib_encoder(sp, beta)
        ix, iy = gaussian_ib_information(a, sp.cov_x, sp.cov_x_given_y)
        cx, cy = gaussian_ib_curve(sp.lambdas, beta)
        ex, ey = _explicit_info(cov, a)
        assert ix == pytest.approx(cx, abs=1e-10)
        assert iy == pytest.approx(cy, abs=1e-10)
        assert ex == pytest.approx(cx, abs=1e-10)
        assert ey == pytest.approx(cy, abs=1e-10)
        n_active = int(np.sum(beta < 1 - sp.lambdas))
        assert np.count_nonzero(np.linalg.norm(a, axis=1) > 0) == n_active


def test_gaussian_ib_encoder_is_optimal(gauss):
    cov, sp = gauss
    rng = np.random.default_rng(1)
    for beta in (0.5, 0.3, 0.1, 0.02):
        a = gaussian_ib_encoder(sp, beta)
        ix, iy = gaussian_ib_information(a, sp.cov_x, sp.cov_x_given_y)
        lag = -iy + beta * ix
        for _ in range(50):
            ap = a + 1e-2 * rng.standard_normal(a.shape)
            px, py = gaussian_ib_information(ap, sp.cov_x, sp.cov_x_given_y)
            assert -py + beta * px >= lag - 1e-12


def test_gaussian_ib_no_dimension_active_above_first_critical(gauss):
    _, sp = gauss
    first = 1 - sp.lambdas.min()
    for beta in (first, first + 0.01, 0.99):
        ix, iy = gaussian_ib_curve(sp.lambdas, beta)
        assert ix == 0 and iy == 0
        assert np.all(gaussian_ib_encoder(sp, beta) == 0)
    ix, _ = gaussian_ib_curve(sp.lambdas, first - 1e-3)
    assert ix > 0


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_gaussian_ib_scalar_case(rho):
    sp = gaussian_ib_spectrum([[1.0]], [[rho]], [[1.0]])
    assert sp.lambdas[0] == pytest.approx(1 - rho ** 2, abs=1e-14)
    for beta in (0.05 * rho ** 2, 0.5 * rho ** 2, 0.99 * rho ** 2):
        ix, iy = gaussian_ib_curve(sp.lambdas, beta)
        assert ix == pytest.approx(0.5 * math.log(rho ** 2 * (1 - beta) / (beta * (1 - rho ** 2))), abs=1e-12)
        assert iy == pytest.approx(0.5 * math.log((1 - beta) / (1 - rho ** 2)), abs=1e-12)
        # explicit encoder z = x + xi with noise variance s*^2 = beta (1 - rho^2) / (rho^2 - beta)
        s2 = beta * (1 - rho ** 2) / (rho ** 2 - beta)
        assert ix == pytest.approx(0.5 * math.log(1 + 1 / s2), abs=1e-12)
        assert iy == pytest.approx(-0.5 * math.log(1 - rho ** 2 * (1 - math.exp(-2 * ix))), abs=1e-12)
    assert gaussian_ib_curve(sp.lambdas, rho ** 2) == (0.0, 0.0)
