"""A run: config -> chunked, checkpointed simulation -> run directory on disk.

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

import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
import yaml

from driftlab import __version__, metrics
from driftlab.config import (
    ConfigError,
    RecordConfig,
    RunConfig,
    first_difference,
    parse_config,
    to_dict,
)
from driftlab.divergence import REASONS as DIVERGENCE_REASONS
from driftlab.divergence import SPIKE_FIELDS, Divergence
from driftlab.flatness import HESSIAN_RECORDED, hessian_record
from driftlab.flatness import long_name as hessian_long_name
from driftlab.metrics.spectrum import RTOL_RANGE
from driftlab.model import Params, init_params
from driftlab.rundir import load_run as load_run  # re-exported: the run's reader
from driftlab.rundir import read_status
from driftlab.runner.checkpoint import (
    network_coords,
    restore_state,
    run_environment,
    stack,
    state_arrays,
)
from driftlab.runner.progress import progress_bar
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
from driftlab.storage import (
    RunNotice,
    open_netcdf,
    read_npz,
    write_json,
    write_netcdf,
    write_npz,
    write_text,
)
from driftlab.tasks import TaskData, corridor_task
from driftlab.tasks.abstract import abstract_task

RECORDED = (
    "loss",
    "log_loss",
    "log_loss_rel",
    "active",
    "active_units",
    "mean_si",
    "n_place_units",
    "n_place_units_shuffle",
    "mean_si_corrected",
    "decoding_error",
)


def config_hash(cfg: RunConfig) -> str:
    """Eight hex digits identifying a config (used for default run directories).

    The Hessian section is left out while it is off, so turning it on is what
    changes a run's name; any new field with a default (driftlab 0.2 added
    several) changes every config's hash, hence the default directory.
    """
    data = to_dict(cfg)
    if not cfg.record.hessian.enabled:
        del data["record"]["hessian"]
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


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
        x=jnp.asarray(np.stack([d.inputs for d in data]), dtype),
        y=jnp.asarray(np.stack([d.targets for d in data]), dtype),
        hyper=hyper,
        streams=stack(streams),
        state0=stack(states),
    )


# --------------------------------------------------------------------------- checkpoints


@dataclass
class Records:
    """The measurements recorded so far: one row per record point, one column per network."""

    steps: list[int]
    values: dict[str, list[np.ndarray]]
    divergence: Divergence  # per-network divergence state and tolerated spikes
    hessian_steps: list[int]  # the Hessian's own record points (record.hessian)
    hessian: dict[str, list[np.ndarray]]

    @classmethod
    def empty(cls, n_networks: int, rule: str = "persistent", window: int = 1000) -> Records:
        return cls(
            steps=[],
            values={k: [] for k in RECORDED},
            divergence=Divergence.start(n_networks, rule, window),
            hessian_steps=[],
            hessian={k: [] for k in HESSIAN_RECORDED},
        )

    def table(self, name: str) -> np.ndarray:
        """One measurement as a (records, networks) float64 array."""
        return np.asarray(self.values[name], np.float64).reshape(len(self.steps), self.n_networks)

    def hessian_table(self, name: str) -> np.ndarray:
        """One Hessian summary as a (Hessian records, networks) float64 array."""
        shape = (len(self.hessian_steps), self.n_networks)
        return np.asarray(self.hessian[name], np.float64).reshape(shape)

    @property
    def diverged_step(self) -> np.ndarray:
        """(B,) step at which a network was stopped as diverged, -1 if it was not."""
        return self.divergence.step

    @property
    def diverged_reason(self) -> np.ndarray:
        """(B,) index into DIVERGENCE_REASONS."""
        return self.divergence.reason

    @property
    def n_networks(self) -> int:
        return int(self.diverged_step.size)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "rec/step": np.asarray(self.steps, np.int64),
            **self.divergence.arrays(),
            "hes/step": np.asarray(self.hessian_steps, np.int64),
        }
        for k in self.values:
            out[f"rec/{k}"] = self.table(k)
        for k in self.hessian:
            out[f"hes/{k}"] = self.hessian_table(k)
        return out

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], rule: str = "persistent", window: int = 1000
    ) -> Records:
        """Records from a checkpoint; a measurement an older checkpoint lacks is NaN."""
        hessian_steps = arrays.get("hes/step", np.zeros(0, np.int64))
        shape = arrays["rec/step"].shape + arrays["rec/diverged_step"].shape
        return cls(
            steps=[int(s) for s in arrays["rec/step"]],
            values={k: list(arrays.get(f"rec/{k}", np.full(shape, np.nan))) for k in RECORDED},
            divergence=Divergence.from_arrays(arrays, rule, window),
            hessian_steps=[int(s) for s in hessian_steps],
            hessian={
                k: list(arrays[f"hes/{k}"])
                if f"hes/{k}" in arrays
                else [np.full(shape[1], np.nan)] * int(hessian_steps.size)
                for k in HESSIAN_RECORDED
            },
        )


# --------------------------------------------------------------------------- datasets


def _timeseries(
    cfg: RunConfig, batch: Batch, rec: Records, notices: list[str] | None = None
) -> xr.Dataset:
    coords = network_coords(batch.networks)
    coords["step"] = ("time", np.asarray(rec.steps, np.int64))
    ds = xr.Dataset(
        {k: (("time", "network"), rec.table(k)) for k in rec.values},
        coords=coords,
    )
    ds["diverged_step"] = ("network", rec.diverged_step)
    ds["diverged_reason"] = (
        "network",
        np.asarray([DIVERGENCE_REASONS[i] for i in rec.diverged_reason]),
    )
    spikes = np.asarray(rec.divergence.spikes, np.float64).reshape(-1, len(SPIKE_FIELDS))
    for j, name in enumerate(SPIKE_FIELDS):
        column = spikes[:, j]
        if name == "reason":
            ds["spike_reason"] = ("spike", np.asarray([DIVERGENCE_REASONS[int(r)] for r in column]))
        else:
            ds[f"spike_{name}"] = ("spike", column if name == "peak" else column.astype(np.int64))
    ds["spike_peak"].attrs["long_name"] = (
        "tolerated spikes (train.divergence 'persistent'): peak log10(MSE / var(targets))"
    )
    ds.attrs["divergence_rule"] = f"{cfg.train.divergence} (window {cfg.train.divergence_window})"
    ds["loss"].attrs["long_name"] = "mean squared error on the clean data (paper eq. 2)"
    ds["log_loss"].attrs["long_name"] = "log10(MSE / var(targets)); 0 = predicting the mean"
    ds["active"].attrs["long_name"] = "fraction of (sample, unit) pairs with h > 0"
    ds["active_units"].attrs["long_name"] = "fraction of units with h > 0 for at least one sample"
    ds["log_loss_rel"].attrs["long_name"] = "log10(MSE / MSE of the per-output mean estimator)"
    ds["mean_si"].attrs["long_name"] = "mean Skaggs spatial information of place units (bits)"
    ds["n_place_units"].attrs["long_name"] = (
        "number of units with spatial information > 0.01 bits (the paper's place units; "
        "biased: with few samples a bin nearly every active unit passes)"
    )
    ds["n_place_units_shuffle"].attrs["long_name"] = (
        f"number of units whose spatial information beats the {cfg.record.place_percentile:g}th "
        f"percentile of {cfg.record.place_shuffles} circular shifts of their activity"
    )
    ds["mean_si_corrected"].attrs["long_name"] = (
        "mean shuffle-corrected spatial information (SI minus its shuffle mean, bits) of the "
        "shuffle-tested place units"
    )
    ds["decoding_error"].attrs["long_name"] = (
        "mean absolute error decoding the direction-signed position from h "
        "(nearest rate-map template, trajectory halves cross-validated)"
    )
    if rec.hessian_steps:
        ds = ds.assign_coords(hessian_step=("hessian_time", np.asarray(rec.hessian_steps)))
        for name in HESSIAN_RECORDED:
            ds[f"hessian_{name}"] = (("hessian_time", "network"), rec.hessian_table(name))
            ds[f"hessian_{name}"].attrs["long_name"] = hessian_long_name(
                name, cfg.record.hessian.rtol
            )
        ds.attrs["hessian_rtol"] = cfg.record.hessian.rtol
        ds.attrs["hessian_rtol_range"] = list(RTOL_RANGE)
    ds.attrs["config"] = json.dumps(to_dict(cfg), sort_keys=True)
    if notices:  # what a resumed run was told (e.g. it runs on data of an older version)
        ds.attrs["notices"] = "\n".join(notices)
    ds.attrs["driftlab_version"] = __version__
    return ds


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


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    status: str  # "complete" or "diverged"
    step: int
    steps_per_second: float


class RunDirError(ConfigError):
    """The output directory holds something else."""


def _check_out_dir(cfg: RunConfig, out_dir: Path) -> bool:
    """True when ``out_dir`` holds this config's run (to resume); raise if it holds another."""
    stored = out_dir / "config.yaml"
    if stored.is_file():
        old = parse_config(yaml.safe_load(stored.read_text()) or {})
        if to_dict(old) != to_dict(cfg):
            diff = first_difference(to_dict(old), to_dict(cfg))
            raise RunDirError(
                f"--out '{out_dir}': holds a run of another config ({diff}); "
                "choose another --out or delete it"
            )
        return True
    if out_dir.exists() and any(out_dir.iterdir()):
        raise RunDirError(f"--out '{out_dir}': exists and is not a driftlab run directory")
    return False


