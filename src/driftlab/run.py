"""A feed-forward run: config -> engine -> the shared runner -> run directory on disk.

:class:`FeedforwardEngine` gives :func:`driftlab.runner.loop.run_engine` the batch of
networks of a :class:`~driftlab.config.RunConfig` at step 0 (:func:`prepare`), its
jitted chunk (:func:`driftlab.simulate.make_chunk`), the divergence check
(:class:`driftlab.divergence.DivergenceCheck`) and the recorders
(:mod:`driftlab.recorders`, :class:`driftlab.hessian.recorder.HessianRecorder`);
the loop, checkpoints, progress and consolidation are the runner's.

Run directory layout (all files written atomically; reading them needs no JAX:
:mod:`driftlab.rundir`, whose ``load_run`` this module re-exports):

``config.yaml``      the resolved config (every field, defaults included)
``data.nc``          the task data of every network (inputs, targets, positions, headings)
``timeseries.nc``    recorded measurements over (time, network), rewritten at each record
``snapshots/``       hidden activity (and parameters) per record point, while running
``activity.nc``      hidden activity (time, network, sample, unit), when complete
``params.nc``        parameter snapshots (time, network, ...), when ``record.params``
``hessian.nc``       Hessian spectra (hessian_time, network, eigenvalue), when
                     ``record.hessian`` is on with a dense spectrum
``checkpoint.npz``   the state after the last chunk: parameters, rule state, records
``status.json``      running / complete / diverged, per-network divergence, speed

Rerunning the same config into the same directory resumes from the checkpoint;
because the noise of step t depends only on (seed, t), the finished run is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from driftlab.batching import default_loop, static_pieces
from driftlab.config import RunConfig, check_resources, parse_config
from driftlab.config import config_hash as config_hash  # re-exported
from driftlab.divergence import REASONS as DIVERGENCE_REASONS
from driftlab.divergence import DivergenceCheck
from driftlab.engines import choose_engine, engine_chunk
from driftlab.hessian.recorder import HessianOptions, HessianRecorder
from driftlab.model import init_params
from driftlab.recorders import Metrics, hidden_snapshots, param_snapshots
from driftlab.rundir import load_run as load_run  # re-exported: the run's reader
from driftlab.runner.checkpoint import network_coords, stack
from driftlab.runner.loop import ProgressFn, Recorder, RunOutcome, run_engine
from driftlab.runner.loop import float_context as float_context  # re-exported
from driftlab.runner.outdir import RunDirError as RunDirError  # re-exported
from driftlab.runner.schedule import record_steps as record_steps  # re-exported
from driftlab.simulate import (
    EngineSpec,
    Hyper,
    Measurement,
    Streams,
    TrainState,
    init_state,
    make_chunk,
    make_measure,
    make_streams,
)
from driftlab.storage import open_netcdf, write_netcdf
from driftlab.tasks import TaskData, corridor_task
from driftlab.tasks.abstract import abstract_task

__all__ = [
    "DIVERGENCE_REASONS",
    "Batch",
    "FeedforwardEngine",
    "RunResult",
    "config_hash",
    "execute",
    "float_context",
    "load_run",
    "make_task",
    "prepare",
    "record_steps",
]

RunResult = RunOutcome
"""How :func:`execute` ended: out_dir, status ("complete" or "diverged"), step, speed."""


def make_task(cfg: RunConfig, key: jax.Array) -> TaskData:
    """The data set of one network: the corridor or an abstract task (task.name)."""
    if cfg.task.name == "corridor":
        return corridor_task(key, cfg.task.corridor)
    return abstract_task(key, cfg.task.abstract)


@dataclass(frozen=True)
class Batch:
    """Everything the engine needs for a batch of networks, at step 0."""

    spec: EngineSpec
    networks: list[dict[str, float]]
    data: list[TaskData]
    x: jax.Array
    y: jax.Array
    hyper: Hyper
    streams: Streams
    state0: TrainState


def prepare(cfg: RunConfig) -> Batch:
    """Data, initial parameters, hyperparameters and noise streams of every network.

    Each network's seed becomes one key, split by purpose into (init, data,
    noise, rule) keys: changing a noise level leaves weights and data unchanged.
    """
    dtype = jnp.dtype(cfg.model.dtype)
    networks = cfg.batch()
    label_key = "label_sd" if cfg.noise.label.kind == "gaussian" else "label_width"
    spec = EngineSpec(
        activation=cfg.model.activation,
        rule=cfg.train.rule,
        update_form=cfg.noise.update.form,
        label_kind=cfg.noise.label.kind,
        generator="hash" if cfg.noise.generator == "hash" else "threefry",
        update_noise=any(n["update_sd"] > 0 for n in networks),
        label_noise=any(n[label_key] > 0 for n in networks),
        input_noise=any(n["input_sd"] > 0 for n in networks),
        batch_size=cfg.train.batch_size,
        sed_sigma=cfg.train.sed_sigma,
    )
    data, params, streams, states = [], [], [], []
    for net in networks:
        key_init, key_data, key_noise, _key_rule = jax.random.split(
            jax.random.key(int(net["seed"])), 4
        )
        task = make_task(cfg, key_data)
        d_in, d_out = task.inputs.shape[1], task.targets.shape[1]
        p = init_params(key_init, d_in, cfg.model.hidden, d_out, regime=cfg.model.init, dtype=dtype)  # type: ignore[arg-type]
        data.append(task)
        params.append(p)
        streams.append(make_streams(spec.generator, key_noise))
        states.append(init_state(spec, p, net["lr"]))

    def column(name: str) -> jax.Array:
        return jnp.asarray([n[name] for n in networks], dtype)

    hyper = Hyper(
        lr=column("lr"),
        update_sd=column("update_sd"),
        label_scale=column(label_key),
        input_sd=column("input_sd"),
    )
    return Batch(
        spec=spec,
        networks=networks,
        data=data,
        # cast and put on the device from the host: jnp.asarray compiles a program per
        # shape (driftlab.draws)
        x=jax.device_put(np.stack([d.inputs for d in data]).astype(dtype)),
        y=jax.device_put(np.stack([d.targets for d in data]).astype(dtype)),
        hyper=hyper,
        streams=stack(streams),
        state0=stack(states),
    )


# --------------------------------------------------------------------------- the engine


class FeedforwardEngine:
    """The one-hidden-layer network of eq. 1 trained by noisy learning, for the runner
    (:class:`driftlab.runner.loop.Engine`)."""

    model = "feedforward"

    def __init__(self, cfg: RunConfig, engine: str | None = None) -> None:
        self.config = cfg
        self.batch = prepare(cfg)
        self.networks = self.batch.networks
        self.total_steps = cfg.train.steps
        self.chunk_steps = cfg.record.chunk
        self.state0 = self.batch.state0
        spec = self.batch.spec
        _, samples, d_in = self.batch.x.shape
        shape = (spec.samples_per_step(samples), d_in, cfg.model.hidden, self.batch.y.shape[2])
        self.engine = choose_engine(spec, shape, engine)
        self.environment = {"env/engine": self.engine}
        self._chunk = engine_chunk(spec, self.engine)
        self._static = self.engine == "jax" and default_loop() == "static"
        self._measure = make_measure(cfg.model.activation)

    @property
    def compile_key(self) -> Hashable:
        """The compiled step's static choices, the shapes of the data and of the state,
        and the float type."""
        b = self.batch
        shapes = tuple(tuple(leaf.shape) for leaf in jax.tree.leaves(b.state0))
        dtype = self.config.model.dtype
        return (b.spec, tuple(b.x.shape), tuple(b.y.shape), shapes, dtype, self.engine)

    def advance(self, state: TrainState, n: int) -> tuple[TrainState, None]:
        b = self.batch
        if not self._static:
            return self._chunk(state, b.x, b.y, b.hyper, b.streams, jnp.int32(n)), None
        for piece in static_pieces(n):  # fixed-length scans: no host round trip a step
            chunk = make_chunk(b.spec, static_steps=piece)
            state = chunk(state, b.x, b.y, b.hyper, b.streams, jnp.int32(piece))
        return state, None

    def measure(self, state: TrainState) -> Measurement:
        return self._measure(state.params, self.batch.x, self.batch.y)

    def start(self, out: Path) -> None:
        write_netcdf(out / "data.nc", _data_dataset(self.batch))

    def resume(self, out: Path) -> list[str]:
        if not (out / "data.nc").is_file():
            return []
        self.batch, notice = _stored_data(self.config, self.batch, out)
        return [notice] if notice else []

    def health(self) -> DivergenceCheck:
        var_y = np.asarray([np.var(d.targets) for d in self.batch.data], np.float64)
        train = self.config.train
        return DivergenceCheck(len(self.networks), var_y, train.divergence, train.divergence_window)

    def recorders(self) -> list[Recorder]:
        """Metrics, hidden activity and parameters at ``record``'s schedule; the Hessian
        at ``record.hessian``'s (when on)."""
        cfg, b = self.config, self.batch
        rec = cfg.record
        schedule = rec.steps(cfg.train.steps)
        found: list[Recorder] = [
            Metrics(
                schedule,
                b.data,
                [int(n["seed"]) for n in b.networks],
                place_shuffles=rec.place_shuffles,
                place_percentile=rec.place_percentile,
            )
        ]
        if rec.hidden:
            found.append(hidden_snapshots(schedule))
        if rec.params:
            found.append(param_snapshots(schedule))
        hess = rec.hessian
        if hess.enabled:
            found.append(
                HessianRecorder(
                    record_steps(cfg.train.steps, hess.every, hess.log_points),
                    np.asarray(b.x),
                    np.asarray(b.y),
                    activation=cfg.model.activation,
                    seed=cfg.seed[0],
                    options=HessianOptions.of(hess),
                )
            )
        return found


