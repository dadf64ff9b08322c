"""Experiments behind the chapters' figures: one module per chapter, each with cached ``run_*`` functions and a CLI."""
