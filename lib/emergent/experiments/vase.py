"""Chapter 3, stage 1: the CCI-VAE on the moving-sprites environment E1, cached, and its atypicality.

* :func:`cci_vae` trains one CCI-VAE (:mod:`emergent.vae`, absolute capacity form, γ = 50, ``C``
  rising linearly from 0 to ``c_max`` over 75 % of the steps) through :func:`emergent.train.fit` and
  caches it with :func:`emergent.cache.cached` under ``ch03/cci_vae`` (``fmt="pt"``), keyed by its
  whole configuration: notebook 3.2 reuses notebook 3.1's model when it runs after it.
* :func:`evaluate` measures a trained model on held-out E1 images: mean KL per latent, the active
  latents (KL > 0.1 nats), the R² of the position (x, y) regressed on the *active* latents
  (rotation-robust) and the accuracy of a logistic-regression identity probe on μ(x).
* :func:`atypicality_table` computes eq. 3.4 (moment-matched) on many batches of E1, E2, E3.
* :func:`run_capacity` is the multi-capacity sweep (``c_maxes`` × ``seeds``); the CLI::

      python -m emergent.experiments.vase capacity --scale fast --seeds 3

  writes ``results/ch03_capacity_fast_3seeds.json``; ``beta`` (:func:`run_beta`) trains the same
  network as a β-VAE (β ∈ {1, 4, 8}) for comparison: ``results/ch03_beta_fast_3seeds.json``.

Fast-scale choices (spec §6, §16b; none is in the thesis): 4,000 E1 images of training, an MLP
1024-256-128 encoder with Z = 16 and a mirrored Bernoulli decoder, Adam 1e-3, batch 64, encoder
last layer ×0.1 at init. Full scale: 64×64 canvases with 32-pixel objects, Z = 24, 512-256 hidden,
more steps (our choice; the supplementary of Achille et al. 2018 with the original values is not a
source).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch

from .. import cache, environments as envs, vae as V, vase
from ..runtime import cpu_threads, device as _device
from .cli import figure_config, figure_defaults, result_name, run_cli

__all__ = ["FIGURES", "default_config", "live_config", "cci_vae", "load_model", "evaluate",
           "atypicality_table", "run_capacity", "run_beta", "precomputed", "main"]

FIGURES = ("capacity", "beta")

_MODEL_FAST = dict(env="moving_sprites", n=4000, side=32, template=16, n_latents=16,
                   hidden=[256, 128], steps=3000, batch_size=64, lr=1e-3, gamma=50.0,
                   form="absolute", ramp=0.75, n_eval=2000, threshold=0.1)
_MODEL_FULL = dict(_MODEL_FAST, side=64, template=32, n=20000, n_latents=24, hidden=[512, 256],
                   steps=20000, n_eval=5000)
_CONFIGS: dict[str, dict[str, dict]] = {
    "capacity": {
        "fast": dict(_MODEL_FAST, c_maxes=[4.0, 8.0, 12.0, 18.0], seeds=[0]),
        "full": dict(_MODEL_FULL, c_maxes=[4.0, 8.0, 12.0, 18.0, 25.0], seeds=[0, 1, 2]),
    },
    "beta": {
        "fast": dict(_MODEL_FAST, betas=[1.0, 4.0, 8.0], seeds=[0]),
        "full": dict(_MODEL_FULL, betas=[1.0, 4.0, 8.0], seeds=[0, 1, 2]),
    },
}
_OPTIONAL: dict[str, Any] = dict(scale=None)
_LIVE = {"fast": dict(_MODEL_FAST, steps=1500, c_max=10.0, seed=0),
         "full": dict(_MODEL_FULL, c_max=18.0, seed=0)}


def default_config(figure: str = "capacity", scale: str | None = None) -> dict:
    """The default configuration of ``figure`` at ``scale``."""
    return figure_defaults(_CONFIGS, figure, scale)


def live_config(scale: str | None = None, **changes: Any) -> dict:
    """The configuration of the notebooks' live CCI-VAE (one ``c_max``, one ``seed``)."""
    from ..runtime import scale as _scale

    cfg = dict(_LIVE[_scale(scale)])
    unknown = set(changes) - set(cfg)
    if unknown:
        raise cache.ConfigError(f"unknown keys {sorted(unknown)}; valid: {sorted(cfg)}")
    cfg.update(changes)
    return cfg


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    cfg = figure_config(_CONFIGS, figure, config, scale, _OPTIONAL)
    if cfg["form"] not in ("absolute", "squared"):
        raise cache.ConfigError(f"form must be 'absolute' or 'squared', got {cfg['form']!r}")
    return cfg


