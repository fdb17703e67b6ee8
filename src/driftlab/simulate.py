"""The jitted chunk: a loop over steps of (data noise, loss, gradient, rule, update noise).

One noisy learning step (Ratzon, Derdikman & Barak 2023, eq. 2, 3 and 6):

    x~ = x + s_in xi_in                                   (input noise)
    y~ = y + s_lab xi_lab        or  y + w (u - 1/2)      (label noise, Gaussian / uniform)
    g  = d/dtheta mean (act(x~ m^T + b) n^T - y~)^2
    g~ = g + s xi                                         (update noise, form "gradient")
    theta <- theta + rule(g~)                             (gd: -lr g~)
    theta <- theta + s xi                                 (update noise, form "parameter")

xi are standard normals of the step's counter (:mod:`driftlab.noise`), so a chunk
is a pure function of (state, data, hyperparameters, streams, number of steps).
A chunk is ``lax.fori_loop`` with a traced trip count: one compilation serves
every chunk length, and the host only sees the state between chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from driftlab import noise
from driftlab.batching import default_batching as default_batching  # re-exported
from driftlab.model import Params, hidden_activity, mse_grad, mse_loss
from driftlab.rules import RULES


@dataclass(frozen=True)
class EngineSpec:
    """The static choices of a compiled step (changing one recompiles)."""

    activation: str = "relu"
    rule: str = "gd"
    update_form: str = "gradient"
    label_kind: str = "gaussian"
    generator: noise.Generator = "hash"
    update_noise: bool = False
    label_noise: bool = False
    input_noise: bool = False
    gradient: str = "manual"  # "manual": model.mse_grad; "autodiff": jax.grad(mse_loss)
    batch_size: int = 0  # samples per step for rule "sgd" (0: all)
    sed_sigma: float = 0.1  # perturbation scale of the "sed" rules

    def samples_per_step(self, samples: int) -> int:
        """Samples a step trains on: ``batch_size`` for a mini-batch of rule "sgd"
        smaller than the data's ``samples``, else all of them."""
        if self.rule == "sgd" and 0 < self.batch_size < samples:
            return self.batch_size
        return samples

    def make_rule(self, lr: jax.Array | float) -> optax.GradientTransformationExtraArgs:
        """This spec's rule with learning rate ``lr``."""
        return RULES[self.rule].factory(lr, sed_sigma=self.sed_sigma)


class Hyper(NamedTuple):
    """Per-network scalars (vmapped): learning rate and noise amplitudes.

    ``update_sd``: sd of the update noise; ``label_scale``: sd (Gaussian) or width
    (uniform) of the label noise; ``input_sd``: sd of the input noise.
    """

    lr: jax.Array
    update_sd: jax.Array
    label_scale: jax.Array
    input_sd: jax.Array


class Streams(NamedTuple):
    """Per-network noise streams, one per purpose."""

    update: jax.Array
    label: jax.Array
    input: jax.Array
    rule: jax.Array  # a rule's own randomness (stochastic error descent's perturbation)
    batch: jax.Array  # mini-batch sampling of rule "sgd"


class TrainState(NamedTuple):
    """Parameters, rule state and the global step counter."""

    params: Params
    rule_state: Any
    step: jax.Array


def make_streams(generator: noise.Generator, key: jax.Array) -> Streams:
    """Split a run's noise key into its streams (update, label, input, rule, batch)."""
    keys = [*jax.random.split(key, 3), jax.random.fold_in(key, 3), jax.random.fold_in(key, 4)]
    return Streams(*(noise.make_stream(generator, k) for k in keys))


def init_state(spec: EngineSpec, params: Params, lr: jax.Array | float) -> TrainState:
    """The state at step 0."""
    return TrainState(params, spec.make_rule(lr).init(params), jnp.zeros((), jnp.int32))


def _flat_normal(
    spec: EngineSpec, stream: jax.Array, step: jax.Array, like: Params
) -> list[jax.Array]:
    """Standard normals shaped like each leaf of ``like``, from one draw of the total size."""
    leaves = jax.tree.leaves(like)
    sizes = [leaf.size for leaf in leaves]
    z = noise.normal(spec.generator, stream, step, (sum(sizes),))
    bounds = np.cumsum([0, *sizes])
    return [
        z[lo:hi].reshape(leaf.shape).astype(leaf.dtype)
        for lo, hi, leaf in zip(bounds[:-1], bounds[1:], leaves, strict=True)
    ]


def _add_noise(
    spec: EngineSpec, tree: Params, sd: jax.Array, stream: jax.Array, step: jax.Array
) -> Params:
    z = _flat_normal(spec, stream, step, tree)
    treedef = jax.tree.structure(tree)
    leaves = [
        leaf + sd.astype(leaf.dtype) * zi for leaf, zi in zip(jax.tree.leaves(tree), z, strict=True)
    ]
    out: Params = jax.tree.unflatten(treedef, leaves)
    return out


