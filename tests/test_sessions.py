"""Drift statistics across sessions, on synthetic recordings with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from driftlab.metrics.sessions import (
    Session,
    SessionOptions,
    common_bounds,
    movement_mask,
    occupancy_rate_maps,
    pair_statistics,
    session_statistics,
    trend,
)
from driftlab.recordings.synthetic import synthetic_sessions

OPTS = SessionOptions(n_shuffles=100)


def _measure(**kw: float) -> tuple[list[Session], object, list, list]:
    sessions, truth = synthetic_sessions(n_cells=200, **kw)  # type: ignore[arg-type]
    results = [session_statistics(s, OPTS) for s in sessions]
    return sessions, truth, results, pair_statistics(sessions, results)


def test_occupancy_rate_maps_closed_form() -> None:
    """A cell firing 2 events a frame at 10 frames/s only in the first half of a track
    swept at constant speed: 20 events/s there, 0 elsewhere; occupancy in seconds."""
    time = np.arange(200) / 10.0
    pos = np.linspace(0, 99.9, 200)
    act = np.where(pos < 50, 2.0, 0.0)[:, None]
    rm = occupancy_rate_maps(act, pos, time, n_bins=10, bounds=(0, 100))
    np.testing.assert_allclose(rm.maps[0], [20.0] * 5 + [0.0] * 5)
    np.testing.assert_allclose(rm.occupancy, 2.0)  # 20 frames of 0.1 s a bin
    slow = occupancy_rate_maps(act, pos, time, n_bins=10, bounds=(0, 100), min_occupancy=2.5)
    assert np.isnan(slow.maps).all()  # every bin was visited for 2 s < 2.5 s


def test_movement_mask_drops_pauses() -> None:
    time = np.arange(100) / 10.0
    pos = np.r_[np.linspace(0, 50, 50), np.full(50, 50.0)]  # runs 10 cm/s, then stops
    keep = movement_mask(pos, time, 2.0)
    assert keep[:49].all() and not keep[51:].any()


def test_shuffle_test_finds_the_fields_and_keeps_its_false_positive_rate() -> None:
    """Every true place cell passes; cells without a field pass at the nominal 5%
    (pooled over 5 sessions x ~100 cells: 3 binomial sds = 1.3 percentage points)."""
    _, truth, results, _ = _measure(place_fraction=0.5, remap=0.3, seed=1)
    place = np.array([r.shuffle.place for r in results])
    true_place = truth.place  # type: ignore[attr-defined]
    assert place[true_place].mean() >= 0.98
    fp = place[~true_place]
    sd = np.sqrt(0.05 * 0.95 / fp.size)
    assert abs(fp.mean() - 0.05) < 3 * sd, fp.mean()
    for r, truth_s in zip(results, true_place, strict=True):
        expected = truth_s.mean() + 0.05 * (1 - truth_s.mean())  # all cells are active
        assert r.active_fraction == 1.0
        assert abs(r.place_fraction - expected) < 3 * np.sqrt(0.05 * 0.95 / 100) * 0.5 + 0.01


def test_vanishing_fields_give_a_falling_place_fraction() -> None:
    sessions, truth, results, _ = _measure(place_fraction=0.6, remap=0.0, vanish=0.25, seed=2)
    days = [s.day for s in sessions]
    fit = trend(days, [r.place_fraction for r in results])
    assert fit.ci_high < 0  # falls, significantly
    true_fraction = truth.place.mean(axis=1)  # type: ignore[attr-defined]
    measured = np.array([r.place_fraction for r in results])
    np.testing.assert_allclose(measured, true_fraction + 0.05 * (1 - true_fraction), atol=0.06)


def test_narrowing_fields_give_a_rising_spatial_information() -> None:
    sessions, _, results, _ = _measure(place_fraction=0.5, remap=0.0, width=(16.0, 6.0), seed=3)
    days = [s.day for s in sessions]
    rising = trend(days, [r.mean_si_corrected for r in results])
    assert rising.ci_low > 0
    sessions, _, results, _ = _measure(place_fraction=0.5, remap=0.0, width=(8.0, 8.0), seed=3)
    flat = trend(days, [r.mean_si_corrected for r in results])
    assert flat.ci_low < 0 < flat.ci_high


def test_ratemap_correlation_tracks_the_fraction_of_unchanged_fields() -> None:
    """Across the 10 pairs of 5 sessions with fields remapping (p 0.3 a session): the
    mean rate-map correlation is linear in the fraction of fields that did not move
    (r^2 > 0.9), about 0 when none stays (|intercept| < 0.1) and the correlation of
    an unchanged field at these rates (slope) in [0.6, 1]."""
    _, truth, _, pairs = _measure(place_fraction=0.5, remap=0.3, seed=4)
    centres = truth.centres  # type: ignore[attr-defined]
    same = []
    for p in pairs:
        a, b = centres[p.first], centres[p.second]
        either = np.isfinite(a) | np.isfinite(b)
        same.append(np.sum(either & (a == b)) / np.sum(either))
    corr = [p.ratemap_corr for p in pairs]
    fit = trend(same, corr)
    r = np.corrcoef(same, corr)[0, 1]
    assert r**2 > 0.9 and abs(fit.intercept) < 0.1 and 0.6 <= fit.slope <= 1.0, (fit, r)
    # the population vectors decorrelate with time as well
    lags = [p.lag for p in pairs]
    assert trend(lags, [p.pv_corr for p in pairs]).ci_high < 0


@pytest.mark.parametrize("remap", [0.0, 0.3])
def test_decoding_across_sessions(remap: float) -> None:
    """Stable fields: decoding another session is about as good as decoding within one;
    remapping fields: the error grows with the time between sessions."""
    _, _, results, pairs = _measure(place_fraction=0.5, remap=remap, seed=5)
    within = np.mean([r.decoding_error for r in results])
    assert within < 5.0  # cm, on a 100 cm track with 40 bins of 2.5 cm
    lags = [p.lag for p in pairs]
    errors = [p.decoding_error for p in pairs]
    if remap == 0.0:
        assert max(errors) < 1.5 * within + 1.0
    else:
        assert trend(lags, errors).ci_low > 0


def test_pairs_need_one_set_of_bins() -> None:
    sessions, _ = synthetic_sessions(n_sessions=2, n_cells=10, duration=30.0, seed=0)
    short = Session(
        sessions[1].activity, sessions[1].position * 0.5, sessions[1].time, sessions[1].cells, 2.0
    )
    pair = [sessions[0], short]
    results = [session_statistics(s, SessionOptions(n_shuffles=19)) for s in pair]
    with pytest.raises(ValueError, match="different bins"):
        pair_statistics(pair, results)
    opts = SessionOptions(n_shuffles=19, bounds=common_bounds(pair))
    results = [session_statistics(s, opts) for s in pair]
    assert len(pair_statistics(pair, results)) == 1


def test_trend_closed_form() -> None:
    fit = trend([0, 1, 2, 3], [1, 3, 5, 7])
    assert fit.slope == pytest.approx(2.0) and fit.intercept == pytest.approx(1.0)
    assert fit.ci_low == pytest.approx(2.0) and fit.ci_high == pytest.approx(2.0)
    assert np.isnan(trend([0, 1], [0, 1]).slope)  # fewer than 3 points
