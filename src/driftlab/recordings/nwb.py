"""Sessions from NWB files (pynwb): one file per session, cells matched by an id column.

What is read from each file (the layout of calcium-imaging and electrophysiology
files on DANDI):

* activity: a ``RoiResponseSeries`` (deconvolved events, fluorescence or dF/F) in any
  processing module or in acquisition, chosen by name with ``series`` (default: the
  first whose name says deconvolved or events, else the first found); or, with no
  such series, the spike times of the ``units`` table counted in the frames of the
  position's timestamps;
* its timestamps (``timestamps``, or ``starting_time`` and ``rate``);
* the animal's position: a ``SpatialSeries`` (any module; a linear track's first
  coordinate), interpolated at the activity's timestamps;
* the cells' ids: the column ``match`` (default ``global_id``) of the ROI table
  (or of the units table), the index that says which cell of one session is which
  cell of another; or a cell-registration map the user provides
  (:func:`read_cell_map`: a row per cell, a column per session, ROI indices);
* the session's time: ``session_start_time``, in days after the earliest session;
* several sessions in one file: one an epoch (the ``epochs`` table, when it has two
  or more rows; each named by its first tag), starting at the epoch's start time.

A file without one of these is named in a one-line :class:`RecordingError` that says
what is missing. :func:`write_session` writes a :class:`~driftlab.metrics.Session` in
this layout (the example and the tests use it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftlab.errors import ConfigError
from driftlab.metrics.sessions import Session

DEFAULT_MATCH = "global_id"
_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


class RecordingError(ConfigError):
    """A recording that lacks what the drift statistics need (exit code 2)."""


def write_session(session: Session, path: str | Path, *, match: str = DEFAULT_MATCH) -> Path:
    """Write ``session`` as an NWB file: a ``Deconvolved`` RoiResponseSeries of its
    activity over a plane segmentation whose column ``match`` holds the cell ids, a
    ``position`` SpatialSeries in processing/behavior, and ``session_start_time`` at
    ``session.day`` days after 2020-01-01."""
    return write_sessions([session], path, match=match)


def write_sessions(
    sessions: Sequence[Session], path: str | Path, *, match: str = DEFAULT_MATCH
) -> Path:
    """Write ``sessions`` of the same cells into one NWB file (:func:`write_session`'s
    layout): their samples one after another, each session's timestamps shifted by
    its day (in seconds after the first session's), and one epoch a session (tagged
    with its name) when there are several."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position
    from pynwb.ophys import OpticalChannel, RoiResponseSeries

    first = sessions[0]
    for other in sessions[1:]:
        if not np.array_equal(other.cells, first.cells):
            raise ValueError("sessions written into one file must have the same cells")
    offsets = [86400.0 * (s.day - first.day) for s in sessions]
    session = Session(
        activity=np.concatenate([s.activity for s in sessions]),
        position=np.concatenate([s.position for s in sessions]),
        time=np.concatenate([s.time + o for s, o in zip(sessions, offsets, strict=True)]),
        cells=first.cells,
        day=first.day,
        name=first.name if len(sessions) == 1 else "driftlab sessions",
    )
    start = _EPOCH + dt.timedelta(days=float(session.day))
    nwb = NWBFile(
        session_description=session.name or "driftlab session",
        identifier=f"driftlab-{session.name or 'session'}-{session.day}",
        session_start_time=start,
    )
    device = nwb.create_device(name="microscope")
    plane = nwb.create_imaging_plane(
        name="plane",
        optical_channel=OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0),
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6f",
        location="CA1",
        description="one imaging plane",
        imaging_rate=float(1.0 / np.median(np.diff(session.time))),
    )
    ophys = nwb.create_processing_module(name="ophys", description="cells' activity")
    segmentation = ophys.add(_plane_segmentation(plane, session.cells, match))
    rois = segmentation.create_roi_table_region(
        region=list(range(len(session.cells))), description="all cells"
    )
    ophys.add(
        RoiResponseSeries(
            name="Deconvolved",
            data=np.asarray(session.activity, dtype=np.float32),
            rois=rois,
            unit="events",
            timestamps=np.asarray(session.time, dtype=np.float64),
        )
    )
    behavior = nwb.create_processing_module(name="behavior", description="the animal's position")
    position = Position(name="Position")
    position.create_spatial_series(
        name="position",
        data=np.asarray(session.position, dtype=np.float64),
        reference_frame="start of the linear track",
        unit="cm",
        timestamps=np.asarray(session.time, dtype=np.float64),
    )
    behavior.add(position)
    if len(sessions) > 1:
        for s, offset in zip(sessions, offsets, strict=True):
            nwb.add_epoch(
                start_time=float(s.time[0] + offset),
                stop_time=float(s.time[-1] + offset),
                tags=[s.name or "session"],
            )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.nwb")  # whole or absent: written, then renamed
    with NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    tmp.replace(out)
    return out


