"""One batching policy for every engine: how a batch of networks shares a compiled program.

``"vmap"``: the networks run in lockstep, vectorised (accelerators, where one
program training many networks is what pays); ``"map"``: one network after
another inside the program (``lax.map``; CPUs, where XLA's batched matmuls of
small networks ran several times slower than a loop over networks,
benchmarks/RESULTS.md). Both give the same numbers (tested).
"""

from __future__ import annotations

import os

import jax

BATCHINGS: tuple[str, ...] = ("map", "vmap")


def default_batching() -> str:
    """``"vmap"`` on accelerators, ``"map"`` on CPUs."""
    return "map" if jax.default_backend() == "cpu" else "vmap"


LOOPS: tuple[str, ...] = ("dynamic", "static")
LOOP_ENV = "DRIFTLAB_LOOP"
LARGEST_PIECE = 8192
"""The longest fixed-length scan of a static chunk (:func:`static_pieces`)."""


def default_loop() -> str:
    """How a chunk of ``n`` steps loops: ``"dynamic"`` (one ``lax.fori_loop`` with a
    traced trip count: one compilation for every length; CPUs) or ``"static"``
    (fixed-length ``lax.scan`` pieces, :func:`static_pieces`: accelerators, where a
    loop of unknown length costs a device-to-host round trip every step to test its
    condition). The environment variable ``DRIFTLAB_LOOP`` overrides it."""
    chosen = os.environ.get(LOOP_ENV, "")
    if chosen in LOOPS:
        return chosen
    return "dynamic" if jax.default_backend() == "cpu" else "static"


def static_pieces(n: int, largest: int = LARGEST_PIECE) -> list[int]:
    """Fixed scan lengths that add up to ``n``: as many ``largest`` as fit, then the
    binary digits of the rest (powers of two), so a process compiles at most
    log2(largest) + 1 programs for every chunk length and makes at most that many
    calls more than one per chunk."""
    pieces = [largest] * (n // largest)
    rest, bit = n % largest, largest
    while bit > 1:
        bit //= 2
        if rest & bit:
            pieces.append(bit)
    return pieces
