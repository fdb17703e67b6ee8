"""A Hebbian run: config -> chunked, checkpointed simulation -> run directory.

The Hebbian/anti-Hebbian network of Qin et al. (2023) (:mod:`driftlab.hebbian`),
as Ratzon, Derdikman & Barak (2023) simulate it in Figure 3C. Run directory
(every file written atomically):

``config.yaml``      the resolved config (every field, defaults included)
``inputs.nc``        the inputs X (input, dim) and their coordinate (angle or position)
``timeseries.nc``    measurements over (time, network), rewritten at each record
``snapshots/``       fixed-point rates per record point, while running
``activity.nc``      rates y (time, network, input, unit), when complete
``checkpoint.npz``   the state after the last chunk, the records, the last rates
``status.json``      running / complete / diverged, fixed-point cap hits, speed

Rerunning the same config into the same directory resumes from the checkpoint;
the input shown and the noise drawn at step t depend only on (seed, t), so the
finished run is bit-identical to an uninterrupted one.

Recorded per network at each record point (:mod:`driftlab.metrics.similarity`):
``loss`` (similarity-matching loss with regularisers), ``mismatch`` (without
them), ``fraction_active``, ``pv_corr_prev`` (population-vector correlation with
the previous record), ``mean_peak`` (mean peak rate of active neurons),
``max_iterations`` (most fixed-point iterations of a plasticity step since the
previous record), ``cap_hits`` (plasticity steps so far whose fixed point hit the
iteration cap), ``measure_iterations`` and ``measure_capped`` (the same for the
fixed points of the recorded rates).
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
import yaml

from driftlab import __version__
from driftlab.config import ConfigError, first_difference, to_dict
from driftlab.hebbian.engine import (
    Dynamics,
    HebbState,
    Streams,
    default_batching,
    make_chunk,
    make_population,
    make_streams,
)
from driftlab.hebbian.inputs import place_inputs, ring_inputs
from driftlab.hebbian.model import Hyper, init_params
from driftlab.hebbian_config import HebbianConfig, parse_hebbian_config
from driftlab.metrics import similarity as measures
from driftlab.run import float_context
from driftlab.rundir import load_hebbian_run
from driftlab.runner.checkpoint import (
    network_coords,
    restore_state,
    run_environment,
    stack,
    state_arrays,
)
from driftlab.runner.progress import progress_bar
from driftlab.runner.schedule import record_steps
from driftlab.storage import read_npz, write_json, write_netcdf, write_npz, write_text

RECORDED = (
    "loss",
    "mismatch",
    "fraction_active",
    "pv_corr_prev",
    "mean_peak",
    "max_iterations",
    "cap_hits",
    "measure_iterations",
    "measure_capped",
)
LONG_NAMES = {
    "loss": "similarity-matching loss 1/(2T^2)|XX^T - alpha - YY^T|^2 "
    "+ 1/T sum_t (2 lambda1 |y_t|_1 + lambda2 |y_t|^2)",
    "mismatch": "1/(2T^2)|XX^T - alpha - YY^T|_F^2",
    "fraction_active": "fraction of neurons above threshold for >= min_inputs inputs",
    "pv_corr_prev": "population-vector correlation with the previous record, mean over inputs",
    "mean_peak": "mean peak rate of the active neurons",
    "max_iterations": "most fixed-point iterations of a plasticity step since the previous record",
    "cap_hits": "plasticity steps so far whose fixed point hit the iteration cap",
    "measure_iterations": "fixed-point iterations of the recorded rates (slowest input)",
    "measure_capped": "1 if the recorded rates' fixed point hit the iteration cap",
}


TIMESERIES_EVERY_S = 10.0


class FixedPointCapWarning(RuntimeWarning):
    """Some fixed points of the neural dynamics stopped at the iteration cap."""


class HebbianRunDirError(ConfigError):
    """The output directory holds something else."""


def hebbian_record_steps(total: int, every: int = 0, log_points: int = 0) -> np.ndarray:
    """Record steps: 0, the union of ``log_points`` log-spaced steps in [1, total] and the
    multiples of ``every``, and ``total`` (100 evenly spaced when both are 0).

    Unlike :func:`driftlab.run.record_steps`, where ``every`` wins, both apply: the
    log-spaced records resolve the fast first phase, the even ones the steady drift.
    """
    steps = record_steps(total, every) if every or not log_points else np.zeros(0, np.int64)
    if log_points:
        steps = np.union1d(steps, record_steps(total, 0, log_points))
    return steps


def make_inputs(cfg: HebbianConfig) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Inputs X (T, d), their coordinate (T,) and its period (2 pi on the ring, None on
    the track)."""
    if cfg.inputs.kind == "ring":
        X, theta = ring_inputs(cfg.inputs.ring.n_inputs, cfg.inputs.ring.radius)
        return X, theta, 2 * np.pi
    p = cfg.inputs.place
    X, position = place_inputs(
        p.n_positions,
        n_scales=p.n_scales,
        n_orientations=p.n_orientations,
        phases_x=p.phases_x,
        phases_y=p.phases_y,
        base_spacing=p.base_spacing,
        scale_factor=p.scale_factor,
        slice_angle=p.slice_angle,
    )
    return X, position, None


