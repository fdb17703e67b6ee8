"""The presets say what they are: fig2_authors is the authors' setup, and a run's
recorded shuffle-tested place units are what the metric gives on its stored activity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftlab import metrics
from driftlab.config import resolve


def test_fig2_authors_is_the_authors_setup() -> None:
    authors, corrected = resolve(preset="fig2_authors"), resolve(preset="fig2")
    c = authors.task.corridor
    assert (c.texture_mapping, c.sigma_theta, c.velocity_input) == (
        "legacy",
        0.0,
        "heading_change_mod2pi",
    )
    assert authors.model.dtype == "float64" and authors.train.divergence == "authors"
    # the rest is Figure 2's run, as in the corrected preset
    for cfg in (authors, corrected):
        assert (cfg.model.hidden, cfg.model.init, cfg.train.rule, cfg.train.lr) == (
            500,
            "lazy",
            "gd",
            (0.1,),
        )
        assert (cfg.noise.update.form, cfg.noise.update.sd, cfg.train.steps) == (
            "gradient",
            (0.0139,),
            1_000_000,
        )
    assert corrected.model.dtype == "float32" and corrected.train.divergence == "persistent"


def test_run_draws_fig2_authors_in_the_authors_conventions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftlab.cli import main
    from driftlab.experiments import fig2

    drawn: list[dict[str, Any]] = []

    def record(run_dir: Path, *args: Any, **kwargs: Any) -> list[Path]:
        drawn.append(kwargs)
        return [Path(run_dir) / "figures" / "fig2.png"]

    monkeypatch.setattr(fig2, "draw", record)
    small = ["model.hidden=24", "task.corridor.n_samples=40", "train.steps=50", "record.every=50"]
    sets = [arg for item in small for arg in ("--set", item)]
    for preset in ("fig2_authors", "fig2"):
        out = str(tmp_path / preset)
        assert main(["run", "--preset", preset, *sets, "--quiet", "--out", out]) == 0
    assert drawn == [
        {"loss": "authors", "place": "raw"},
        {"loss": "mean_estimator", "place": "shuffle"},
    ]


def test_recorded_shuffle_place_units_match_the_metric_on_stored_activity(
    tmp_path: Path, tiny_raw: dict[str, Any]
) -> None:
    from driftlab.config import parse_config
    from driftlab.run import execute
    from driftlab.rundir import load_run

    tiny_raw["seed"] = [0, 3]
    tiny_raw["record"]["place_shuffles"] = 19
    execute(parse_config(tiny_raw), tmp_path / "run", progress=False)
    ds = load_run(tmp_path / "run")
    ts, act, data = ds["timeseries"], ds["activity"], ds["data"]
    for i, seed in enumerate(ts.seed.values):
        position = metrics.signed_position(data.positions.values[i, :, 1])
        for k, step in enumerate(ts.step.values):
            hidden = act.hidden.values[k, i].astype(np.float64)
            s = metrics.shuffle_spatial_information(
                hidden, position, n_shuffles=19, rng=np.random.default_rng([seed, step, i])
            )
            assert ts.n_place_units_shuffle.values[k, i] == np.count_nonzero(s.place)
            np.testing.assert_allclose(
                ts.mean_si_corrected.values[k, i], metrics.mean_corrected_place_si(s), rtol=1e-6
            )
