"""Emergent: the helper library of the course on *Emergent Properties of Deep Neural Networks*.

Submodules are imported on demand (``from emergent import data``), so ``import emergent`` stays
light. torchvision is never imported here: only functions that need real datasets import it.
"""
from .runtime import describe, device, headless, in_notebook, pick, scale, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "describe", "device", "headless", "in_notebook", "pick", "scale", "seed_everything"]