@dataclass(frozen=True)
class HebbBatch:
    """Everything the engine needs for a batch of networks, at step 0."""

    networks: list[dict[str, float]]
    X: jax.Array  # (T, d), shared
    inputs: np.ndarray  # (T, d) float64
    coords: np.ndarray  # (T,)
    period: float | None
    hyper: Hyper  # (B,) each
    streams: Streams
    state0: HebbState
    dynamics: Dynamics


def prepare_hebbian(cfg: HebbianConfig) -> HebbBatch:
    """Inputs, initial synapses, hyperparameters and noise streams of every network.

    Each network's seed becomes one key, split into (init, noise): changing eta or
    sigma leaves the initial weights and the input sequence unchanged.
    """
    dtype = jnp.dtype(cfg.network.dtype)
    networks = cfg.batch()
    X, coords, period = make_inputs(cfg)
    states, streams = [], []
    for net in networks:
        key_init, key_noise = jax.random.split(jax.random.key(int(net["seed"])))
        p = init_params(
            key_init, cfg.network.neurons, X.shape[1], w0_sd=cfg.network.w0_sd, dtype=dtype
        )
        states.append(HebbState(p, jnp.zeros((), jnp.int32)))
        streams.append(make_streams(cfg.generator, key_noise))  # type: ignore[arg-type]

    def column(values: list[float]) -> jax.Array:
        return jnp.asarray(values, dtype)

    arch = cfg.network
    B = len(networks)
    hyper = Hyper(
        eta=column([n["eta"] for n in networks]),
        sigma=column([n["sigma"] for n in networks]),
        lambda1=column([arch.lambda1] * B),
        lambda2=column([arch.lambda2] * B),
        alpha=column([arch.alpha] * B),
    )
    return HebbBatch(
        networks=networks,
        X=jnp.asarray(X, dtype),
        inputs=X,
        coords=coords,
        period=period,
        hyper=hyper,
        streams=stack(streams),
        state0=stack(states),
        dynamics=Dynamics(cfg.dynamics.dt, cfg.dynamics.tol, cfg.dynamics.max_iter),
    )


# --------------------------------------------------------------------------- records


@dataclass
class Records:
    """Measurements so far (one row per record point), and the running counters."""

    steps: list[int]
    values: dict[str, list[np.ndarray]]
    cap_total: np.ndarray  # (B,) plasticity steps that hit the cap so far
    pending_iter: np.ndarray  # (B,) most iterations since the last record
    diverged_step: np.ndarray  # (B,) step at which synapses became non-finite, -1 if not

    @classmethod
    def empty(cls, n: int) -> Records:
        return cls(
            steps=[],
            values={k: [] for k in RECORDED},
            cap_total=np.zeros(n, np.int64),
            pending_iter=np.zeros(n, np.int64),
            diverged_step=np.full(n, -1, np.int64),
        )

    def table(self, name: str) -> np.ndarray:
        """One measurement as a (records, networks) float64 array."""
        shape = (len(self.steps), self.cap_total.size)
        return np.asarray(self.values[name], np.float64).reshape(shape)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "rec/step": np.asarray(self.steps, np.int64),
            "rec/cap_total": self.cap_total,
            "rec/pending_iter": self.pending_iter,
            "rec/diverged_step": self.diverged_step,
        }
        out.update({f"rec/{k}": self.table(k) for k in RECORDED})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Records:
        return cls(
            steps=[int(s) for s in arrays["rec/step"]],
            values={k: list(arrays[f"rec/{k}"]) for k in RECORDED},
            cap_total=arrays["rec/cap_total"].copy(),
            pending_iter=arrays["rec/pending_iter"].copy(),
            diverged_step=arrays["rec/diverged_step"].copy(),
        )


