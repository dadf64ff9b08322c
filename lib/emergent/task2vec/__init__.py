"""Task2Vec: embedding tasks with the Fisher information of a probe network (thesis Ch. 5).

One module per concept:

* :mod:`~emergent.task2vec.probe`: the probe CNN (144 filters, no BatchNorm) and its cached
  pretraining on offline MNIST with inverted and rotated copies (our ImageNet analogue);
* :mod:`~emergent.task2vec.tasks`: task library A (28 digit tasks over 4 domains), the :class:`Task`
  container and the taxonomic distance;
* :mod:`~emergent.task2vec.embedding`: the head recipe, the Task2Vec embedding (diagonal Fisher of
  the conv weights, averaged per filter), the domain and trivial embeddings;
* :mod:`~emergent.task2vec.distance`: the cosine, symmetric and asymmetric Task2Vec distances;
* :mod:`~emergent.task2vec.toys`: the exact toys (two-layer sigmoid net, per-pixel gain).

The Fisher diagonal itself is :func:`emergent.fisher.fisher_diagonal`.
"""
from .distance import KINDS, ZEROS, d_asym, d_cos, d_sym, distance_matrix, select_source
from .embedding import (ESTIMATORS, HEAD_DEFAULTS, domain_embedding, embed_tasks, filter_average, fit_head,
                        head_error, probe_features, task2vec_embedding, trivial_embedding)
from .probe import PROBE_DEFAULTS, PROBE_WIDTHS, LinearHead, Probe, TaskNet, apply_domain, pretrain_probe
from .tasks import (DOMAIN_TASKS, DOMAINS, MNIST_EXTRA_TASKS, TASK_LABELS, Task, build_tasks, digit_task,
                    domain_images, label_map, taxonomic_distance, taxonomy_matrix)
from .toys import (PixelGainLogistic, TwoLayerSigmoid, fit_pixel_gain, pixel_gain_fisher_diagonal,
                   two_layer_fisher, two_layer_fisher_diagonal)

__all__ = [
    "KINDS", "ZEROS", "d_asym", "d_cos", "d_sym", "distance_matrix", "select_source",
    "ESTIMATORS", "HEAD_DEFAULTS", "domain_embedding", "embed_tasks", "filter_average", "fit_head",
    "head_error", "probe_features", "task2vec_embedding", "trivial_embedding",
    "PROBE_DEFAULTS", "PROBE_WIDTHS", "LinearHead", "Probe", "TaskNet", "apply_domain", "pretrain_probe",
    "DOMAIN_TASKS", "DOMAINS", "MNIST_EXTRA_TASKS", "TASK_LABELS", "Task", "build_tasks", "digit_task",
    "domain_images", "label_map", "taxonomic_distance", "taxonomy_matrix",
    "PixelGainLogistic", "TwoLayerSigmoid", "fit_pixel_gain", "pixel_gain_fisher_diagonal", "two_layer_fisher",
    "two_layer_fisher_diagonal",
]
