"""Figure 2 from a run directory, in process and from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from driftlab.plots import fig2_data, write_fig2
from driftlab.run import execute


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import TINY
    from driftlab.config import parse_config

    out = tmp_path_factory.mktemp("fig") / "run"
    execute(parse_config(TINY), out, progress=False)
    return out


def test_fig2_data_panels(tiny_run: Path) -> None:
    d = fig2_data(tiny_run)
    n_snap = len(d.map_steps)
    assert d.maps.shape == (n_snap, 24, 100)
    assert d.place.shape == (n_snap, 24)
    assert d.corr.shape == (n_snap, n_snap)
    diag = np.diag(d.corr)
    assert np.isfinite(diag).sum() >= n_snap // 2
    assert np.allclose(diag[np.isfinite(diag)], 1.0)
    np.testing.assert_allclose(d.corr, d.corr.T, equal_nan=True)
    assert d.steps[0] == 0 and d.steps[-1] == 600
    assert "H=24" in d.title and "sd 0.02" in d.title


def test_write_fig2_png_and_pdf(tiny_run: Path, tmp_path: Path) -> None:
    paths = write_fig2(tiny_run, tmp_path / "figs")
    assert [p.name for p in paths] == ["fig2.png", "fig2.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def test_cli_figure(tiny_run: Path, tmp_path: Path) -> None:
    done = run_cli("figure", "fig2", str(tiny_run), "--out", str(tmp_path / "f"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f" / "fig2.png").is_file()
    assert "wrote" in done.stdout


def test_cli_figure_bad_run_dir(tmp_path: Path) -> None:
    done = run_cli("figure", "fig2", str(tmp_path / "nothing"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "run_dir" in lines[0]


def test_cli_figure_bad_network(tiny_run: Path) -> None:
    done = run_cli("figure", "fig2", str(tiny_run), "--network", "3")
    assert done.returncode == 2
    assert "--network" in done.stderr


# ------------------------------------------------- place units and loss options

NEW_VARS = ("n_place_units_shuffle", "mean_si_corrected")


def _copy_run(src: Path, dst: Path, *, new_vars: bool) -> Path:
    """A copy of ``src`` whose timeseries.nc has (or lacks) the shuffle-test variables."""
    import shutil

    from driftlab.storage import open_netcdf, write_netcdf

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("figures"))
    ts = open_netcdf(dst / "timeseries.nc")
    if new_vars:
        shape = ts["mean_si"].shape  # (time, network)
        dims = ts["mean_si"].dims
        for name, fill in zip(NEW_VARS, (3.0, 0.25), strict=True):
            if name not in ts:
                ts[name] = (dims, np.full(shape, fill))
    else:
        ts = ts.drop_vars([v for v in NEW_VARS if v in ts])
    write_netcdf(dst / "timeseries.nc", ts)
    return dst


@pytest.fixture(scope="module")
def new_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_run(tiny_run, tmp_path_factory.mktemp("new") / "run", new_vars=True)


@pytest.fixture(scope="module")
def old_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_run(tiny_run, tmp_path_factory.mktemp("old") / "run", new_vars=False)


def test_fig2_panel_c_shuffle_and_raw(new_run: Path) -> None:
    from driftlab.run import load_run

    ts = load_run(new_run)["timeseries"]
    shuffle = fig2_data(new_run)
    np.testing.assert_array_equal(shuffle.mean_si, ts["mean_si_corrected"].values[:, 0])
    assert "shuffle-corrected" in shuffle.si_label and "shuffle-tested" in shuffle.si_label
    assert shuffle.place_kind == "shuffle" and not shuffle.si_fallback
    raw = fig2_data(new_run, place="raw")
    np.testing.assert_array_equal(raw.mean_si, ts["mean_si"].values[:, 0])
    assert "0.01" in raw.si_label and "paper" in raw.si_label
    assert raw.place_kind == "raw" and raw.place_tested.all() and not raw.si_fallback


def test_fig2_old_run_falls_back_to_raw_si(old_run: Path, tmp_path: Path) -> None:
    from driftlab.run import load_run

    ts = load_run(old_run)["timeseries"]
    assert not any(v in ts for v in NEW_VARS)
    d = fig2_data(old_run)
    np.testing.assert_array_equal(d.mean_si, ts["mean_si"].values[:, 0])
    assert "raw" in d.si_label and "predates the shuffle test" in d.si_label
    assert d.si_fallback
    paths = write_fig2(old_run, tmp_path / "figs")
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fig2_shuffle_place_units_of_panels_d_and_e(tiny_run: Path) -> None:
    from driftlab.metrics import shuffle_spatial_information, signed_position
    from driftlab.plots.fig2 import FIG_SHUFFLES
    from driftlab.run import load_run

    d = fig2_data(tiny_run)
    assert d.place.shape == (len(d.map_steps), 24)
    # every snapshot panel E correlates (at most 60) is tested
    assert np.isin(d.map_steps[d.place_tested], d.corr_steps).sum() == len(d.corr_steps)
    ds = load_run(tiny_run)
    position = signed_position(ds["data"]["positions"].values[0, :, 1])
    last = len(d.map_steps) - 1
    assert d.place_tested[last]
    expect = shuffle_spatial_information(
        ds["activity"]["hidden"].values[last, 0], position, n_shuffles=FIG_SHUFFLES, rng=last
    ).place
    np.testing.assert_array_equal(d.place[last], expect)
    # deterministic
    np.testing.assert_array_equal(fig2_data(tiny_run).place, d.place)
    # the shuffle test passes fewer units than SI > 0.01 bits
    raw = fig2_data(tiny_run, place="raw")
    assert d.place.sum() < raw.place.sum()


def test_fig2_loss_authors_convention(tiny_run: Path) -> None:
    from driftlab.metrics import mean_estimator_mse
    from driftlab.run import load_run

    ds = load_run(tiny_run)
    targets = ds["data"]["targets"].values[0]
    default = fig2_data(tiny_run, place="raw")
    np.testing.assert_array_equal(default.loss, default.log_loss_rel)
    assert "mean estimator" in default.loss_label
    d = fig2_data(tiny_run, place="raw", loss="authors")
    expect = ds["timeseries"]["log_loss"].values[:, 0] - np.log10(mean_estimator_mse(targets))
    np.testing.assert_allclose(d.loss, expect, rtol=1e-9, atol=1e-9)
    # a constant offset -log10(var(targets)) from log_loss_rel
    np.testing.assert_allclose(d.loss - d.log_loss_rel, -np.log10(np.var(targets)), atol=1e-9)
    assert "authors' Fig. 2B convention" in d.loss_label


def test_fig2_bad_options(tiny_run: Path) -> None:
    with pytest.raises(ValueError, match="--place"):
        fig2_data(tiny_run, place="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--loss"):
        fig2_data(tiny_run, loss="mse")  # type: ignore[arg-type]


def test_write_fig2_options(new_run: Path, tmp_path: Path) -> None:
    paths = write_fig2(new_run, tmp_path / "figs", place="raw", loss="authors")
    assert [p.name for p in paths] == ["fig2.png", "fig2.pdf"]


def test_cli_figure_place_and_loss(old_run: Path, tmp_path: Path) -> None:
    done = run_cli(
        "figure", "fig2", str(old_run), "--out", str(tmp_path / "f"),
        "--place", "raw", "--loss", "authors",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f" / "fig2.png").is_file()
    bad = run_cli("figure", "xy-drift", "--place", "raw")
    assert bad.returncode == 2
    assert "--place" in bad.stderr
