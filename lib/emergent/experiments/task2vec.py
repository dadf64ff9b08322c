r"""Chapter 5 experiments: Task2Vec embeddings of a library of digit tasks (thesis Figs 5.1, 5.2).

* :func:`run_embeddings` — pretrain the probe (one per seed), cut task library A (28 digit tasks over
  four domains, :func:`emergent.task2vec.build_tasks`), fit one linear head per task on the frozen
  features, and embed every task twice: **Task2Vec** (the filter-averaged diagonal of the true Fisher
  of the probe's conv weights, thesis §5.1) and the **domain embedding** (mean activation per filter,
  which depends on the images only). Then measure what Figs 5.1–5.2 claim:

  - attribute tasks on the *same* images: their domain embeddings coincide (distance 0), Task2Vec
    separates them, against a **noise floor** (the same task embedded again on other images of its
    domain, with another head seed) and a **replicate retrieval** test (is a task's nearest neighbour
    its own replicate?);
  - Fig 5.2 left/centre: the symmetric distance matrix, its hierarchical clustering, and the mean
    taxonomic distance of each task's k nearest neighbours against the oracle and random orderings;
    Spearman correlations of d_sym with the taxonomy, over all pairs and within each domain;
  - Fig 5.2 right: Spearman correlation of the embedding's L1 norm with the head's test error.

Every distance is :func:`emergent.task2vec.d_sym` (element-wise normalisation, then cosine
distance) with ``zeros="drop"``: a filter that is dead on both tasks (zero Fisher and zero mean
activation) is left out of that pair's distance, as the reference code's ``+1e-8`` effectively does.

Command line (results in ``results/``, like the other chapters)::

    python -m emergent.experiments.task2vec embeddings --scale fast --seeds 3

writes ``results/ch05_embeddings_fast_3seeds.json``. There is no full-scale (ResNet-34 on CUB and
iNaturalist) path yet: ``--scale full`` runs the same offline library with more images per task and a
longer-trained probe, on the CPU or a GPU.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from .. import cache
from .cli import figure_config, result_name, run_cli

__all__ = ["FIGURES", "default_config", "run_embeddings", "precomputed", "knn_taxonomy", "spearman",
           "main"]

FIGURES = ("embeddings",)

# our choices (course spec ch05 §3.1, the pilot's recipe); the thesis's setup is in spec §2
_CONFIGS: dict[str, dict[str, dict]] = {
    "embeddings": {
        "fast": dict(seeds=[0], probe=dict(epochs=4, n_train=4000), task_seed=0, n_train=500, n_test=200,
                     domains=["M", "I", "R", "S"], head=dict(steps=200, lr=1e-2, weight_decay=1e-4),
                     estimator="exact", replicates=["0v6", "parity", "loop"], knn=10),
        "full": dict(seeds=[0, 1, 2], probe=dict(epochs=10, n_train=4000), task_seed=0, n_train=1500,
                     n_test=500, domains=["M", "I", "R", "S"],
                     head=dict(steps=600, lr=1e-2, weight_decay=1e-4), estimator="exact",
                     replicates=["0v6", "1v7", "4v9", "2v3", "3v5v8", "parity", "ge5", "loop", "prime",
                                 "mod3"], knn=10),
    },
}
_ESTIMATORS = ("exact", "sampled", "minibatch")


def default_config(figure: str = "embeddings", scale: str | None = None) -> dict:
    """The default configuration of ``figure`` at ``scale`` (a copy)."""
    return figure_config(_CONFIGS, figure, None, scale, {})


def _config(figure: str, config: dict | None, scale: str | None) -> dict:
    cfg = figure_config(_CONFIGS, figure, config, scale, {})
    if cfg["estimator"] not in _ESTIMATORS:
        raise cache.ConfigError(f"estimator must be one of {_ESTIMATORS}, got {cfg['estimator']!r}")
    unknown = [d for d in cfg["domains"] if d not in ("M", "I", "R", "S")]
    if unknown or not cfg["domains"]:
        raise cache.ConfigError(f"domains must be a non-empty subset of M, I, R, S; got {cfg['domains']}")
    if "M" not in cfg["domains"] and cfg["replicates"]:
        raise cache.ConfigError("the replicates are tasks of domain M: keep 'M' in the domains or set "
                                "replicates=[]")
    if int(cfg["n_train"]) < 20 or int(cfg["n_test"]) < 10:
        raise cache.ConfigError("n_train must be at least 20 and n_test at least 10 images per task")
    return cfg


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two sequences (ties get average ranks; NaN pairs dropped)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def knn_taxonomy(dist: np.ndarray, tax: np.ndarray, k_max: int) -> dict:
    """Fig 5.2 centre: for k = 1..k_max, the mean taxonomic distance between each task and its k nearest
    tasks by ``dist``, by the oracle (sorted by ``tax`` itself) and in a random order (its expectation,
    exactly: every other task is equally likely to be among the k, so it is the mean of ``tax`` over
    the other tasks, for every k). Ties of the oracle do not matter: it averages ``tax`` values."""
    n = len(dist)
    k_max = min(int(k_max), n - 1)
    curves = {"embedding": [], "oracle": [], "random": []}
    orders_emb, orders_tax = [], []
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        orders_emb.append(tax[i, others[np.argsort(dist[i, others], kind="stable")]])
        orders_tax.append(np.sort(tax[i, others]))
    rand = float(np.mean([o.mean() for o in orders_tax]))
    for k in range(1, k_max + 1):
        curves["embedding"].append(float(np.mean([o[:k].mean() for o in orders_emb])))
        curves["oracle"].append(float(np.mean([o[:k].mean() for o in orders_tax])))
        curves["random"].append(rand)
    return dict(k=list(range(1, k_max + 1)), **curves)


def _summary(emb: dict, tasks: list, rep: dict | None, rep_names: list[str], cfg: dict) -> dict:
    """Everything the notebook shows, from one seed's embeddings (plain lists: JSON-ready)."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    from ..task2vec import distance_matrix, taxonomy_matrix

    D = {k: distance_matrix(emb[k], kind="sym", zeros="drop") for k in ("fisher", "domain")}
    tax = taxonomy_matrix(tasks)
    iu = np.triu_indices(len(tasks), 1)
    dom = np.array([t.domain for t in tasks])
    # per domain, the pairs of tasks (over iu) that both belong to it, and the tasks that do
    pairs_in = {d: (dom[iu[0]] == d) & (dom[iu[1]] == d) for d in cfg["domains"]}
    tasks_in = {d: dom == d for d in cfg["domains"]}
    out: dict[str, Any] = dict(
        names=[t.name for t in tasks], domains=dom.tolist(), families=[t.family for t in tasks],
        label_functions=[t.name.split("-", 1)[-1] for t in tasks],
        n_train=[int(len(t.x)) for t in tasks], test_error=emb["test_error"].tolist(),
        train_error=emb["train_error"].tolist(), fisher=emb["fisher"].tolist(),
        domain_embedding=emb["domain"].tolist(), taxonomy=tax.tolist(),
        d_sym={k: v.tolist() for k, v in D.items()}, seconds=emb["seconds"])
    out["spearman_taxonomy"] = {k: spearman(v[iu], tax[iu]) for k, v in D.items()}
    out["spearman_taxonomy_within_domain"] = {
        k: float(np.nanmean([spearman(v[iu][m], tax[iu][m]) for m in pairs_in.values()]))
        for k, v in D.items()}
    norms = {"fisher": np.abs(emb["fisher"]).sum(1), "domain": np.abs(emb["domain"]).sum(1)}
    out["l1_norm"] = {k: v.tolist() for k, v in norms.items()}
    out["spearman_norm_error"] = {k: spearman(v, emb["test_error"]) for k, v in norms.items()}
    out["spearman_norm_error_within_domain"] = {
        k: float(np.nanmean([spearman(v[m], emb["test_error"][m]) for m in tasks_in.values()]))
        for k, v in norms.items()}
    # attribute tasks of one domain share their images: the domain embedding cannot tell them apart
    same_images = [(i, j) for i, j in zip(*iu) if dom[i] == dom[j]
                   and out["families"][i] == out["families"][j] == "attribute"]
    out["same_image_pairs"] = {k: [float(D[k][i, j]) for i, j in same_images] for k in D}
    out["same_image_pair_names"] = [[out["names"][i], out["names"][j]] for i, j in same_images]
    for k, v in D.items():
        link = hierarchy.linkage(squareform(v, checks=False), method="average")
        out.setdefault("cluster_order", {})[k] = [int(i) for i in hierarchy.leaves_list(link)]
        out.setdefault("knn_taxonomy", {})[k] = knn_taxonomy(v, tax, cfg["knn"])
    if rep is not None:
        from ..task2vec import d_sym

        idx = [out["names"].index(n) for n in rep_names]
        floor = {"fisher": [], "domain": []}
        hits = {"fisher": 0, "domain": 0}
        for r, i in enumerate(idx):
            for k in ("fisher", "domain"):
                to_all = np.array([d_sym(rep[k][r], emb[k][j], zeros="drop") for j in range(len(tasks))])
                floor[k].append(float(to_all[i]))
                hits[k] += int(np.argmin(to_all) == i)
        out["replicates"] = dict(names=list(rep_names), noise_floor=floor, retrieved=hits,
                                 test_error=rep["test_error"].tolist())
    return out


