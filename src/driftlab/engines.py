"""Which engine trains a feed-forward batch: the JAX reference or the fused CPU kernel.

``"jax"``    the jitted chunk of :mod:`driftlab.simulate`: every device (CPU, GPU), every
             rule and generator; the reference.
``"fused"``  :mod:`driftlab.fused`: the same step compiled by numba for one CPU core,
             the parameters in one buffer, the noise drawn from the same counter
             stream (bit for bit) and the products by BLAS. It gives the JAX
             trajectory to rounding (tests/test_fused.py) and the same records, and
             either engine resumes the other's checkpoint.
``"auto"``   (default) the faster of the two for the run, as measured by
             ``benchmarks/bench_engine.py`` on CPUs (benchmarks/RESULTS.md, "Engines"):
             ``"fused"`` on a CPU backend for a step of at most
             :data:`FUSED_MAX_FLOPS` whose inputs and outputs both have two
             dimensions or more (every shape of the paper's sweeps but those with a
             single input or output), when numba is installed and the run's choices
             are ones it has; ``"jax"`` otherwise (the Figure 2 network among them).

The choice is a run-time option (``driftlab run --engine``, or the environment
variable ``DRIFTLAB_ENGINE``; a sweep hands the value it was started with to every
job), not part of the run's config: a run's directory and hash do not depend on it.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

import jax

from driftlab.errors import ConfigError
from driftlab.model import flops_per_step
from driftlab.simulate import EngineSpec, make_chunk

ENGINES: tuple[str, ...] = ("auto", "jax", "fused")
ENGINE_ENV = "DRIFTLAB_ENGINE"

FUSED_MAX_FLOPS = 500_000
"""``"auto"`` picks the fused engine for steps of at most this many multiply-add FLOPs
(:func:`driftlab.model.flops_per_step`); above it (and for a single input or output,
where XLA turns the products into a few vector operations), XLA was faster."""


class EngineChoiceError(ConfigError):
    """An engine name that does not exist, or one that cannot run the config (exit 2)."""


def requested_engine(value: str | None = None) -> str:
    """The engine asked for: ``value``, else ``$DRIFTLAB_ENGINE``, else ``"auto"``."""
    name = value if value is not None else os.environ.get(ENGINE_ENV, "auto")
    if name not in ENGINES:
        where = "--engine" if value is not None else f"environment variable {ENGINE_ENV}"
        raise EngineChoiceError(f"{where}: expected one of {', '.join(ENGINES)}, got {name!r}")
    return name


@functools.cache
def fused_available() -> bool:
    """Whether numba (the fused engine's compiler) is installed and imports."""
    try:
        importlib.import_module("numba")
    except Exception:  # a broken install (e.g. a numpy it does not support): not available
        return False
    return True


def choose_engine(
    spec: EngineSpec, shape: tuple[int, int, int, int], requested: str | None = None
) -> str:
    """The engine for a batch of ``spec`` of ``shape`` (samples a step, d_in, H, d_out).

    ``requested`` "jax" or "fused" is obeyed ("fused" raises
    :class:`EngineChoiceError` naming what it cannot run); "auto" (or None: the
    environment's choice) applies the rule of the module docstring.
    """
    name = requested_engine(requested)
    reason = _fused_unsupported(spec)
    if name == "fused" and reason is not None:
        raise EngineChoiceError(f"--engine fused: the fused engine cannot run {reason}")
    if name != "auto":
        return name
    if reason is not None or flops_per_step(*shape) > FUSED_MAX_FLOPS:
        return "jax"
    return "fused" if min(shape[1], shape[3]) >= 2 else "jax"


def _fused_unsupported(spec: EngineSpec) -> str | None:
    if jax.default_backend() != "cpu":
        return f"on a {jax.default_backend()} backend (it is a CPU engine)"
    if not fused_available():
        return "without numba (pip install numba)"
    from driftlab.fused.chunk import unsupported

    return unsupported(spec)


def engine_chunk(spec: EngineSpec, engine: str) -> Callable[..., Any]:
    """The chunk function of ``engine`` ("jax" or "fused") for ``spec``."""
    if engine == "fused":
        from driftlab.fused.chunk import make_fused_chunk

        return make_fused_chunk(spec)
    return make_chunk(spec)