def execute(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    on_chunk: ProgressFn | None = None,
    restart: bool = False,
    engine: str | None = None,
) -> RunResult:
    """Train the batch of ``cfg`` into ``out_dir``, resuming from its checkpoint if any.

    ``progress``: show progress on stderr; ``restart``: delete the run already in
    ``out_dir`` and start over; ``on_chunk(step, total, steps_per_second)`` is
    called after every chunk; ``engine``: "auto", "jax" or "fused"
    (:mod:`driftlab.engines`; None: ``$DRIFTLAB_ENGINE``, else "auto"). Returns the
    run's outcome (a finished run's is read from its status.json without computing
    anything). Raises the one-line errors
    of :func:`driftlab.runner.loop.run_engine`: :class:`RunDirError` if
    ``out_dir`` holds a different run, ``DamagedRunError``, ``RunDirBusyError``,
    ``RunInterruptedError``, ``RunIOError``.
    """
    check_resources(cfg)  # before anything is allocated
    with float_context(cfg.model.dtype):
        return run_engine(
            cfg,
            Path(out_dir),
            lambda: FeedforwardEngine(cfg, engine),
            parse=parse_config,
            kind="feed-forward",
            progress=progress,
            on_chunk=on_chunk,
            restart=restart,
        )


def _data_dataset(batch: Batch) -> xr.Dataset:
    coords = network_coords(batch.networks)
    ds = xr.Dataset(
        {
            "inputs": (("network", "sample", "input"), np.stack([d.inputs for d in batch.data])),
            "targets": (("network", "sample", "output"), np.stack([d.targets for d in batch.data])),
        },
        coords=coords,
    )
    if batch.data[0].positions is not None:
        ds["positions"] = (
            ("network", "sample", "axis"),
            np.stack([d.positions for d in batch.data if d.positions is not None]),
        )
    if batch.data[0].headings is not None:
        ds["headings"] = (
            ("network", "sample"),
            np.stack([d.headings for d in batch.data if d.headings is not None]),
        )
    return ds


