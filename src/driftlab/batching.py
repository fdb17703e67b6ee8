"""One batching policy for every engine: how a batch of networks shares a compiled program.

``"vmap"``: the networks run in lockstep, vectorised (accelerators, where one
program training many networks is what pays); ``"map"``: one network after
another inside the program (``lax.map``; CPUs, where XLA's batched matmuls of
small networks ran several times slower than a loop over networks,
benchmarks/RESULTS.md). Both give the same numbers (tested).
"""

from __future__ import annotations

import jax

BATCHINGS: tuple[str, ...] = ("map", "vmap")


def default_batching() -> str:
    """``"vmap"`` on accelerators, ``"map"`` on CPUs."""
    return "map" if jax.default_backend() == "cpu" else "vmap"
