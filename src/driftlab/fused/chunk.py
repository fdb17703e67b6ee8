"""The fused engine's chunk: the same call as :func:`driftlab.simulate.make_chunk`'s.

``make_fused_chunk(spec)(state, x, y, hyper, streams, n_steps)`` advances every
network of the batch by ``n_steps`` steps with :func:`driftlab.fused.step.run_chunk`
and returns a :class:`driftlab.simulate.TrainState` of the same structure, shapes
and types as the JAX engine's, so the runner records, checkpoints and resumes it
unchanged, and either engine resumes the other's checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from driftlab.fused import step as kernel
from driftlab.model import Params
from driftlab.rules import RULES
from driftlab.simulate import EngineSpec, Hyper, Streams, TrainState

_RULE_CODES = {
    "gd": 0,
    "sgd": 0,
    "adam": 1,
    "rmsprop": 2,
    "sed": 3,
    "sed_normalised": 4,
}
_ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
_RMSPROP = {"decay": 0.99, "eps": 1e-8}
_LEAK = 0.01  # jax.nn.leaky_relu's slope in driftlab.model
_BUILTIN_RULES = {name: RULES[name] for name in _RULE_CODES}
"""The rules as driftlab defines them: one re-registered under a built-in name runs on JAX."""

Chunk = Callable[[TrainState, Any, Any, Hyper, Streams, Any], TrainState]


def unsupported(spec: EngineSpec) -> str | None:
    """Why the fused engine cannot run ``spec`` (None: it can)."""
    if spec.generator != "hash":
        return f"noise generator '{spec.generator}' (the fused engine draws the 'hash' stream)"
    if spec.gradient != "manual":
        return f"gradient '{spec.gradient}' (the fused engine writes the gradient out)"
    if spec.rule not in _RULE_CODES or RULES.get(spec.rule) is not _BUILTIN_RULES[spec.rule]:
        return f"rule '{spec.rule}' (the fused engine has the built-in {', '.join(_RULE_CODES)})"
    if spec.activation not in kernel.ACTIVATIONS:
        return f"activation '{spec.activation}'"
    return None


def _flags(spec: EngineSpec, samples: int) -> np.ndarray:
    flags = np.zeros(kernel.N_FLAGS, np.int64)
    flags[kernel.FLAG_ACTIVATION] = kernel.ACTIVATIONS.index(spec.activation)
    flags[kernel.FLAG_RULE] = _RULE_CODES[spec.rule]
    flags[kernel.FLAG_UPDATE_NOISE] = spec.update_noise
    flags[kernel.FLAG_PARAMETER_FORM] = spec.update_form == "parameter"
    flags[kernel.FLAG_LABEL_NOISE] = spec.label_noise
    flags[kernel.FLAG_UNIFORM_LABEL] = spec.label_kind != "gaussian"
    flags[kernel.FLAG_INPUT_NOISE] = spec.input_noise
    flags[kernel.FLAG_BATCH] = spec.samples_per_step(samples) < samples
    return flags


def _consts(
    spec: EngineSpec, hyper: Hyper, i: int, dims: tuple[int, int, int], samples: int
) -> np.ndarray:
    """The run's floats for network ``i``, rounded as the JAX engine rounds them."""
    hidden, _, d_out = dims
    dtype = np.asarray(hyper.lr).dtype.type
    c = np.zeros(kernel.N_CONSTS, dtype)
    c[kernel.CONST_LR] = np.asarray(hyper.lr)[i]
    c[kernel.CONST_UPDATE_SD] = np.asarray(hyper.update_sd)[i]
    c[kernel.CONST_LABEL_SCALE] = np.asarray(hyper.label_scale)[i]
    c[kernel.CONST_INPUT_SD] = np.asarray(hyper.input_sd)[i]
    c[kernel.CONST_B1], c[kernel.CONST_B2] = _ADAM["b1"], _ADAM["b2"]
    c[kernel.CONST_EPS] = _ADAM["eps"] if spec.rule == "adam" else _RMSPROP["eps"]
    c[kernel.CONST_DECAY] = _RMSPROP["decay"]
    c[kernel.CONST_LEAK] = _LEAK
    c[kernel.CONST_ONE] = 1.0
    c[kernel.CONST_ERR_SCALE] = 2.0 / (samples * d_out)
    sigma = dtype(spec.sed_sigma)
    c[kernel.CONST_SED_HIDDEN] = sigma / np.sqrt(dtype(hidden))
    c[kernel.CONST_SED_OUT] = sigma / np.sqrt(dtype(d_out))
    return c


