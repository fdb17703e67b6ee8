"""Checkpoints of any engine's state pytree, and what a bit-identical resume needs.

A state is saved as its leaves, ``state/<i>`` in the checkpoint's arrays, and
restored into the structure of a freshly built state of the same config. The
environment (JAX version, backend, batching) is stamped beside it: a resume in
another environment is valid but not bit-identical.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from driftlab.batching import default_batching

State = TypeVar("State")


def stack(trees: list[Any]) -> Any:
    """Pytrees of the same structure stacked leaf by leaf along a new axis 0 (networks).

    Stacked on the host (PRNG keys through their key data) and put on the device:
    ``jnp.stack`` or ``jnp.asarray`` would compile one program per leaf shape, i.e.
    per run of a sweep."""

    def one(*leaves: Any) -> Any:
        dtype = getattr(leaves[0], "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(leaves[0])
            data = np.stack([np.asarray(jax.random.key_data(leaf)) for leaf in leaves])
            return jax.random.wrap_key_data(jax.device_put(data), impl=impl)
        return jax.device_put(np.stack([np.asarray(leaf) for leaf in leaves]))

    return jax.tree.map(one, *trees)


def state_arrays(state: Any) -> dict[str, np.ndarray]:
    """A state pytree's leaves as checkpoint arrays ``state/<i>`` (any engine's state)."""
    leaves = jax.tree.leaves(state)
    return {f"state/{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


def restore_state(template: State, arrays: dict[str, np.ndarray]) -> State:
    """The inverse of :func:`state_arrays`, shaped like ``template``; ``ValueError``
    naming the array when one is missing or of another shape or type than the
    template's leaf (a damaged checkpoint, or one of another config)."""
    treedef = jax.tree.structure(template)
    leaves = []
    for i, like in enumerate(jax.tree.leaves(template)):
        key = f"state/{i}"
        if key not in arrays:
            raise ValueError(f"array '{key}' is missing")
        found, like = np.asarray(arrays[key]), np.asarray(like)
        if found.shape != like.shape or found.dtype != like.dtype:
            raise ValueError(
                f"array '{key}' is {found.dtype}{list(found.shape)}, the run needs "
                f"{like.dtype}{list(like.shape)}"
            )
        leaves.append(jnp.asarray(found))
    restored: State = jax.tree.unflatten(treedef, leaves)
    return restored


def run_environment(batching: str | None = None) -> dict[str, str]:
    """What decides the floating-point results besides the config: bit-identical
    resumes need the same JAX version, backend, batching (default: the batching
    policy of :mod:`driftlab.batching`) and, on a CPU, the same number of cores
    (XLA sizes its thread pools, hence its reduction orders, by them: ``--cpus``)."""
    env = {
        "env/jax": jax.__version__,
        "env/backend": jax.default_backend(),
        "env/batching": batching or default_batching(),
    }
    if env["env/backend"] == "cpu" and hasattr(os, "sched_getaffinity"):
        env["env/cores"] = str(len(os.sched_getaffinity(0)))
    return env


def network_coords(networks: list[dict[str, float]]) -> dict[str, Any]:
    """The coordinates of a batch's ``network`` dimension: its index and each batch field."""
    coords: dict[str, Any] = {"network": np.arange(len(networks))}
    for name in networks[0]:
        dtype = np.int64 if name == "seed" else np.float64
        coords[name] = ("network", np.asarray([n[name] for n in networks], dtype))
    return coords
