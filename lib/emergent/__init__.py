"""Emergent: the helper library of the course on *Emergent Properties of Deep Neural Networks*.

Submodules are imported on demand (``from emergent import data``), so ``import emergent`` stays
light. torchvision is never imported here: only functions that need real datasets import it.
"""
import os as _os
import sys as _sys

# plotly's renderers import nbformat, hence jsonschema, whose optional IRI format checker
# (rfc3987_syntax) compiles about thirty Lark grammars when it is imported: 3.2 s in every kernel
# on the 2-core reference machine, more than torch takes to import. No course code validates IRIs,
# so ``import emergent`` keeps that optional module out (jsonschema then treats it as not installed
# and only drops its "iri" format checks). EMERGENT_KEEP_RFC3987=1 turns this off.
if "rfc3987_syntax" not in _sys.modules and not _os.environ.get("EMERGENT_KEEP_RFC3987"):
    _sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]

from .runtime import describe, device, headless, in_notebook, pick, scale, seed_everything  # noqa: E402

__version__ = "0.1.0"

__all__ = ["__version__", "describe", "device", "headless", "in_notebook", "pick", "scale", "seed_everything"]
