"""A pack: K single-network runs of different shapes in one compiled program.

A sweep trains hundreds of one-network feed-forward runs whose task shapes differ
(d_in, d_out, n_samples). A pack pads each of K such runs to the pack's common
shape (D_in = max d_in, D_out = max d_out, N = max n_samples) and trains them all
with one vmapped (or ``lax.map``-ped) jitted chunk; masks keep every padded
entry out of the mathematics, so each padded network IS its unpadded network.

Per network k, with boolean masks m_s (N,) over samples, m_i (D_in,) over
inputs and m_o (D_out,) over outputs (true on the real entries):

* data: x (N, D_in) and y (N, D_out) are the real data embedded in zeros;
* parameters: m (H, D_in), b (H,), n (D_out, H) are the unpadded network's
  initial parameters (:func:`driftlab.run.prepare` of its config) embedded in
  zeros: the columns of m of padded inputs and the rows of n of padded outputs
  are zero, and stay exactly zero (below);
* the loss (the clean one measured and the noisy one trained on) is the masked
  mean over the real samples and outputs, the true network's normalisation::

      L = sum_{s,o} m_s m_o (f_so - y_so)^2 / (sum_s m_s * sum_o m_o)

  with f = act(x m^T + b) n^T; for the real entries f equals the unpadded
  network's output (a padded input column of x is zero, and so is the column
  of m that reads it; a padded output row of n is zero), so L equals
  :func:`driftlab.model.mse_loss` of the unpadded network. A padded sample has
  f = act(b) n^T, which is why it must be (and is) masked;
* the gradient is that of L (:func:`masked_grad`, backpropagation as in
  :func:`driftlab.model.mse_grad`): zero on padded parameters, the unpadded
  gradient on real ones;
* noise: input noise on padded inputs and samples and label noise on padded
  outputs and samples are set to zero; update noise (either form), the
  perturbation of a rule that asks for one, and every update the rule makes
  are set to zero on padded parameters, so padded parameters stay exactly 0
  and the learning rule (whose state of a padded entry then stays at its
  initial value) acts on the real parameters alone;
* measures: the clean loss is L; ``active`` is the mean of [h > 0] over real
  samples and the H units; ``active_units`` the fraction of units with h > 0
  for at least one real sample; the host measures (:class:`PackMetrics`) and
  the Hessian (:class:`PackHessianRecorder`) see each network cut back to its
  true shape.

So a padded network follows the unpadded network's trajectory exactly without
noise (up to floating-point rounding of the longer sums). The noise of step t
is still a function of (seed, t) of each network's own stream (the streams of
:func:`driftlab.run.prepare`), so a pack resumes bit-identically; but the
padded draws have other shapes than the unpadded ones, so a noisy padded
network is the same process as its unpadded run, not the same sample path.

What must agree within a pack (:func:`pack_problem`): every config field but
the seed, the task section (any abstract task, any shape), ``model.init``,
``train.lr`` and the noise levels. The noise switches of the compiled step
(:class:`driftlab.simulate.EngineSpec` ``update_noise``, ``label_noise``,
``input_noise``) are on for the pack when on for any of its runs: a run without
that noise adds 0 x xi, which changes nothing. For the same reason the form of
the update noise and the kind of the label noise need agree only among the runs
that have that noise. Out of scope (refused): the corridor task, batches
(``n_networks`` > 1), mini-batch ``sgd``, hidden-activity and parameter
snapshots, and a rule with a perturbation (``sed``) across different d_out (its
perturbation scale depends on the rows of n, which padding would change).

The run directory is an ordinary one whose ``network`` dimension holds the K
runs (``timeseries.nc`` coordinates ``run_id``, ``d_in``, ``d_out``,
``n_samples``); ``config.yaml`` stores ``{"pack": [config, ...], "ids": [...]}``
(:class:`PackConfig`, :func:`parse_pack`), so a rerun resumes and another pack
is refused; ``data.nc`` holds the padded data and the masks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from jax import lax

from driftlab import noise
from driftlab.batching import BATCHINGS, default_batching, default_loop, static_pieces
from driftlab.config import ConfigError, RunConfig, check_resources, parse_config, to_dict
from driftlab.divergence import DivergenceCheck
from driftlab.hessian.recorder import (
    HESSIAN_RECORDED,
    HessianOptions,
    HessianRecorder,
    hessian_record,
)
from driftlab.model import ACTIVATIONS, PRECISION, Params, forward, hidden_activity, preactivation
from driftlab.recorders import Metrics, host_metrics
from driftlab.rules import RULES
from driftlab.run import Batch, float_context, prepare
from driftlab.runner.checkpoint import network_coords, stack
from driftlab.runner.loop import ProgressFn, Recorder, RunOutcome, run_engine
from driftlab.runner.outdir import RunDirError
from driftlab.runner.schedule import record_steps
from driftlab.simulate import (
    EngineSpec,
    Hyper,
    Measurement,
    Streams,
    TrainState,
    init_state,
    perturb_data,
)
from driftlab.storage import open_netcdf, write_netcdf, write_npz
from driftlab.sweep.store import flat_config
from driftlab.tasks import TaskData

__all__ = [
    "PackConfig",
    "PackData",
    "PackEngine",
    "execute_pack",
    "make_pack",
    "masked_grad",
    "masked_loss",
    "masked_measure",
    "pack_key",
    "pack_problem",
    "parse_pack",
]

MODEL = "feedforward-pack"

# Fields a pack's runs may differ in (dotted paths of the config dict); every other
# field must agree. The noise form and kind are compared among the noisy runs only.
_PER_RUN = (
    "seed",
    "task",
    "model.init",
    "train.lr",
    "noise.update.sd",
    "noise.label.sd",
    "noise.label.width",
    "noise.input.sd",
    "noise.update.form",
    "noise.label.kind",
)


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class PackConfig:
    """A pack's config, as ``config.yaml`` stores it: the runs' configs and their ids."""

    pack: tuple[RunConfig, ...]
    ids: tuple[str, ...]


def parse_pack(raw: Any) -> PackConfig:
    """The :class:`PackConfig` of a stored ``{"pack": [...], "ids": [...]}`` mapping;
    ``ConfigError`` when it is not one (e.g. an ordinary run's config)."""
    if not isinstance(raw, Mapping) or set(raw) != {"pack", "ids"}:
        keys = sorted(map(str, raw)) if isinstance(raw, Mapping) else type(raw).__name__
        raise ConfigError(f"a pack's config has the keys 'pack' and 'ids', got {keys}")
    pack, ids = raw["pack"], raw["ids"]
    if not isinstance(pack, list) or not isinstance(ids, list) or len(pack) != len(ids):
        raise ConfigError("a pack's config: 'pack' and 'ids' must be lists of equal length")
    return make_pack([parse_config(c) for c in pack], [str(i) for i in ids])


def make_pack(configs: Sequence[RunConfig], ids: Sequence[str]) -> PackConfig:
    """The :class:`PackConfig` of ``configs`` named ``ids``; a one-line ``ConfigError``
    when they cannot share a pack (:func:`pack_problem`) or the ids are not
    distinct strings, one per config."""
    if len(ids) != len(configs):
        raise ConfigError(f"a pack of {len(configs)} configs needs as many ids, got {len(ids)}")
    if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
        raise ConfigError("a pack's ids must be distinct non-empty strings")
    problem = pack_problem(configs)
    if problem is not None:
        raise ConfigError(f"cannot pack these runs: {problem}")
    return PackConfig(tuple(configs), tuple(ids))


def _shared(cfg: RunConfig) -> dict[str, Any]:
    """The fields every run of a pack must agree on: {dotted path: value}."""
    return {
        path: value
        for path, value in flat_config(to_dict(cfg)).items()
        if not any(path == p or path.startswith(p + ".") for p in _PER_RUN)
    }


def _noisy(cfg: RunConfig) -> tuple[bool, bool]:
    """Whether ``cfg`` has update noise, and label noise."""
    label = cfg.noise.label.sd if cfg.noise.label.kind == "gaussian" else cfg.noise.label.width
    return any(v > 0 for v in cfg.noise.update.sd), any(v > 0 for v in label)


def _d_out(cfg: RunConfig) -> int:
    return cfg.task.abstract.effective_d_out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def pack_problem(configs: Sequence[RunConfig]) -> str | None:
    """Why ``configs`` cannot train as one pack (one line naming the run and the
    field), or None when they can.

    Each must be a single-network (``n_networks`` 1) run of an abstract task, with
    a full-batch rule (not ``sgd`` with a ``batch_size``) and without
    ``record.hidden`` or ``record.params``; all must agree on every field but the
    seed, the task, ``model.init``, ``train.lr`` and the noise levels (the update
    noise's form and the label noise's kind: among the runs that have that noise);
    a rule with a perturbation (``sed``) needs one d_out across the pack.
    """
    if not configs:
        return "a pack needs at least one run"
    for i, cfg in enumerate(configs):
        if cfg.n_networks != 1:
            return (
                f"run {i} trains {cfg.n_networks} networks (a batch); a pack takes "
                "single-network runs"
            )
        if cfg.task.name == "corridor":
            return f"run {i} has task.name 'corridor'; a pack takes the abstract tasks only"
        if cfg.train.rule == "sgd" and cfg.train.batch_size > 0:
            return (
                f"run {i} has train.rule 'sgd' with train.batch_size {cfg.train.batch_size}; "
                "a pack takes full-batch rules only"
            )
        for name in ("hidden", "params"):
            if getattr(cfg.record, name):
                return f"run {i} has record.{name} true; a pack records neither (set it false)"
    first = _shared(configs[0])
    for i, cfg in enumerate(configs[1:], start=1):
        other = _shared(cfg)
        for path, value in first.items():
            if other.get(path) != value:
                return (
                    f"field '{path}' differs: {_show(value)} in run 0, "
                    f"{_show(other.get(path))} in run {i}"
                )
    for which, path in ((0, "noise.update.form"), (1, "noise.label.kind")):
        seen: tuple[int, str] | None = None
        for i, cfg in enumerate(configs):
            if not _noisy(cfg)[which]:
                continue
            value = cfg.noise.update.form if which == 0 else cfg.noise.label.kind
            if seen is None:
                seen = (i, value)
            elif value != seen[1]:
                return (
                    f"field '{path}' differs: {seen[1]!r} in run {seen[0]}, {value!r} in run {i} "
                    "(both with that noise on)"
                )
    rule = configs[0].train.rule
    if RULES[rule].needs_perturbation:
        outs = [_d_out(c) for c in configs]
        if len(set(outs)) > 1:
            return (
                f"train.rule {rule!r} scales its perturbation by the rows of each weight "
                f"(d_out for n), which padding changes: run 0 has d_out {outs[0]}, run "
                f"{next(i for i, d in enumerate(outs) if d != outs[0])} has "
                f"{next(d for d in outs if d != outs[0])}; pack such runs by d_out"
            )
    return None


def pack_key(cfg: RunConfig) -> str:
    """A grouping key: runs with equal keys can share a pack (for one that passes
    the checks of :func:`pack_problem` on its own). Conservative: the form of an
    update noise that is off and the kind of a label noise that is off count as
    their defaults, though :func:`pack_problem` would accept any."""
    shared = _shared(cfg)
    update, label = _noisy(cfg)
    shared["noise.update.form"] = cfg.noise.update.form if update else "gradient"
    shared["noise.label.kind"] = cfg.noise.label.kind if label else "gaussian"
    if RULES[cfg.train.rule].needs_perturbation:
        shared["d_out"] = _d_out(cfg)
    return repr(sorted(shared.items()))


# --------------------------------------------------------------------------- the math


class PackData(NamedTuple):
    """The padded data of one network (leading network axis in a pack): x (N, D_in),
    y (N, D_out) with zeros outside the real entries, and the boolean masks of the
    real samples (N,), inputs (D_in,) and outputs (D_out,)."""

    x: jax.Array
    y: jax.Array
    sample_mask: jax.Array
    input_mask: jax.Array
    output_mask: jax.Array


def _weights(data: PackData, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """m_s m_o as floats (N, D_out) and the true count sum m_s * sum m_o."""
    w = (data.sample_mask[:, None] & data.output_mask[None, :]).astype(dtype)
    count = (jnp.sum(data.sample_mask) * jnp.sum(data.output_mask)).astype(dtype)
    return w, count


def masked_loss(
    params: Params, x: jax.Array, y: jax.Array, data: PackData, activation: str
) -> jax.Array:
    """L = sum_{s,o} m_s m_o (f_so - y_so)^2 / (sum m_s * sum m_o), f = act(x m^T + b) n^T:
    the mean squared error over the real samples and outputs only (``x``, ``y``: the
    possibly noisy data; ``data``: the masks)."""
    f = forward(params, x, activation)
    w, count = _weights(data, f.dtype)
    return jnp.sum(w * jnp.square(f - y)) / count


def masked_grad(
    params: Params, x: jax.Array, y: jax.Array, data: PackData, activation: str
) -> Params:
    """The gradient of :func:`masked_loss`, by backpropagation as
    :func:`driftlab.model.mse_grad` computes it, with e = 2 m_s m_o (f - y) / count:
    zero on padded parameters (given zero padded inputs), the unpadded gradient
    on the real ones."""
    z = preactivation(params, x)
    h, act_vjp = jax.vjp(ACTIVATIONS[activation], z)
    err = jnp.matmul(h, params.n.T, precision=PRECISION) - y
    w, count = _weights(data, err.dtype)
    e = err * w * (2.0 / count)
    grad_n = jnp.matmul(e.T, h, precision=PRECISION)
    (dz,) = act_vjp(jnp.matmul(e, params.n, precision=PRECISION))
    grad_m = jnp.matmul(x.T, dz, precision=PRECISION).T
    return Params(m=grad_m, b=jnp.sum(dz, axis=0), n=grad_n)


def masked_measure(params: Params, data: PackData, activation: str) -> Measurement:
    """The clean masked loss, ``active`` (mean of [h > 0] over real samples and all
    units), ``active_units`` (fraction of units with h > 0 for some real sample) and
    the hidden activity (N, H) of one padded network (padded samples included:
    cut them off before use)."""
    h = hidden_activity(params, data.x, activation)
    on = (h > 0) & data.sample_mask[:, None]
    n_real = jnp.sum(data.sample_mask)
    return Measurement(
        loss=masked_loss(params, data.x, data.y, data, activation),
        # float32 as jnp.mean of booleans gives (the unpadded measure); counts are exact
        active=jnp.sum(on).astype(jnp.float32) / (n_real * h.shape[1]).astype(jnp.float32),
        active_units=jnp.mean(jnp.any(on, axis=0)),
        hidden=h,
    )


def _param_mask(data: PackData, params: Params) -> Params:
    """True on the real parameters: every b, the columns of m of real inputs, the rows
    of n of real outputs."""
    return Params(
        m=jnp.broadcast_to(data.input_mask[None, :], params.m.shape),
        b=jnp.ones(params.b.shape, bool),
        n=jnp.broadcast_to(data.output_mask[:, None], params.n.shape),
    )


def _masked(tree: Params, mask: Params) -> Params:
    """``tree`` with its padded entries set to exactly zero."""
    out: Params = jax.tree.map(lambda v, k: jnp.where(k, v, jnp.zeros_like(v)), tree, mask)
    return out


def _normal_like(spec: EngineSpec, stream: jax.Array, step: jax.Array, like: Params) -> Params:
    """Standard normals shaped like ``like``, from one draw of the total size (as
    :mod:`driftlab.simulate` draws them)."""
    leaves = jax.tree.leaves(like)
    sizes = [leaf.size for leaf in leaves]
    z = noise.normal(spec.generator, stream, step, (sum(sizes),))
    bounds = np.cumsum([0, *sizes])
    parts = [
        z[lo:hi].reshape(leaf.shape).astype(leaf.dtype)
        for lo, hi, leaf in zip(bounds[:-1], bounds[1:], leaves, strict=True)
    ]
    out: Params = jax.tree.unflatten(jax.tree.structure(like), parts)
    return out


def _add_masked_noise(
    spec: EngineSpec, tree: Params, sd: jax.Array, stream: jax.Array, step: jax.Array, mask: Params
) -> Params:
    z = _normal_like(spec, stream, step, tree)
    noisy = jax.tree.map(lambda v, zi: v + sd.astype(v.dtype) * zi, tree, z)
    return _masked(noisy, mask)


def _make_step(
    spec: EngineSpec,
) -> Callable[[TrainState, PackData, Hyper, Streams], TrainState]:
    """One noisy learning step of one padded network (:func:`driftlab.simulate.make_step`
    with the masks of the module docstring)."""
    info = RULES[spec.rule]

    def step(state: TrainState, data: PackData, hyper: Hyper, streams: Streams) -> TrainState:
        t = state.step
        mask = _param_mask(data, state.params)
        x, y = perturb_data(spec, data.x, data.y, hyper, streams, t)
        if spec.input_noise:
            real = data.sample_mask[:, None] & data.input_mask[None, :]
            x = jnp.where(real, x, jnp.zeros_like(x))
        if spec.label_noise:
            real = data.sample_mask[:, None] & data.output_mask[None, :]
            y = jnp.where(real, y, jnp.zeros_like(y))

        def loss_fn(p: Params) -> jax.Array:
            return masked_loss(p, x, y, data, spec.activation)

        if not info.uses_gradient:
            grads: Params = jax.tree.map(jnp.zeros_like, state.params)
        elif spec.gradient == "manual":
            grads = masked_grad(state.params, x, y, data, spec.activation)
        else:
            grads = jax.grad(loss_fn)(state.params)
        if spec.update_noise and spec.update_form == "gradient":
            grads = _add_masked_noise(spec, grads, hyper.update_sd, streams.update, t, mask)
        perturbation = None
        if info.needs_perturbation:
            perturbation = _masked(_normal_like(spec, streams.rule, t, state.params), mask)
        rule = spec.make_rule(hyper.lr)
        updates, rule_state = rule.update(
            grads, state.rule_state, state.params, loss_fn=loss_fn, perturbation=perturbation
        )
        params: Params = optax.apply_updates(state.params, _masked(updates, mask))
        if spec.update_noise and spec.update_form == "parameter":
            params = _add_masked_noise(spec, params, hyper.update_sd, streams.update, t, mask)
        return TrainState(params, rule_state, t + 1)

    return step


Chunk = Callable[[TrainState, PackData, Hyper, Streams, jax.Array], TrainState]


@functools.cache
def pack_chunk(spec: EngineSpec, batching: str, static_steps: int | None = None) -> Chunk:
    """The jitted chunk of a pack: ``n_steps`` (traced) steps of every network, all
    arguments but ``n_steps`` with a leading network axis; ``batching`` "vmap" (in
    lockstep) or "map" (one after another, ``lax.map``). One per (spec, batching)
    per process, so packs of equal padded shapes share its compilation. With
    ``static_steps`` a ``lax.scan`` of exactly that many steps instead (``n_steps``
    ignored; :func:`driftlab.batching.default_loop`)."""
    step = _make_step(spec)

    def one(
        state: TrainState, data: PackData, hyper: Hyper, streams: Streams, n_steps: jax.Array
    ) -> TrainState:
        if static_steps is not None:

            def body(s: TrainState, _: None) -> tuple[TrainState, None]:
                return step(s, data, hyper, streams), None

            scanned, _ = lax.scan(body, state, None, length=static_steps)
            return scanned
        out: TrainState = lax.fori_loop(
            0, n_steps, lambda _, s: step(s, data, hyper, streams), state
        )
        return out

    if batching == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None)))  # type: ignore[no-any-return]

    def mapped(
        state: TrainState, data: PackData, hyper: Hyper, streams: Streams, n_steps: jax.Array
    ) -> TrainState:
        def network(args: tuple[TrainState, PackData, Hyper, Streams]) -> TrainState:
            return one(*args, n_steps)

        out: TrainState = lax.map(network, (state, data, hyper, streams))
        return out

    return jax.jit(mapped)  # type: ignore[no-any-return]


