r"""Distances between Task2Vec embeddings (thesis Ch. 5, §5.2 "Symmetric and asymmetric TASK2VEC metrics").

* cosine distance :math:`d_{cos}(a, b) = 1 - \frac{a\cdot b}{\|a\|\|b\|}` (:func:`d_cos`);
* **symmetric** Task2Vec distance, the cosine distance of the element-wise normalised embeddings

  .. math:: d_{sym}(F_a, F_b) = d_{cos}\Big(\frac{F_a}{F_a + F_b},\ \frac{F_b}{F_a + F_b}\Big)

  (:func:`d_sym`). The element-wise division makes it invariant to a per-filter rescaling applied to
  both embeddings (parameters of different scales) and to a common scalar; it lies in [0, 1).
  It is *not* the cosine of :math:`F/\|F\|`: scalar normalisation is a no-op for the cosine, the
  error of the transferability review's Def 6.1 (course spec §6.1);
* **asymmetric** score of transferring from a source task :math:`t_a` to a target :math:`t_b`

  .. math:: d_{asym}(t_a \to t_b) = d_{sym}(t_a, t_b) - \alpha\, d_{sym}(t_a, t_0)

  (:func:`d_asym`), :math:`t_0` the trivial embedding, :math:`\alpha = 0.15` in the thesis (ResNet-34
  probe). The penalty is on the **source** (the expert's task): it favours complex sources, far from
  the trivial embedding (the "ImageNet effect"). Put on the target it would be a constant per target
  and select exactly like :math:`d_{sym}`. Model selection picks the source with the *smallest*
  :math:`d_{asym}` (:func:`select_source`; the thesis's "argmax" in Model2Vec is a slip, errata).

Inputs are NumPy arrays or tensors; :math:`d_{sym}` and :math:`d_{asym}` need non-negative finite
embeddings of the same shape and raise ``ValueError`` otherwise. An entry that is zero in both
embeddings (a dead filter: a ReLU unit that never fires has exactly zero Fisher in every task) makes
:math:`0/0`; by default (``zeros="raise"``) that is a ``ValueError`` too, and ``zeros="drop"`` leaves
such entries out of the cosine, pair by pair (what the reference code's ``+1e-8`` in the denominator
amounts to). The course's pretrained probe has two filters dead on every domain, so real embeddings
need ``zeros="drop"`` (or the dead filters removed first).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["d_cos", "d_sym", "d_asym", "distance_matrix", "select_source", "KINDS", "ZEROS"]

#: ``kind=`` values of :func:`distance_matrix`.
KINDS = ("sym", "asym", "cos")
#: ``zeros=`` values: what to do with an entry that is zero in both embeddings (0/0).
ZEROS = ("raise", "drop")


def _check_zeros(zeros: str) -> None:
    if zeros not in ZEROS:
        raise ValueError(f"zeros must be one of {ZEROS}, got {zeros!r}")


def _vector(v: Any, name: str, nonneg: bool) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D embedding, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(a)))} NaN or infinite entries")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} has {int(np.sum(a < 0))} negative entries; a Fisher embedding is >= 0")
    return a


def _pair(a: Any, b: Any, names: tuple[str, str], nonneg: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vector(a, names[0], nonneg), _vector(b, names[1], nonneg)
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} differ in shape: {x.shape} vs {y.shape}")
    return x, y


def _cos(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> float:
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        raise ValueError(f"cosine distance of a zero vector ({names[0] if nx == 0 else names[1]}) is undefined")
    return float(1.0 - np.dot(x, y) / (nx * ny))


def d_cos(a: Any, b: Any) -> float:
    """Cosine distance :math:`1 - a\\cdot b / (\\|a\\|\\|b\\|)` (any signs; ``ValueError`` for a zero
    vector, NaN or a shape mismatch). Invariant to positive rescaling of either argument."""
    x, y = _pair(a, b, ("a", "b"), nonneg=False)
    return _cos(x, y, ("a", "b"))


def d_sym(Fa: Any, Fb: Any, *, zeros: str = "raise") -> float:
    """Symmetric Task2Vec distance :math:`d_{cos}(F_a/(F_a+F_b), F_b/(F_a+F_b))`, element-wise.
    ``zeros``: ``"raise"`` or ``"drop"`` for entries zero in both (see the module docstring)."""
    _check_zeros(zeros)
    x, y = _pair(Fa, Fb, ("Fa", "Fb"), nonneg=True)
    s = x + y
    dead = s == 0
    if np.any(dead):
        if zeros == "raise":
            raise ValueError(f"Fa + Fb is zero in {int(dead.sum())} entries (dead filters): F/(Fa+Fb) is 0/0 "
                             "there; pass zeros='drop' to leave them out, or remove them first")
        x, y, s = x[~dead], y[~dead], s[~dead]
        if s.size == 0:
            raise ValueError("Fa and Fb are both zero everywhere")
    return _cos(x / s, y / s, ("Fa/(Fa+Fb)", "Fb/(Fa+Fb)"))


def d_asym(Fa: Any, Fb: Any, F0: Any, alpha: float = 0.15, *, zeros: str = "raise") -> float:
    """Asymmetric score of transfer from source ``Fa`` to target ``Fb``:
    :math:`d_{sym}(F_a, F_b) - \\alpha\\, d_{sym}(F_a, F_0)`, ``F0`` the trivial embedding
    (penalty on the source). ``alpha=0`` gives :func:`d_sym`."""
    base = d_sym(Fa, Fb, zeros=zeros)
    return base - alpha * d_sym(Fa, F0, zeros=zeros) if alpha else base


def _matrix(embs: Any) -> np.ndarray:
    if hasattr(embs, "detach"):
        embs = embs.detach().cpu().numpy()
    if isinstance(embs, np.ndarray):
        E = np.asarray(embs, dtype=np.float64)
    else:
        rows = [r.detach().cpu().numpy() if hasattr(r, "detach") else np.asarray(r) for r in embs]
        lengths = {np.shape(r) for r in rows}
        if len(lengths) > 1:
            raise ValueError(f"embeddings differ in shape: {sorted(lengths)}")
        E = np.asarray(rows, dtype=np.float64)
    if E.ndim != 2 or E.shape[0] == 0 or E.shape[1] == 0:
        raise ValueError(f"expected n embeddings as an (n, d) array, got shape {E.shape}")
    return E


def _sym_matrix(A: np.ndarray, B: np.ndarray, zeros: str) -> np.ndarray:
    """``D[i, j] = d_sym(A[i], B[j])`` for all pairs, vectorised (0/0 entries count as 0 in both
    normalised vectors with ``zeros="drop"``, which leaves them out of the cosine)."""
    S = A[:, None, :] + B[None, :, :]
    dead = S == 0
    if np.any(dead) and zeros == "raise":
        raise ValueError("some pair of embeddings has Fa + Fb = 0 in an entry (dead filters): "
                         "pass zeros='drop' to leave such entries out, or remove them first")
    S = np.where(dead, 1.0, S)
    X, Y = A[:, None, :] / S, B[None, :, :] / S
    num = (X * Y).sum(-1)
    den = np.linalg.norm(X, axis=-1) * np.linalg.norm(Y, axis=-1)
    if np.any(den == 0):
        raise ValueError("an embedding is zero on every entry where its pair is not: the cosine is undefined")
    return 1.0 - num / den


def distance_matrix(embs: Any, kind: str = "sym", F0: Any = None, alpha: float = 0.15, *,
                    zeros: str = "raise") -> np.ndarray:
    """All pairwise distances between ``n`` embeddings (an ``(n, d)`` array/tensor or a list).

    ``kind``: ``"sym"`` (:func:`d_sym`, symmetric, zero diagonal), ``"cos"`` (:func:`d_cos`) or
    ``"asym"`` (:func:`d_asym` with ``F0`` and ``alpha``): ``D[i, j] = d_asym(t_i -> t_j)``, the row
    is the **source**, the column the target (so the best source for target ``j`` is the argmin of
    column ``j`` over the candidate rows). ``zeros`` as in :func:`d_sym`.
    """
    _check_zeros(zeros)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    E = _matrix(embs)
    if not np.all(np.isfinite(E)):
        raise ValueError("embeddings contain NaN or infinite entries")
    if kind == "cos":
        norms = np.linalg.norm(E, axis=1)
        if np.any(norms == 0):
            raise ValueError("cosine distance of a zero embedding is undefined")
        U = E / norms[:, None]
        D = 1.0 - U @ U.T
        np.fill_diagonal(D, 0.0)
        return D
    if np.any(E < 0):
        raise ValueError("embeddings have negative entries; a Fisher embedding is >= 0")
    D = _sym_matrix(E, E, zeros)
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    if kind == "asym":
        if F0 is None:
            raise ValueError("kind='asym' needs the trivial embedding F0")
        f0 = _vector(F0, "F0", nonneg=True)
        if f0.shape[0] != E.shape[1]:
            raise ValueError(f"F0 has {f0.shape[0]} entries, the embeddings {E.shape[1]}")
        D = D - alpha * _sym_matrix(E, f0[None, :], zeros)  # (n, 1): the penalty of each source row
    return D


def select_source(target: Any, sources: Any, kind: str = "asym", F0: Any = None, alpha: float = 0.15, *,
                  zeros: str = "raise") -> int:
    """Index of the source embedding closest to ``target``: argmin over ``i`` of
    ``d_asym(sources[i] -> target)`` (``kind="asym"``), ``d_sym`` (``"sym"``) or ``d_cos`` (``"cos"``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    S = _matrix(sources)
    if kind == "asym":
        if F0 is None:
            raise ValueError("kind='asym' needs the trivial embedding F0")
        d = [d_asym(s, target, F0, alpha, zeros=zeros) for s in S]
    elif kind == "sym":
        d = [d_sym(s, target, zeros=zeros) for s in S]
    else:
        d = [d_cos(s, target) for s in S]
    return int(np.argmin(d))