def _plane_segmentation(plane: Any, cells: np.ndarray, match: str) -> Any:
    from pynwb.ophys import PlaneSegmentation

    seg = PlaneSegmentation(name="cells", description="one ROI a cell", imaging_plane=plane)
    seg.add_column(name=match, description="the cell's id across sessions")
    for cell in np.asarray(cells):
        seg.add_roi(pixel_mask=[(0, 0, 1.0)], **{match: int(cell)})
    return seg


def _objects(nwb: Any) -> list[Any]:
    """Every data object of the file: acquisition, then each processing module's."""
    found = list(nwb.acquisition.values())
    for module in nwb.processing.values():
        found.extend(module.data_interfaces.values())
    out = []
    for obj in found:
        out.append(obj)
        for attr in ("roi_response_series", "spatial_series"):
            out.extend(getattr(obj, attr, {}).values())
    return out


def _timestamps(series: Any, path: Path) -> np.ndarray:
    n = len(series.data)
    if series.timestamps is not None:
        t = np.asarray(series.timestamps[:], dtype=np.float64)
    elif series.rate is not None:
        t = float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)
    else:
        raise RecordingError(f"{path}: series '{series.name}' has no timestamps and no rate")
    if t.size != n:
        raise RecordingError(
            f"{path}: series '{series.name}' has {n} samples but {t.size} timestamps"
        )
    return t


def _pick_activity(objects: list[Any], name: str | None, path: Path) -> Any | None:
    from pynwb.ophys import RoiResponseSeries

    series = [o for o in objects if isinstance(o, RoiResponseSeries)]
    if name is not None:
        named = [s for s in series if s.name == name]
        if not named:
            have = ", ".join(sorted(s.name for s in series)) or "none"
            raise RecordingError(f"{path}: no RoiResponseSeries named '{name}' (found: {have})")
        return named[0]
    preferred = [s for s in series if any(k in s.name.lower() for k in ("deconv", "event"))]
    return (preferred or series or [None])[0]


def _ids(table: Any, match: str | None, rows: np.ndarray, path: Path) -> np.ndarray:
    if match is None:  # the table's rows; a cell map (read_sessions) says who is who
        return np.asarray(rows)
    if match not in table.colnames:
        raise RecordingError(
            f"{path}: the {table.name} table has no column '{match}' to match cells across "
            f"sessions (columns: {', '.join(table.colnames)}); pass --match COLUMN"
        )
    ids: np.ndarray = np.asarray(table[match].data[:])[rows]
    return ids


