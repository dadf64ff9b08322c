r"""Task library A of the Task2Vec chapter: digit tasks over four domains, and their taxonomy.

The thesis embeds 1,460 tasks cut from iNaturalist, CUB-200, iMaterialist and DeepFashion (Ch. 5):
species *within* an order, on disjoint images ("disjoint domains"), and attributes of one shared
image set ("same domain, different labels"). Our offline analogue (course spec ch05 §3.1; our
choices) cuts tasks from handwritten digits in four **domains**:

* ``M``: the 5,000 offline MNIST digits (:func:`emergent.data.mnist_small`);
* ``I``: the same digits inverted (1 − x); ``R``: rotated by 90°;
* ``S``: scikit-learn's 1,797 8×8 digits, resized to 20×20 (bilinear) and padded to 28×28: a
  second "dataset", like CUB beside iNaturalist.

and two **families** of label functions of the digit :math:`d`:

* ``subset`` (iNat-like, each task on its own images): ``0v6``, ``1v7``, ``4v9``, and in ``M`` also
  ``2v3`` and ``3v5v8`` (labels = position of the digit in the list);
* ``attribute`` (iMaterialist-like, all the attribute tasks of a domain on the *same* images):
  ``parity`` (d mod 2), ``ge5`` (d ≥ 5), ``loop`` (d ∈ {0, 6, 8, 9}), and in ``M`` also ``prime``
  (d ∈ {2, 3, 5, 7}) and ``mod3`` (d mod 3).

That is 6 tasks per domain plus 4 more in ``M``: 28 tasks (:func:`build_tasks`). Each task has up to
500 training and 200 test images drawn from the images of its digits with a generator seeded by
``(seed, domain, set of digits used)``: tasks using the same digits of a domain (all attribute tasks)
get the same images, and the test images do not depend on ``n_train``. Small pools (the ``S`` subset
tasks have ≈ 360 images) keep a third for testing.

**Taxonomy** (thesis :math:`D_{tax}(t_a, t_b) = \min_{i\in S_a, j\in S_b} d(i, j)`, with :math:`d` an
ultrametric on a tree): our tree is domain → family → task, and :func:`taxonomic_distance` is the
ultrametric "height of the lowest common ancestor": 0 for the same task, 1 for two tasks of one family
and domain, 2 for one domain, 3 otherwise (half the path length in the tree). Over the 378 pairs of
the 28 tasks its mean is 1006/378 ≈ 2.66. This taxonomy is domain-first, which favours the domain
embedding (spec §3.1).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import data
from .probe import apply_domain

__all__ = [
    "DOMAINS",
    "TASK_LABELS",
    "DOMAIN_TASKS",
    "MNIST_EXTRA_TASKS",
    "Task",
    "domain_images",
    "label_map",
    "digit_task",
    "build_tasks",
    "taxonomic_distance",
    "taxonomy_matrix",
]

#: The four domains of task library A.
DOMAINS = {
    "M": "MNIST (5,000 offline digits)",
    "I": "MNIST inverted (1 - x)",
    "R": "MNIST rotated 90 degrees",
    "S": "scikit-learn digits, 8x8 resized to 20x20 and padded to 28x28",
}
_DOMAIN_CODE = {"M": 0, "I": 1, "R": 2, "S": 3}

#: label function name -> (family, digits -> label map of length 10, -1 = digit not in the task)
TASK_LABELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "0v6": ("subset", (0, -1, -1, -1, -1, -1, 1, -1, -1, -1)),
    "1v7": ("subset", (-1, 0, -1, -1, -1, -1, -1, 1, -1, -1)),
    "4v9": ("subset", (-1, -1, -1, -1, 0, -1, -1, -1, -1, 1)),
    "2v3": ("subset", (-1, -1, 0, 1, -1, -1, -1, -1, -1, -1)),
    "3v5v8": ("subset", (-1, -1, -1, 0, -1, 1, -1, -1, 2, -1)),
    "parity": ("attribute", tuple(d % 2 for d in range(10))),
    "ge5": ("attribute", tuple(int(d >= 5) for d in range(10))),
    "loop": ("attribute", tuple(int(d in (0, 6, 8, 9)) for d in range(10))),
    "prime": ("attribute", tuple(int(d in (2, 3, 5, 7)) for d in range(10))),
    "mod3": ("attribute", tuple(d % 3 for d in range(10))),
}
#: Label functions built in every domain, and the extra ones of ``M``.
DOMAIN_TASKS = ("0v6", "1v7", "4v9", "parity", "ge5", "loop")
MNIST_EXTRA_TASKS = ("2v3", "3v5v8", "prime", "mod3")


@dataclass(repr=False)
class Task:
    """A classification task: training images ``x`` ``(N, 1, 28, 28)`` in [0, 1], labels ``y`` in
    ``0..n_classes-1``, its place ``taxonomy`` in the task tree (a tuple, root first, e.g.
    ``("M", "subset", "M-0v6")``), optional test images, and ``digits``, the source digit of each
    training image (``meta`` holds the rest, e.g. ``label_map``).

    Raises ``ValueError`` for a task without examples or with fewer than two classes present.
    """

    name: str
    domain: str
    family: str
    x: torch.Tensor
    y: torch.Tensor
    n_classes: int
    taxonomy: tuple[str, ...] = ()
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    digits: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.shape[0] == 0:
            raise ValueError(f"task {self.name!r} has no examples")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"task {self.name!r}: x has {self.x.shape[0]} examples, y has {self.y.shape[0]}")
        present = torch.unique(self.y)
        if self.n_classes < 2 or present.numel() < 2:
            raise ValueError(f"task {self.name!r} has a single class (n_classes={self.n_classes}, "
                             f"labels present: {present.tolist()}); a task needs at least two")
        if int(present.min()) < 0 or int(present.max()) >= self.n_classes:
            raise ValueError(f"task {self.name!r}: labels must lie in 0..{self.n_classes - 1}")
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError(f"task {self.name!r}: give both x_test and y_test, or neither")
        if self.x_test is not None and self.x_test.shape[0] != self.y_test.shape[0]:
            raise ValueError(f"task {self.name!r}: x_test and y_test differ in length")
        if not self.taxonomy:
            self.taxonomy = (self.domain, self.family, self.name)

    def __repr__(self) -> str:
        n_test = 0 if self.x_test is None else self.x_test.shape[0]
        return (f"Task({self.name!r}, domain={self.domain!r}, family={self.family!r}, "
                f"classes={self.n_classes}, train={self.x.shape[0]}, test={n_test})")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: str | torch.device) -> "Task":
        """The same task with its tensors on ``device``."""
        mv = (lambda t: None if t is None else t.to(device))
        return Task(self.name, self.domain, self.family, self.x.to(device), self.y.to(device), self.n_classes,
                    self.taxonomy, mv(self.x_test), mv(self.y_test), mv(self.digits), dict(self.meta))


@functools.lru_cache(maxsize=4)
def _domain_images(domain: str) -> tuple[torch.Tensor, torch.Tensor]:
    if domain == "S":
        d = data.digits(device="cpu")
        x = F.interpolate(d.x, size=(20, 20), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
        return F.pad(x, (4, 4, 4, 4)).contiguous(), d.y.clone()
    if domain not in _DOMAIN_CODE:
        raise ValueError(f"unknown domain {domain!r}; expected one of {sorted(DOMAINS)}")
    m = data.mnist_small(device="cpu")
    return apply_domain(m.x, domain).contiguous(), m.y.clone()


def domain_images(domain: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of a domain on the CPU, ``(x (N, 1, 28, 28) float32 in [0, 1], digits (N,))``:
    5,000 for ``M``/``I``/``R``, 1,797 for ``S``. Cached in memory; the tensors are shared, do not
    modify them in place."""
    return _domain_images(domain)


