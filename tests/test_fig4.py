"""Figure 4 from runs with Hessian records, in process and from the command line."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, run_cli
from driftlab import hessian
from driftlab.config import parse_config, resolve
from driftlab.plots.fig4 import count_band, fig4_data, plot_fig4
from driftlab.run import execute


@pytest.fixture(scope="module")
def hessian_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny corridor network (864 parameters) with update noise, and with label noise."""
    base = tmp_path_factory.mktemp("fig4")
    record = {**TINY["record"], "hessian": {"every": 200}}
    update = {**TINY, "record": record}
    label = {
        **TINY,
        "record": record,
        "noise": {"update": {"sd": 0.0}, "label": {"kind": "uniform", "width": 1.0}},
    }
    execute(parse_config(update), base / "update", progress=False)
    execute(parse_config(label), base / "label", progress=False)
    return base / "update", base / "label"


def test_fig4_data_panels(hessian_runs: tuple[Path, Path]) -> None:
    update, label = hessian_runs
    d = fig4_data(update, label)
    assert list(d.hess_steps) == [0, 200, 400, 600]
    assert d.n_params == 24 * (18 + 1 + 17)
    # every active unit can contribute at most its own rows: nonzero <= P x active units
    assert np.all(d.n_nonzero <= d.n_params * d.active_units)
    assert d.spectrum_steps == (0, 600)  # nearest a tenth of 600, and the last
    assert all(np.all(np.isfinite(v)) and v.size > 0 for v in d.log_eigs)
    assert "label noise" in d.title_d and "update noise" in d.title_b
    assert d.trace.shape == (4,)
    assert np.all(np.diff(d.trace_steps) > 0)
    # the count over the tolerance range: recorded, equal to direct counts on hessian.nc
    from driftlab.run import load_run

    spectra = load_run(update)["hessian"].eigenvalues.values[:, 0]
    assert d.band.source == "recorded" and d.band.rtol_range == hessian.RTOL_RANGE
    assert d.rtol == 1e-7
    for i, e in enumerate(spectra):
        lo, hi = hessian.RTOL_RANGE
        assert d.band.high[i] == hessian.count_nonzero(e, lo)
        assert d.band.low[i] == hessian.count_nonzero(e, hi)
        assert d.band.gap_decades[i] == hessian.spectral_gap(e)[1]
    assert np.all(d.band.low <= d.n_nonzero) and np.all(d.n_nonzero <= d.band.high)
    # the exact part: P - silent-unit zeros bounds every count of the band from above
    np.testing.assert_allclose(d.silent_bound, d.n_params * d.active_units)
    assert np.all(d.band.high <= d.silent_bound)
    d2 = fig4_data(update, label, times=(200, 400))
    assert d2.spectrum_steps == (200, 400)
    with pytest.raises(ValueError, match="--times: step 300"):
        fig4_data(update, label, times=(300, 400))
    with pytest.raises(ValueError, match=re.escape("--network: expected 0..0")):
        fig4_data(update, label, network=1)


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_fig4_states_its_tolerances(hessian_runs: tuple[Path, Path]) -> None:
    update, label = hessian_runs
    fig = plot_fig4(fig4_data(update, label))
    ax_b, ax_c = fig.axes[1], fig.axes[2]
    b = " ".join(_legend_texts(ax_b))
    assert "rtol 1e-7 (record.hessian.rtol)" in b
    assert "counts over rtol 1e-6 (left) .. 1e-12 (right)" in b
    assert "silent-unit zeros" in b and "rtol" in ax_b.get_xlabel()
    assert "1e-7" in ax_c.get_xlabel() and "1e-7" in ax_c.get_title(loc="left")
    assert any("cut: 1e-7" in t for t in _legend_texts(ax_c))
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_fig4_band_for_runs_recorded_before_it(hessian_runs, tmp_path: Path) -> None:
    """A run without the band's variables: the band is computed from hessian.nc (and
    equals the recorded one); with no spectra at all there is no band, and the figure
    says why instead."""
    import shutil

    import matplotlib.pyplot as plt

    from driftlab.run import load_run
    from driftlab.storage import write_netcdf

    update, label = hessian_runs
    old = tmp_path / "old"
    shutil.copytree(update, old)
    ts = load_run(old)["timeseries"]
    names = ("n_nonzero_rtol_min", "n_nonzero_rtol_max", "gap_decades", "gap_n_nonzero")
    write_netcdf(old / "timeseries.nc", ts.drop_vars([f"hessian_{n}" for n in names]))
    new, computed = fig4_data(update, label), fig4_data(old, label)
    assert computed.band.source == "computed from hessian.nc"
    for field in ("low", "high", "gap_decades", "gap_n_nonzero"):
        np.testing.assert_array_equal(getattr(computed.band, field), getattr(new.band, field))
    fig = plot_fig4(computed)
    assert any("computed from hessian.nc" in t for t in _legend_texts(fig.axes[1]))
    plt.close(fig)
    bare = count_band(load_run(old)["timeseries"], None)
    assert not bare.available and np.isnan(bare.high).all() and "older run" in bare.source
    fig = plot_fig4(replace(computed, band=bare))
    assert any("no rtol band" in t for t in _legend_texts(fig.axes[1]))
    plt.close(fig)


