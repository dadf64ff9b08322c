"""The free-energy model of Chapter 7: closed form against finite differences, Monte Carlo and brute
force; the tabular model against exact information identities and a grid search."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from emergent import ib
from emergent.free_energy import (entropy, information_terms, iso_classification_end,
                                  iso_classification_path, iso_classification_rates, linear_gaussian,
                                  rd_curve, tabular_free_energy, terms)
from emergent.free_energy.tabular import ib_beta, terms as tab_terms

PARAMS = dict(s1=1.3, s2=0.8, tau2=0.2, kappa2=0.3)


# ---------------------------------------------------------------- closed form


def test_optimum_matches_brute_force_over_snrs():
    lam, gamma = 0.7, 2.5
    p = linear_gaussian(lam, gamma, **PARAMS)
    r = np.linspace(0, 40, 2001)
    R, D, C = terms(r[:, None], r[None, :], **PARAMS)
    L = R + lam * D + gamma * C
    i, j = np.unravel_index(np.argmin(L), L.shape)
    assert L[i, j] == pytest.approx(p.F, abs=1e-4)
    assert r[i] == pytest.approx(p.r1, abs=0.03) and r[j] == pytest.approx(p.r2, abs=0.03)
    assert p.F <= L.min() + 1e-12


def test_terms_match_monte_carlo():
    rng = np.random.default_rng(0)
    s1, s2, tau2, kappa2 = PARAMS.values()
    r1, r2, n = 3.0, 1.5, 400_000
    R_mc, D_mc, C_mc = [], [], []
    for s, r in ((s1, r1), (s2, r2)):
        a = np.sqrt(r) / s
        x = rng.normal(0, s, n)
        z = a * x + rng.normal(0, 1, n)
        b = a * s**2 / (1 + r)  # the best linear decoder Cov(x, z)/Var(z)
        log_e = -0.5 * (z - a * x) ** 2 - 0.5 * np.log(2 * np.pi)
        log_m = -0.5 * z**2 / (1 + r) - 0.5 * np.log(2 * np.pi * (1 + r))
        R_mc.append(log_e - log_m)
        D_mc.append(0.5 * np.log(2 * np.pi * tau2) + (x - b * z) ** 2 / (2 * tau2))
        if s == s1:
            C_mc.append(0.5 * np.log(2 * np.pi * kappa2) + (x - b * z) ** 2 / (2 * kappa2))
    R, D, C = terms(r1, r2, **PARAMS)
    for exact, samples in ((R, sum(R_mc)), (D, sum(D_mc)), (C, C_mc[0])):
        se = samples.std() / np.sqrt(n)
        assert abs(samples.mean() - exact) < 5 * se


@pytest.mark.parametrize("lam,gamma", [(0.3, 0.5), (0.9, 4.0), (2.0, 0.0), (0.05, 0.2)])
def test_envelope_identities(lam, gamma):
    h = 1e-6
    p = linear_gaussian(lam, gamma, **PARAMS)
    dF_dlam = (linear_gaussian(lam + h, gamma, **PARAMS).F - linear_gaussian(lam - h, gamma, **PARAMS).F) / (2 * h)
    g_lo = max(gamma - h, 0.0)
    dF_dgam = (linear_gaussian(lam, gamma + h, **PARAMS).F - linear_gaussian(lam, g_lo, **PARAMS).F) / (gamma + h - g_lo)
    assert dF_dlam == pytest.approx(p.D, rel=1e-6, abs=1e-6)
    assert dF_dgam == pytest.approx(p.C, rel=1e-5, abs=1e-6)


def test_free_energy_is_concave():
    rng = np.random.default_rng(1)
    a = rng.uniform([0.01, 0.0], [5.0, 20.0], size=(500, 2))
    b = rng.uniform([0.01, 0.0], [5.0, 20.0], size=(500, 2))
    t = rng.uniform(size=(500, 1))
    mid = t * a + (1 - t) * b
    F = lambda q: np.asarray(linear_gaussian(q[:, 0], q[:, 1], **PARAMS).F)  # noqa: E731
    assert np.all(F(mid) >= t[:, 0] * F(a) + (1 - t[:, 0]) * F(b) - 1e-10)
    assert np.any(F(mid) > t[:, 0] * F(a) + (1 - t[:, 0]) * F(b) + 1e-3)  # not linear


def test_rd_curve_is_convex_above_h_and_touches_it_at_lambda_one():
    lams = np.linspace(0.8, 6, 300)
    R, D = rd_curve(lams, **PARAMS)
    H = entropy(PARAMS["s1"], PARAMS["s2"])
    assert np.all(R + D >= H - 1e-12)
    slope = np.diff(D) / np.diff(R)
    assert np.all(np.diff(slope) > 0)  # D(R) convex
    assert np.allclose(slope, -1 / (0.5 * (lams[1:] + lams[:-1])), rtol=0.02)  # dD/dR = -1/λ
    R1, D1 = rd_curve([1.0], **PARAMS)  # decoder variance optimal when λ = 1
    assert R1[0] + D1[0] == pytest.approx(H, abs=1e-12)


def test_iso_classification_rates_are_eq22_by_finite_differences():
    lam, gamma, alpha, h = 0.25, 6.0, 0.7, 1e-6
    C = lambda l, g: linear_gaussian(l, g, **PARAMS).C  # noqa: E731
    dC_dlam = (C(lam + h, gamma) - C(lam - h, gamma)) / (2 * h)
    dC_dgam = (C(lam, gamma + h) - C(lam, gamma - h)) / (2 * h)
    lam_dot, gamma_dot = iso_classification_rates(lam, gamma, alpha=alpha, **PARAMS)
    assert lam_dot == pytest.approx(-alpha * dC_dgam, rel=1e-6)
    assert gamma_dot == pytest.approx(alpha * dC_dlam, rel=1e-6)
    assert lam_dot > 0 > gamma_dot


def test_iso_classification_path_solves_the_ode_with_its_invariants():
    lam0, gamma0 = 0.25, 6.0
    T = 0.9 * iso_classification_end(lam0, gamma0, **PARAMS)
    t = np.linspace(0, T, 400)
    path = iso_classification_path(lam0, gamma0, t, **PARAMS)
    assert np.ptp(path.C) < 1e-9  # iso-classification
    assert np.ptp(path.lam / PARAMS["tau2"] + path.gamma / PARAMS["kappa2"]) < 1e-9
    assert np.all(np.diff(path.R) >= -1e-12) and np.all(np.diff(path.D) <= 1e-12)  # Remark 10
    active = (path.r2 > 0)[1:] & (path.r2 > 0)[:-1]
    dR, dD = np.diff(path.R)[active], np.diff(path.D)[active]
    lam_mid = 0.5 * (path.lam[1:] + path.lam[:-1])[active]
    assert np.allclose(dR / dD, -lam_mid, rtol=1e-3)

    def rhs(_, q):  # eq. (22) with derivatives of C by finite differences only
        l, g = q
        h = 1e-6
        C = lambda a, b: linear_gaussian(a, b, **PARAMS).C  # noqa: E731
        return [-(C(l, g + h) - C(l, g - h)) / (2 * h), (C(l + h, g) - C(l - h, g)) / (2 * h)]

    sol = solve_ivp(rhs, (0, T), [lam0, gamma0], t_eval=t[::40], rtol=1e-10, atol=1e-12)
    assert np.allclose(sol.y[0], path.lam[::40], atol=1e-6)
    assert np.allclose(sol.y[1], path.gamma[::40], atol=1e-6)
    with pytest.raises(ValueError, match="γ = 0"):
        iso_classification_path(lam0, gamma0, [2 * T], **PARAMS)


def test_closed_form_rejects_bad_input():
    with pytest.raises(ValueError, match="lam"):
        linear_gaussian(0.0, 1.0)
    with pytest.raises(ValueError, match="gamma"):
        linear_gaussian(1.0, -1.0)
    with pytest.raises(ValueError, match="tau2"):
        linear_gaussian(1.0, 1.0, tau2=float("nan"))


# ---------------------------------------------------------------- tabular model


def _world(K=6, n_y=2, seed=0):
    rng = np.random.default_rng(seed)
    p_x = rng.dirichlet(np.ones(K) * 3)
    labels = np.arange(K) % n_y
    return p_x, labels


def test_tabular_optimum_has_r_plus_d_equal_to_h():
    p_x, labels = _world()
    res = tabular_free_energy(p_x, labels, lam=0.6, gamma=2.0, n_z=4)
    I, Hxz, Hyz, Hx = information_terms(p_x, labels, res.e)
    assert res.R + res.D == pytest.approx(Hx, abs=1e-9)
    assert res.R == pytest.approx(I, abs=1e-9)
    assert res.D == pytest.approx(Hxz, abs=1e-9)
    assert res.C == pytest.approx(Hyz, abs=1e-9)
    assert np.all(np.diff(res.history) <= 1e-12)
    # the encoder is the Gibbs form (eq. 9) of the final tables and F = -E log Z (eq. 10)
    log = lambda a: np.log(np.maximum(a, 1e-300))  # noqa: E731
    log_g = log(res.m)[None, :] + 0.6 * log(res.d.T) + 2.0 * log(res.c[:, labels].T)
    log_z = np.logaddexp.reduce(log_g, axis=1)
    assert np.allclose(res.e, np.exp(log_g - log_z[:, None]), atol=1e-6)
    assert res.F == pytest.approx(-np.sum(p_x * log_z), abs=1e-6)


def test_tabular_lagrangian_is_an_ib_lagrangian():
    """R + λD + γC = γ [H(y|z) + β I(x;z)] + λ H(x), β = (1 - λ)/γ, for any encoder with
    self-consistent tables, against Chapter 1's independent ib_lagrangian."""
    p_x, labels = _world(K=5, n_y=3, seed=2)
    p_xy = np.zeros((5, 3))
    p_xy[np.arange(5), labels] = p_x
    lam, gamma = 0.4, 1.7
    rng = np.random.default_rng(3)
    for _ in range(5):
        e = rng.dirichlet(np.ones(3), size=5)
        joint = p_x[:, None] * e
        m = joint.sum(0)
        d = (joint / m).T
        c = np.zeros((3, 3))
        np.add.at(c.T, labels, d.T)
        R, D, C = tab_terms(p_x, labels, e, m, d, c)
        Hx = -np.sum(p_x * np.log(p_x))
        expected = gamma * ib.ib_lagrangian(p_xy, e, ib_beta(lam, gamma)) + lam * Hx
        assert R + lam * D + gamma * C == pytest.approx(expected, abs=1e-10)