def _stored_data(cfg: RunConfig, batch: Batch, out: Path) -> tuple[Batch, str | None]:
    """The batch on the task data stored when the run started, and a notice if they
    differ from what this version generates (None if they do not).

    A run always continues on the data it started with. The notice names the
    known causes: a corridor run started before the velocity input was corrected,
    or an abstract-task run started on U[0, 1] data (both driftlab < 0.2).
    """
    stored = open_netcdf(out / "data.nc")
    inputs, targets = stored["inputs"].values, stored["targets"].values
    same_shape = inputs.shape == tuple(batch.x.shape) and targets.shape == tuple(batch.y.shape)
    fresh_x, fresh_y = (
        np.stack([d.inputs for d in batch.data]),
        np.stack([d.targets for d in batch.data]),
    )
    if same_shape and np.array_equal(inputs, fresh_x) and np.array_equal(targets, fresh_y):
        return batch, None
    if not same_shape:
        raise RunDirError(
            f"--out '{out}': its data.nc holds arrays of shape {inputs.shape}, this config "
            f"makes {tuple(batch.x.shape)}: choose another --out or delete it"
        )
    why = "its task data differ from what this version of driftlab generates"
    task = cfg.task
    legacy_task = None
    if task.name == "corridor" and task.corridor.velocity_input == "heading_change":
        legacy = dataclasses.replace(task.corridor, velocity_input="heading_change_mod2pi")
        legacy_task = dataclasses.replace(task, corridor=legacy)
        legacy_why = (
            "it was started under the old corridor input (heading change mod 2 pi, "
            "driftlab < 0.2; now task.corridor.velocity_input 'heading_change_mod2pi')"
        )
    elif task.name != "corridor" and task.abstract.scale == "authors":
        legacy_task = dataclasses.replace(
            task, abstract=dataclasses.replace(task.abstract, scale="unit")
        )
        legacy_why = (
            "it was started on the old abstract-task data (U[0, 1], driftlab < 0.2; now "
            "task.abstract.scale 'unit')"
        )
    if legacy_task is not None:
        old = prepare(dataclasses.replace(cfg, task=legacy_task))
        if np.array_equal(inputs, np.stack([d.inputs for d in old.data])):
            why = legacy_why
    notice = (
        f"run {out}: {why}; it continues on the data it started with (data.nc). For the "
        "current data, start a new run (another --out)."
    )
    data = [
        TaskData(
            inputs=inputs[i],
            targets=targets[i],
            positions=stored["positions"].values[i] if "positions" in stored else None,
            headings=stored["headings"].values[i] if "headings" in stored else None,
        )
        for i in range(inputs.shape[0])
    ]
    dtype = batch.x.dtype
    stored_batch = dataclasses.replace(
        batch, data=data, x=jnp.asarray(inputs, dtype), y=jnp.asarray(targets, dtype)
    )
    return stored_batch, notice
