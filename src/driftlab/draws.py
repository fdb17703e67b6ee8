"""Start-of-run random draws (weights, task data) compiled once, whatever the shape.

``jax.random.normal(key, shape)`` compiles one XLA program per shape. A sweep's runs
each have their own shape (d_in, d_out, samples), so every run paid several
compilations (about 0.1-0.2 s each on a CPU) before its first step: most of a
sweep's per-run overhead. With JAX's partitionable threefry (the default since
JAX 0.5, ``jax_threefry_partitionable``) the number at flat index ``i`` depends
on the key and ``i`` only, so the draws of ``shape`` are the first ``prod(shape)``
draws of any longer flat array from the same key::

    jax.random.normal(key, shape) == jax.random.normal(key, (N,))[:prod(shape)].reshape(shape)

for every ``N >= prod(shape)``, bit for bit (tests/test_draws.py). The functions
here draw a flat array of a bucketed length (the next power of two, at least
1,024), cut it on the host and reshape it: a handful of programs for a whole
sweep, and exactly the numbers of ``jax.random``. Where the partitionable mode is
switched off they fall back to the direct per-shape draw (the same numbers as
before, compiled per shape).

The results are numpy arrays: slicing a device array would compile per shape too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MIN_BUCKET = 1024
"""The shortest flat draw: small shapes share one program."""


def bucket(n: int) -> int:
    """The flat length drawn for ``n`` numbers: the next power of two, >= MIN_BUCKET."""
    return max(MIN_BUCKET, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


@functools.partial(jax.jit, static_argnames=("n", "dtype"))
def _flat_normal(key: jax.Array, n: int, dtype: str) -> jax.Array:
    return jax.random.normal(key, (n,), jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("n", "dtype"))
def _flat_uniform(key: jax.Array, n: int, dtype: str) -> jax.Array:
    return jax.random.uniform(key, (n,), jnp.dtype(dtype))


def _partitionable() -> bool:
    """Whether JAX draws with the partitionable threefry (the default since 0.5), under
    which a draw of ``n`` values is the first ``n`` of any longer draw."""
    config: Any = jax.config  # the flag is not in jax.config's type stubs
    return bool(config.jax_threefry_partitionable)


def _draw(
    flat: Callable[..., jax.Array],
    direct: Callable[..., jax.Array],
    key: jax.Array,
    shape: tuple[int, ...],
    dtype: str,
) -> np.ndarray:
    size = math.prod(shape)
    if not _partitionable():
        return np.asarray(direct(key, shape, jnp.dtype(dtype)))
    return np.asarray(flat(key, n=bucket(size), dtype=dtype))[:size].reshape(shape)


def normal(key: jax.Array, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    """``np.asarray(jax.random.normal(key, shape, dtype))``, bit for bit, without a
    compilation per shape."""
    return _draw(_flat_normal, jax.random.normal, key, shape, str(jnp.dtype(dtype)))


@functools.partial(jax.jit, static_argnames=("dtype",))
def _scale(z: jax.Array, sd: jax.Array | float, dtype: str) -> jax.Array:
    return (sd * z.astype(dtype)).astype(dtype)


def scaled_normal(
    key: jax.Array, shape: tuple[int, ...], sd: float, dtype: str = "float32"
) -> np.ndarray:
    """``(sd * jax.random.normal(key, shape, float32).astype(dtype)).astype(dtype)``
    (the initial weights' draw, :func:`driftlab.model.init_params`), bit for bit:
    ``sd`` keeps its type (a Python float is weak, a numpy scalar is not), so JAX's
    promotion decides the product's precision exactly as in that expression."""
    dtype = str(jnp.dtype(dtype))
    size = math.prod(shape)
    if not _partitionable():
        z = jax.random.normal(key, shape, jnp.float32)
        return np.asarray(_scale(z, sd, dtype))
    z = _flat_normal(key, n=bucket(size), dtype="float32")
    return np.asarray(_scale(z, sd, dtype))[:size].reshape(shape)


def uniform(key: jax.Array, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    """``np.asarray(jax.random.uniform(key, shape, dtype))`` (U[0, 1)), bit for bit,
    without a compilation per shape."""
    return _draw(_flat_uniform, jax.random.uniform, key, shape, str(jnp.dtype(dtype)))