def _data(cfg: dict, seed: int, pool: str = "train", n: int | None = None):
    return envs.environment(cfg["env"], n=n or cfg["n"], seed=seed, pool=pool, side=cfg["side"],
                            template=cfg["template"])


def _model(cfg: dict) -> V.VAE:
    return V.VAE(cfg["n_latents"], side=cfg["side"], hidden=tuple(cfg["hidden"]))


def _train(cfg: dict, report: Callable[[float, str], None] | None = None) -> dict:
    seed = int(cfg["seed"])
    dev = _device()
    train = _data(cfg, seed).to(dev)
    probe = _data(cfg, 10_000 + seed, n=500).to(dev)
    torch.manual_seed(seed)
    model = _model(cfg).to(dev)
    beta = cfg.get("objective") == "beta"  # the β-VAE comparison; the default is the CCI-VAE
    sched = V.CapacitySchedule(float(cfg.get("c_max", 0.0)), int(cfg["ramp"] * cfg["steps"]))
    loss_fn = (V.beta_vae_loss(float(cfg["beta"])) if beta
               else V.cci_vae_loss(sched, cfg["gamma"], cfg["form"]))
    rec = V.KLRecorder(probe.x, None if beta else sched,
                       every=max(1, round(cfg["steps"] / 64 / 20)))
    callbacks: list = [rec]
    if report is not None:
        total = math.ceil(cfg["steps"] / math.ceil(cfg["n"] / cfg["batch_size"]))
        callbacks.append(lambda ep, m, h: report((ep + 1) / total, f"epoch {ep + 1}/{total}"))
    t = time.perf_counter()
    with cpu_threads(dev):
        hist = V.train_vae(model, train.x, loss_fn, cfg["steps"], cfg["batch_size"], cfg["lr"],
                           seed=seed, callbacks=callbacks)
    steps = math.ceil(cfg["steps"] / math.ceil(cfg["n"] / cfg["batch_size"])) * math.ceil(
        cfg["n"] / cfg["batch_size"])
    return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "config": dict(cfg),
            "history": {k: list(v) for k, v in hist.items()}, "kl_trace": rec.as_dict(),
            "steps": steps, "seconds": time.perf_counter() - t}


def cci_vae(config: dict | None = None, scale: str | None = None,
            report: Callable[[float, str], None] | None = None) -> dict:
    """Train (or load from the cache) one CCI-VAE on E1; ``config`` as :func:`live_config` gives.

    Returns ``state`` (the state dict), ``config``, ``history`` (per epoch: recon, kl, capacity,
    elbo), ``kl_trace`` (mean KL per latent on 500 probe images as ``C`` grows), ``steps`` and
    ``seconds``. Cached under ``ch03/cci_vae`` by the whole configuration.
    """
    cfg = config or live_config(scale)
    return cache.cached("ch03/cci_vae", cfg, lambda: _train(cfg, report), fmt="pt")


def load_model(result: dict) -> V.VAE:
    """The trained :class:`emergent.vae.VAE` of a :func:`cci_vae` result, in eval mode, on the CPU."""
    model = _model(result["config"])
    model.load_state_dict(result["state"])
    return model.eval()


def evaluate(model: V.VAE, cfg: dict, seed: int = 0) -> dict:
    """Held-out measurements of a CCI-VAE on E1 (fresh seeds, never the training images)."""
    from sklearn.linear_model import LogisticRegression

    test = _data(cfg, 20_000 + seed, n=cfg["n_eval"])
    probe_train = _data(cfg, 30_000 + seed, n=cfg["n_eval"])
    mu, logvar = V.encode(model, test.x)
    kl = V.kl_per_latent(mu, logvar).mean(0).numpy()
    active = V.active_latents(kl, cfg["threshold"])
    pos = test.meta["factors"][:, 1:].numpy()
    r2 = V.linear_r2(mu[:, active].numpy(), pos) if len(active) else np.zeros(2)
    with torch.no_grad():
        recon = float(torch.cat([V.reconstruction_nll(test.x[i:i + 500], model.decode(mu[i:i + 500]),
                                                      model.likelihood, model.sigma)
                                 for i in range(0, len(mu), 500)]).mean())
    mu_tr, _ = V.encode(model, probe_train.x)
    clf = LogisticRegression(max_iter=3000).fit(mu_tr.numpy(), probe_train.y.numpy())
    return {"kl_per_latent": kl.tolist(), "kl_total": float(kl.sum()), "active": active.tolist(),
            "n_active": int(len(active)), "n_above_1nat": int((kl > 1.0).sum()),
            "r2_xy": [float(v) for v in r2], "recon": recon,
            "identity_acc": float(clf.score(mu.numpy(), test.y.numpy()))}


