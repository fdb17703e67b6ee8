"""Sessions from plain arrays: an xarray Dataset (netCDF), an ``.npz`` file, or pynapple.

A Dataset (or ``.nc`` / ``.npz`` file) holds every session at once, with named
dimensions ``session``, ``time`` and ``cell``:

``activity`` (session, time, cell)   activity per frame (events, deconvolved, dF/F)
``position`` (session, time)         the animal's position on a linear track
``time``     (session, time) or (time,)   seconds; NaN pads sessions shorter than the longest
``cell``     (cell,)                 optional: the cells' ids (default 0, 1, ...)
``day``      (session,)              optional: each session's day (default 0, 1, ...)

An ``.npz`` file has the same names as arrays (``cell`` and ``day`` optional).
pynapple users pass a ``TsdFrame`` of activity (columns: the cells' ids) and a
``Tsd`` of position per session to :func:`from_pynapple`. A missing or misshapen
array is named in a one-line :class:`~driftlab.recordings.nwb.RecordingError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from driftlab.metrics.sessions import Session
from driftlab.recordings.nwb import RecordingError


def _sessions(
    activity: np.ndarray,
    position: np.ndarray,
    time: np.ndarray,
    cells: np.ndarray | None,
    days: np.ndarray | None,
    where: str,
) -> list[Session]:
    if activity.ndim != 3:
        raise RecordingError(
            f"{where}: activity must be (session, time, cell), got {activity.shape}"
        )
    n_sessions, n_time, n_cells = activity.shape
    if position.shape != (n_sessions, n_time):
        raise RecordingError(
            f"{where}: position must be (session, time) = {(n_sessions, n_time)}, "
            f"got {position.shape}"
        )
    if time.ndim == 1:
        time = np.broadcast_to(time, (n_sessions, n_time))
    if time.shape != (n_sessions, n_time):
        raise RecordingError(f"{where}: time must be (time,) or (session, time), got {time.shape}")
    ids = np.arange(n_cells) if cells is None else np.asarray(cells)
    if ids.shape != (n_cells,):
        raise RecordingError(f"{where}: cell must be ({n_cells},), got {ids.shape}")
    day = np.arange(n_sessions, dtype=float) if days is None else np.asarray(days, float)
    if day.shape != (n_sessions,):
        raise RecordingError(f"{where}: day must be ({n_sessions},), got {day.shape}")
    out = []
    for s in range(n_sessions):
        keep = np.isfinite(time[s])
        out.append(
            Session(
                activity=np.asarray(activity[s][keep], dtype=np.float64),
                position=np.asarray(position[s][keep], dtype=np.float64),
                time=np.asarray(time[s][keep], dtype=np.float64),
                cells=ids,
                day=float(day[s]),
                name=f"session {s + 1}",
            )
        )
    return out


def from_dataset(ds: Any, where: str = "dataset") -> list[Session]:
    """Sessions from an xarray Dataset laid out as the module docstring says."""
    for name in ("activity", "position", "time"):
        if name not in ds.variables:
            raise RecordingError(f"{where}: no '{name}' (needs activity, position and time)")
    act = ds["activity"].transpose("session", "time", "cell").values
    pos = ds["position"].transpose("session", "time").values
    time = ds["time"]
    time = time.transpose("session", "time").values if time.ndim == 2 else time.values
    cells = ds["cell"].values if "cell" in ds.variables else None
    days = ds["day"].values if "day" in ds.variables else None
    return _sessions(act, pos, time, cells, days, where)


def read_arrays(path: str | Path) -> list[Session]:
    """Sessions from a ``.nc`` (xarray) or ``.npz`` file."""
    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"{p}: no such file")
    if p.suffix == ".npz":
        with np.load(p) as z:
            missing = [k for k in ("activity", "position", "time") if k not in z.files]
            if missing:
                raise RecordingError(f"{p}: no '{missing[0]}' (needs activity, position and time)")
            get = {k: z[k] for k in z.files}
        return _sessions(
            get["activity"], get["position"], get["time"], get.get("cell"), get.get("day"), str(p)
        )
    from driftlab.storage import open_netcdf

    try:
        ds = open_netcdf(p)
    except Exception as err:  # any failure to read means it is not a usable netCDF file
        raise RecordingError(f"{p}: not a readable netCDF file ({type(err).__name__})") from None
    return from_dataset(ds, str(p))


def from_pynapple(
    activity: Any, position: Any, *, day: float = 0.0, name: str = "", cells: Any = None
) -> Session:
    """One session from pynapple: ``activity`` a ``TsdFrame`` (time x cells; its columns
    are the cells' ids unless ``cells`` is given), ``position`` a ``Tsd``, interpolated
    at the activity's times."""
    t = np.asarray(activity.index, dtype=np.float64)
    act = np.asarray(activity.values, dtype=np.float64)
    pt = np.asarray(position.index, dtype=np.float64)
    if pt.size < 2:
        raise RecordingError("position: a Tsd of at least two samples is needed")
    pos = np.interp(t, pt, np.asarray(position.values, dtype=np.float64).ravel())
    ids = np.asarray(activity.columns if cells is None else cells)
    return Session(act, pos, t, ids, float(day), name)
