"""Building blocks of recorders (:class:`driftlab.runner.loop.Recorder`).

:class:`Series`: per-network values over a recorder's record points, kept in the
checkpoint and written to ``timeseries.nc``; :class:`SeriesRecorder`: a recorder
built on one. :class:`Snapshots`: a recorder of arrays too large for the
checkpoint (hidden activity, parameters, rates), one file per record point under
``snapshots/`` while the run runs, gathered into one netCDF file at the end
(:func:`array_snapshots` for one array per point). :class:`BaseRecorder`: the
no-op defaults.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from driftlab.storage import read_npz, write_netcdf, write_npz


class BaseRecorder:
    """Defaults of every recorder hook: nothing to observe, store, show or finish."""

    schedule: np.ndarray
    at_stop: bool = False

    def observe(self, point: Any) -> None:
        """Nothing to accumulate between records."""

    def status(self) -> dict[str, Any]:
        """No entries for status.json."""
        return {}

    def postfix(self) -> dict[str, str]:
        """Nothing for the progress bar."""
        return {}

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        """No variables in timeseries.nc."""
        return ds

    def finish(self, out: Path, coords: Mapping[str, Any]) -> None:
        """No files to gather."""

    def verify(self, out: Path) -> None:
        """No files of its own to check before a resume."""


@dataclass
class Series:
    """Per-network measurements over record points: ``steps`` and, for each name, one
    (B,) row per record.

    Checkpoint arrays: ``<prefix>/step`` and ``<prefix>/<name>`` (records, B).
    """

    names: Sequence[str]
    n_networks: int
    prefix: str
    steps: list[int] = field(default_factory=list)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = {k: list(self.values.get(k, [])) for k in self.names}

    def append(self, step: int, row: Mapping[str, np.ndarray]) -> None:
        """One record: a (B,) array for every name."""
        self.steps.append(step)
        for name in self.names:
            self.values[name].append(np.asarray(row[name], np.float64))

    def table(self, name: str) -> np.ndarray:
        """One measurement as a (records, networks) float64 array."""
        shape = (len(self.steps), self.n_networks)
        return np.asarray(self.values[name], np.float64).reshape(shape)

    def last(self, name: str) -> float:
        """The mean over networks (NaN ignored) of the last record of ``name``."""
        if not self.steps:
            return float("nan")
        row = np.asarray(self.values[name][-1], np.float64)
        return float(np.nanmean(row)) if np.any(np.isfinite(row)) else float("nan")

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"{self.prefix}/step": np.asarray(self.steps, np.int64)}
        out.update({f"{self.prefix}/{k}": self.table(k) for k in self.names})
        return out

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """From a checkpoint; a measurement an older checkpoint lacks is NaN."""
        steps = np.asarray(arrays.get(f"{self.prefix}/step", np.zeros(0, np.int64)))
        if steps.ndim != 1:
            raise ValueError(f"array '{self.prefix}/step' has shape {steps.shape}, not (records,)")
        self.steps = [int(s) for s in steps]
        shape = (len(self.steps), self.n_networks)
        nan = np.full(shape, np.nan)
        self.values = {}
        for name in self.names:
            table = np.asarray(arrays.get(f"{self.prefix}/{name}", nan))
            if table.shape != shape:
                raise ValueError(
                    f"array '{self.prefix}/{name}' has shape {table.shape}, the run needs {shape}"
                )
            self.values[name] = list(table)

    def add_to(
        self,
        ds: xr.Dataset,
        *,
        dim: str,
        coord: str,
        var: Callable[[str], str] = str,
        long_names: Mapping[str, str] | None = None,
    ) -> xr.Dataset:
        """``ds`` with the step coordinate ``coord`` over ``dim`` and each measurement
        as a variable ``var(name)`` over (``dim``, network)."""
        ds = ds.assign_coords({coord: (dim, np.asarray(self.steps, np.int64))})
        for name in self.names:
            ds[var(name)] = ((dim, "network"), self.table(name))
            if long_names and name in long_names:
                ds[var(name)].attrs["long_name"] = long_names[name]
        return ds


class SeriesRecorder(BaseRecorder):
    """A recorder whose records are one :class:`Series` (``self.series``): its last
    step and checkpoint arrays are the series'. Subclasses set ``schedule`` and
    ``series`` and write ``record`` and ``timeseries``."""

    series: Series

    def last_step(self) -> int:
        return self.series.steps[-1] if self.series.steps else -1

    def arrays(self) -> dict[str, np.ndarray]:
        return self.series.arrays()

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.series.restore(arrays)


Fetch = Callable[[Any], dict[str, np.ndarray]]
Gather = Callable[[np.ndarray, list[dict[str, np.ndarray]], Mapping[str, Any]], xr.Dataset]


class Snapshots(BaseRecorder):
    """Arrays of every record point: ``snapshots/<stem>_<step>.npz`` while running,
    one netCDF file (``target``) at the end.

    ``fetch(point)``: the arrays of a point; ``gather(steps, loaded, coords)``: the
    final dataset from every point's arrays and the network coordinates. The
    record steps are kept in the checkpoint (``snap/<stem>/step``; a checkpoint
    written before recorders had their own schedules lacks them, and its
    snapshots followed ``rec/step``).
    """

    def __init__(
        self, stem: str, target: str, schedule: np.ndarray, fetch: Fetch, gather: Gather
    ) -> None:
        self.stem, self.target, self.schedule = stem, target, schedule
        self.fetch, self.gather = fetch, gather
        self.at_stop = True
        self.steps: list[int] = []

    def _path(self, out: Path, step: int) -> Path:
        return out / "snapshots" / f"{self.stem}_{step:012d}.npz"

    def record(self, point: Any, out: Path) -> None:
        write_npz(self._path(out, point.step), self.fetch(point))
        self.steps.append(point.step)

    def last_step(self) -> int:
        return self.steps[-1] if self.steps else -1

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"snap/{self.stem}/step": np.asarray(self.steps, np.int64)}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        steps = arrays.get(f"snap/{self.stem}/step", arrays.get("rec/step", np.zeros(0)))
        self.steps = [int(s) for s in np.asarray(steps).reshape(-1)]

    def verify(self, out: Path) -> None:
        """Every snapshot the checkpoint counts is on disk and whole (CRC checked)."""
        for step in self.steps:
            path = self._path(out, step)
            if not path.is_file():
                raise FileNotFoundError(f"{path.relative_to(out)} is missing")
            try:
                with zipfile.ZipFile(path) as archive:
                    bad = archive.testzip()
            except (OSError, zipfile.BadZipFile, EOFError) as err:
                raise ValueError(f"{path.relative_to(out)} cannot be read ({err})") from None
            if bad is not None:
                raise ValueError(f"{path.relative_to(out)} is corrupt (member {bad})")

    def finish(self, out: Path, coords: Mapping[str, Any]) -> None:
        steps = np.asarray(self.steps, np.int64)
        loaded = [read_npz(self._path(out, int(s))) for s in steps]
        write_netcdf(out / self.target, self.gather(steps, loaded, coords))


def array_snapshots(
    stem: str,
    target: str,
    schedule: np.ndarray,
    fetch: Callable[[Any], np.ndarray],
    *,
    dims: tuple[str, str],
    long_name: str,
    coords: Mapping[str, Any] | None = None,
) -> Snapshots:
    """One (B, ...) array per record point, ``fetch(point)``, gathered into ``target``
    as the variable ``stem`` over (time, network, *dims), with the network
    coordinates, ``step`` and any extra ``coords``."""

    def fetch_dict(point: Any) -> dict[str, np.ndarray]:
        return {stem: fetch(point)}

    def gather(
        steps: np.ndarray, loaded: list[dict[str, np.ndarray]], network: Mapping[str, Any]
    ) -> xr.Dataset:
        stacked = np.stack([d[stem] for d in loaded])
        ds = xr.Dataset(
            {stem: (("time", "network", *dims), stacked)},
            coords={**network, "step": ("time", steps), **(coords or {})},
        )
        ds[stem].attrs["long_name"] = long_name
        return ds

    return Snapshots(stem, target, schedule, fetch_dict, gather)