def atypicality_table(model: V.VAE, cfg: dict, names=("moving_sprites", "static_digits",
                                                      "moving_digits"),
                      n: int = 4000, batch_size: int = 64, n_batches: int = 200,
                      seed: int = 0) -> dict:
    """Eq. 3.4 (moment-matched) of every latent on ``n_batches`` batches of each environment:
    ``{name: (n_batches, Z) array}``. Images are fresh draws (the digit environments use the
    ``train`` pool)."""
    out = {}
    for k, name in enumerate(names):
        ds = envs.environment(name, n=n, seed=40_000 + seed + k, side=cfg["side"],
                              template=cfg["template"])
        mu, logvar = V.encode(model, ds.x)
        out[name] = vase.batch_atypicality(mu, logvar, batch_size, n_batches, seed=seed).numpy()
    return out


_SWEEP_KEYS = ("n_active", "n_above_1nat", "kl_total", "kl_sorted", "r2_x", "r2_y", "recon",
               "identity_acc", "seconds")


def _sweep(cfg: dict, name: str, values: list, one_config: Callable[[float, int], dict],
           progress: bool) -> dict:
    rows: dict[str, Any] = {name: list(values)}
    for k in _SWEEP_KEYS:
        rows[k] = []
    for value in values:
        acc: dict[str, list] = {k: [] for k in _SWEEP_KEYS}
        for seed in cfg["seeds"]:
            one = one_config(float(value), int(seed))
            res = cci_vae(one)
            ev = evaluate(load_model(res), one, seed=seed)
            if progress:
                print(f"{name} {value:5.1f} seed {seed}: {ev['n_active']} active, KL "
                      f"{ev['kl_total']:.1f}, R² {ev['r2_xy']}, recon {ev['recon']:.1f}, "
                      f"id {ev['identity_acc']:.3f} ({res['seconds']:.0f} s)", flush=True)
            ev.update(kl_sorted=sorted(ev["kl_per_latent"], reverse=True), r2_x=ev["r2_xy"][0],
                      r2_y=ev["r2_xy"][1], seconds=res["seconds"])
            for k in _SWEEP_KEYS:
                acc[k].append(ev[k])
        for k in _SWEEP_KEYS:
            rows[k].append(acc[k])
    rows["config"] = cfg
    return rows


def _base(cfg: dict, drop: tuple[str, ...]) -> dict:
    return {k: v for k, v in cfg.items() if k not in (*drop, "seeds", "scale")}


def run_capacity(config: dict | None = None, scale: str | None = None, progress: bool = False
                 ) -> dict:
    """The multi-capacity sweep: one CCI-VAE per (``c_max``, seed), each evaluated by :func:`evaluate`.

    Returns per ``c_max`` (lists over seeds): ``n_active``, ``n_above_1nat``, ``kl_total``,
    ``kl_sorted`` (KL per latent, largest first), ``r2_x``, ``r2_y``, ``recon`` (held-out
    reconstruction NLL of the decoded means, nats per image), ``identity_acc``, ``seconds``
    (training time of each model); and ``config``.
    """
    cfg = _config("capacity", config, scale)
    base = _base(cfg, ("c_maxes",))
    return _sweep(cfg, "c_max", cfg["c_maxes"],
                  lambda v, seed: dict(base, c_max=v, seed=seed), progress)


def run_beta(config: dict | None = None, scale: str | None = None, progress: bool = False
             ) -> dict:
    """The β-VAE for comparison: one model per (β, seed) with the CCI-VAE's architecture, data and
    steps, trained on the β-VAE objective (β = 1: the plain VAE, the "entangled" baseline of
    Table 3.1); the same measurements and layout as :func:`run_capacity`, keyed by ``beta``."""
    cfg = _config("beta", config, scale)
    base = _base(cfg, ("betas", "gamma", "form", "ramp"))
    base["ramp"] = 0.0
    return _sweep(cfg, "beta", cfg["betas"],
                  lambda v, seed: dict(base, objective="beta", beta=v, seed=seed), progress)


def precomputed(figure: str = "capacity", scale: str = "fast", seeds: int | None = 3,
                tag: str = "") -> dict | None:
    """``results/ch03_<figure>_<scale>[_<n>seeds][_<tag>].json`` if it is there (else ``None`` and
    the command that makes it)."""
    how = (f"python -m emergent.experiments.vase {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("03", figure, scale, seeds, tag), how)


_RUNNERS: dict[str, Callable[..., dict]] = {"capacity": run_capacity, "beta": run_beta}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.vase capacity|beta|all [--scale] [--seeds] [--set] [--tag]``."""
    run_cli(argv, module="vase", chapter="03", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _config(fig, changes, sc),
            set_example="'c_maxes=[4,18]'")


if __name__ == "__main__":
    main()
