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
