"""The feed-forward run's recorders (:class:`driftlab.runner.loop.Recorder`).

:class:`Metrics` records, at ``record``'s schedule, per network: the clean loss,
the active fractions, and the host-side measures that need the task's positions
(:func:`host_metrics`); :func:`hidden_snapshots` and :func:`param_snapshots` keep
the hidden activity and the parameters of the same points (``activity.nc``,
``params.nc``). The Hessian summaries have a schedule of their own
(:class:`driftlab.hessian.recorder.HessianRecorder`).

A new measurement is one new recorder and one line in
:meth:`driftlab.run.FeedforwardEngine.recorders`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from driftlab import metrics
from driftlab.runner.recorders import Series, SeriesRecorder, Snapshots, array_snapshots

if TYPE_CHECKING:  # the tasks package imports JAX; the recorders need only its arrays
    from driftlab.tasks.base import TaskData

HOST_METRICS = (
    "log_loss",
    "log_loss_rel",
    "mean_si",
    "n_place_units",
    "n_place_units_shuffle",
    "mean_si_corrected",
    "decoding_error",
)
RECORDED = ("loss", *HOST_METRICS[:2], "active", "active_units", *HOST_METRICS[2:])


def host_metrics(
    loss: np.ndarray,
    hidden: np.ndarray,
    tasks: Sequence[TaskData],
    seeds: Sequence[int],
    step: int,
    *,
    place_shuffles: int = 100,
    place_percentile: float = 95.0,
) -> dict[str, np.ndarray]:
    """Per-network measurements of a record point that need the task's positions.

    loss (B,) clean MSE; hidden (B, N, H); tasks and seeds, one per network.
    Returns name -> (B,) for :data:`HOST_METRICS`: log_loss, log_loss_rel
    (driftlab.metrics.loss); with positions, over the direction-signed position
    (100 bins): the paper's place units (Skaggs spatial information > 0.01 bits)
    and their mean SI; the shuffle-tested place units (SI above the
    ``place_percentile``-th percentile of ``place_shuffles`` circular shifts,
    metrics.shuffle_spatial_information, shuffles drawn from (seed, step,
    network)) and their mean shuffle-corrected SI; and the cross-validated
    decoding error of the signed position (metrics.drift). NaN where a measure
    does not apply (no positions, a diverged network).
    """
    out: dict[str, list[float]] = {k: [] for k in HOST_METRICS}
    for i, task in enumerate(tasks):
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
        if place_shuffles:
            shuffled = metrics.shuffle_spatial_information(
                hidden[i],
                position,
                n_shuffles=place_shuffles,
                percentile=place_percentile,
                rng=np.random.default_rng([int(seeds[i]), step, i]),
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


def long_names(place_shuffles: int, place_percentile: float) -> dict[str, str]:
    """The ``long_name`` of each recorded measurement in ``timeseries.nc``."""
    return {
        "loss": "mean squared error on the clean data (paper eq. 2)",
        "log_loss": "log10(MSE / var(targets)); 0 = predicting the mean",
        "active": "fraction of (sample, unit) pairs with h > 0",
        "active_units": "fraction of units with h > 0 for at least one sample",
        "log_loss_rel": "log10(MSE / MSE of the per-output mean estimator)",
        "mean_si": "mean Skaggs spatial information of place units (bits)",
        "n_place_units": (
            "number of units with spatial information > 0.01 bits (the paper's place units; "
            "biased: with few samples a bin nearly every active unit passes)"
        ),
        "n_place_units_shuffle": (
            f"number of units whose spatial information beats the {place_percentile:g}th "
            f"percentile of {place_shuffles} circular shifts of their activity"
        ),
        "mean_si_corrected": (
            "mean shuffle-corrected spatial information (SI minus its shuffle mean, bits) of "
            "the shuffle-tested place units"
        ),
        "decoding_error": (
            "mean absolute error decoding the direction-signed position from h "
            "(nearest rate-map template, trajectory halves cross-validated)"
        ),
    }


class Metrics(SeriesRecorder):
    """Loss, active fractions and :func:`host_metrics` over (time, network).

    The point's measurement (``engine.measure``) gives loss (B,), active (B,),
    active_units (B,) and hidden (B, N, H). Checkpoint keys ``rec/step``,
    ``rec/<name>``. Also records where a run stops early.
    """

    def __init__(
        self,
        schedule: np.ndarray,
        tasks: Sequence[TaskData],
        seeds: Sequence[int],
        *,
        place_shuffles: int,
        place_percentile: float,
    ) -> None:
        self.schedule, self.at_stop = schedule, True
        self.tasks, self.seeds = tasks, seeds
        self.place_shuffles, self.place_percentile = place_shuffles, place_percentile
        self.series = Series(RECORDED, len(tasks), "rec")

    def record(self, point: Any, out: Path) -> None:
        m = point.measure()
        loss = np.asarray(m.loss, np.float64)
        row = host_metrics(
            loss,
            np.asarray(m.hidden, np.float64),
            self.tasks,
            self.seeds,
            point.step,
            place_shuffles=self.place_shuffles,
            place_percentile=self.place_percentile,
        )
        row.update(loss=loss, active=np.asarray(m.active), active_units=np.asarray(m.active_units))
        self.series.append(point.step, row)

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        names = long_names(self.place_shuffles, self.place_percentile)
        return self.series.add_to(ds, dim="time", coord="step", long_names=names)

    def postfix(self) -> dict[str, str]:
        return {
            "log_loss": f"{self.series.last('log_loss'):.2f}",
            "active_units": f"{self.series.last('active_units'):.2f}",
        }


def hidden_snapshots(schedule: np.ndarray) -> Snapshots:
    """Hidden activity h (float32) at every point of ``schedule`` -> ``activity.nc``."""
    return array_snapshots(
        "hidden",
        "activity.nc",
        schedule,
        lambda point: np.asarray(point.measure().hidden, np.float32),
        dims=("sample", "unit"),
        long_name="hidden activity h = act(x m^T + b)",
    )


PARAM_DIMS = {"m": ("unit", "input"), "b": ("unit",), "n": ("output", "unit")}


def param_snapshots(schedule: np.ndarray) -> Snapshots:
    """The parameters m, b, n at every point of ``schedule`` -> ``params.nc``."""

    def fetch(point: Any) -> dict[str, np.ndarray]:
        params = point.state.params
        return {name: np.asarray(getattr(params, name)) for name in PARAM_DIMS}

    def gather(
        steps: np.ndarray, loaded: list[dict[str, np.ndarray]], coords: Mapping[str, Any]
    ) -> xr.Dataset:
        return xr.Dataset(
            {
                k: (("time", "network", *dims), np.stack([p[k] for p in loaded]))
                for k, dims in PARAM_DIMS.items()
            },
            coords={**coords, "step": ("time", steps)},
        )

    return Snapshots("params", "params.nc", schedule, fetch, gather)