def _timeseries(cfg: HebbianConfig, batch: HebbBatch, rec: Records) -> xr.Dataset:
    coords = {**network_coords(batch.networks), "step": ("time", np.asarray(rec.steps, np.int64))}
    ds = xr.Dataset({k: (("time", "network"), rec.table(k)) for k in RECORDED}, coords=coords)
    for k, text in LONG_NAMES.items():
        ds[k].attrs["long_name"] = text
    ds["diverged_step"] = ("network", rec.diverged_step)
    ds.attrs["config"] = json.dumps(to_dict(cfg), sort_keys=True)
    ds.attrs["model"] = "hebbian"
    ds.attrs["driftlab_version"] = __version__
    return ds


def _inputs_dataset(batch: HebbBatch) -> xr.Dataset:
    ds = xr.Dataset(
        {"X": (("input", "dim"), batch.inputs), "coord": ("input", batch.coords)},
        coords={"input": np.arange(len(batch.coords))},
    )
    ds["coord"].attrs["long_name"] = "input angle (rad)" if batch.period else "track position"
    ds.attrs["period"] = float(batch.period) if batch.period else 0.0
    return ds


def host_measures(
    cfg: HebbianConfig, X: np.ndarray, y: np.ndarray, previous: np.ndarray | None
) -> dict[str, float]:
    """The record's measurements of one network's rates ``y`` (T, n)."""
    net, meas = cfg.network, cfg.measure
    if not np.all(np.isfinite(y)):
        nan = float("nan")
        return {
            "loss": nan,
            "mismatch": nan,
            "fraction_active": nan,
            "pv_corr_prev": nan,
            "mean_peak": nan,
        }
    active = measures.active_units(y, meas.threshold, meas.min_inputs)
    peaks = y.max(axis=0)
    return {
        "loss": measures.similarity_loss(
            X, y, alpha=net.alpha, lambda1=net.lambda1, lambda2=net.lambda2
        ),
        "mismatch": measures.similarity_mismatch(X, y, net.alpha),
        "fraction_active": float(active.mean()),
        "pv_corr_prev": (
            measures.pv_correlation(previous, y) if previous is not None else float("nan")
        ),
        "mean_peak": float(peaks[active].mean()) if active.any() else 0.0,
    }


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class HebbianResult:
    out_dir: Path
    status: str  # "complete" or "diverged"
    step: int
    steps_per_second: float
    cap_hits: tuple[int, ...]  # per network, plasticity steps whose fixed point hit the cap


ProgressFn = Callable[[int, int, float], None]


def execute_hebbian(
    cfg: HebbianConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    on_chunk: ProgressFn | None = None,
) -> HebbianResult:
    """Train the networks of ``cfg`` into ``out_dir``, resuming from its checkpoint if any.

    ``on_chunk(step, total, steps_per_second)`` is called after every chunk (after its
    checkpoint). Warns (:class:`FixedPointCapWarning`) when fixed points hit the cap.
    Raises :class:`HebbianRunDirError` if ``out_dir`` holds a different run.
    """
    with float_context(cfg.network.dtype):
        result = _execute(cfg, Path(out_dir), progress=progress, on_chunk=on_chunk)
    if any(result.cap_hits):
        warnings.warn(
            f"{sum(result.cap_hits):,} plasticity steps (per network: {list(result.cap_hits)}) "
            f"stopped at the fixed-point cap of {cfg.dynamics.max_iter:,} iterations before "
            f"the relative residual fell below {cfg.dynamics.tol:g}; see cap_hits in "
            f"{result.out_dir / 'timeseries.nc'}",
            FixedPointCapWarning,
            stacklevel=2,
        )
    return result


