r"""Processes on the equilibrium surface with a real network (Gao & Chaudhari §§3–5).

* :func:`c_derivatives`: :math:`\partial C/\partial\lambda`, :math:`\partial C/\partial\gamma` (and
  :math:`\partial C/\partial t` during transfer) by finite differences of short warm-started
  equilibrations (the paper's eq. 31), with **common random numbers**: the clones share minibatches,
  binarisation and latent noise, and C is measured on one fixed evaluation set. Without them the
  differences are noise (spec §5.1).
* :func:`iso_classification`: the process of Remark 7, eq. (22),
  :math:`\dot\lambda = -\alpha\,\partial C/\partial\gamma`, :math:`\dot\gamma = \alpha\,\partial C/
  \partial\lambda`, one outer step at a time, each followed by a re-equilibration; beside it a
  **control** that trains exactly as long at the starting multipliers (the models never reach
  equilibrium, so C drifts by itself: the control shows how much).
* :func:`free_energy_jump`: Fig. 4a, the free energy before and after a small change of multipliers.
* :func:`transfer`: iso-classification transfer (eq. 23 and the heuristic 32) from a source task to a
  target task, with the same data path at fixed multipliers, fine-tuning and training from scratch.

All training goes through :func:`emergent.free_energy.rdc_vae.equilibrate`, i.e. :func:`emergent.train.fit`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .rdc_vae import RDCVAE, EvalSet, adam, clone, equilibrate, eval_set, evaluate

Tensor = torch.Tensor


def mnist_split(classes=range(10), n_train: int = 4000, n_val: int = 1000, seed: int = 0,
                device: str | torch.device | None = None, label_offset: int = 0,
                source: str = "mnist-small"):
    """Stratified train/validation split of MNIST digits restricted to ``classes``, flattened to 784
    grey values in [0, 1]; labels minus ``label_offset`` (e.g. 5 for digits 5–9 on a 5-way head).

    ``source="mnist-small"``: the 5,000 offline digits (``emergent.data.mnist_small``);
    ``"mnist"``: MNIST 60k through torchvision, or the offline digits with a one-line message when it
    cannot be had, in which case a request larger than they hold keeps their 80/20 split.
    Returns ``((x_tr, y_tr), (x_val, y_val))``."""
    from .. import data

    if source == "mnist-small":
        ds = data.mnist_small(device="cpu")
    elif source == "mnist":
        ds = data.load_or_fallback("mnist", "mnist-small", device="cpu")
    else:
        raise ValueError(f"source must be 'mnist-small' or 'mnist', got {source!r}")
    classes = list(classes)
    rng = np.random.default_rng(seed)
    per_class_tr, per_class_val = n_train // len(classes), n_val // len(classes)
    y = ds.y.numpy()
    smallest = min(int(np.sum(y == c)) for c in classes)
    if per_class_tr + per_class_val > smallest:
        if source == "mnist" and ds.meta.get("fallback_for"):
            per_class_tr, per_class_val = int(0.8 * smallest), smallest - int(0.8 * smallest)
        else:
            raise ValueError(f"a class has {smallest} images, fewer than the "
                             f"{per_class_tr + per_class_val} asked for")
    tr, va = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        tr.append(idx[:per_class_tr])
        va.append(idx[per_class_tr:per_class_tr + per_class_val])
    tr, va = rng.permutation(np.concatenate(tr)), np.concatenate(va)
    x = ds.x.flatten(1)
    yy = ds.y - label_offset
    dev = torch.device("cpu") if device is None else torch.device(device)
    return ((x[tr].to(dev), yy[tr].to(dev)), (x[va].to(dev), yy[va].to(dev)))


def c_derivatives(model: RDCVAE, opt: torch.optim.Optimizer, train, evalset: EvalSet, lam: float,
                  gamma: float, epochs: int = 6, dlam: float = 0.05, gamma_factor: float = 1.1,
                  seed: int = 0, common_random_numbers: bool = True,
                  t_mix: Callable[[float], tuple[Tensor, Tensor]] | None = None, t: float = 0.0,
                  dt: float = 0.1) -> dict:
    """Finite-difference ``∂C/∂λ`` and ``∂C/∂γ`` (and ``∂C/∂t`` when ``t_mix`` is given) at the
    current state: clones of the model and its Adam state train ``epochs`` epochs at ``(λ, γ)``,
    ``(λ + dlam, γ)``, ``(λ, γ·gamma_factor)`` (and on the data of ``t + dt``), and C is measured on
    the fixed ``evalset``. ``common_random_numbers=False`` gives every clone its own seed.

    ``t_mix(t)`` returns the training data of the interpolated task ``p(x, t)`` (eq. 23).
    Returns the derivatives, ``C`` of the unperturbed clone, and that clone with its optimizer
    (``model``, ``opt``), from which the process continues.
    """
    data_t = train if t_mix is None else t_mix(t)
    runs = {"base": (lam, gamma, data_t), "lam": (lam + dlam, gamma, data_t),
            "gamma": (lam, gamma * gamma_factor, data_t)}
    if t_mix is not None:
        runs["t"] = (lam, gamma, t_mix(min(t + dt, 1.0)))
    out: dict = {}
    for i, (name, (lam_i, gamma_i, data_i)) in enumerate(runs.items()):
        m, o = clone(model, opt)
        equilibrate(m, data_i, lam_i, gamma_i, epochs, opt=o,
                    seed=seed if common_random_numbers else seed + 1000 * (i + 1))
        out[name] = evaluate(m, evalset)["C"]
        if name == "base":
            out["model"], out["opt"] = m, o
    res = {"C": out["base"], "dC_dlam": (out["lam"] - out["base"]) / dlam,
           "dC_dgamma": (out["gamma"] - out["base"]) / (gamma * (gamma_factor - 1)),
           "model": out["model"], "opt": out["opt"]}
    if t_mix is not None:
        res["dC_dt"] = (out["t"] - out["base"]) / (min(t + dt, 1.0) - t)
    return res


def _record(model, evalset, val, lam, gamma) -> dict:
    tr = evaluate(model, evalset, lam, gamma)
    va = evaluate(model, val, lam, gamma)
    return {"lam": lam, "gamma": gamma, "R": tr["R"], "D": tr["D"], "C": tr["C"], "F": tr["F"],
            "val_acc": va["acc"], "val_C": va["C"], "val_R": va["R"], "val_D": va["D"]}


def _log(hist: dict, rec: dict) -> None:
    for k, v in rec.items():
        hist.setdefault(k, []).append(float(v))


def iso_classification(model: RDCVAE, opt: torch.optim.Optimizer, train, val: EvalSet, lam0: float,
                       gamma0: float, steps: int = 10, alpha: float | None = None,
                       first_dlam: float = 0.1, k_epochs: int = 6, relax_epochs: int = 9,
                       dlam: float = 0.05, gamma_factor: float = 1.1, seed: int = 0,
                       control: bool = True, gamma_min: float = 0.1,
                       report: Callable[[int, dict], None] | None = None) -> dict:
    """``steps`` outer steps of eq. (22) from the current (equilibrated) state at ``(lam0, gamma0)``.

    Each step estimates ``∂C/∂λ``, ``∂C/∂γ`` (:func:`c_derivatives`, ``k_epochs`` per clone, common
    random numbers), moves ``λ += -α ∂C/∂γ``, ``γ += α ∂C/∂λ`` (``α`` chosen at the first step so
    that λ moves by ``first_dlam`` unless given; γ is kept ``>= gamma_min``), then trains
    ``relax_epochs`` at the new multipliers from the unperturbed clone. The control (a copy of the
    starting state) trains ``k_epochs + relax_epochs`` per step at ``(lam0, gamma0)``.
    Training-set terms use one fixed draw of the training images; ``val`` is the validation set.
    Returns per-step lists (step 0 = the start) for the process and the control, the derivatives
    and ``alpha``.
    """
    train_eval = eval_set(*train, z_dim=model.z_dim, seed=seed + 99)
    lam, gamma = float(lam0), float(gamma0)
    path: dict = {}
    ctrl: dict = {}
    derivs: dict = {"dC_dlam": [], "dC_dgamma": []}
    _log(path, _record(model, train_eval, val, lam, gamma))
    if control:
        c_model, c_opt = clone(model, opt)
        _log(ctrl, _record(c_model, train_eval, val, lam0, gamma0))
    for step in range(1, steps + 1):
        s = seed + 17 * step
        d = c_derivatives(model, opt, train, train_eval, lam, gamma, k_epochs, dlam, gamma_factor, s)
        derivs["dC_dlam"].append(d["dC_dlam"])
        derivs["dC_dgamma"].append(d["dC_dgamma"])
        if alpha is None:
            if d["dC_dgamma"] >= 0:
                raise RuntimeError(f"∂C/∂γ = {d['dC_dgamma']:.3g} >= 0 at the first step: C does "
                                   "not fall with γ here; equilibrate longer before the process")
            alpha = first_dlam / -d["dC_dgamma"]
        lam = lam - alpha * d["dC_dgamma"]
        gamma = max(gamma + alpha * d["dC_dlam"], gamma_min)
        model, opt = d["model"], d["opt"]
        equilibrate(model, train, lam, gamma, relax_epochs, opt=opt, seed=s + 1)
        _log(path, _record(model, train_eval, val, lam, gamma))
        if control:
            equilibrate(c_model, train, lam0, gamma0, k_epochs + relax_epochs, opt=c_opt, seed=s + 2)
            _log(ctrl, _record(c_model, train_eval, val, lam0, gamma0))
        if report is not None:
            report(step, {k: v[-1] for k, v in path.items()})
    return {"path": path, "control": ctrl, "alpha": float(alpha), **derivs,
            "model": model, "opt": opt}


def free_energy_jump(model: RDCVAE, opt: torch.optim.Optimizer, train, old: tuple[float, float],
                     new: tuple[float, float], epochs=(0, 3, 9, 30), seed: int = 0) -> dict:
    """Fig. 4a: ``F`` on a fixed draw of the training set at the old multipliers, then at the new
    ones with the same weights, then after re-equilibrating ``epochs`` at the new multipliers, beside
    a control that keeps training at the old ones. The first-order jump is ``D Δλ + C Δγ``."""
    ev = eval_set(*train, z_dim=model.z_dim, seed=seed + 99)
    start = evaluate(model, ev, *old)
    out = {"F_old": start["F"], "F_new_same_weights": evaluate(model, ev, *new)["F"],
           "first_order": start["F"] + start["D"] * (new[0] - old[0]) + start["C"] * (new[1] - old[1]),
           "epochs": list(epochs), "F_new": [], "F_control": []}
    m_new, o_new = clone(model, opt)
    m_old, o_old = clone(model, opt)
    done = 0
    for e in epochs:
        if e > done:
            equilibrate(m_new, train, *new, e - done, opt=o_new, seed=seed + e)
            equilibrate(m_old, train, *old, e - done, opt=o_old, seed=seed + e)
            done = e
        out["F_new"].append(evaluate(m_new, ev, *new)["F"])
        out["F_control"].append(evaluate(m_old, ev, *old)["F"])
    return out


def mixture(source, target, seed: int = 0) -> Callable[[float], tuple[Tensor, Tensor]]:
    """``t ↦`` a training set drawn from ``p(x, t) = (1 - t) p_source + t p_target`` (eq. 23): a
    fraction ``t`` of its images from the target, the rest from the source (same size as the
    source; labels are not interpolated). The draw for a given ``t`` is always the same."""
    xs, ys = source
    xt, yt = target
    n = len(xs)

    def at(t: float):
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t!r}")
        g = torch.Generator().manual_seed(seed + int(round(t * 1e6)))
        n_t = int(round(t * n))
        i_s = torch.randperm(len(xs), generator=g)[: n - n_t].to(xs.device)
        i_t = torch.randint(len(xt), (n_t,), generator=g).to(xt.device)
        return torch.cat([xs[i_s], xt[i_t]]), torch.cat([ys[i_s], yt[i_t]])

    return at


def transfer(model: RDCVAE, opt: torch.optim.Optimizer, source, target, val_source: EvalSet,
             val_target: EvalSet, lam0: float, gamma0: float, t_steps: int = 10,
             lam_rate: float = -0.05, k_epochs: int = 6, relax_epochs: int = 9,
             max_gamma_change: float = 0.25, seed: int = 0, baselines: bool = True,
             report: Callable[[int, dict], None] | None = None) -> dict:
    """Iso-classification transfer from ``source`` to ``target`` (eqs. 23, 26, 32).

    ``t`` goes from 0 to 1 in ``t_steps`` steps. Each step: finite differences of C in λ, γ and t
    (common random numbers, C on a fixed draw of the *current* mixture), ``λ += lam_rate`` (the
    heuristic 32: constant λ̇), ``γ`` from ``∂C/∂λ Δλ + ∂C/∂γ Δγ + ∂C/∂t Δt = 0``, its relative change
    capped at ``max_gamma_change`` (uncapped, γ runs away where ``∂C/∂γ ≈ 0``: spec §5.1), then
    ``relax_epochs`` at ``p(x, t + Δt)``. The baselines, from the same source model: the same data
    path at fixed multipliers; fine-tuning on the target alone for as many epochs; training from
    scratch on the target for as many epochs. Returns per-step validation accuracy on source and
    target, R, D, C and the multipliers.
    """
    mix = mixture(source, target, seed)
    dt = 1.0 / t_steps
    per_step = k_epochs + relax_epochs
    lam, gamma = float(lam0), float(gamma0)
    out: dict = {"t": [0.0], "lam": [lam], "gamma": [gamma], "capped": []}
    methods = {"iso": (model, opt)}
    if baselines:
        methods["fixed"] = clone(model, opt)
        methods["finetune"] = clone(model, opt)
        scratch = RDCVAE(model.n_in, model.encoder[0].out_features, model.z_dim, model.head.out_features)
        methods["scratch"] = (scratch, adam(scratch, opt.param_groups[0]["lr"]))
    for name, (m, _) in methods.items():
        out[name] = {}
        _log(out[name], _transfer_record(m, val_source, val_target, lam, gamma))
    for step in range(1, t_steps + 1):
        t = (step - 1) * dt
        s = seed + 31 * step
        cur = mix(t)
        ev = eval_set(*cur, z_dim=model.z_dim, seed=s + 5)
        m, o = methods["iso"]
        d = c_derivatives(m, o, cur, ev, lam, gamma, k_epochs, seed=s, t_mix=mix, t=t, dt=dt)
        dlam = lam_rate
        dgamma = -(d["dC_dlam"] * dlam + d["dC_dt"] * dt) / d["dC_dgamma"] if d["dC_dgamma"] else 0.0
        cap = max_gamma_change * gamma
        out["capped"].append(bool(abs(dgamma) > cap))
        dgamma = float(np.clip(dgamma, -cap, cap))
        lam, gamma = max(lam + dlam, 0.01), max(gamma + dgamma, 0.1)
        m, o = d["model"], d["opt"]
        nxt = mix(min(t + dt, 1.0))
        equilibrate(m, nxt, lam, gamma, relax_epochs, opt=o, seed=s + 1)
        methods["iso"] = (m, o)
        if baselines:
            m_fixed, o_fixed = methods["fixed"]
            equilibrate(m_fixed, nxt, lam0, gamma0, per_step, opt=o_fixed, seed=s + 2)
            for name in ("finetune", "scratch"):
                equilibrate(methods[name][0], target, lam0, gamma0, per_step, opt=methods[name][1],
                            seed=s + 3)
        out["t"].append(min(t + dt, 1.0))
        out["lam"].append(lam)
        out["gamma"].append(gamma)
        for name, (mm, _) in methods.items():
            ml, mg = (lam, gamma) if name == "iso" else (lam0, gamma0)
            _log(out[name], _transfer_record(mm, val_source, val_target, ml, mg))
        if report is not None:
            report(step, {k: v["acc_target"][-1] for k, v in out.items() if isinstance(v, dict)})
    out["model"] = methods["iso"][0]
    return out


def _transfer_record(model, val_source, val_target, lam, gamma) -> dict:
    s = evaluate(model, val_source, lam, gamma)
    t = evaluate(model, val_target, lam, gamma)
    return {"acc_source": s["acc"], "acc_target": t["acc"], "R_target": t["R"], "D_target": t["D"],
            "C_target": t["C"]}
