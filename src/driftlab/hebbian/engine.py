"""The jitted chunk of the Hebbian/anti-Hebbian network: many plasticity steps,
for a batch of networks (vmapped on accelerators, ``lax.map`` on CPUs).

One step t of one network (:mod:`driftlab.hebbian.model`)::

    i_t  = floor(T u_t)                 u_t uniform on [0, 1) from the sample stream
    y    = fixed point of the neural dynamics for x = X[i_t]
    W, M, b <- plasticity(W, M, b, x, y, xi_t, zeta_t)

u_t, xi_t and zeta_t are counter-based numbers of (stream seed, t)
(:mod:`driftlab.noise`): the input sequence and the synaptic noise of step t do
not depend on where a chunk starts, so a resumed run is bit-identical to an
uninterrupted one, and changing sigma changes neither the initial weights nor
the inputs. A chunk is a ``lax.fori_loop`` with a traced trip count (one
compilation for every chunk length); besides the state it returns the largest
number of fixed-point iterations it needed and how many steps hit the cap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from driftlab import noise
from driftlab.batching import default_batching as default_batching  # re-exported
from driftlab.hebbian.model import (
    DT,
    MAX_ITER,
    TOL,
    FixedPoint,
    HebbParams,
    Hyper,
    fixed_point,
    plasticity,
)


class Streams(NamedTuple):
    """Per-network noise streams: W noise, M noise, input sampling."""

    w: jax.Array
    m: jax.Array
    sample: jax.Array


class HebbState(NamedTuple):
    """Synapses and the global step counter of one network (or a batch)."""

    params: HebbParams
    step: jax.Array


class ChunkStats(NamedTuple):
    """Per network: most fixed-point iterations of a step in the chunk, steps that hit the cap."""

    max_iterations: jax.Array
    cap_hits: jax.Array


class Dynamics(NamedTuple):
    """The static settings of the fixed-point loop (changing one recompiles)."""

    dt: float = DT
    tol: float = TOL
    max_iter: int = MAX_ITER


def make_streams(generator: noise.Generator, key: jax.Array) -> Streams:
    """Split a network's noise key into its three streams."""
    kw, km, ks = jax.random.split(key, 3)
    return Streams(*(noise.make_stream(generator, k) for k in (kw, km, ks)))


def sample_index(generator: noise.Generator, stream: jax.Array, t: jax.Array, n: int) -> jax.Array:
    """The input shown at step t: uniform on {0, ..., n-1} (24-bit uniform, floor(n u))."""
    u = noise.uniform(generator, stream, t, (1,))[0]
    return jnp.minimum((u * n).astype(jnp.int32), n - 1)


def make_step(
    dynamics: Dynamics, generator: noise.Generator
) -> Callable[[HebbState, jax.Array, Hyper, Streams], tuple[HebbState, FixedPoint]]:
    """One noisy plasticity step of one network (module docstring)."""

    def step(
        state: HebbState, X: jax.Array, hyper: Hyper, streams: Streams
    ) -> tuple[HebbState, FixedPoint]:
        t = state.step
        p = state.params
        x = X[sample_index(generator, streams.sample, t, X.shape[0])]
        fp = fixed_point(p, hyper, x, dt=dynamics.dt, tol=dynamics.tol, max_iter=dynamics.max_iter)
        dtype = p.W.dtype
        xi = noise.normal(generator, streams.w, t, p.W.shape).astype(dtype)
        zeta = noise.normal(generator, streams.m, t, p.M.shape).astype(dtype)
        return HebbState(plasticity(p, hyper, x, fp.y, xi, zeta), t + 1), fp

    return step


ChunkFn = Callable[[HebbState, jax.Array, Hyper, Streams, jax.Array], tuple[HebbState, ChunkStats]]


def make_chunk(
    dynamics: Dynamics | None = None,
    generator: noise.Generator = "hash",
    *,
    batching: str | None = None,
) -> ChunkFn:
    """A jitted chunk ``(state, X, hyper, streams, n_steps) -> (state, stats)``.

    ``state``, ``hyper`` and ``streams`` carry a leading batch axis; the inputs
    ``X`` (T, d) are shared by every network; ``n_steps`` is traced. Equal
    arguments return the same function, so its compilations are reused.
    """
    return _chunk(dynamics or Dynamics(), generator, batching or default_batching())


@functools.lru_cache(maxsize=32)
def _chunk(dynamics: Dynamics, generator: noise.Generator, mode: str) -> ChunkFn:
    step = make_step(dynamics, generator)

    def one(
        state: HebbState, X: jax.Array, hyper: Hyper, streams: Streams, n_steps: jax.Array
    ) -> tuple[HebbState, ChunkStats]:
        def body(_: jax.Array, carry: tuple[HebbState, ChunkStats]) -> tuple[HebbState, ChunkStats]:
            st, stats = carry
            st, fp = step(st, X, hyper, streams)
            stats = ChunkStats(
                jnp.maximum(stats.max_iterations, fp.iterations),
                stats.cap_hits + fp.capped.astype(jnp.int32),
            )
            return st, stats

        zero = jnp.zeros((), jnp.int32)
        out: tuple[HebbState, ChunkStats] = lax.fori_loop(
            0, n_steps, body, (state, ChunkStats(zero, zero))
        )
        return out

    if mode == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(0, None, 0, 0, None)))  # type: ignore[no-any-return]

    def mapped(
        state: HebbState, X: jax.Array, hyper: Hyper, streams: Streams, n_steps: jax.Array
    ) -> tuple[HebbState, ChunkStats]:
        def network(args: tuple[HebbState, Hyper, Streams]) -> tuple[HebbState, ChunkStats]:
            st, hy, sm = args
            return one(st, X, hy, sm, n_steps)

        out: tuple[HebbState, ChunkStats] = lax.map(network, (state, hyper, streams))
        return out

    return jax.jit(mapped)  # type: ignore[no-any-return]


def make_population(
    dynamics: Dynamics | None = None, *, batching: str | None = None
) -> Callable[[HebbParams, jax.Array, Hyper], FixedPoint]:
    """Jitted fixed points of every input for a batch of networks: ``y`` (B, T, n)."""
    return _population(dynamics or Dynamics(), batching or default_batching())


@functools.lru_cache(maxsize=32)
def _population(dyn: Dynamics, mode: str) -> Callable[[HebbParams, jax.Array, Hyper], FixedPoint]:
    def one(params: HebbParams, X: jax.Array, hyper: Hyper) -> FixedPoint:
        return fixed_point(params, hyper, X, dt=dyn.dt, tol=dyn.tol, max_iter=dyn.max_iter)

    if mode == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(0, None, 0)))  # type: ignore[no-any-return]

    def mapped(params: HebbParams, X: jax.Array, hyper: Hyper) -> FixedPoint:
        out: FixedPoint = lax.map(lambda a: one(a[0], X, a[1]), (params, hyper))
        return out

    return jax.jit(mapped)  # type: ignore[no-any-return]