def _check_out_dir(cfg: HebbianConfig, out: Path) -> bool:
    """True when ``out`` holds this config's run (to resume); raise if it holds anything
    else (another config, another kind of run, a file), before anything is written."""
    if out.exists() and not out.is_dir():
        raise HebbianRunDirError(f"--out '{out}': exists and is not a directory")
    stored = out / "config.yaml"
    if stored.is_file():
        try:
            old = to_dict(parse_hebbian_config(yaml.safe_load(stored.read_text()) or {}))
        except (ConfigError, yaml.YAMLError, TypeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise HebbianRunDirError(
                f"--out '{out}': holds a run that is not a Hebbian run of this version "
                f"({first}); choose another --out or delete it"
            ) from None
        new = to_dict(cfg)
        if old != new:
            diff = first_difference(old, new)
            raise HebbianRunDirError(
                f"--out '{out}': holds a run of another config ({diff}); "
                "choose another --out or delete it"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise HebbianRunDirError(f"--out '{out}': exists and is not a driftlab run directory")
    return False


def _execute(
    cfg: HebbianConfig, out: Path, *, progress: bool, on_chunk: ProgressFn | None
) -> HebbianResult:
    resuming = _check_out_dir(cfg, out)
    status_path, ckpt_path = out / "status.json", out / "checkpoint.npz"
    if resuming and status_path.is_file():
        status = json.loads(status_path.read_text())
        if status.get("state") in ("complete", "diverged"):
            return HebbianResult(
                out,
                status["state"],
                int(status["step"]),
                float(status.get("steps_per_second", 0.0)),
                tuple(int(c) for c in status.get("cap_hits", [])),
            )

    batch = prepare_hebbian(cfg)
    chunk_fn = make_chunk(batch.dynamics, cfg.generator)  # type: ignore[arg-type]
    population_fn = make_population(batch.dynamics)
    schedule = hebbian_record_steps(cfg.train.steps, cfg.record.every, cfg.record.log_points)
    environment = run_environment(default_batching())
    last_y: np.ndarray | None = None

    if resuming and ckpt_path.is_file():
        arrays = read_npz(ckpt_path)
        state = restore_state(batch.state0, arrays)
        rec = Records.from_arrays(arrays)
        last_y = arrays.get("last_y")
        before = {k: str(arrays[k]) for k in environment if k in arrays}
        if before and before != dict(environment):
            warnings.warn(
                f"resuming {out} in another environment ({before} -> {environment}): the "
                "result is a valid run but not bit-identical to an uninterrupted one",
                stacklevel=3,
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        write_netcdf(out / "inputs.nc", _inputs_dataset(batch))
        state, rec = batch.state0, Records.empty(len(batch.networks))

    def checkpoint(st: HebbState, name: str, speed: float) -> None:
        arrays = {**state_arrays(st), **rec.arrays()}
        arrays.update({k: np.asarray(v) for k, v in environment.items()})
        if last_y is not None:
            arrays["last_y"] = last_y
        write_npz(ckpt_path, arrays)
        write_json(
            status_path,
            {
                "state": name,
                "model": "hebbian",
                "step": int(np.asarray(st.step).max()),
                "total_steps": cfg.train.steps,
                "networks": len(batch.networks),
                "steps_per_second": speed,
                "cap_hits": [int(c) for c in rec.cap_total],
                "max_iter": cfg.dynamics.max_iter,
                "diverged": [
                    {"network": i, "step": int(s)}
                    for i, s in enumerate(rec.diverged_step)
                    if s >= 0
                ],
            },
        )

    written = [-np.inf]  # when timeseries.nc was last written

    def record(st: HebbState) -> None:
        nonlocal last_y
        step = int(np.asarray(st.step)[0])
        fp = population_fn(st.params, batch.X, batch.hyper)
        y = np.asarray(fp.y, np.float64)  # (B, T, n)
        rows = [
            host_measures(cfg, batch.inputs, y[i], None if last_y is None else last_y[i])
            for i in range(len(batch.networks))
        ]
        rec.steps.append(step)
        for name in ("loss", "mismatch", "fraction_active", "pv_corr_prev", "mean_peak"):
            rec.values[name].append(np.asarray([r[name] for r in rows], np.float64))
        rec.values["max_iterations"].append(rec.pending_iter.astype(np.float64))
        rec.values["cap_hits"].append(rec.cap_total.astype(np.float64))
        rec.values["measure_iterations"].append(np.asarray(fp.iterations, np.float64))
        rec.values["measure_capped"].append(np.asarray(fp.capped, np.float64))
        rec.pending_iter = np.zeros_like(rec.pending_iter)
        last_y = np.asarray(fp.y, np.float32)
        if cfg.record.activity:
            write_npz(out / "snapshots" / f"y_{step:012d}.npz", {"y": last_y})
        # the checkpoint holds every record; the netCDF copy (0.1-0.2 s a write) is
        # refreshed at most every TIMESERIES_EVERY_S seconds, and at the end
        if time.perf_counter() - written[0] >= TIMESERIES_EVERY_S:
            write_netcdf(out / "timeseries.nc", _timeseries(cfg, batch, rec))
            written[0] = time.perf_counter()

    current = int(np.asarray(state.step)[0])
    if not rec.steps:
        record(state)
        checkpoint(state, "running", 0.0)
    bar = progress_bar(cfg.train.steps, current, len(batch.networks)) if progress else None
    speed, t_start, start = 0.0, time.perf_counter(), current
    for target in schedule[schedule > current]:
        while current < target:
            n = int(min(cfg.record.chunk, target - current))
            state, stats = chunk_fn(state, batch.X, batch.hyper, batch.streams, jnp.int32(n))
            jax.block_until_ready(state)  # type: ignore[no-untyped-call]
            current += n
            elapsed = time.perf_counter() - t_start
            speed = (current - start) / elapsed if elapsed > 0 else 0.0
            rec.cap_total += np.asarray(stats.cap_hits, np.int64)
            rec.pending_iter = np.maximum(rec.pending_iter, np.asarray(stats.max_iterations))
            finite = np.asarray(
                jnp.all(jnp.isfinite(state.params.W), axis=(1, 2))
                & jnp.all(jnp.isfinite(state.params.M), axis=(1, 2))
            )
            rec.diverged_step[(~finite) & (rec.diverged_step < 0)] = current
            if current == target or np.all(rec.diverged_step >= 0):
                record(state)
            checkpoint(state, "running", speed)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(
                    loss=f"{float(np.nanmean(rec.values['loss'][-1])):.4g}",
                    active=f"{float(np.nanmean(rec.values['fraction_active'][-1])):.2f}",
                )
            if on_chunk is not None:
                on_chunk(current, cfg.train.steps, speed)
            if np.all(rec.diverged_step >= 0):
                break
        if np.all(rec.diverged_step >= 0):
            break
    if bar is not None:
        bar.close()
    final = "diverged" if np.all(rec.diverged_step >= 0) else "complete"
    write_netcdf(out / "timeseries.nc", _timeseries(cfg, batch, rec))
    if cfg.record.activity:
        _consolidate(batch, rec, out)
    checkpoint(state, final, speed)
    shutil.rmtree(out / "snapshots", ignore_errors=True)
    return HebbianResult(out, final, current, speed, tuple(int(c) for c in rec.cap_total))


def _consolidate(batch: HebbBatch, rec: Records, out: Path) -> None:
    """Gather the per-record snapshots into activity.nc (time, network, input, unit)."""
    steps = np.asarray(rec.steps, np.int64)
    y = np.stack([read_npz(out / "snapshots" / f"y_{s:012d}.npz")["y"] for s in steps])
    coords = {**network_coords(batch.networks), "step": ("time", steps)}
    coords["coord"] = ("input", batch.coords)
    ds = xr.Dataset({"y": (("time", "network", "input", "unit"), y)}, coords=coords)
    ds["y"].attrs["long_name"] = "fixed-point rate of each neuron for each input"
    write_netcdf(out / "activity.nc", ds)


def summarise_hebbian(out_dir: str | Path) -> list[str]:
    """One line per network: loss and fraction active, first -> last record, cap hits."""
    ts = load_hebbian_run(out_dir)["timeseries"]
    lines = [f"run directory: {out_dir}"]
    for i in range(ts.sizes["network"]):
        t = ts.isel(network=i)
        lines.append(
            f"  network {i} (seed {int(t.seed)}, eta {float(t.eta):g}, sigma {float(t.sigma):g}): "
            f"step {int(t.step[-1])}: loss {float(t.loss[0]):.4g} -> {float(t.loss[-1]):.4g}, "
            f"fraction active {float(t.fraction_active[0]):.2f} -> "
            f"{float(t.fraction_active[-1]):.2f}, fixed-point cap hits {int(t.cap_hits[-1])}"
        )
    return lines