def label_map(labels: Sequence[int] | Mapping[int, int] | str) -> tuple[int, ...]:
    """A digit -> label map as a tuple of 10 ints (−1: digit not used): from a name of
    :data:`TASK_LABELS`, a mapping ``{digit: label}`` or a sequence of 10 labels. The labels used
    must be exactly ``0..K-1`` with ``K >= 2``."""
    if isinstance(labels, str):
        if labels not in TASK_LABELS:
            raise ValueError(f"unknown label function {labels!r}; known: {sorted(TASK_LABELS)}")
        out = TASK_LABELS[labels][1]
    elif isinstance(labels, Mapping):
        out = tuple(int(labels.get(d, -1)) for d in range(10))
    else:
        out = tuple(int(v) for v in labels)
    if len(out) != 10:
        raise ValueError(f"a label map has 10 entries (one per digit), got {len(out)}")
    used = sorted({v for v in out if v >= 0})
    if len(used) < 2:
        raise ValueError(f"label map {out} uses fewer than two labels: a task needs at least two classes")
    if used != list(range(len(used))):
        raise ValueError(f"label map {out}: the labels used must be 0..K-1, got {used}")
    return out


def digit_task(domain: str, labels: Sequence[int] | Mapping[int, int] | str, *, name: str | None = None,
               family: str | None = None, n_train: int = 500, n_test: int = 200, seed: int = 0,
               taxonomy: tuple[str, ...] | None = None, device: str | torch.device | None = None) -> Task:
    """One task on the digits of ``domain`` with the label function ``labels`` (see :func:`label_map`).

    The images are the domain's images of the digits used, shuffled by a generator seeded with
    ``(seed, domain, set of digits)``: the first ``min(n_test, pool // 3)`` are the test set, the next
    ``min(n_train, pool − n_test)`` the training set. So two tasks using the same digits of a domain
    (e.g. any two attribute tasks, or random binary partitions of all 10 digits) share their images.
    Example, a random partition: ``digit_task("M", rng.integers(0, 2, 10), name="M-rand")``.
    """
    if isinstance(labels, str):
        fam, lab_name = TASK_LABELS.get(labels, ("custom", labels))[0], labels
    else:
        fam, lab_name = "custom", "custom"
    lmap = label_map(labels)
    family = family or fam
    name = name or f"{domain}-{lab_name}"
    x_all, d_all = domain_images(domain)
    lut = torch.tensor(lmap)
    used = [d for d in range(10) if lmap[d] >= 0]
    pool = torch.nonzero(lut[d_all] >= 0).flatten().numpy()
    mask = sum(1 << d for d in used)
    rng = np.random.default_rng([int(seed), _DOMAIN_CODE[domain], mask])
    perm = torch.as_tensor(rng.permutation(pool))
    n_te = min(int(n_test), len(perm) // 3)
    n_tr = min(int(n_train), len(perm) - n_te)
    te, tr = perm[:n_te], perm[n_te:n_te + n_tr]
    task = Task(name=name, domain=domain, family=family, x=x_all[tr].clone(), y=lut[d_all[tr]].clone(),
                n_classes=max(lmap) + 1, taxonomy=taxonomy or (domain, family, name),
                x_test=x_all[te].clone() if n_te else None, y_test=lut[d_all[te]].clone() if n_te else None,
                digits=d_all[tr].clone(), meta=dict(label=lab_name, label_map=lmap, seed=int(seed)))
    return task.to(device) if device is not None else task


def build_tasks(seed: int = 0, n_train: int = 500, n_test: int = 200, domains: Sequence[str] = ("M", "I", "R", "S"),
                device: str | torch.device | None = None) -> list[Task]:
    """Task library A: per domain ``DOMAIN_TASKS`` (0v6, 1v7, 4v9, parity, ge5, loop), plus
    ``MNIST_EXTRA_TASKS`` (2v3, 3v5v8, prime, mod3) in ``M``: 28 tasks for the four domains, named
    ``"<domain>-<label function>"``, subset tasks before attribute tasks within a domain."""
    out = []
    for dom in domains:
        names = DOMAIN_TASKS + (MNIST_EXTRA_TASKS if dom == "M" else ())
        names = sorted(names, key=lambda s: (TASK_LABELS[s][0] != "subset",
                                             list(TASK_LABELS).index(s)))
        out += [digit_task(dom, lab, n_train=n_train, n_test=n_test, seed=seed, device=device) for lab in names]
    return out


def _path(t: Task | Sequence[str]) -> tuple[str, ...]:
    return tuple(t.taxonomy) if isinstance(t, Task) else tuple(t)


def taxonomic_distance(task_a: Task | Sequence[str], task_b: Task | Sequence[str]) -> int:
    """:math:`D_{tax}` on the taxonomy tree: the height of the lowest common ancestor of the two
    leaves (root-first paths, e.g. domain → family → task), i.e. ``max(len) − len(common prefix)``:
    0 for the same task, 1 siblings, 2 same domain, 3 different domains. An ultrametric, symmetric."""
    a, b = _path(task_a), _path(task_b)
    common = 0
    for u, v in zip(a, b):
        if u != v:
            break
        common += 1
    return max(len(a), len(b)) - common


def taxonomy_matrix(tasks: Sequence[Task | Sequence[str]]) -> np.ndarray:
    """The matrix of :func:`taxonomic_distance` between all pairs, ``(n, n)`` int."""
    n = len(tasks)
    return np.array([[taxonomic_distance(tasks[i], tasks[j]) for j in range(n)] for i in range(n)], dtype=np.int64)