def test_tabular_reaches_the_brute_force_minimum():
    p_x, labels = _world(K=3, n_y=2, seed=4)
    lam, gamma = 0.5, 1.2
    g = np.linspace(0, 1, 81)
    a = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)  # e(z=0|x) per x
    e = np.stack([a, 1 - a], -1)  # (G, K, M)
    joint = p_x[None, :, None] * e
    p_z = joint.sum(1, keepdims=True)
    xlogy = lambda u, v: np.where(u > 0, u * np.log(np.where(u > 0, v, 1.0)), 0.0)  # noqa: E731
    I = xlogy(joint, e / np.maximum(p_z, 1e-300)).sum((1, 2))
    Hxz = -xlogy(joint, joint / np.maximum(p_z, 1e-300)).sum((1, 2))
    joint_yz = np.stack([joint[:, labels == y].sum(1) for y in range(2)], 1)
    Hyz = -xlogy(joint_yz, joint_yz / np.maximum(p_z, 1e-300)).sum((1, 2))
    best = float(np.min(I + lam * Hxz + gamma * Hyz))
    found = min(tabular_free_energy(p_x, labels, lam, gamma, n_z=2, seed=s).F for s in range(5))
    assert found <= best + 1e-9
    assert found >= best - 2e-3  # the grid is 1/80 fine


def test_restricted_decoder_bends_the_rd_curve_above_h():
    p_x = np.full(8, 1 / 8)
    labels = (np.arange(8) >= 4).astype(int)
    Hx = np.log(8)
    for lam in (0.5, 1.0, 2.0, 4.0):
        res = tabular_free_energy(p_x, labels, lam, gamma=0.5, n_z=8, decoder="gaussian",
                                  width=0.7, iters=300)
        I, Hxz, _, _ = information_terms(p_x, labels, res.e)
        assert res.D > Hxz + 1e-3 and res.R + res.D > Hx + 1e-3
        assert np.all(np.diff(res.history) <= 1e-10)


def test_tabular_rejects_bad_input():
    with pytest.raises(ValueError, match="probability"):
        tabular_free_energy([0.5, 0.6], [0, 1], 0.5, 1.0)
    with pytest.raises(ValueError, match="labels"):
        tabular_free_energy([0.5, 0.5], [0.0, 1.0], 0.5, 1.0)
    with pytest.raises(ValueError, match="decoder"):
        tabular_free_energy([0.5, 0.5], [0, 1], 0.5, 1.0, decoder="mlp")
    with pytest.raises(ValueError, match="IB form"):
        ib_beta(1.5, 1.0)
