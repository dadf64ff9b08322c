"""The free-energy principle for representation learning (Gao & Chaudhari, ICML 2020; course Ch. 7).

One module per concept:

* :mod:`~emergent.free_energy.closed_form`: the linear-Gaussian model (our derivation, spec §4) with
  R, D, C, F, the envelope identities and the iso-classification process (eq. 22) in closed form;
* :mod:`~emergent.free_energy.tabular`: the same Lagrangian on a finite world, minimised exactly by
  alternating steps; ``R + D = H(x)`` and the link to the information bottleneck (Chapter 1).
"""
from .closed_form import (LinearGaussianPoint, entropy, iso_classification_end, iso_classification_path,
                          iso_classification_rates, linear_gaussian, rd_curve, terms)
from .tabular import TabularResult, ib_beta, information_terms, tabular_free_energy

__all__ = [
    "LinearGaussianPoint", "entropy", "iso_classification_end", "iso_classification_path",
    "iso_classification_rates", "linear_gaussian", "rd_curve", "terms",
    "TabularResult", "ib_beta", "information_terms", "tabular_free_energy",
]
from .processes import c_derivatives, free_energy_jump, iso_classification, mixture, mnist_split, transfer
from .rdc_vae import (RDCVAE, EvalSet, adam, binarizer, clone, equilibrate, eval_set, evaluate, gaussian_kl,
                      lagrangian_loss, rdc_terms)

__all__ += [
    "c_derivatives", "free_energy_jump", "iso_classification", "mixture", "mnist_split", "transfer",
    "RDCVAE", "EvalSet", "adam", "binarizer", "clone", "equilibrate", "eval_set", "evaluate", "gaussian_kl",
    "lagrangian_loss", "rdc_terms",
]