def perturb_data(
    spec: EngineSpec, x: jax.Array, y: jax.Array, hyper: Hyper, streams: Streams, t: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The step's noisy inputs and targets: x + s_in xi, and y + s_lab xi (Gaussian,
    paper eq. 6) or y + w (u - 1/2) (uniform, the authors' code)."""
    gen = spec.generator
    if spec.samples_per_step(x.shape[0]) < x.shape[0]:
        # a mini-batch without replacement: the samples of the smallest uniforms
        u = noise.uniform(gen, streams.batch, t, (x.shape[0],))
        pick = jnp.argsort(u)[: spec.batch_size]
        x, y = x[pick], y[pick]
    if spec.input_noise:
        xi = noise.normal(gen, streams.input, t, x.shape).astype(x.dtype)
        x = x + hyper.input_sd.astype(x.dtype) * xi
    if spec.label_noise:
        if spec.label_kind == "gaussian":
            xi = noise.normal(gen, streams.label, t, y.shape)
        else:
            xi = noise.uniform(gen, streams.label, t, y.shape) - np.float32(0.5)
        y = y + hyper.label_scale.astype(y.dtype) * xi.astype(y.dtype)
    return x, y


def make_step(
    spec: EngineSpec,
) -> Callable[[TrainState, jax.Array, jax.Array, Hyper, Streams], TrainState]:
    """One noisy learning step for one network (see the module docstring)."""

    def step(
        state: TrainState, x: jax.Array, y: jax.Array, hyper: Hyper, streams: Streams
    ) -> TrainState:
        t = state.step
        info = RULES[spec.rule]
        x, y = perturb_data(spec, x, y, hyper, streams, t)
        if not info.uses_gradient:
            grads = jax.tree.map(jnp.zeros_like, state.params)
        elif spec.gradient == "manual":
            grads = mse_grad(state.params, x, y, spec.activation)
        else:
            grads = jax.grad(mse_loss)(state.params, x, y, spec.activation)
        if spec.update_noise and spec.update_form == "gradient":
            grads = _add_noise(spec, grads, hyper.update_sd, streams.update, t)
        perturbation = None
        if info.needs_perturbation:
            perturbation = jax.tree.unflatten(
                jax.tree.structure(state.params), _flat_normal(spec, streams.rule, t, state.params)
            )
        rule = spec.make_rule(hyper.lr)
        updates, rule_state = rule.update(
            grads,
            state.rule_state,
            state.params,
            loss_fn=lambda p: mse_loss(p, x, y, spec.activation),
            perturbation=perturbation,
        )
        params: Params = optax.apply_updates(state.params, updates)
        if spec.update_noise and spec.update_form == "parameter":
            params = _add_noise(spec, params, hyper.update_sd, streams.update, t)
        return TrainState(params, rule_state, t + 1)

    return step


@functools.cache
def make_chunk(
    spec: EngineSpec,
    *,
    static_steps: int | None = None,
    unroll: int = 1,
    batching: str | None = None,
) -> Callable[[TrainState, jax.Array, jax.Array, Hyper, Streams, jax.Array], TrainState]:
    """A jitted chunk for a batch of networks: ``n_steps`` steps of each.

    All arguments but ``n_steps`` carry a leading batch axis. ``n_steps`` is traced,
    so chunks of any length reuse one compilation. With ``static_steps`` the chunk
    is instead a ``lax.scan`` of exactly that many steps (``n_steps`` is ignored,
    ``unroll`` steps per loop iteration): the trip count is known to the compiler,
    which spares a GPU the per-iteration host round trip of a dynamic loop.

    ``batching``: ``"vmap"`` runs the networks in lockstep as one batched program;
    ``"map"`` runs them one after another inside the same compiled program
    (``lax.map``). Both give each network the same result; ``None`` picks
    :func:`default_batching`.

    Cached: runs of equal static choices in one process (a sweep's worker) share
    one jitted function, so equal shapes compile once.
    """
    step = make_step(spec)

    def one(
        state: TrainState,
        x: jax.Array,
        y: jax.Array,
        hyper: Hyper,
        streams: Streams,
        n_steps: jax.Array,
    ) -> TrainState:
        if static_steps is not None:

            def body(s: TrainState, _: None) -> tuple[TrainState, None]:
                return step(s, x, y, hyper, streams), None

            out, _ = lax.scan(body, state, None, length=static_steps, unroll=unroll)
            return out
        looped: TrainState = lax.fori_loop(
            0, n_steps, lambda _, s: step(s, x, y, hyper, streams), state
        )
        return looped

    mode = batching or default_batching()
    if mode == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None)))  # type: ignore[no-any-return]

    def mapped(
        state: TrainState,
        x: jax.Array,
        y: jax.Array,
        hyper: Hyper,
        streams: Streams,
        n_steps: jax.Array,
    ) -> TrainState:
        def network(args: tuple[TrainState, jax.Array, jax.Array, Hyper, Streams]) -> TrainState:
            st, xs, ys, hy, sm = args
            return one(st, xs, ys, hy, sm, n_steps)

        out: TrainState = lax.map(network, (state, x, y, hyper, streams))
        return out

    return jax.jit(mapped)  # type: ignore[no-any-return]


class Measurement(NamedTuple):
    """What the host records at a record point, per network."""

    loss: jax.Array  # MSE on the clean data
    active: jax.Array  # mean over (sample, unit) of [h > 0]
    active_units: jax.Array  # fraction of units with h > 0 for at least one sample
    hidden: jax.Array  # (samples, H) hidden activity


def measure(params: Params, x: jax.Array, y: jax.Array, activation: str) -> Measurement:
    """Clean loss, both fractions of activity, and the hidden activity of one network."""
    h = hidden_activity(params, x, activation)
    loss = mse_loss(params, x, y, activation)
    on = h > 0
    return Measurement(
        loss=loss,
        active=jnp.mean(on),
        active_units=jnp.mean(jnp.any(on, axis=0)),
        hidden=h,
    )


@functools.cache
def make_measure(activation: str) -> Callable[[Params, jax.Array, jax.Array], Measurement]:
    """Jitted, vmapped :func:`measure` over a batch."""
    fn = jax.vmap(lambda p, x, y: measure(p, x, y, activation))
    return jax.jit(fn)  # type: ignore[no-any-return]
