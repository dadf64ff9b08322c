"""Exact, discrete checks of invariance and minimality (thesis §2.1 and §2.4; spec T3–T5).

The statements checked here:

* **Prop 2.1.1** (task–nuisance decomposition): for any ``p(x, y)`` with discrete ``y`` there is
  a nuisance ``n`` independent of ``y`` and a deterministic ``f`` with ``x = f(y, n)``.
  :func:`task_nuisance_decomposition` builds it exactly for discrete ``x``.
* **Prop 2.4.1** (invariance and minimality): for a nuisance ``n`` (``I(y;n) = 0``) and a
  sufficient ``z`` with ``n → x → z``, ``I(z;n) <= I(z;x) - I(x;y)``; for the Prop 2.1.1
  nuisance ``I(z;n) = I(z;x) - I(x;y) - ε`` with ``ε = I(z;y|n) - I(x;y)`` and
  ``0 <= ε <= H(y|x)`` (the thesis proof writes ``I(z;y|n) - I(x;z)``: a typo, errata Ch. 2 #7).
  :func:`invariance_terms` computes every term.
* **Cor 2.4.4** (bottlenecks promote invariance): ``x → z1 → z2`` with ``z2`` sufficient gives
  ``I(z2;n) <= I(z1;z2) - I(x;y)``; **Prop 2.4.5** (stacking increases invariance).
  :func:`chain_terms` computes the per-layer terms of a chain of channels.

Distributions are exact NumPy arrays (float64); information is in nats (``base=2`` for bits).
Joint distributions carry variable names (:class:`Joint`), and new variables are added by
pushing existing ones through a channel ``p(new | source)`` (:meth:`Joint.push`), so a Markov
chain ``n → x → z1 → z2`` is built exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .info import _entropy_raw, _log_scale, validate_distribution

__all__ = [
    "Joint",
    "product",
    "deterministic_channel",
    "symmetric_channel",
    "flip_channel",
    "product_channel",
    "NuisanceDecomposition",
    "task_nuisance_decomposition",
    "invariance_terms",
    "chain_terms",
]

Names = str | Sequence[str]


def _names(v: Names | None) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    return tuple(v)


# =============================================================================================
# joint distributions with named variables
# =============================================================================================


class Joint:
    """A joint distribution over named discrete variables: ``p[i, j, ...]``, one axis per name.

    >>> j = product(("y", [0.5, 0.5]), ("n", [0.25] * 4))
    >>> j = j.push(("y", "n"), deterministic_channel(np.arange(8).reshape(2, 4), 8), "x")
    >>> round(j.mi("x", "y"), 6)  # ln 2
    0.693147

    Methods: :meth:`marginal`, :meth:`entropy`, :meth:`mi` (optionally conditional),
    :meth:`cond_entropy`, :meth:`push` (add a variable through a channel), :meth:`drop`.
    Instances are immutable in spirit: every method returns a new object.
    """

    def __init__(self, p, names: Sequence[str]):
        names = tuple(names)
        a = validate_distribution(p, "p")
        if a.ndim != len(names):
            raise ValueError(f"p has {a.ndim} axes but {len(names)} names were given: {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"variable names must be unique, got {names}")
        self.p = a
        self.names = names

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}:{s}" for n, s in zip(self.names, self.p.shape))
        return f"Joint({sizes})"

    @property
    def sizes(self) -> dict[str, int]:
        """Number of values of each variable."""
        return dict(zip(self.names, self.p.shape))

    def _axes(self, names: Names) -> tuple[int, ...]:
        out = []
        for n in _names(names):
            if n not in self.names:
                raise ValueError(f"unknown variable {n!r}; this joint has {self.names}")
            out.append(self.names.index(n))
        return tuple(out)

    def marginal(self, *names: str) -> np.ndarray:
        """The marginal over ``names``, axes in the order given."""
        axes = self._axes(names)
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated variable in {names}")
        drop = tuple(i for i in range(self.p.ndim) if i not in axes)
        m = self.p.sum(axis=drop) if drop else self.p
        kept = [i for i in range(self.p.ndim) if i in axes]
        return np.transpose(m, [kept.index(ax) for ax in axes])

    def entropy(self, *names: str, base: float | None = None) -> float:
        """Joint entropy ``H(names)``."""
        if not names:
            return 0.0
        return _entropy_raw(self.marginal(*dict.fromkeys(names))) * _log_scale(base)

    def cond_entropy(self, a: Names, given: Names, base: float | None = None) -> float:
        """``H(a | given) = H(a, given) - H(given)``."""
        a, g = _names(a), _names(given)
        return (self.entropy(*a, *g) - self.entropy(*g)) * _log_scale(base)

    def mi(self, a: Names, b: Names, given: Names | None = None, base: float | None = None) -> float:
        """``I(a; b | given)``; each argument is a name or a tuple of names (a joint variable).

        Computed as ``H(a,g) + H(b,g) - H(a,b,g) - H(g)``; tiny negative round-off is clipped to 0.
        """
        a, b, g = _names(a), _names(b), _names(given)
        val = (self.entropy(*a, *g) + self.entropy(*b, *g) - self.entropy(*a, *b, *g)
               - self.entropy(*g))
        return max(val, 0.0) * _log_scale(base)

    def push(self, source: Names, channel, name: str) -> "Joint":
        """Add the variable ``name`` with ``p(name | source) = channel``; the rest is unchanged.

        The new variable depends on everything else only through ``source`` (a Markov chain
        ``others → source → name``). ``channel`` has shape ``(*sizes of source, k)`` or
        ``(prod(sizes of source), k)`` (row-major flattening, matching :func:`product_channel`),
        non-negative rows summing to 1.
        """
        if name in self.names:
            raise ValueError(f"variable {name!r} already exists")
        src = _names(source)
        axes = self._axes(src)
        sizes = [self.p.shape[i] for i in axes]
        c = np.asarray(channel, dtype=np.float64)
        n_src = int(np.prod(sizes))
        if c.ndim == 2 and c.shape[0] == n_src:
            c = c.reshape(*sizes, c.shape[1])
        if c.shape[:-1] != tuple(sizes):
            raise ValueError(f"channel must have shape {tuple(sizes)} + (k,) or ({n_src}, k), got {c.shape}")
        if np.any(c < 0) or not np.allclose(c.sum(axis=-1), 1.0, atol=1e-10):
            raise ValueError("channel rows must be non-negative and sum to 1")
        # reorder the channel's source axes to the joint's axis order, then broadcast
        order = np.argsort(axes)
        c = np.transpose(c, list(order) + [len(axes)])
        shape = [1] * self.p.ndim + [c.shape[-1]]
        for ax in sorted(axes):
            shape[ax] = self.p.shape[ax]
        p_new = self.p[..., None] * c.reshape(shape)
        return Joint(p_new, self.names + (name,))

    def drop(self, *names: str) -> "Joint":
        """Marginalize out ``names``."""
        keep = [n for n in self.names if n not in names]
        self._axes(names)  # validates
        return Joint(self.marginal(*keep), keep)

    def rename(self, old: str, new: str) -> "Joint":
        """The same joint with one variable renamed."""
        self._axes(old)
        return Joint(self.p, [new if n == old else n for n in self.names])


def product(*pairs: tuple[str, Sequence[float]]) -> Joint:
    """Joint of independent variables: ``product(("y", p_y), ("n", p_n))``."""
    names = [n for n, _ in pairs]
    p = np.ones(())
    for n, q in pairs:
        q = validate_distribution(q, f"p({n})", ndim=1)
        p = np.multiply.outer(p, q)
    return Joint(p, names)


# =============================================================================================
# channels
# =============================================================================================


def deterministic_channel(f, k: int | None = None) -> np.ndarray:
    """The channel of a deterministic map: ``f`` is an integer array of outputs indexed by the
    source value(s) (any shape); returns ``C`` of shape ``f.shape + (k,)`` with
    ``C[..., f] = 1``. ``k`` defaults to ``f.max() + 1``."""
    f = np.asarray(f)
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError("f must hold integer output indices")
    k = int(f.max()) + 1 if k is None else int(k)
    if f.min() < 0 or f.max() >= k:
        raise ValueError(f"outputs of f must lie in 0..{k - 1}")
    c = np.zeros(f.shape + (k,))
    np.put_along_axis(c, f[..., None], 1.0, axis=-1)
    return c


def symmetric_channel(k: int, eta: float) -> np.ndarray:
    """Keep the value with probability ``1 - η``, otherwise replace it by a uniform draw on
    ``{0..k-1}`` (the η-channel of spec T4): ``(1-η) I + η/k``. ``η = 0`` is the identity,
    ``η = 1`` erases everything."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError("eta must be in [0, 1]")
    return (1.0 - eta) * np.eye(k) + eta / k


