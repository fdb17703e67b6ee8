"""One module per paper figure: each runs its presets (resumably) and draws from the runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftlab.config import ConfigError
from driftlab.experiments import fig2, fig3c, fig4

SMALL = ("train.steps=400", "model.hidden=16", "task.corridor.n_samples=40", "record.every=200")


def test_fig2_runs_its_preset_and_draws_in_its_conventions(tmp_path: Path) -> None:
    result, paths = fig2.run(tmp_path / "run", preset="quick", overrides=SMALL, progress=False)
    assert result.status == "complete" and result.step == 400
    assert [p.name for p in paths] == ["fig2.png", "fig2.pdf"]
    assert fig2.conventions("fig2_authors") == ("raw", "authors")
    assert fig2.conventions(None) == ("shuffle", "mean_estimator")
    with pytest.raises(ConfigError, match="preset 'fig4_update': not a Figure 2 preset"):
        fig2.run(tmp_path / "other", preset="fig4_update")


def test_fig3c_runs_the_hebbian_network_and_draws(tmp_path: Path) -> None:
    small = ("train.steps=200", "network.neurons=8", "inputs.ring.n_inputs=16")
    result, paths = fig3c.run(tmp_path / "run", overrides=small, progress=False)
    assert result.status == "complete" and result.step == 200
    assert paths[0].name == "fig3c.png" and paths[0].read_bytes()[:4] == b"\x89PNG"


def test_fig4_runs_both_presets_and_draws_all_panels(tmp_path: Path) -> None:
    small = (*SMALL, "record.hessian.log_points=3")
    paths = fig4.run(tmp_path, overrides=small, progress=False)
    assert (tmp_path / "fig4-update" / "hessian.nc").is_file()
    assert (tmp_path / "fig4-label" / "hessian.nc").is_file()
    assert (tmp_path / "valley" / "valley.npz").is_file()
    assert [p.name for p in paths] == ["fig4.png", "fig4.pdf"]
