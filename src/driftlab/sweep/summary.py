"""A sweep's results in one table: a row per run, rebuilt from its run directories.

:func:`write_summary` reads every run of a sweep directory (plan, ``status.json``,
``timeseries.nc``, the attempts) and writes ``summary.parquet`` (a row per run) and
``timecourses.nc`` (every run resampled to :data:`POINTS` points). Both are
derived: rebuilt at the end of every ``driftlab sweep`` command and by
``driftlab sweep summary``, and before a figure whenever a run changed since
(:func:`current_summary`), so they cannot disagree with the runs. Needs no JAX.

Columns of the summary (a run not yet started has NaN in its measurements; a
partial run's are of its records so far):

* ``id``, ``branch``, ``index``, ``status`` (complete, diverged, failed, partial,
  pending), ``reason`` (the failure's error, or the divergence's reason),
  ``packed`` (trained in a pack: ``driftlab sweep --pack``),
  ``steps`` (planned), ``steps_done``, ``diverged_step`` (-1 if none),
  ``wall_s`` (summed over the sweep's attempts at the run), ``attempts``;
* every config field, dotted (``task.abstract.d_in``, ``noise.update.sd``, ...;
  a batch field of one value as that value);
* ``algorithm`` (the rule), ``noise_type`` (update, label, input, none, or e.g.
  ``update+label``), ``noise_level`` (its sd, or width for uniform label noise),
  ``noise_variance`` (sd^2, or width^2 / 12: the variance of U[-w/2, w/2]);
* the authors' summary columns: ``final_log10_loss``; ``active_ratio`` and
  ``active_units_ratio``: the mean over the run's last stretch of records, the
  very last one excluded, over the first record (see :func:`end_ratio`);
  ``ratio_span`` (the fraction of the run that stretch covers) and
  ``ratio_records``; ``final_active`` and ``final_active_units``;
* the sparsification fit of active units over time
  (:func:`driftlab.metrics.timescale.fit_exponential` on the records resampled to
  evenly spaced steps, :func:`even_grid`): ``sparsification_rate``
  (1/steps), ``sparsification_tau`` (steps), ``log10_rate`` (what the paper's
  tables call log_tau), ``fit_ok``, ``fit_reason``;
* with Hessian records: ``hessian_trace_ratio`` and ``hessian_max_ratio`` (mean
  of the last 10 records, the very last excluded, over the mean of the first
  10), ``hessian_nonzero_fraction`` (mean over those last records),
  ``hessian_active_units`` (active units at the same records), ``hessian_records``;
* the authors' filter: ``any_zero_active`` (a record with no active pair),
  ``authors_filter_kept``: the run would be in the authors' table: it finished,
  no record has zero active pairs, its final log10 loss is at most 10, and, when
  Hessians are recorded, all its planned Hessian records exist (the authors
  required 100 of their 101, i.e. a run that reached its end).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from driftlab.metrics.timescale import fit_exponential
from driftlab.runner.schedule import record_steps
from driftlab.storage import atomic_write, open_netcdf, write_netcdf
from driftlab.sweep import store

POINTS = 100
"""Points of each resampled time course (log-spaced from step 1 to the run's end)."""
AUTHORS_SPAN = 0.001
"""The stretch of a run the authors' ratios average: their last ten of 10,000 evenly
spaced records span the final 0.1%."""
FIT_POINTS = 1000
"""Evenly spaced points the sparsification fit is made on (:func:`even_grid`)."""
LAST_RECORDS = 10
"""Records averaged when a run holds none in its last :data:`AUTHORS_SPAN`."""


def _columns(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's config as summary columns: dotted fields, a one-value list as its value
    and a longer one as its values joined by commas."""
    return {
        name: (value[0] if len(value) == 1 else ",".join(map(str, value)))
        if isinstance(value, (list, tuple))
        else value
        for name, value in store.flat_config(config).items()
    }


def noise_columns(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``noise_type``, ``noise_level`` and ``noise_variance`` of a flat config."""
    update = float(flat.get("noise.update.sd", 0.0))
    uniform = flat.get("noise.label.kind") == "uniform"
    label = float(flat.get("noise.label.width" if uniform else "noise.label.sd", 0.0))
    inp = float(flat.get("noise.input.sd", 0.0))
    kinds = [
        (name, level, var)
        for name, level, var in (
            ("update", update, update**2),
            ("label", label, label**2 / 12 if uniform else label**2),
            ("input", inp, inp**2),
        )
        if level > 0
    ]
    if not kinds:
        return {"noise_type": "none", "noise_level": 0.0, "noise_variance": 0.0}
    return {
        "noise_type": "+".join(k[0] for k in kinds),
        "noise_level": kinds[0][1],
        "noise_variance": kinds[0][2],
    }


def end_ratio(steps: np.ndarray, values: np.ndarray, total: int) -> tuple[float, float, int]:
    """The authors' end-over-start ratio of one recorded series: the mean over the
    records in the last :data:`AUTHORS_SPAN` of the run (steps in
    [total - AUTHORS_SPAN total, total)), the final record excluded, over the first
    record. A run recorded without such records (e.g. log-spaced only) averages its
    last :data:`LAST_RECORDS` records but the final one instead. Returns (ratio, the
    fraction of the run averaged over, the number of records averaged)."""
    if values.size < 2 or not np.isfinite(values[0]) or values[0] == 0:
        return math.nan, math.nan, 0
    before = steps < total
    tail = before & (steps >= total - AUTHORS_SPAN * total)
    if not tail.any():
        tail = np.zeros_like(before)
        tail[np.flatnonzero(before)[-LAST_RECORDS:]] = True
    used = np.flatnonzero(tail)
    span = (total - steps[used[0]]) / total
    return float(np.mean(values[used]) / values[0]), float(span), int(used.size)


def even_grid(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A recorded series on :data:`FIT_POINTS` evenly spaced steps from its first
    record to its last (linear interpolation between records): the sparsification fit
    weighs every stretch of the run alike, as the authors' evenly spaced records did,
    rather than the early steps where log-spaced records crowd."""
    grid = np.linspace(float(steps[0]), float(steps[-1]), FIT_POINTS)
    return grid, np.interp(grid, steps.astype(np.float64), values)


def _measurements(ts: xr.Dataset, total: int, hessian_planned: int) -> dict[str, Any]:
    """The authors' columns from one run's timeseries (of one network)."""
    steps = np.asarray(ts["step"].values, np.int64)
    loss = np.asarray(ts["loss"].values, np.float64)
    active = np.asarray(ts["active"].values, np.float64)
    units = np.asarray(ts["active_units"].values, np.float64)
    row: dict[str, Any] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        row["final_log10_loss"] = float(np.log10(loss[-1]))
    row["final_active"], row["final_active_units"] = float(active[-1]), float(units[-1])
    row["active_ratio"], row["ratio_span"], row["ratio_records"] = end_ratio(steps, active, total)
    row["active_units_ratio"] = end_ratio(steps, units, total)[0]
    fit = fit_exponential(*even_grid(steps, units))
    row["sparsification_rate"] = fit.rate
    row["sparsification_tau"] = fit.tau
    row["log10_rate"] = math.log10(fit.rate) if fit.ok and fit.rate > 0 else math.nan
    row["fit_ok"], row["fit_reason"] = bool(fit.ok), fit.reason or ""
    row["any_zero_active"] = bool(np.any(active == 0))
    row.update(
        hessian_trace_ratio=math.nan,
        hessian_max_ratio=math.nan,
        hessian_nonzero_fraction=math.nan,
        hessian_active_units=math.nan,
        hessian_records=0,
    )
    if "hessian_trace" in ts:
        h_steps = np.asarray(ts["hessian_step"].values, np.int64)
        row["hessian_records"] = int(h_steps.size)
        last = slice(-LAST_RECORDS - 1, -1) if h_steps.size > 1 else slice(None)
        first = slice(0, LAST_RECORDS)
        for name in ("trace", "max"):
            series = np.asarray(ts[f"hessian_{name}"].values, np.float64)
            start = float(np.mean(series[first]))
            end = float(np.mean(series[last]))
            row[f"hessian_{name}_ratio"] = end / start if start != 0 else math.nan
        if "hessian_frac_nonzero" in ts:
            frac = np.asarray(ts["hessian_frac_nonzero"].values, np.float64)
            row["hessian_nonzero_fraction"] = float(np.mean(frac[last]))
            at = np.searchsorted(steps, h_steps[last])
            row["hessian_active_units"] = float(np.mean(units[np.clip(at, 0, units.size - 1)]))
    hessians_ok = hessian_planned == 0 or row["hessian_records"] >= hessian_planned
    row["hessians_complete"] = hessians_ok
    return row


def _planned_hessians(flat: Mapping[str, Any]) -> int:
    every = int(flat.get("record.hessian.every", 0))
    points = int(flat.get("record.hessian.log_points", 0))
    if not (every or points):
        return 0
    return len(record_steps(int(flat["train.steps"]), every, points))


def _resample(ts: xr.Dataset, total: int) -> dict[str, np.ndarray]:
    """loss, active and active units at :data:`POINTS` log-spaced steps (linear
    interpolation in log step; NaN past the last record, e.g. a diverged run)."""
    grid = np.logspace(0, math.log10(max(total, 2)), POINTS)
    steps = np.asarray(ts["step"].values, np.float64)
    keep = steps >= 1
    out = {"step": grid}
    for name in ("loss", "active", "active_units"):
        values = np.asarray(ts[name].values, np.float64)[keep]
        if values.size == 0:
            out[name] = np.full(POINTS, np.nan)
            continue
        x = np.log10(steps[keep])
        out[name] = np.interp(np.log10(grid), x, values, left=np.nan, right=np.nan)
        out[name][grid < steps[keep][0]] = values[0]
    return out


def summarise_run(
    out: Path, entry: store.PlanEntry, packed: Mapping[str, store.Where] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run's summary row and its resampled time course (empty when not recorded);
    ``packed``: the sweep's packed runs (:func:`driftlab.sweep.store.packed_runs`)."""
    flat = _columns(entry.config)
    total = int(flat["train.steps"])
    attempts = store.read_attempts(out, entry.id)
    last = attempts.get("last", {})
    where = store.locate(out, entry.id, packed if packed is not None else {})
    state, status = store.run_state(where)
    row: dict[str, Any] = {
        "id": entry.id,
        "branch": entry.branch,
        "index": entry.index,
        "status": "pending",
        "reason": "",
        "steps": total,
        "steps_done": int(status.get("step", 0) or 0),
        "diverged_step": -1,
        "wall_s": float(attempts.get("wall_s", math.nan)),
        "attempts": int(attempts.get("attempts", 0)),
        "algorithm": flat.get("train.rule", ""),
        **noise_columns(flat),
    }
    if state in ("complete", "diverged"):
        row["status"] = state
    elif last.get("status") == "failed":
        row["status"], row["reason"] = "failed", str(last.get("reason", ""))
    elif state in ("running", "interrupted") or row["steps_done"] > 0:
        row["status"] = "partial"
    for item in status.get("diverged", []) or []:
        if isinstance(item, Mapping) and int(item.get("network", 0)) == where.network:
            row["diverged_step"] = int(item.get("step", -1))
            row["reason"] = str(item.get("reason", ""))
    row["packed"] = where.path.parent.name == store.PACKS
    row.update({f"config:{k}": v for k, v in flat.items()})
    course: dict[str, Any] = {}
    ts_path = where.path / "timeseries.nc"
    if row["status"] in ("complete", "diverged", "partial") and ts_path.is_file():
        with open_netcdf(ts_path) as opened:
            if opened.sizes.get("time", 0) >= 2:
                ts = opened.isel(network=where.network).load()
                row.update(_measurements(ts, total, _planned_hessians(flat)))
                course = _resample(ts, total)
    kept = (
        row["status"] == "complete"
        and not row.get("any_zero_active", True)
        and row.get("final_log10_loss", math.inf) <= 10
        and row.get("hessians_complete", False)
    )
    row["authors_filter_kept"] = bool(kept)
    return row, course


MEASURED = (
    "final_log10_loss",
    "final_active",
    "final_active_units",
    "active_ratio",
    "active_units_ratio",
    "ratio_span",
    "sparsification_rate",
    "sparsification_tau",
    "log10_rate",
    "hessian_trace_ratio",
    "hessian_max_ratio",
    "hessian_nonzero_fraction",
    "hessian_active_units",
)


def build(out: Path) -> tuple[pd.DataFrame, xr.Dataset]:
    """The summary table and the resampled time courses of the sweep in ``out``."""
    plan = store.read_plan(out)
    packed = store.packed_runs(out)
    rows, courses = [], []
    for entry in plan.runs:
        row, course = summarise_run(out, entry, packed)
        rows.append(row)
        courses.append(course)
    frame = pd.DataFrame(rows)
    for name in MEASURED:
        if name not in frame:
            frame[name] = np.nan
    for name in ("fit_ok", "any_zero_active", "hessians_complete"):
        if name not in frame:
            frame[name] = False
        frame[name] = frame[name].fillna(False).astype(bool)
    frame["fit_reason"] = frame.get("fit_reason", pd.Series("", index=frame.index)).fillna("")
    frame["ratio_records"] = frame.get("ratio_records", 0).fillna(0).astype(int)  # type: ignore[union-attr]
    frame["hessian_records"] = frame.get("hessian_records", 0).fillna(0).astype(int)  # type: ignore[union-attr]
    frame = frame.rename(columns=lambda c: c.removeprefix("config:"))
    return frame, _courses(frame, courses)


def _courses(frame: pd.DataFrame, courses: list[dict[str, Any]]) -> xr.Dataset:
    n = len(courses)

    def stack(name: str) -> np.ndarray:
        out = np.full((n, POINTS), np.nan)
        for i, course in enumerate(courses):
            if course:
                out[i] = course[name]
        return out

    return xr.Dataset(
        {
            name: (("run", "point"), stack(name))
            for name in ("step", "loss", "active", "active_units")
        },
        coords={
            "run": frame["id"].to_numpy(dtype=str),
            "point": np.arange(POINTS),
            "branch": ("run", frame["branch"].to_numpy(dtype=str)),
            "algorithm": ("run", frame["algorithm"].to_numpy(dtype=str)),
            "noise_type": ("run", frame["noise_type"].to_numpy(dtype=str)),
        },
        attrs={
            "description": (
                "each run's loss, active (pairs) and active units at 100 log-spaced steps "
                "from 1 to its end, by linear interpolation in log step"
            )
        },
    )


def write_summary(out: Path) -> Path:
    """Rebuild ``summary.parquet`` and ``timecourses.nc`` of the sweep in ``out`` from
    its run directories; returns the summary's path."""
    frame, courses = build(out)
    path = out / store.SUMMARY
    atomic_write(path, lambda p: frame.to_parquet(p, index=False))
    write_netcdf(out / store.TIMECOURSES, courses)
    return path


def current_summary(out: Path) -> Path:
    """The path of the summary of the sweep in ``out``, rebuilt first unless it is
    newer than every file it is built from (the plan, and every run's status.json and
    attempts file: a run writes its status.json whenever its records change)."""
    path, courses = out / store.SUMMARY, out / store.TIMECOURSES
    if path.is_file() and courses.is_file():
        built = min(path.stat().st_mtime_ns, courses.stat().st_mtime_ns)
        sources = [out / store.PLAN]
        for pattern in ("runs/*/status.json", "packs/*/status.json", "attempts/*.json"):
            sources.extend(out.glob(pattern))
        if all(source.stat().st_mtime_ns < built for source in sources):
            return path
    return write_summary(out)


def read_summary(out: Path) -> pd.DataFrame:
    """The summary table of the sweep in ``out`` (:func:`current_summary`)."""
    return pd.read_parquet(current_summary(out))
