"""Divergence rules: a transient spike is tolerated and recorded, a lasting one stops
the network, the authors' rule stops at once (driftlab.divergence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftlab.config import resolve
from driftlab.divergence import REASONS, Divergence, findings
from driftlab.run import execute, load_run


def test_findings_in_order_of_precedence() -> None:
    mse = np.array([0.1, np.nan, 11.0, 0.2, np.inf, 5.0])
    var_y = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.1])  # the last: 5 / 0.1 = 50 > 10
    units = np.array([0.5, 0.0, 0.0, 0.0, 0.2, 0.5])
    assert [REASONS[i] for i in findings(mse, var_y, units)] == [
        "",
        "loss is not finite",
        "loss above 10 var(y)",
        "every hidden unit silent",
        "loss is not finite",
        "loss above 10 var(y)",
    ]


def _series(rule: str, losses: list[float], window: int = 100, step: int = 10) -> Divergence:
    d = Divergence.start(1, rule, window)
    for k, mse in enumerate(losses):
        d.check((k + 1) * step, np.array([mse]), np.array([1.0]), np.array([0.5]))
    d.close()
    return d


def test_persistent_rule_tolerates_a_transient_and_records_it() -> None:
    d = _series("persistent", [0.5, 50.0, 800.0, 20.0, 0.1, 0.05])
    assert not d.stopped[0]
    assert d.spikes == [(0, 20, 40, pytest.approx(np.log10(800.0)), 2)]
    assert d.spike_records()[0]["finding"] == "loss above 10 var(y)"


def test_persistent_rule_stops_a_lasting_excess_after_its_window() -> None:
    d = _series("persistent", [0.5, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0], window=40)
    # the excess starts at step 20; the first check at least 40 steps later is step 60
    assert d.step[0] == 60 and REASONS[int(d.reason[0])] == "loss above 10 var(y)"
    assert d.spikes == []


def test_an_excess_still_open_at_the_end_of_the_run_stops_the_network() -> None:
    d = _series("persistent", [0.5, 50.0, 60.0], window=1000)
    assert d.step[0] == 30 and REASONS[int(d.reason[0])] == "loss above 10 var(y)"
    assert d.spikes == []


def test_non_finite_loss_stops_at_once_under_both_rules() -> None:
    for rule in ("persistent", "authors"):
        d = _series(rule, [0.5, 5.0, float("nan"), 0.1])
        assert d.step[0] == 30 and REASONS[int(d.reason[0])] == "loss is not finite"


def test_authors_rule_stops_the_transient() -> None:
    d = _series("authors", [0.5, 50.0, 800.0, 20.0, 0.1])
    assert d.step[0] == 20 and d.spikes == []


def test_state_round_trips_through_checkpoint_arrays() -> None:
    d = _series("persistent", [0.5, 50.0, 0.1, 30.0])
    d2 = Divergence.from_arrays(d.arrays(), "persistent", 100)
    assert d2.spikes == d.spikes
    np.testing.assert_array_equal(d2.since, d.since)


@pytest.fixture(scope="module")
def transient_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Figure 2's network on the authors' data form (legacy texture, no heading noise),
    seeds 0-2: seed 0 spikes to log10(MSE/var y) = 2.2 in its first 6 steps and recovers."""
    out = tmp_path_factory.mktemp("div")
    runs = {}
    for rule in ("persistent", "authors"):
        cfg = resolve(
            preset="fig2",
            overrides=[
                "task.corridor.texture_mapping=legacy",
                "task.corridor.sigma_theta=0",
                "seed=[0,1,2]",
                "train.steps=200",
                "record.hidden=false",
                "record.place_shuffles=0",
                f"train.divergence={rule}",
            ],
        )
        execute(cfg, out / rule, progress=False)
        runs[rule] = out / rule
    return runs


def test_a_recovering_network_runs_on_under_the_default_rule(transient_runs) -> None:
    ts = load_run(transient_runs["persistent"])["timeseries"]
    assert np.all(ts.diverged_step.values < 0)
    assert ts.log_loss.values[:8, 0].max() > 1.0  # the transient is there ...
    assert np.all(ts.log_loss.values[-1] < -0.8)  # ... and every network converges
    assert ts.spike_network.values.tolist() == [0]
    assert ts.spike_start.values[0] == 1 and 3 <= ts.spike_end.values[0] <= 10
    assert ts.spike_peak.values[0] > 2.0


def test_the_authors_rule_stops_it_at_step_1(transient_runs) -> None:
    ts = load_run(transient_runs["authors"])["timeseries"]
    assert ts.diverged_step.values.tolist() == [1, -1, -1]
    assert str(ts.diverged_reason.values[0]) == "loss above 10 var(y)"
    assert ts.sizes["spike"] == 0


def test_a_network_that_keeps_returning_above_the_limit_is_stopped() -> None:
    from driftlab.divergence import MAX_SPIKES

    losses = [50.0, 0.1] * (MAX_SPIKES + 2)
    d = _series("persistent", losses)
    assert len(d.spikes) == MAX_SPIKES
    # the streak after the tenth tolerated spike stops the network at its first check
    assert d.step[0] == (2 * MAX_SPIKES + 1) * 10
    assert REASONS[int(d.reason[0])] == "loss above 10 var(y)"


def test_verdicts_of_the_old_raw_mse_rule_are_dropped_on_resume() -> None:
    old = {  # a driftlab 0.1 checkpoint: no streak state, index 2 meant raw MSE > 10
        "rec/diverged_step": np.array([4, 7, 9, -1]),
        "rec/diverged_reason": np.array([2, 1, 3, 0]),
    }
    d = Divergence.from_arrays(old, "persistent", 1000)
    assert d.cleared == [(0, 4)]
    assert d.step.tolist() == [-1, 7, 9, -1] and d.reason.tolist() == [0, 1, 3, 0]