def run_embeddings(config: dict | None = None, scale: str | None = None, progress: bool = False) -> dict:
    """Embed task library A on one pretrained probe per seed, and measure Figs 5.1–5.2 (see the module
    docstring). Cached per seed (``ch05/embeddings``). Returns ``config``, ``per_seed`` (one
    :func:`_summary` per probe seed; the embeddings themselves are kept for the first seed only),
    ``probe`` (training record per seed) and ``seconds``."""
    from ..task2vec import build_tasks, embed_tasks, pretrain_probe

    cfg = _config("embeddings", config, scale)
    per_seed, probes, seconds = [], [], 0.0
    for s_i, seed in enumerate(cfg["seeds"]):
        one = {k: v for k, v in cfg.items() if k != "seeds"}
        one["seed"] = int(seed)

        def compute(one=one) -> dict:
            t0 = time.perf_counter()
            probe, info = pretrain_probe(one["seed"], epochs=one["probe"]["epochs"],
                                         n_train=one["probe"]["n_train"])
            tasks = build_tasks(seed=one["task_seed"], n_train=one["n_train"], n_test=one["n_test"],
                                domains=one["domains"])
            emb = embed_tasks(probe, tasks, estimator=one["estimator"],
                              head_kw=dict(one["head"], seed=one["seed"]))
            rep, rep_names = None, list(one["replicates"])
            if rep_names:
                # the same label functions on other images of domain M, with another head seed
                others = build_tasks(seed=one["task_seed"] + 1, n_train=one["n_train"], n_test=one["n_test"],
                                     domains=["M"])
                others = [next(t for t in others if t.name == f"M-{n}") for n in rep_names]
                rep = embed_tasks(probe, others, estimator=one["estimator"],
                                  head_kw=dict(one["head"], seed=one["seed"] + 1000))
                rep_names = [f"M-{n}" for n in rep_names]
            res = _summary(emb, tasks, rep, rep_names, one)
            res["probe"] = {k: info[k] for k in ("heldout_acc", "train_acc", "seconds") if k in info}
            res["seconds_total"] = time.perf_counter() - t0
            return res

        r = cache.cached("ch05/embeddings", one, compute)
        if progress:
            print(f"[embeddings] seed {seed}: {len(r['names'])} tasks, "
                  f"{r['seconds_total']:.0f} s", flush=True)
        seconds += r["seconds_total"]
        if s_i > 0:
            r = {k: v for k, v in r.items() if k not in ("fisher", "domain_embedding", "d_sym")}
        per_seed.append(r)
        probes.append(r["probe"])
    return dict(figure="5.1-5.2", config=cfg, per_seed=per_seed, probe=probes, seconds=seconds)


def precomputed(figure: str, scale: str = "fast", seeds: int | None = None, tag: str = "") -> dict | None:
    """The result the CLI wrote (``results/ch05_<figure>_<scale>[_<n>seeds][_<tag>].json``), or ``None``;
    prints which file it is and how it was made (or how to make it)."""
    how = (f"python -m emergent.experiments.task2vec {figure} --scale {scale}"
           + (f" --seeds {seeds}" if seeds else "") + (f" --tag {tag}" if tag else ""))
    return cache.precomputed(result_name("05", figure, scale, seeds, tag), how)


_RUNNERS = {"embeddings": run_embeddings}


def main(argv: list[str] | None = None) -> None:
    """``python -m emergent.experiments.task2vec embeddings [--scale] [--seeds N] [--set] [--tag]``."""
    run_cli(argv, module="task2vec", chapter="05", runners=_RUNNERS, seeds=True, progress=True,
            check=lambda fig, changes, sc: _config(fig, changes, sc), set_example="n_train=300")


if __name__ == "__main__":
    main()