def flip_channel(rho: float) -> np.ndarray:
    """Binary symmetric channel: flip the bit with probability ``ρ``."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError("rho must be in [0, 1]")
    return np.array([[1.0 - rho, rho], [rho, 1.0 - rho]])


def product_channel(*channels) -> np.ndarray:
    """Channel acting independently on the parts of a composite variable.

    For ``x = (a, b)`` flattened row-major as ``x = a * |b| + b``, ``product_channel(Ca, Cb)``
    is ``kron(Ca, Cb)``: output ``(a', b')`` flattened the same way.
    """
    out = np.ones((1, 1))
    for c in channels:
        out = np.kron(out, np.asarray(c, dtype=np.float64))
    return out


# =============================================================================================
# Prop 2.1.1: the task–nuisance decomposition, exactly
# =============================================================================================


@dataclass
class NuisanceDecomposition:
    """The exact discrete construction of Prop 2.1.1 (spec T3).

    ``p_n[k]`` is the length of cell ``k`` of the common refinement of the class-conditional CDF
    breakpoints (``breakpoints`` holds the cell edges in [0, 1]); ``f[y, k] = F_y^{-1}(midpoint
    of cell k)`` is the value of ``x`` rendered from task ``y`` and nuisance ``k``;
    ``p_xyn[x, y, k] = p(y) p(n=k) [x = f(y, k)]``; ``order`` is the enumeration order of
    ``x`` used for the CDFs.
    """

    p_n: np.ndarray
    f: np.ndarray
    breakpoints: np.ndarray
    p_xyn: np.ndarray
    order: np.ndarray

    def joint(self) -> Joint:
        """The joint as a :class:`Joint` with variables ``('x', 'y', 'n')``."""
        return Joint(self.p_xyn, ("x", "y", "n"))


def task_nuisance_decomposition(p_xy, order: Sequence[int] | None = None,
                                merge_tol: float = 1e-13) -> NuisanceDecomposition:
    """Exact discrete version of Prop 2.1.1: ``x = f(y, n)`` with ``n`` independent of ``y``.

    The proof takes ``n ~ Unif(0, 1)`` and ``x = F_y^{-1}(n)``. For discrete ``x``:

    1. enumerate the values of ``x`` (in ``order``, default ``0, 1, ...``);
    2. for each ``y`` take the CDF breakpoints ``F_y`` of ``p(x|y)`` in that order;
    3. take the common refinement of all breakpoints: cells ``[t_k, t_{k+1})`` of ``[0, 1]``;
    4. the nuisance is the cell index, ``p(n=k) = t_{k+1} - t_k``, and
       ``f(y, k) = F_y^{-1}(cell midpoint)``.

    Then ``p(x, y)`` is reproduced exactly (up to round-off; breakpoints closer than
    ``merge_tol`` are merged) and ``I(y; n) = 0`` exactly, since ``p(y, n) = p(y) p(n)`` by
    construction. Replacing the continuous ``n`` by its cell index changes no information
    involving a representation ``z`` of ``x``. The nuisance depends on ``order``.
    Classes with ``p(y) = 0`` get ``f = 0``.
    """
    a = validate_distribution(p_xy, "p_xy", ndim=2)
    n_x, n_y = a.shape
    order = np.arange(n_x) if order is None else np.asarray(order, dtype=int)
    if sorted(order.tolist()) != list(range(n_x)):
        raise ValueError(f"order must be a permutation of 0..{n_x - 1}")
    p_y = a.sum(axis=0)
    cdfs = []
    for y in range(n_y):
        if p_y[y] <= 0:
            cdfs.append(None)
            continue
        c = np.cumsum(a[order, y] / p_y[y])
        c /= c[-1]
        c[-1] = 1.0
        cdfs.append(c)
    pts = np.concatenate([[0.0, 1.0]] + [c for c in cdfs if c is not None])
    pts = np.unique(np.clip(pts, 0.0, 1.0))
    keep = np.concatenate([[True], np.diff(pts) > merge_tol])
    pts = pts[keep]
    pts[-1] = 1.0
    if pts.size < 2:  # pragma: no cover - impossible for a valid distribution
        pts = np.array([0.0, 1.0])
    p_n = np.diff(pts)
    mid = 0.5 * (pts[:-1] + pts[1:])
    f = np.zeros((n_y, p_n.size), dtype=int)
    p_xyn = np.zeros((n_x, n_y, p_n.size))
    cols = np.arange(p_n.size)
    for y, c in enumerate(cdfs):
        if c is None:
            continue
        pos = np.minimum(np.searchsorted(c, mid, side="right"), n_x - 1)
        f[y] = order[pos]
        p_xyn[f[y], y, cols] = p_y[y] * p_n
    return NuisanceDecomposition(p_n=p_n, f=f, breakpoints=pts, p_xyn=p_xyn, order=order)


# =============================================================================================
# Prop 2.4.1, Cor 2.4.4, Prop 2.4.5
# =============================================================================================


def invariance_terms(joint: Joint, x: Names = "x", y: Names = "y", n: Names = "n", z: Names = "z",
                     base: float | None = None, tol: float = 1e-10) -> dict:
    """All the terms of Prop 2.4.1 for a joint over ``x, y, n, z`` (``n → x → z`` assumed).

    Returns a dict (nats unless ``base``):

    * ``I_zn``, ``I_zx``, ``I_xy``, ``I_zy``, ``I_yn``, ``I_zy_given_n``, ``H_y_given_x``;
    * ``bound = I(z;x) - I(x;y)``; ``gap = bound - I(z;n)`` (``>= 0`` when ``z`` is sufficient
      and ``n`` is a nuisance);
    * ``eps = I(z;y|n) - I(x;y)`` (the residual; ``I(z;n) = bound - eps`` holds exactly when
      ``x`` is a function of ``(y, n)``, e.g. the Prop 2.1.1 nuisance, and then
      ``0 <= eps <= H(y|x)``);
    * ``sufficient`` (``|I(z;y) - I(x;y)| <= tol``) and ``nuisance`` (``I(y;n) <= tol``).
    """
    s = _log_scale(base)
    i_zn = joint.mi(z, n)
    i_zx = joint.mi(z, x)
    i_xy = joint.mi(x, y)
    i_zy = joint.mi(z, y)
    i_yn = joint.mi(y, n)
    i_zy_n = joint.mi(z, y, given=n)
    h_ygx = joint.cond_entropy(y, x)
    out = {
        "I_zn": i_zn, "I_zx": i_zx, "I_xy": i_xy, "I_zy": i_zy, "I_yn": i_yn,
        "I_zy_given_n": i_zy_n, "H_y_given_x": h_ygx,
        "bound": i_zx - i_xy, "gap": i_zx - i_xy - i_zn, "eps": i_zy_n - i_xy,
    }
    out = {k: v * s for k, v in out.items()}
    out["sufficient"] = abs(i_zy - i_xy) <= tol
    out["nuisance"] = i_yn <= tol
    return out


def chain_terms(joint: Joint, channels: Sequence, x: str = "x", y: Names = "y", n: Names = "n",
                base: float | None = None, tol: float = 1e-10) -> dict:
    """Per-layer terms of a chain ``x → z1 → … → zL`` of channels (Cor 2.4.4, Prop 2.4.5).

    ``joint`` holds ``x``, ``y`` and ``n``; ``channels[k]`` is ``p(z_{k+1} | z_k)`` (with
    ``z_0 = x``). Only ``(x, y, n, z_k)`` is carried from layer to layer, so long chains stay
    small. Returns a dict of arrays indexed by layer ``k = 1..L``:

    * ``I_zn = I(z_k; n)`` (non-increasing in ``k`` by the DPI), ``I_zy = I(z_k; y)``,
      ``I_zx = I(z_k; x)``, ``I_prev = I(z_{k-1}; z_k)``;
    * ``bound = I(z_{k-1}; z_k) - I(x; y)``: for a sufficient ``z_k``, ``I(z_k; n) <= bound``
      for every nuisance (Cor 2.4.4; for ``k = 1`` it is Prop 2.4.1);
    * ``bound_x = I(z_k; x) - I(x; y)``: Prop 2.4.1 applied to ``z_k`` (tighter, since
      ``I(z_k; x) <= I(z_{k-1}; z_k)`` by the DPI; equality with ``I(z_k; n)`` for the Prop 2.1.1
      nuisance when ``y`` is a function of ``x``);
    * ``sufficient`` (``|I(z_k;y) - I(x;y)| <= tol``), and the scalars ``I_xy``, ``I_xn``.
    """
    s = _log_scale(base)
    ys, ns = _names(y), _names(n)
    cur = joint.drop(*[v for v in joint.names if v not in (x, *ys, *ns)])
    i_xy = cur.mi(x, ys)
    i_xn = cur.mi(x, ns)
    prev = x
    rows = {k: [] for k in ("I_zn", "I_zy", "I_zx", "I_prev", "bound", "bound_x", "sufficient")}
    for k, c in enumerate(channels, start=1):
        name = f"__z{k}"
        nxt = cur.push(prev, c, name)
        i_prev = nxt.mi(prev, name)
        cur = nxt.drop(prev) if prev != x else nxt
        i_zn = cur.mi(name, ns)
        i_zy = cur.mi(name, ys)
        i_zx = cur.mi(name, x)
        rows["I_zn"].append(i_zn * s)
        rows["I_zy"].append(i_zy * s)
        rows["I_zx"].append(i_zx * s)
        rows["I_prev"].append(i_prev * s)
        rows["bound"].append((i_prev - i_xy) * s)
        rows["bound_x"].append((i_zx - i_xy) * s)
        rows["sufficient"].append(abs(i_zy - i_xy) <= tol)
        prev = name
    out = {k: np.array(v) for k, v in rows.items()}
    out["I_xy"] = i_xy * s
    out["I_xn"] = i_xn * s
    return out