def read_session(
    path: str | Path, *, match: str | None = DEFAULT_MATCH, series: str | None = None
) -> list[tuple[Session, dt.datetime]]:
    """One NWB file as its sessions, each with its start time: the whole file, or one
    session an epoch when the file has several epochs (the samples between an
    epoch's start and stop times; named by its first tag)."""
    from pynwb import NWBHDF5IO
    from pynwb.behavior import SpatialSeries

    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"{p}: no such file")
    try:
        io = NWBHDF5IO(str(p), "r", load_namespaces=True)
        nwb = io.read()
    except Exception as err:  # h5py/hdmf raise many kinds for a file that is not NWB
        raise RecordingError(f"{p}: not a readable NWB file ({type(err).__name__})") from None
    try:
        objects = _objects(nwb)
        spatial = [o for o in objects if isinstance(o, SpatialSeries)]
        if not spatial:
            raise RecordingError(f"{p}: no SpatialSeries (the animal's position) in the file")
        pos_series = spatial[0]
        pos_t = _timestamps(pos_series, p)
        pos = np.asarray(pos_series.data[:], dtype=np.float64)
        pos = pos[:, 0] if pos.ndim == 2 else pos
        act_series = _pick_activity(objects, series, p)
        if act_series is not None:
            time = _timestamps(act_series, p)
            activity = np.asarray(act_series.data[:], dtype=np.float64)
            rows = np.asarray(act_series.rois.data[:])
            cells = _ids(act_series.rois.table, match, rows, p)
        elif nwb.units is not None and len(nwb.units) > 0:
            time = pos_t
            edges = np.r_[time, time[-1] + np.median(np.diff(time))]
            spikes = [np.asarray(nwb.units.get_unit_spike_times(i)) for i in range(len(nwb.units))]
            activity = np.stack([np.histogram(s, edges)[0] for s in spikes], axis=1).astype(
                np.float64
            )
            cells = _ids(nwb.units, match, np.arange(len(nwb.units)), p)
        else:
            raise RecordingError(
                f"{p}: no activity (neither a RoiResponseSeries nor a units table with spikes)"
            )
        if activity.ndim != 2 or activity.shape[0] != time.size:
            raise RecordingError(
                f"{p}: activity of shape {activity.shape} does not match {time.size} timestamps"
            )
        position = np.interp(time, pos_t, pos)
        start = nwb.session_start_time
        name = nwb.session_description or p.stem
        epochs = [] if nwb.epochs is None else nwb.epochs.to_dataframe().to_dict("records")
    finally:
        io.close()
    whole = Session(activity, position, time, cells, 0.0, name)
    if len(epochs) < 2:
        return [(whole, start)]
    out = []
    for k, epoch in enumerate(epochs):
        inside = (time >= epoch["start_time"]) & (time <= epoch["stop_time"])
        if inside.sum() < 2:
            raise RecordingError(f"{p}: epoch {k} holds fewer than two samples of activity")
        tags = list(epoch.get("tags") or [])
        out.append(
            (
                Session(
                    activity[inside],
                    position[inside],
                    time[inside],
                    cells,
                    0.0,
                    str(tags[0]) if tags else f"{name}, epoch {k + 1}",
                ),
                start + dt.timedelta(seconds=float(epoch["start_time"])),
            )
        )
    return out


def read_cell_map(path: str | Path) -> np.ndarray:
    """A cell-registration map: (registered cells, sessions) ROI indices, from a CSV file
    without a header (or a ``.npy`` file). Row r is cell r; column k holds its row in
    session k's ROI (or units) table, 0-based, sessions in the order of their start
    times; -1 or an empty field where the cell was not found in that session."""
    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"--cell-map: {p}: no such file")
    try:
        if p.suffix == ".npy":
            table = np.load(p)
        else:
            table = np.genfromtxt(p, delimiter=",", dtype=np.float64, filling_values=-1)
    except ValueError as err:
        raise RecordingError(f"--cell-map: {p}: not a table of ROI indices ({err})") from None
    table = np.atleast_2d(np.nan_to_num(np.asarray(table, np.float64), nan=-1.0))
    if table.ndim != 2 or np.any(table != np.round(table)):
        raise RecordingError(f"--cell-map: {p}: expected whole ROI indices in rows and columns")
    return table.astype(np.int64)


def _mapped(session: Session, column: np.ndarray, k: int) -> Session:
    """``session`` keeping the cells the map's column ``k`` lists, named by map row."""
    local = {int(roi): row for row, roi in enumerate(column) if roi >= 0}
    keep = [j for j, roi in enumerate(np.asarray(session.cells)) if int(roi) in local]
    if not keep:
        raise RecordingError(f"--cell-map: no cell of session {k + 1} is in column {k + 1}")
    ids = np.asarray([local[int(session.cells[j])] for j in keep])
    return Session(
        session.activity[:, keep], session.position, session.time, ids, session.day, session.name
    )


def read_sessions(
    paths: Sequence[str | Path],
    *,
    match: str = DEFAULT_MATCH,
    series: str | None = None,
    cell_map: np.ndarray | None = None,
) -> list[Session]:
    """The sessions of NWB files (a file per session, or a file of several sessions as
    epochs), in the order of their start times; each session's ``day`` counts from
    the earliest. Cells are matched by the column ``match``, or, given ``cell_map``
    (:func:`read_cell_map`), by that map (the cells it does not list are left out)."""
    if not paths:
        raise RecordingError("no NWB files given")
    column = None if cell_map is not None else match
    read = [pair for p in paths for pair in read_session(p, match=column, series=series)]
    read.sort(key=lambda pair: pair[1])
    if cell_map is not None and cell_map.shape[1] != len(read):
        raise RecordingError(
            f"--cell-map: {cell_map.shape[1]} columns for {len(read)} sessions (one a session)"
        )
    first = read[0][1]
    out = []
    for k, (s, start) in enumerate(read):
        day = (start - first).total_seconds() / 86400
        session = Session(s.activity, s.position, s.time, s.cells, day, s.name)
        out.append(session if cell_map is None else _mapped(session, cell_map[:, k], k))
    return out