def test_fig4_explains_a_run_that_is_not_finished(hessian_runs, tmp_path: Path) -> None:
    """hessian.nc appears when a run completes: an interrupted run is told to finish."""
    import json
    import shutil

    update, _ = hessian_runs
    partial = tmp_path / "partial"
    shutil.copytree(update, partial)
    (partial / "hessian.nc").unlink()
    status = json.loads((partial / "status.json").read_text())
    (partial / "status.json").write_text(json.dumps({**status, "state": "running", "step": 300}))
    with pytest.raises(ValueError, match=re.escape("not complete (step 300 of 600): rerun")):
        fig4_data(partial)


def test_cli_fig4(hessian_runs: tuple[Path, Path], tmp_path: Path) -> None:
    update, label = hessian_runs
    done = run_cli(
        "figure", "fig4", str(update), "--label-run", str(label), "--out", str(tmp_path / "f")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f" / "fig4.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f" / "valley" / "valley.npz").is_file()


def test_cli_fig4_refuses_runs_without_hessian_records(tmp_path: Path) -> None:
    execute(parse_config(TINY), tmp_path / "plain", progress=False)
    done = run_cli("figure", "fig4", str(tmp_path / "plain"), "--out", str(tmp_path / "f"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "record.hessian" in lines[0]
    assert not (tmp_path / "f").exists()  # nothing half-written
    bad = run_cli("figure", "fig4", str(tmp_path / "plain"), "--times", "1,2,3")
    assert bad.returncode == 2 and "--times" in bad.stderr
    missing = run_cli("figure", "fig4")
    assert missing.returncode == 2 and "run_dir" in missing.stderr
    misplaced = run_cli("figure", "fig2", str(tmp_path / "plain"), "--times", "1,2")
    assert (
        misplaced.returncode == 2 and "--times: does not apply to figure fig2" in misplaced.stderr
    )


def test_figure4_presets_are_valid() -> None:
    for name, noise in (("fig4_update", "update"), ("fig4_label", "label")):
        cfg = resolve(preset=name)
        assert cfg.record.hessian.enabled and cfg.record.hessian.method == "dense"
        assert cfg.model.hidden == 100 and cfg.task.name == "corridor"
        if noise == "update":
            assert cfg.noise.update.sd == (0.03,)
        else:
            assert cfg.noise.label.width == (1.0,) and cfg.noise.update.sd == (0.0,)


def test_cli_xy_drift(tmp_path: Path) -> None:
    done = run_cli("figure", "xy-drift", "--out", str(tmp_path / "xy"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xy" / "xy_drift.png").is_file()
    assert (tmp_path / "xy" / "xy_drift.npz").is_file()
