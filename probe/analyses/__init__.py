"""The lecture's analyses behind one contract and registry (probe.analyses.base).

Adding a built-in analysis: a module here that ends with ``register_analysis(...)``, and its name in BUILTIN.
"""

BUILTIN = ("gradients", "clipping", "depth", "number", "diagnose")   # modules of probe.analyses, in report order
