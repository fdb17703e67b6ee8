"""``driftlab analyze``: synthetic sessions with a known answer written to real NWB files
(pynwb), read back and measured; the errors of files that lack what is needed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftlab.metrics.sessions import SessionOptions
from driftlab.recordings.analyze import analyze, read_report, write_report
from driftlab.recordings.nwb import RecordingError, read_sessions, write_session
from driftlab.recordings.synthetic import synthetic_sessions


@pytest.fixture(scope="module")
def nwb_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], object]:
    sessions, truth = synthetic_sessions(
        n_sessions=4, n_cells=150, remap=0.3, vanish=0.0, width=(16.0, 6.0), spacing=3.0, seed=7
    )
    folder = tmp_path_factory.mktemp("nwb")
    # cells 0-9 are missing from the last session: matching must use the ids
    last = sessions[-1]
    sessions[-1] = type(last)(
        last.activity[:, 10:], last.position, last.time, last.cells[10:], last.day, last.name
    )
    paths = [write_session(s, folder / f"s{i}.nwb") for i, s in enumerate(sessions)]
    return paths, truth


def test_nwb_round_trip_and_matching(nwb_files: tuple[list[Path], object]) -> None:
    paths, _ = nwb_files
    sessions = read_sessions(paths[::-1])  # any order: sorted by start time
    assert [s.day for s in sessions] == [0.0, 3.0, 6.0, 9.0]
    assert sessions[-1].cells.tolist() == list(range(10, 150))
    report = analyze(sessions, SessionOptions(n_shuffles=100))
    pairs = report.pairs.set_index(["first", "second"])
    assert pairs.loc[(0, 3), "matched"] == 140 and pairs.loc[(0, 1), "matched"] == 150


def test_one_file_of_several_sessions_as_epochs(tmp_path: Path) -> None:
    """Sessions written into one NWB file (one epoch each) read back as those sessions."""
    from driftlab.recordings.nwb import write_sessions

    sessions, _ = synthetic_sessions(n_sessions=3, n_cells=20, duration=30.0, seed=2)
    path = write_sessions(sessions, tmp_path / "all.nwb")
    back = read_sessions([path])
    assert [s.name for s in back] == ["session 1", "session 2", "session 3"]
    assert [s.day for s in back] == pytest.approx([0.0, 2.0, 4.0])
    for a, b in zip(sessions, back, strict=True):
        np.testing.assert_allclose(b.activity, a.activity)
        np.testing.assert_allclose(b.position, a.position)
        np.testing.assert_allclose(b.time - b.time[0], a.time - a.time[0], atol=1e-6)


def test_nwb_statistics_match_the_truth(nwb_files: tuple[list[Path], object]) -> None:
    """Place-cell fraction within 3 binomial sds of truth plus the 5% false positives;
    the corrected SI rising as the fields narrow (16 -> 6 cm); rate-map correlation
    falling with the time between sessions (fields remap with p 0.3 a session) and
    cross-session decoding error rising."""
    paths, truth = nwb_files
    report = analyze(read_sessions(paths), SessionOptions(n_shuffles=100))
    p_true = truth.place.mean(axis=1)  # type: ignore[attr-defined]
    expected = p_true + 0.05 * (1 - p_true)
    tol = 3 * np.sqrt(0.05 * 0.95 / 75) * 0.5 + 0.02
    np.testing.assert_allclose(report.sessions["place_fraction"], expected, atol=tol)
    trends = report.trends.set_index(["table", "statistic"])
    assert trends.loc[("sessions", "mean_si_corrected"), "ci_low"] > 0
    assert trends.loc[("pairs", "ratemap_corr"), "ci_high"] < 0
    assert trends.loc[("pairs", "decoding_error"), "ci_low"] > 0


def test_report_tables_round_trip(tmp_path: Path, nwb_files: tuple[list[Path], object]) -> None:
    paths, _ = nwb_files
    report = analyze(read_sessions(paths[:2]), SessionOptions(n_shuffles=20, bounds=(0, 100)))
    write_report(report, tmp_path)
    back = read_report(tmp_path)
    pd.testing.assert_frame_equal(back.sessions, report.sessions, atol=1e-5, check_dtype=False)
    assert back.options == report.options


def _bare_nwb(path: Path, *, position: bool = True, column: str = "global_id") -> Path:
    """An NWB file with activity and, optionally, a position."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position
    from pynwb.ophys import OpticalChannel, PlaneSegmentation, RoiResponseSeries

    nwb = NWBFile(
        session_description="bare",
        identifier=path.stem,
        session_start_time=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    device = nwb.create_device(name="scope")
    plane = nwb.create_imaging_plane(
        name="plane",
        optical_channel=OpticalChannel(name="g", description="g", emission_lambda=510.0),
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP",
        location="CA1",
        description="p",
        imaging_rate=10.0,
    )
    module = nwb.create_processing_module(name="ophys", description="o")
    seg = PlaneSegmentation(name="cells", description="c", imaging_plane=plane)
    seg.add_column(name=column, description="id")
    for k in range(3):
        seg.add_roi(pixel_mask=[(0, 0, 1.0)], **{column: k})
    module.add(seg)
    rois = seg.create_roi_table_region(region=[0, 1, 2], description="all")
    module.add(
        RoiResponseSeries(
            name="Fluorescence", data=np.ones((50, 3)), rois=rois, unit="a", rate=10.0
        )
    )
    if position:
        behavior = nwb.create_processing_module(name="behavior", description="b")
        pos = Position(name="Position")
        pos.create_spatial_series(
            name="x", data=np.linspace(0, 10, 50), reference_frame="r", rate=10.0
        )
        behavior.add(pos)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_missing_position_and_missing_match_column(tmp_path: Path) -> None:
    no_position = _bare_nwb(tmp_path / "a.nwb", position=False)
    with pytest.raises(RecordingError, match=r"a\.nwb: no SpatialSeries"):
        read_sessions([no_position])
    other_column = _bare_nwb(tmp_path / "b.nwb", column="cell_key")
    with pytest.raises(RecordingError, match=r"no column 'global_id'.*--match COLUMN"):
        read_sessions([other_column])
    sessions = read_sessions([other_column], match="cell_key")  # rate-only timestamps work
    assert sessions[0].activity.shape == (50, 3) and sessions[0].time[1] == pytest.approx(0.1)
    (tmp_path / "c.nwb").write_text("not hdf5")
    with pytest.raises(RecordingError, match="not a readable NWB file"):
        read_sessions([tmp_path / "c.nwb"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftlab.cli", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_example(tmp_path: Path) -> None:
    """The README's example: synthetic NWB files written, read, measured, drawn."""
    out = tmp_path / "report"
    done = _cli("--example", "--out", str(out), "--shuffles", "50")
    assert done.returncode == 0, done.stderr
    assert len(list((out / "example").glob("*.nwb"))) == 5
    for name in ("sessions.csv", "pairs.csv", "trends.csv", "drift-report.png"):
        assert (out / name).is_file()
    assert "trend of ratemap_corr" in done.stdout
    sessions = pd.read_csv(out / "sessions.csv")
    assert (
        len(sessions) == 5
        and sessions["place_fraction"].iloc[-1] < sessions["place_fraction"].iloc[0]
    )


def test_cli_errors(tmp_path: Path) -> None:
    done = _cli()
    assert done.returncode == 2 and done.stderr.strip().endswith(
        "analyze: give NWB, .nc or .npz files, a run directory, or --example"
    )
    done = _cli(str(tmp_path / "missing.nwb"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "missing.nwb: no such file" in done.stderr
    assert not (tmp_path / "o").exists()
    done = _cli("--example", "--bins", "1")
    assert done.returncode == 2 and "--bins: 1 (at least 2)" in done.stderr


def test_arrays_and_pynapple_give_the_nwb_sessions(
    tmp_path: Path, nwb_files: tuple[list[Path], object]
) -> None:
    """The same sessions through netCDF, npz and pynapple are measured alike."""
    import pynapple as nap
    import xarray as xr

    from driftlab.recordings.arrays import from_dataset, from_pynapple, read_arrays

    sessions = read_sessions(nwb_files[0][:2])
    n_time = max(s.time.size for s in sessions)
    cells = sessions[0].cells

    def pad(x: np.ndarray) -> np.ndarray:
        out = np.full((n_time, *x.shape[1:]), np.nan)
        out[: x.shape[0]] = x
        return out

    arrays = {
        "activity": np.stack([pad(s.activity) for s in sessions]),
        "position": np.stack([pad(s.position) for s in sessions]),
        "time": np.stack([pad(s.time) for s in sessions]),
        "cell": cells,
        "day": np.asarray([s.day for s in sessions]),
    }
    ds = xr.Dataset(
        {
            "activity": (("session", "time", "cell"), arrays["activity"]),
            "position": (("session", "time"), arrays["position"]),
            "time": (("session", "time"), arrays["time"]),
            "day": (("session",), arrays["day"]),
        },
        coords={"cell": cells},
    )
    ds.to_netcdf(tmp_path / "all.nc")
    np.savez(tmp_path / "all.npz", **arrays)
    nap_sessions = [
        from_pynapple(
            nap.TsdFrame(t=s.time, d=s.activity, columns=list(s.cells)),
            nap.Tsd(t=s.time, d=s.position),
            day=s.day,
        )
        for s in sessions
    ]
    for other in (
        from_dataset(ds),
        read_arrays(tmp_path / "all.nc"),
        read_arrays(tmp_path / "all.npz"),
        nap_sessions,
    ):
        for a, b in zip(sessions, other, strict=True):
            np.testing.assert_allclose(b.activity, a.activity)
            np.testing.assert_allclose(b.position, a.position)
            np.testing.assert_array_equal(b.cells, a.cells)
            assert b.day == a.day
    np.savez(tmp_path / "bad.npz", activity=arrays["activity"], time=arrays["time"])
    with pytest.raises(RecordingError, match=r"bad\.npz: no 'position'"):
        read_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", **{**arrays, "position": arrays["position"][:, :10]})
    with pytest.raises(RecordingError, match=r"position must be \(session, time\)"):
        read_arrays(tmp_path / "short.npz")


@pytest.fixture(scope="module")
def corridor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from driftlab.config import parse_config
    from driftlab.run import execute

    cfg = parse_config(
        {
            "model": {"hidden": 64},
            "task": {"corridor": {"n_samples": 60}},
            "train": {"steps": 3_000},
            "noise": {"update": {"sd": 0.03}},
            "record": {"every": 1_000, "chunk": 1_000, "hidden": True},
        }
    )
    out = tmp_path_factory.mktemp("run") / "run"
    execute(cfg, out, progress=False)
    return out


def test_virtual_experiment_measures_the_run_with_the_same_code(corridor_run: Path) -> None:
    """Without observation noise the sessions' fraction of active cells is the run's
    own record of active units at those steps (the same definition, the same data)."""
    from driftlab.recordings.virtual import Virtual, virtual_sessions
    from driftlab.rundir import load_run

    sessions = virtual_sessions(corridor_run, Virtual(observation="none", laps=3))
    assert [s.name for s in sessions] == ["step 1,000", "step 2,000", "step 3,000"]
    opts = SessionOptions(n_shuffles=20, speed_threshold=0.0, min_occupancy=0.0, n_bins=20)
    report = analyze(sessions, opts)
    recorded = load_run(corridor_run)["timeseries"]["active_units"].values[1:, 0]
    np.testing.assert_allclose(report.sessions["active_fraction"], recorded, rtol=1e-6)
    calcium = virtual_sessions(corridor_run, Virtual(observation="calcium", cells=20, sessions=2))
    assert len(calcium) == 2 and calcium[0].activity.shape == (60 * 20, 20)
    assert (calcium[0].activity >= 0).all() and np.array_equal(calcium[0].cells, calcium[1].cells)


def test_cli_on_a_run_directory(tmp_path: Path, corridor_run: Path) -> None:
    out = tmp_path / "virtual"
    done = _cli(str(corridor_run), "--out", str(out), "--shuffles", "20", "--bins", "20")
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out / "sessions.csv")) == 3 and (out / "drift-report.png").is_file()
    done = _cli(str(tmp_path), "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "holds no timeseries.nc" in done.stderr


def test_figure_drift_report_side_by_side(
    tmp_path: Path, nwb_files: tuple[list[Path], object], corridor_run: Path
) -> None:
    """A recording and a simulation's virtual experiment, measured alike, in one figure."""
    from driftlab.cli import main
    from driftlab.recordings.virtual import Virtual, virtual_sessions

    opts = SessionOptions(n_shuffles=20, n_bins=20)
    write_report(analyze(read_sessions(nwb_files[0]), opts), tmp_path / "mouse")
    virtual = virtual_sessions(corridor_run, Virtual(laps=5))
    write_report(
        analyze(virtual, SessionOptions(n_shuffles=20, n_bins=20, speed_threshold=0)),
        tmp_path / "model",
    )
    code = main(
        [
            "figure",
            "drift-report",
            str(tmp_path / "mouse"),
            str(tmp_path / "model"),
            "--out",
            str(tmp_path / "fig"),
        ]
    )
    assert code == 0 and (tmp_path / "fig" / "drift-report.png").stat().st_size > 10_000
    assert main(["figure", "drift-report", str(tmp_path)]) == 2  # not an analyze folder
    assert main(["figure", "fig2", str(tmp_path), str(tmp_path)]) == 2  # one directory only


def _units_nwb(path: Path, session: object, order: np.ndarray, day: float) -> Path:
    """An electrophysiology-style file: spike times in a units table (cells in ``order``,
    with their ids in a global_id column) and the position."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position

    s = session
    nwb = NWBFile(
        session_description=f"units {day}",
        identifier=path.stem,
        session_start_time=dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day),
    )
    nwb.add_unit_column(name="global_id", description="id across sessions")
    for cell in order:
        counts = s.activity[:, cell].astype(int)  # type: ignore[attr-defined]
        spikes = np.repeat(s.time, counts) + 0.01  # type: ignore[attr-defined]
        nwb.add_unit(spike_times=spikes, global_id=int(cell))
    behavior = nwb.create_processing_module(name="behavior", description="b")
    pos = Position(name="Position")
    pos.create_spatial_series(
        name="x",
        data=s.position,  # type: ignore[attr-defined]
        reference_frame="r",
        timestamps=s.time,  # type: ignore[attr-defined]
    )
    behavior.add(pos)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_units_tables_and_a_cell_map(tmp_path: Path) -> None:
    """Spike times binned at the position's frames give back the event counts; cells in a
    different order in each file are matched by the id column or by a cell map."""
    from driftlab.recordings.nwb import read_cell_map

    sessions, _ = synthetic_sessions(n_sessions=2, n_cells=8, duration=20.0, seed=4)
    orders = [np.arange(8), np.array([3, 1, 0, 2, 7, 6, 5, 4])]
    paths = [
        _units_nwb(tmp_path / f"u{k}.nwb", s, order, s.day)
        for k, (s, order) in enumerate(zip(sessions, orders, strict=True))
    ]
    by_column = read_sessions(paths)
    for s, back, order in zip(sessions, by_column, orders, strict=True):
        np.testing.assert_array_equal(back.cells, order)
        np.testing.assert_allclose(back.activity, s.activity[:, order])
    # a registration map: row = cell, column = session, entry = its row in that file
    rows = np.stack([np.argsort(order) for order in orders], axis=1)  # (8, 2)
    rows[5, 1] = -1  # cell 5 not found in the second session
    np.savetxt(tmp_path / "map.csv", rows, fmt="%d", delimiter=",")
    mapped = read_sessions(paths, cell_map=read_cell_map(tmp_path / "map.csv"))
    assert mapped[1].cells.tolist() == [3, 1, 0, 2, 7, 6, 4]  # cell 5 left out
    for s, back in zip(sessions, mapped, strict=True):
        np.testing.assert_allclose(back.activity, s.activity[:, back.cells])
    with pytest.raises(RecordingError, match="3 columns for 2 sessions"):
        read_sessions(paths, cell_map=np.zeros((8, 3), np.int64))