def _split_rule_state(
    rule_state: Any, networks: int, dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(state1, state2, count) from the rule's optax state: the moments (triples shaped
    like m, b, n) flattened like theta, and adam's int32 count."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(rule_state)]
    counts = [leaf for leaf in leaves if leaf.dtype.kind == "i"]
    moments = [leaf for leaf in leaves if leaf.dtype.kind == "f"]
    flat = [
        np.concatenate([leaf.reshape(networks, -1) for leaf in moments[k : k + 3]], axis=1)
        for k in range(0, len(moments), 3)
    ]
    empty = np.zeros((networks, 0), dtype)
    state1 = flat[0] if flat else empty
    state2 = flat[1] if len(flat) > 1 else empty
    count = counts[0].reshape(networks, 1).copy() if counts else np.zeros((networks, 1), np.int32)
    return np.ascontiguousarray(state1), np.ascontiguousarray(state2), count


def _unflatten(flat: np.ndarray, like: Params) -> list[np.ndarray]:
    shapes = [np.shape(leaf) for leaf in like]
    sizes = [int(np.prod(s[1:])) for s in shapes]
    bounds = np.cumsum([0, *sizes])
    return [
        flat[:, lo:hi].reshape(shape)
        for lo, hi, shape in zip(bounds[:-1], bounds[1:], shapes, strict=True)
    ]


def _merge_rule_state(
    rule_state: Any, state1: np.ndarray, state2: np.ndarray, count: np.ndarray, params: Params
) -> Any:
    leaves = jax.tree.leaves(rule_state)
    flat = [s for s in (state1, state2) if s.shape[1]]
    moments = iter([leaf for s in flat for leaf in _unflatten(s, params)])
    out = []
    for leaf in leaves:
        if np.asarray(leaf).dtype.kind == "i":
            out.append(count.reshape(np.shape(leaf)).astype(np.asarray(leaf).dtype))
        else:
            out.append(next(moments))
    return jax.tree.unflatten(jax.tree.structure(rule_state), out)


def make_fused_chunk(spec: EngineSpec) -> Chunk:
    """A chunk function for a batch of networks on the fused CPU engine (see module doc).

    Raises ``ValueError`` naming the choice the fused engine does not have
    (:func:`unsupported`).
    """
    reason = unsupported(spec)
    if reason is not None:
        raise ValueError(f"the fused engine cannot run {reason}")

    def chunk(
        state: TrainState, x: Any, y: Any, hyper: Hyper, streams: Streams, n_steps: Any
    ) -> TrainState:
        steps = int(n_steps)
        leaves: list[Any] = [np.asarray(p) for p in state.params]
        params = Params(*leaves)  # numpy leaves
        networks, hidden, d_in = params.m.shape
        d_out = params.n.shape[1]
        dims = (hidden, d_in, d_out)
        dtype = params.m.dtype
        theta = np.concatenate([p.reshape(networks, -1) for p in params], axis=1)
        state1, state2, count = _split_rule_state(state.rule_state, networks, dtype)
        xs, ys = np.array(x, dtype), np.array(y, dtype)
        samples_all = xs.shape[1]
        flags = _flags(spec, samples_all)
        samples = spec.samples_per_step(samples_all)
        seeds = np.ascontiguousarray(np.stack([np.asarray(s) for s in streams], axis=1))
        t0 = np.asarray(state.step)
        for i in range(networks):
            kernel.run_chunk(
                theta[i],
                state1[i],
                state2[i],
                count[i],
                xs[i],
                ys[i],
                dims,
                int(t0[i]),
                steps,
                seeds[i],
                _consts(spec, hyper, i, dims, samples),
                flags,
                spec.batch_size,
            )
        new_leaves: list[Any] = _unflatten(theta, params)
        new_params = Params(*new_leaves)
        rule_state = _merge_rule_state(state.rule_state, state1, state2, count, params)
        step: Any = (t0 + steps).astype(t0.dtype)
        return TrainState(new_params, rule_state, step)

    return chunk