ProgressFn = Callable[[int, int, float], None]


def float_context(dtype: str) -> contextlib.AbstractContextManager[Any]:
    """JAX's 64-bit mode for float64 runs, scoped to the run (no global switch)."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[no-any-return,operator]


def execute(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    on_chunk: ProgressFn | None = None,
) -> RunResult:
    """Train the batch of ``cfg`` into ``out_dir``, resuming from its checkpoint if any.

    ``on_chunk(step, total, steps_per_second)`` is called after every chunk.
    Raises :class:`RunDirError` if ``out_dir`` holds a different run.
    """
    with float_context(cfg.model.dtype):
        return _execute(cfg, Path(out_dir), progress=progress, on_chunk=on_chunk)


def _execute(
    cfg: RunConfig, out_dir: Path, *, progress: bool, on_chunk: ProgressFn | None
) -> RunResult:
    out = out_dir
    resuming = _check_out_dir(cfg, out)
    status_path = out / "status.json"
    status = read_status(out) if resuming else {}
    if status.get("state") in ("complete", "diverged"):
        return RunResult(
            out, status["state"], int(status["step"]), float(status.get("steps_per_second", 0))
        )

    batch = prepare(cfg)
    notices: list[str] = list(status.get("notices", []))
    if resuming and (out / "data.nc").is_file():
        batch, data_notice = _stored_data(cfg, batch, out)
        if data_notice:
            if data_notice not in notices:
                notices.append(data_notice)
            warnings.warn(data_notice, RunNotice, stacklevel=2)
    chunk_fn = make_chunk(batch.spec)
    measure_fn = make_measure(cfg.model.activation)
    schedule = record_steps(cfg.train.steps, cfg.record.every, cfg.record.log_points)
    hess_cfg = cfg.record.hessian
    hess_schedule = (
        record_steps(cfg.train.steps, hess_cfg.every, hess_cfg.log_points)
        if hess_cfg.enabled
        else np.zeros(0, np.int64)
    )
    ckpt_path = out / "checkpoint.npz"
    divergence_rule = (cfg.train.divergence, cfg.train.divergence_window)

    environment = run_environment()
    if resuming and ckpt_path.is_file():
        arrays = read_npz(ckpt_path)
        state = restore_state(batch.state0, arrays)
        rec = Records.from_arrays(arrays, *divergence_rule)
        for net, stopped_at in rec.divergence.cleared:
            notice = (
                f"run {out}: network {net} was stopped at step {stopped_at} by driftlab < 0.2's "
                "rule (raw MSE above 10), which also stopped recovering transients; it is judged "
                f"by train.divergence '{cfg.train.divergence}' from step "
                f"{int(np.asarray(state.step)[0])} on"
            )
            notices.append(notice)
            warnings.warn(notice, RunNotice, stacklevel=2)
        before = {k: str(arrays[k]) for k in environment if k in arrays}
        if before and before != {k: str(v) for k, v in environment.items()}:
            warnings.warn(
                f"resuming {out} in another environment ({before} -> {environment}): the "
                "result is a valid run but not bit-identical to an uninterrupted one",
                stacklevel=2,
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        write_netcdf(out / "data.nc", _data_dataset(batch))
        state, rec = batch.state0, Records.empty(len(batch.networks), *divergence_rule)

    def checkpoint(st: TrainState, state_name: str, speed: float) -> None:
        meta = {k: np.asarray(v) for k, v in environment.items()}
        write_npz(ckpt_path, {**state_arrays(st), **rec.arrays(), **meta})
        write_json(
            status_path,
            {
                "state": state_name,
                "step": int(np.asarray(st.step).max()),
                "total_steps": cfg.train.steps,
                "networks": len(batch.networks),
                "steps_per_second": speed,
                "divergence_rule": cfg.train.divergence,
                "diverged": [
                    {"network": i, "step": int(s), "reason": DIVERGENCE_REASONS[int(r)]}
                    for i, (s, r) in enumerate(
                        zip(rec.diverged_step, rec.diverged_reason, strict=True)
                    )
                    if s >= 0
                ],
                "tolerated_spikes": rec.divergence.spike_records(),
                "notices": notices,
            },
        )

    var_y = np.asarray([np.var(d.targets) for d in batch.data], np.float64)

    def check_divergence(step: int, m: Measurement) -> None:
        loss = np.asarray(m.loss, np.float64)
        rec.divergence.check(step, loss, var_y, np.asarray(m.active_units))

    def record(st: TrainState, m: Measurement) -> None:
        step = int(np.asarray(st.step)[0])
        loss = np.asarray(m.loss, np.float64)
        rec.steps.append(step)
        rec.values["loss"].append(loss)
        rec.values["active"].append(np.asarray(m.active, np.float64))
        rec.values["active_units"].append(np.asarray(m.active_units, np.float64))
        hidden = np.asarray(m.hidden, np.float64)
        for name, value in _host_metrics(loss, hidden, batch, cfg.record, step).items():
            rec.values[name].append(value)
        snaps = out / "snapshots"
        if cfg.record.hidden:
            write_npz(
                snaps / f"hidden_{step:012d}.npz", {"hidden": np.asarray(m.hidden, np.float32)}
            )
        if cfg.record.params:
            write_npz(
                snaps / f"params_{step:012d}.npz",
                dict(zip(Params._fields, map(np.asarray, st.params), strict=True)),
            )
        write_netcdf(out / "timeseries.nc", _timeseries(cfg, batch, rec, notices))

    def record_hessian(st: TrainState) -> None:
        step = int(np.asarray(st.step)[0])
        point = hessian_record(
            st.params,
            np.asarray(batch.x),
            np.asarray(batch.y),
            activation=cfg.model.activation,
            cfg=hess_cfg,
            key=jax.random.fold_in(jax.random.key(cfg.seed[0]), step),
        )
        rec.hessian_steps.append(step)
        for name, value in point.values.items():
            rec.hessian[name].append(value)
        if point.spectra is not None:
            write_npz(out / "snapshots" / f"hessian_{step:012d}.npz", {"eigs": point.spectra})
        write_netcdf(out / "timeseries.nc", _timeseries(cfg, batch, rec, notices))

    current = int(np.asarray(state.step)[0])
    if not rec.steps:
        m0 = measure_fn(state.params, batch.x, batch.y)
        check_divergence(current, m0)
        record(state, m0)
        if current in hess_schedule:
            record_hessian(state)
        checkpoint(state, "running", 0.0)
    bar = progress_bar(cfg.train.steps, current, len(batch.networks)) if progress else None
    speed, t_start, steps_start = 0.0, time.perf_counter(), current
    targets = np.union1d(schedule, hess_schedule)
    for target in targets[targets > current]:
        while current < target:
            n = int(min(cfg.record.chunk, target - current))
            state = chunk_fn(state, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(n))
            jax.block_until_ready(state)  # type: ignore[no-untyped-call]
            current += n
            elapsed = time.perf_counter() - t_start
            speed = (current - steps_start) / elapsed if elapsed > 0 else 0.0
            # divergence is checked after every chunk; the record points only sample
            m = measure_fn(state.params, batch.x, batch.y)
            check_divergence(current, m)
            if current == target and target in schedule:
                record(state, m)
            if current == target and target in hess_schedule:
                record_hessian(state)
            checkpoint(state, "running", speed)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(
                    log_loss=f"{float(np.nanmean(rec.values['log_loss'][-1])):.2f}",
                    active_units=f"{float(np.nanmean(rec.values['active_units'][-1])):.2f}",
                )
            if on_chunk is not None:
                on_chunk(current, cfg.train.steps, speed)
            if np.all(rec.diverged_step >= 0):
                break
        if np.all(rec.diverged_step >= 0):
            if current != rec.steps[-1]:  # end the series where the run stopped
                record(state, m)
            break
    if bar is not None:
        bar.close()
    rec.divergence.close()
    final = "diverged" if np.all(rec.diverged_step >= 0) else "complete"
    _consolidate(cfg, batch, rec, out)
    checkpoint(state, final, speed)
    # only now, with the final state on disk, are the per-record files redundant
    shutil.rmtree(out / "snapshots", ignore_errors=True)
    return RunResult(out, final, current, speed)


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


HOST_METRICS = (
    "log_loss",
    "log_loss_rel",
    "mean_si",
    "n_place_units",
    "n_place_units_shuffle",
    "mean_si_corrected",
    "decoding_error",
)


def _host_metrics(
    loss: np.ndarray, hidden: np.ndarray, batch: Batch, record: RecordConfig, step: int
) -> dict[str, np.ndarray]:
    """Per-network measurements of a record point that need the task's positions.

    log_loss, log_loss_rel (driftlab.metrics.loss); with positions, over the
    direction-signed position (100 bins): the paper's place units (Skaggs
    spatial information > 0.01 bits) and their mean SI; the shuffle-tested place
    units (SI above the ``record.place_percentile``-th percentile of
    ``record.place_shuffles`` circular shifts, metrics.shuffle_spatial_information,
    shuffles drawn from (seed, step, network)) and their mean shuffle-corrected SI;
    and the cross-validated decoding error of the signed position (metrics.drift).
    """
    out: dict[str, list[float]] = {k: [] for k in HOST_METRICS}
    for i, task in enumerate(batch.data):
        with np.errstate(divide="ignore", invalid="ignore"):
            out["log_loss"].append(float(metrics.log_loss(loss[i], task.targets)))
            out["log_loss_rel"].append(float(metrics.log_loss_rel(loss[i], task.targets)))
        if task.positions is None or not np.all(np.isfinite(hidden[i])):
            for name in HOST_METRICS[2:]:
                out[name].append(float("nan"))
            continue
        position = metrics.signed_position(task.positions[:, 1])
        maps = metrics.rate_maps(hidden[i], position)
        si = metrics.spatial_information(maps.maps, maps.occupancy)
        out["mean_si"].append(float(metrics.mean_place_si(si)))
        out["n_place_units"].append(float(np.count_nonzero(metrics.place_units(si))))
        if record.place_shuffles:
            seed = int(batch.networks[i]["seed"])
            shuffled = metrics.shuffle_spatial_information(
                hidden[i],
                position,
                n_shuffles=record.place_shuffles,
                percentile=record.place_percentile,
                rng=np.random.default_rng([seed, step, i]),
            )
            out["n_place_units_shuffle"].append(float(np.count_nonzero(shuffled.place)))
            out["mean_si_corrected"].append(metrics.mean_corrected_place_si(shuffled))
        else:
            out["n_place_units_shuffle"].append(float("nan"))
            out["mean_si_corrected"].append(float("nan"))
        enough = position.size >= 10  # two folds of 5-sample blocks
        out["decoding_error"].append(
            metrics.decoding_error(hidden[i], position) if enough else float("nan")
        )
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def _consolidate(cfg: RunConfig, batch: Batch, rec: Records, out: Path) -> None:
    """Gather the per-record snapshot files into activity.nc (and params.nc)."""
    snaps = out / "snapshots"
    steps = np.asarray(rec.steps, np.int64)
    coords = {**network_coords(batch.networks), "step": ("time", steps)}
    if cfg.record.hidden:
        hidden = np.stack([read_npz(snaps / f"hidden_{s:012d}.npz")["hidden"] for s in steps])
        ds = xr.Dataset({"hidden": (("time", "network", "sample", "unit"), hidden)}, coords=coords)
        ds["hidden"].attrs["long_name"] = "hidden activity h = act(x m^T + b)"
        write_netcdf(out / "activity.nc", ds)
    if cfg.record.params:
        loaded = [read_npz(snaps / f"params_{s:012d}.npz") for s in steps]
        dims = {"m": ("unit", "input"), "b": ("unit",), "n": ("output", "unit")}
        ds = xr.Dataset(
            {k: (("time", "network", *dims[k]), np.stack([p[k] for p in loaded])) for k in dims},
            coords=coords,
        )
        write_netcdf(out / "params.nc", ds)
    hess_steps = np.asarray(rec.hessian_steps, np.int64)
    spectra = [snaps / f"hessian_{s:012d}.npz" for s in hess_steps]
    if spectra and all(p.is_file() for p in spectra):
        eigs = np.stack([read_npz(p)["eigs"] for p in spectra])
        coords = {**network_coords(batch.networks), "hessian_step": ("hessian_time", hess_steps)}
        ds = xr.Dataset(
            {"eigenvalues": (("hessian_time", "network", "eigenvalue"), eigs)}, coords=coords
        )
        ds["eigenvalues"].attrs["long_name"] = (
            "eigenvalues of the Hessian of the training loss, ascending (float64, eigvalsh)"
        )
        ds.attrs["rtol"] = cfg.record.hessian.rtol
        write_netcdf(out / "hessian.nc", ds)
