"""Figure 4 from runs with Hessian records, in process and from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, run_cli
from driftlab.config import parse_config, resolve
from driftlab.plots.fig4 import fig4_data
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
    d2 = fig4_data(update, label, times=(200, 400))
    assert d2.spectrum_steps == (200, 400)
    with pytest.raises(ValueError, match="--times: step 300"):
        fig4_data(update, label, times=(300, 400))
    with pytest.raises(ValueError, match=re.escape("--network: expected 0..0")):
        fig4_data(update, label, network=1)


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