@functools.cache
def _pack_measure(activation: str) -> Callable[[Params, PackData], Measurement]:
    fn = jax.vmap(lambda p, d: masked_measure(p, d, activation))
    return jax.jit(fn)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the pack


def _pack_spec(configs: Sequence[RunConfig], specs: Sequence[EngineSpec]) -> EngineSpec:
    """The compiled step's spec: the first run's, each noise on when on for any run,
    the update form and label kind of the first run with that noise."""
    noisy = [_noisy(c) for c in configs]
    update = next((c.noise.update.form for c, n in zip(configs, noisy, strict=True) if n[0]), None)
    label = next((c.noise.label.kind for c, n in zip(configs, noisy, strict=True) if n[1]), None)
    first = specs[0]
    return dataclasses.replace(
        first,
        update_noise=any(s.update_noise for s in specs),
        label_noise=any(s.label_noise for s in specs),
        input_noise=any(s.input_noise for s in specs),
        update_form=update or first.update_form,
        label_kind=label or first.label_kind,
    )


def _pad(a: np.ndarray, shape: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
    out = np.full(shape, fill, dtype=np.result_type(a.dtype, np.float64))
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


@dataclass(frozen=True)
class _Padded:
    """The pack's data on the host: padded arrays (K, ...) and the real tasks."""

    tasks: list[TaskData]
    inputs: np.ndarray  # (K, N, D_in)
    targets: np.ndarray  # (K, N, D_out)
    sample_mask: np.ndarray  # (K, N) bool
    input_mask: np.ndarray  # (K, D_in) bool
    output_mask: np.ndarray  # (K, D_out) bool

    @classmethod
    def of(cls, tasks: list[TaskData]) -> _Padded:
        n = max(t.inputs.shape[0] for t in tasks)
        d_in = max(t.inputs.shape[1] for t in tasks)
        d_out = max(t.targets.shape[1] for t in tasks)
        return cls(
            tasks=tasks,
            inputs=np.stack([_pad(t.inputs, (n, d_in)) for t in tasks]),
            targets=np.stack([_pad(t.targets, (n, d_out)) for t in tasks]),
            sample_mask=np.stack([np.arange(n) < t.inputs.shape[0] for t in tasks]),
            input_mask=np.stack([np.arange(d_in) < t.inputs.shape[1] for t in tasks]),
            output_mask=np.stack([np.arange(d_out) < t.targets.shape[1] for t in tasks]),
        )

    @property
    def dims(self) -> list[tuple[int, int, int]]:
        """(d_in, d_out, n_samples) of each network."""
        return [(t.inputs.shape[1], t.targets.shape[1], t.inputs.shape[0]) for t in self.tasks]

    def device(self, dtype: Any) -> PackData:
        return PackData(
            x=jax.device_put(np.asarray(self.inputs).astype(dtype)),
            y=jax.device_put(np.asarray(self.targets).astype(dtype)),
            sample_mask=jnp.asarray(self.sample_mask),
            input_mask=jnp.asarray(self.input_mask),
            output_mask=jnp.asarray(self.output_mask),
        )

    def dataset(self, networks: list[dict[str, float]], ids: Sequence[str]) -> xr.Dataset:
        k, n = self.sample_mask.shape
        ds = xr.Dataset(
            {
                "inputs": (("network", "sample", "input"), self.inputs),
                "targets": (("network", "sample", "output"), self.targets),
                "sample_mask": (("network", "sample"), self.sample_mask.astype(np.int8)),
                "input_mask": (("network", "input"), self.input_mask.astype(np.int8)),
                "output_mask": (("network", "output"), self.output_mask.astype(np.int8)),
            },
            coords={**network_coords(networks), **_run_coords(ids, self.dims)},
        )
        if any(t.positions is not None for t in self.tasks):
            pos = np.full((k, n, 2), np.nan)
            for i, t in enumerate(self.tasks):
                if t.positions is not None:
                    pos[i, : len(t.positions)] = t.positions
            ds["positions"] = (("network", "sample", "axis"), pos)
        if any(t.headings is not None for t in self.tasks):
            head = np.full((k, n), np.nan)
            for i, t in enumerate(self.tasks):
                if t.headings is not None:
                    head[i, : len(t.headings)] = t.headings
            ds["headings"] = (("network", "sample"), head)
        ds.attrs["long_name"] = (
            "padded task data of a pack: zeros outside the masks (1 = a real sample, input, "
            "output); positions and headings NaN where a task has none"
        )
        return ds

    @classmethod
    def read(cls, ds: xr.Dataset) -> _Padded:
        """The pack's data as ``dataset`` stored them (the real tasks cut back out)."""
        inputs, targets = ds["inputs"].values, ds["targets"].values
        sm = ds["sample_mask"].values.astype(bool)
        im = ds["input_mask"].values.astype(bool)
        om = ds["output_mask"].values.astype(bool)
        tasks = []
        for i in range(inputs.shape[0]):
            n, d_in, d_out = int(sm[i].sum()), int(im[i].sum()), int(om[i].sum())
            pos = ds["positions"].values[i, :n] if "positions" in ds else None
            head = ds["headings"].values[i, :n] if "headings" in ds else None
            tasks.append(
                TaskData(
                    inputs=inputs[i, :n, :d_in],
                    targets=targets[i, :n, :d_out],
                    positions=None if pos is None or np.isnan(pos).all() else pos,
                    headings=None if head is None or np.isnan(head).all() else head,
                )
            )
        return cls(tasks, inputs, targets, sm, im, om)

    def same(self, other: _Padded) -> bool:
        names = ("inputs", "targets", "sample_mask", "input_mask", "output_mask")
        pairs = [(getattr(self, k), getattr(other, k)) for k in names]
        return all(a.shape == b.shape and np.array_equal(a, b) for a, b in pairs)


def _run_coords(ids: Sequence[str], dims: list[tuple[int, int, int]]) -> dict[str, Any]:
    """The ``network`` coordinates naming each run of a pack and its true shape."""
    return {
        "run_id": ("network", np.asarray(list(ids), dtype=object)),
        "d_in": ("network", np.asarray([d[0] for d in dims], np.int64)),
        "d_out": ("network", np.asarray([d[1] for d in dims], np.int64)),
        "n_samples": ("network", np.asarray([d[2] for d in dims], np.int64)),
    }


def _embed(p: Params, hidden: int, d_in: int, d_out: int) -> Params:
    """One network's parameters embedded in zeros of the padded shape."""
    return Params(
        m=jnp.zeros((hidden, d_in), p.m.dtype).at[:, : p.m.shape[1]].set(p.m),
        b=p.b,
        n=jnp.zeros((d_out, hidden), p.n.dtype).at[: p.n.shape[0]].set(p.n),
    )


class PackMetrics(Metrics):
    """:class:`driftlab.recorders.Metrics` of a pack: the loss and active fractions
    of the masked measurement, the host measures of each network cut back to its
    real samples (so a pack's network records what its single run would), and the
    coordinates ``run_id``, ``d_in``, ``d_out``, ``n_samples`` in ``timeseries.nc``."""

    def __init__(
        self,
        schedule: np.ndarray,
        tasks: Sequence[TaskData],
        seeds: Sequence[int],
        ids: Sequence[str],
        *,
        place_shuffles: int,
        place_percentile: float,
    ) -> None:
        super().__init__(
            schedule,
            tasks,
            seeds,
            place_shuffles=place_shuffles,
            place_percentile=place_percentile,
        )
        self.ids = list(ids)

    def record(self, point: Any, out: Path) -> None:
        m = point.measure()
        loss = np.asarray(m.loss, np.float64)
        hidden = np.asarray(m.hidden, np.float64)
        rows = [
            host_metrics(
                loss[i : i + 1],
                hidden[i : i + 1, : task.inputs.shape[0]],
                [task],
                [self.seeds[i]],  # network 0 of its own run: the same shuffles
                point.step,
                place_shuffles=self.place_shuffles,
                place_percentile=self.place_percentile,
            )
            for i, task in enumerate(self.tasks)
        ]
        row = {name: np.concatenate([r[name] for r in rows]) for name in rows[0]}
        row.update(loss=loss, active=np.asarray(m.active), active_units=np.asarray(m.active_units))
        self.series.append(point.step, row)

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        dims = [(t.inputs.shape[1], t.targets.shape[1], t.inputs.shape[0]) for t in self.tasks]
        return super().timeseries(ds.assign_coords(_run_coords(self.ids, dims)))


class PackHessianRecorder(HessianRecorder):
    """:class:`driftlab.hessian.recorder.HessianRecorder` of a pack: each network's
    Hessian of its real parameters on its real data (cut back to its true shape on
    the host), computed as its single run computes it (the same Lanczos and
    Hutchinson keys: ``fold_in(key(seed), step)``). Dense spectra of different
    sizes are stored NaN-padded to the largest (``hessian.nc``)."""

    def __init__(
        self,
        schedule: np.ndarray,
        tasks: Sequence[TaskData],
        seeds: Sequence[int],
        ids: Sequence[str],
        *,
        activation: str,
        options: HessianOptions,
    ) -> None:
        k = len(tasks)
        super().__init__(
            schedule,
            np.zeros((k, 1, 1)),
            np.zeros((k, 1, 1)),
            activation=activation,
            seed=int(seeds[0]),
            options=options,
        )
        self.tasks, self.seeds, self.ids = list(tasks), [int(s) for s in seeds], list(ids)

    def record(self, point: Any, out: Path) -> None:
        m, b, n = (np.asarray(leaf) for leaf in point.state.params)
        values: dict[str, list[float]] = {name: [] for name in HESSIAN_RECORDED}
        spectra: list[np.ndarray | None] = []
        for i, task in enumerate(self.tasks):
            d_in, d_out = task.inputs.shape[1], task.targets.shape[1]
            real = Params(
                m=m[i : i + 1, :, :d_in],  # type: ignore[arg-type]
                b=b[i : i + 1],  # type: ignore[arg-type]
                n=n[i : i + 1, :d_out],  # type: ignore[arg-type]
            )
            found = hessian_record(
                real,
                task.inputs[None],
                task.targets[None],
                activation=self.activation,
                key=jax.random.fold_in(jax.random.key(self.seeds[i]), point.step),
                options=self.options,
            )
            for name in HESSIAN_RECORDED:
                values[name].append(float(found.values[name][0]))
            spectra.append(None if found.spectra is None else found.spectra[0])
        self.series.append(point.step, {k: np.asarray(v) for k, v in values.items()})
        kept = [s for s in spectra if s is not None]
        if kept and len(kept) == len(spectra):
            size = max(s.size for s in kept)
            padded = np.stack([_pad(s, (size,), np.nan) for s in kept])
            write_npz(self._spectrum(out, point.step), {"eigs": padded})

    def finish(self, out: Path, coords: Mapping[str, Any]) -> None:
        """``hessian.nc`` as the base recorder gathers it, with the runs' coordinates."""
        dims = [(t.inputs.shape[1], t.targets.shape[1], t.inputs.shape[0]) for t in self.tasks]
        super().finish(out, {**coords, **_run_coords(self.ids, dims)})


class PackEngine:
    """K single-network runs padded to one shape, for the runner
    (:class:`driftlab.runner.loop.Engine`; see the module docstring). ``batching``:
    "vmap" or "map" (None: :func:`driftlab.batching.default_batching`). Build it
    inside :func:`driftlab.run.float_context` of the pack's dtype."""

    model = MODEL

    def __init__(self, pack: PackConfig, *, batching: str | None = None) -> None:
        configs = pack.pack
        problem = pack_problem(configs)
        if problem is not None:
            raise ConfigError(f"cannot pack these runs: {problem}")
        mode = batching or default_batching()
        if mode not in BATCHINGS:
            raise ConfigError(f"batching: expected one of {BATCHINGS}, got {mode!r}")
        self.config, self.batching = pack, mode
        first = configs[0]
        self.dtype = jnp.dtype(first.model.dtype)
        batches: list[Batch] = [prepare(c) for c in configs]
        self.networks = [b.networks[0] for b in batches]
        self.spec = _pack_spec(configs, [b.spec for b in batches])
        self.host = _Padded.of([b.data[0] for b in batches])
        self.data = self.host.device(self.dtype)
        hidden = first.model.hidden
        n_in, n_out = self.host.inputs.shape[2], self.host.targets.shape[2]
        self.hyper: Hyper = jax.tree.map(lambda *a: jnp.concatenate(a), *[b.hyper for b in batches])
        self.streams: Streams = jax.tree.map(
            lambda *a: jnp.concatenate(a), *[b.streams for b in batches]
        )
        states = []
        for b in batches:
            p = Params(*(leaf[0] for leaf in b.state0.params))
            states.append(init_state(self.spec, _embed(p, hidden, n_in, n_out), b.hyper.lr[0]))
        self.state0: TrainState = stack(states)
        self.total_steps = first.train.steps
        self.chunk_steps = first.record.chunk
        self._chunk = pack_chunk(self.spec, mode)
        self._measure = _pack_measure(first.model.activation)

    @property
    def compile_key(self) -> Hashable:
        """The model, the step's static choices, the batching, the padded shapes of the
        data and of the state, and the float type: packs with equal keys share one
        compiled chunk (:func:`pack_chunk`)."""
        shapes = tuple(tuple(leaf.shape) for leaf in jax.tree.leaves(self.state0))
        return (
            MODEL,
            self.spec,
            self.batching,
            tuple(self.data.x.shape),
            tuple(self.data.y.shape),
            shapes,
            str(self.dtype),
        )

    def advance(self, state: TrainState, n: int) -> tuple[TrainState, None]:
        if default_loop() == "dynamic":
            out = self._chunk(state, self.data, self.hyper, self.streams, jnp.int32(n))
            return out, None
        for piece in static_pieces(n):  # fixed-length scans: no host round trip a step
            chunk = pack_chunk(self.spec, self.batching, piece)
            state = chunk(state, self.data, self.hyper, self.streams, jnp.int32(piece))
        return state, None

    def measure(self, state: TrainState) -> Measurement:
        return self._measure(state.params, self.data)

    def start(self, out: Path) -> None:
        write_netcdf(out / "data.nc", self.host.dataset(self.networks, self.config.ids))

    def resume(self, out: Path) -> list[str]:
        """Adopt the padded data stored in ``out`` (data.nc): a pack always continues on
        the data it started with; a notice when they differ from what this version
        generates, ``RunDirError`` when their shapes do not fit the pack."""
        if not (out / "data.nc").is_file():
            return []
        stored = _Padded.read(open_netcdf(out / "data.nc"))
        if stored.inputs.shape != self.host.inputs.shape or (
            stored.targets.shape != self.host.targets.shape
        ):
            raise RunDirError(
                f"--out '{out}': its data.nc holds arrays of shape {stored.inputs.shape}, this "
                f"pack makes {self.host.inputs.shape}: choose another --out or delete it"
            )
        if stored.same(self.host):
            return []
        if stored.dims != self.host.dims:
            raise RunDirError(
                f"--out '{out}': its data.nc holds networks of shapes {stored.dims}, this pack "
                f"makes {self.host.dims}: choose another --out or delete it"
            )
        self.host, self.data = stored, stored.device(self.dtype)
        return [
            f"run {out}: its task data differ from what this version of driftlab generates; "
            "it continues on the data it started with (data.nc)"
        ]

    def health(self) -> DivergenceCheck:
        var_y = np.asarray([np.var(t.targets) for t in self.host.tasks], np.float64)
        train = self.config.pack[0].train
        return DivergenceCheck(len(self.networks), var_y, train.divergence, train.divergence_window)

    def recorders(self) -> list[Recorder]:
        """:class:`PackMetrics` at ``record``'s schedule; :class:`PackHessianRecorder`
        at ``record.hessian``'s (when on)."""
        cfg = self.config.pack[0]
        rec, seeds = cfg.record, [int(n["seed"]) for n in self.networks]
        found: list[Recorder] = [
            PackMetrics(
                rec.steps(cfg.train.steps),
                self.host.tasks,
                seeds,
                self.config.ids,
                place_shuffles=rec.place_shuffles,
                place_percentile=rec.place_percentile,
            )
        ]
        hess = rec.hessian
        if hess.enabled:
            found.append(
                PackHessianRecorder(
                    record_steps(cfg.train.steps, hess.every, hess.log_points),
                    self.host.tasks,
                    seeds,
                    self.config.ids,
                    activation=cfg.model.activation,
                    options=HessianOptions.of(hess),
                )
            )
        return found


def execute_pack(
    configs: Sequence[RunConfig],
    ids: Sequence[str],
    out_dir: str | Path,
    *,
    progress: bool = False,
    restart: bool = False,
    batching: str | None = None,
    on_chunk: ProgressFn | None = None,
) -> RunOutcome:
    """Train the runs ``configs`` (named ``ids``) as one pack into ``out_dir``, resuming
    from its checkpoint if any (:func:`driftlab.runner.loop.run_engine`; its errors).

    ``batching``: "vmap" or "map" (None: the default policy). A one-line
    ``ConfigError`` when the runs cannot share a pack (:func:`pack_problem`).
    Returns the pack's outcome; "diverged" only when every network stopped.
    """
    pack = make_pack(configs, ids)
    if batching is not None and batching not in BATCHINGS:
        raise ConfigError(f"batching: expected one of {BATCHINGS}, got {batching!r}")
    for cfg in pack.pack:
        check_resources(cfg)
    with float_context(pack.pack[0].model.dtype):
        return run_engine(
            pack,
            Path(out_dir),
            lambda: PackEngine(pack, batching=batching),
            parse=parse_pack,
            kind="feed-forward pack",
            progress=progress,
            on_chunk=on_chunk,
            restart=restart,
        )
