"""A Hebbian run: config -> engine -> the shared runner (:mod:`driftlab.runner.loop`)
-> run directory.

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

import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from driftlab.config import check_resources
from driftlab.hebbian.config import HebbianConfig, parse_hebbian_config
from driftlab.hebbian.engine import (
    ChunkStats,
    Dynamics,
    HebbState,
    Streams,
    make_chunk,
    make_population,
    make_streams,
)
from driftlab.hebbian.inputs import place_inputs, ring_inputs
from driftlab.hebbian.model import FixedPoint, Hyper, init_params
from driftlab.metrics import similarity as measures
from driftlab.rundir import load_hebbian_run, read_status
from driftlab.runner.checkpoint import stack
from driftlab.runner.loop import ProgressFn, Recorder, run_engine
from driftlab.runner.loop import float_context as float_context  # re-exported
from driftlab.runner.outdir import RunDirError
from driftlab.runner.recorders import Series, SeriesRecorder, Snapshots, array_snapshots
from driftlab.runner.schedule import record_steps
from driftlab.storage import write_netcdf

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


class FixedPointCapWarning(RuntimeWarning):
    """Some fixed points of the neural dynamics stopped at the iteration cap."""


HebbianRunDirError = RunDirError
"""The output directory holds something else (the runner's :class:`RunDirError`)."""


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


# --------------------------------------------------------------------------- recorders

MEASURED = ("loss", "mismatch", "fraction_active", "pv_corr_prev", "mean_peak")


class Similarity(SeriesRecorder):
    """:func:`host_measures` of each network's fixed-point rates, the fixed-point
    iteration counters of the plasticity steps (accumulated after every chunk) and
    of the recorded rates, over (time, network). Checkpoint keys ``rec/step``,
    ``rec/<name>``, ``rec/cap_total``, ``rec/pending_iter`` and ``last_y`` (the
    previous record's rates, for ``pv_corr_prev``)."""

    def __init__(self, cfg: HebbianConfig, schedule: np.ndarray, inputs: np.ndarray) -> None:
        self.cfg, self.schedule, self.at_stop, self.inputs = cfg, schedule, True, inputs
        n = len(cfg.batch())
        self.series = Series(RECORDED, n, "rec")
        self.cap_total = np.zeros(n, np.int64)  # plasticity steps that hit the cap so far
        self.pending_iter = np.zeros(n, np.int64)  # most iterations since the last record
        self.last_y: np.ndarray | None = None

    def observe(self, point: Any) -> None:
        stats: ChunkStats | None = point.stats
        if stats is not None:
            self.cap_total += np.asarray(stats.cap_hits, np.int64)
            self.pending_iter = np.maximum(self.pending_iter, np.asarray(stats.max_iterations))

    def record(self, point: Any, out: Path) -> None:
        fp: FixedPoint = point.measure()
        y = np.asarray(fp.y, np.float64)  # (B, T, n)
        last = self.last_y
        rows = [
            host_measures(self.cfg, self.inputs, y[i], None if last is None else last[i])
            for i in range(y.shape[0])
        ]
        row = {name: np.asarray([r[name] for r in rows], np.float64) for name in MEASURED}
        row.update(
            max_iterations=self.pending_iter.astype(np.float64),
            cap_hits=self.cap_total.astype(np.float64),
            measure_iterations=np.asarray(fp.iterations, np.float64),
            measure_capped=np.asarray(fp.capped, np.float64),
        )
        self.series.append(point.step, row)
        self.pending_iter = np.zeros_like(self.pending_iter)
        self.last_y = np.asarray(fp.y, np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        out = self.series.arrays()
        out.update({"rec/cap_total": self.cap_total, "rec/pending_iter": self.pending_iter})
        if self.last_y is not None:
            out["last_y"] = self.last_y
        return out

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.series.restore(arrays)
        self.cap_total = arrays["rec/cap_total"].copy()
        self.pending_iter = arrays["rec/pending_iter"].copy()
        self.last_y = arrays.get("last_y")

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        return self.series.add_to(ds, dim="time", coord="step", long_names=LONG_NAMES)

    def status(self) -> dict[str, Any]:
        return {
            "cap_hits": [int(c) for c in self.cap_total],
            "max_iter": self.cfg.dynamics.max_iter,
        }

    def postfix(self) -> dict[str, str]:
        return {
            "loss": f"{self.series.last('loss'):.4g}",
            "active": f"{self.series.last('fraction_active'):.2f}",
        }


def rate_snapshots(schedule: np.ndarray, coord: np.ndarray) -> Snapshots:
    """Every neuron's fixed-point rate for every input at ``schedule`` -> ``activity.nc``."""
    return array_snapshots(
        "y",
        "activity.nc",
        schedule,
        lambda point: np.asarray(point.measure().y, np.float32),
        dims=("input", "unit"),
        long_name="fixed-point rate of each neuron for each input",
        coords={"coord": ("input", coord)},
    )


class FiniteSynapses:
    """The Hebbian run's health check: a network stops when its synapses W or M stop
    being finite (:class:`driftlab.runner.loop.Health`; key ``rec/diverged_step``)."""

    def __init__(self, n: int) -> None:
        self.step = np.full(n, -1, np.int64)

    @property
    def stopped(self) -> np.ndarray:
        return np.asarray(self.step >= 0)

    def check(self, point: Any) -> None:
        params = point.state.params
        finite = np.asarray(
            jnp.all(jnp.isfinite(params.W), axis=(1, 2))
            & jnp.all(jnp.isfinite(params.M), axis=(1, 2))
        )
        self.step[(~finite) & (self.step < 0)] = point.step

    def close(self) -> None:
        """Nothing open at the end."""

    def arrays(self) -> dict[str, np.ndarray]:
        return {"rec/diverged_step": self.step}

    def restore(self, arrays: Mapping[str, np.ndarray], out: Path, step: int) -> list[str]:
        self.step = arrays["rec/diverged_step"].copy()
        return []

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        ds["diverged_step"] = ("network", self.step)
        return ds

    def status(self) -> dict[str, Any]:
        return {
            "diverged": [{"network": i, "step": int(s)} for i, s in enumerate(self.step) if s >= 0]
        }


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


class HebbianEngine:
    """The Hebbian/anti-Hebbian network for the runner (:class:`driftlab.runner.loop.Engine`)."""

    model = "hebbian"

    def __init__(self, cfg: HebbianConfig) -> None:
        self.config = cfg
        self.batch = prepare_hebbian(cfg)
        self.networks = self.batch.networks
        self.total_steps = cfg.train.steps
        self.chunk_steps = cfg.record.chunk
        self.state0 = self.batch.state0
        self._chunk = make_chunk(self.batch.dynamics, cfg.generator)  # type: ignore[arg-type]
        self._population = make_population(self.batch.dynamics)

    @property
    def compile_key(self) -> Hashable:
        """The fixed-point dynamics, the noise generator, the shapes and the float type."""
        b = self.batch
        shapes = tuple(tuple(leaf.shape) for leaf in jax.tree.leaves(b.state0))
        return (
            b.dynamics,
            self.config.generator,
            tuple(b.X.shape),
            shapes,
            self.config.network.dtype,
        )

    def advance(self, state: HebbState, n: int) -> tuple[HebbState, ChunkStats]:
        b = self.batch
        new, stats = self._chunk(state, b.X, b.hyper, b.streams, jnp.int32(n))
        return new, stats

    def measure(self, state: HebbState) -> FixedPoint:
        """The fixed-point rates of every input (B, T, n), with their iteration counts."""
        return self._population(state.params, self.batch.X, self.batch.hyper)

    def start(self, out: Path) -> None:
        write_netcdf(out / "inputs.nc", _inputs_dataset(self.batch))

    def resume(self, out: Path) -> list[str]:
        """The inputs are a deterministic function of the config: nothing to adopt."""
        return []

    def health(self) -> FiniteSynapses:
        return FiniteSynapses(len(self.networks))

    def recorders(self) -> list[Recorder]:
        cfg = self.config
        schedule = hebbian_record_steps(cfg.train.steps, cfg.record.every, cfg.record.log_points)
        found: list[Recorder] = [Similarity(cfg, schedule, self.batch.inputs)]
        if cfg.record.activity:
            found.append(rate_snapshots(schedule, self.batch.coords))
        return found


@dataclass(frozen=True)
class HebbianResult:
    """How :func:`execute_hebbian` ended: ``status`` "complete" or "diverged"; ``cap_hits``
    per network, plasticity steps whose fixed point hit the iteration cap."""

    out_dir: Path
    status: str
    step: int
    steps_per_second: float
    cap_hits: tuple[int, ...]


def execute_hebbian(
    cfg: HebbianConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    on_chunk: ProgressFn | None = None,
    restart: bool = False,
) -> HebbianResult:
    """Train the networks of ``cfg`` into ``out_dir``, resuming from its checkpoint if any.

    ``progress``: show progress on stderr; ``restart``: delete the run already in
    ``out_dir`` and start over; ``on_chunk(step, total, steps_per_second)`` is
    called after every chunk. Returns the outcome. Warns
    (:class:`FixedPointCapWarning`) when fixed points hit the cap. Raises
    :class:`HebbianRunDirError` if ``out_dir`` holds a different run.
    """
    check_resources(cfg)  # before anything is allocated
    out = Path(out_dir)
    with float_context(cfg.network.dtype):
        outcome = run_engine(
            cfg,
            out,
            lambda: HebbianEngine(cfg),
            parse=parse_hebbian_config,
            kind="Hebbian",
            progress=progress,
            on_chunk=on_chunk,
            restart=restart,
        )
    cap_hits = tuple(int(c) for c in read_status(out).get("cap_hits", []))
    result = HebbianResult(
        outcome.out_dir, outcome.status, outcome.step, outcome.steps_per_second, cap_hits
    )
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
