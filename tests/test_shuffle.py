"""Shuffle-tested place units and shuffle-corrected SI (driftlab.metrics.shuffle)."""

from __future__ import annotations

import numpy as np
import pytest

from driftlab import metrics

Y_MAX = 5.6  # the corridor's reachable half-length (Figure 2: y in [-5.6, 5.6])


def corridor_trajectory(n_samples: int, seed: int = 0) -> np.ndarray:
    """Direction-signed position of an agent running back and forth along the corridor.

    As the corridor task (driftlab.tasks.corridor): y in [-Y_MAX, Y_MAX], each
    step moves 0.2 + 0.1 N(0, 1) along the heading, clamped at the ends, where
    the agent turns; about 56 samples per run. Returns (n_samples,).
    """
    rng = np.random.default_rng(seed)
    y, heading = np.empty(n_samples), 1.0
    y[0] = rng.uniform(-Y_MAX, Y_MAX)
    for t in range(1, n_samples):
        y[t] = np.clip(y[t - 1] + heading * (0.2 + 0.1 * rng.normal()), -Y_MAX, Y_MAX)
        if abs(y[t]) == Y_MAX:
            heading = -np.sign(y[t])
    return metrics.signed_position(y)


def test_null_units_false_positive_rate_and_zero_corrected_si() -> None:
    """Position-independent activity: ~5% pass at percentile 95, corrected SI ~0."""
    n_units, n_samples = 1000, 150
    pos = corridor_trajectory(n_samples)
    act = np.random.default_rng(1).exponential(size=(n_samples, n_units))
    s = metrics.shuffle_spatial_information(act, pos, rng=2)

    rate = s.place.mean()
    alpha = 0.05
    sd = np.sqrt(alpha * (1 - alpha) / n_units)
    assert abs(rate - alpha) < 4 * sd, rate

    # the small-sample bias: raw SI is large although nothing depends on position
    assert s.si.mean() > 0.3
    assert np.all(s.si > 0.1)
    spread = s.corrected.std() / np.sqrt(n_units)
    assert abs(s.corrected.mean()) < 4 * spread
    assert abs(s.corrected.mean()) < 0.05 * s.si.mean()
    np.testing.assert_allclose(s.corrected, s.si - s.shuffle_mean)


def test_sharp_fields_are_detected_with_positive_corrected_si() -> None:
    n_samples = 300
    pos = corridor_trajectory(n_samples, seed=3)
    centres = np.linspace(-0.9, 0.9, 40) * Y_MAX  # both running directions
    act = np.exp(-((pos[:, None] - centres[None, :]) ** 2) / (2 * 0.5**2))
    s = metrics.shuffle_spatial_information(act, pos, rng=4)
    assert s.place.all()
    assert np.all(s.corrected > 0.5)
    assert np.all(s.p_value == pytest.approx(1 / 101))
    assert metrics.mean_corrected_place_si(s) == pytest.approx(s.corrected.mean())


def test_raw_si_equals_spatial_information_of_the_rate_maps() -> None:
    pos = corridor_trajectory(150, seed=5)
    rng = np.random.default_rng(6)
    act = np.maximum(rng.normal(size=(150, 30)), 0.0)
    act[:, 0] = 2.0  # constant: SI 0, never a place unit
    s = metrics.shuffle_spatial_information(act, pos, n_shuffles=20)
    maps = metrics.rate_maps(act, pos)
    ref = metrics.spatial_information(maps.maps, maps.occupancy)
    np.testing.assert_allclose(s.si, ref, atol=1e-12)
    assert s.si[0] == pytest.approx(0.0, abs=1e-12)
    assert not s.place[0]


def test_shapes_ranges_and_determinism() -> None:
    pos = corridor_trajectory(120, seed=7)
    act = np.random.default_rng(8).exponential(size=(120, 17))
    a = metrics.shuffle_spatial_information(act, pos, n_shuffles=30, rng=9)
    b = metrics.shuffle_spatial_information(act, pos, n_shuffles=30, rng=9)
    c = metrics.shuffle_spatial_information(act, pos, n_shuffles=30, rng=np.random.default_rng(9))
    for field in metrics.ShuffleSI._fields:
        x = getattr(a, field)
        assert x.shape == (17,), field
        np.testing.assert_array_equal(x, getattr(b, field))
        np.testing.assert_array_equal(x, getattr(c, field))
    assert a.place.dtype == bool
    assert np.all((a.p_value >= 1 / 31) & (a.p_value <= 1.0))
    assert np.all(a.threshold >= 0)
    # place units are exactly those above the threshold
    np.testing.assert_array_equal(a.place, a.si > a.threshold)
    d = metrics.shuffle_spatial_information(act, pos, n_shuffles=30, rng=10)
    assert not np.array_equal(a.shuffle_mean, d.shuffle_mean)
    np.testing.assert_array_equal(a.si, d.si)


def test_silent_and_nan_units() -> None:
    pos = corridor_trajectory(100, seed=11)
    rng = np.random.default_rng(12)
    act = rng.exponential(size=(100, 4))
    act[:, 1] = 0.0
    act[5, 2] = np.nan
    act[7, 3] = -1.0  # negative activity has no Skaggs SI
    s = metrics.shuffle_spatial_information(act, pos, n_shuffles=10)
    assert s.si[1] == 0 and s.shuffle_mean[1] == 0 and s.corrected[1] == 0
    assert s.threshold[1] == 0 and s.p_value[1] == 1.0 and not s.place[1]
    for u in (2, 3):
        for field in ("si", "shuffle_mean", "threshold", "p_value", "corrected"):
            assert np.isnan(getattr(s, field)[u]), (u, field)
        assert not s.place[u]
    assert np.isfinite(s.si[0])


def test_mean_corrected_place_si_without_place_units_is_nan() -> None:
    pos = corridor_trajectory(60)
    s = metrics.shuffle_spatial_information(np.zeros((60, 3)), pos, n_shuffles=5)
    assert np.isnan(metrics.mean_corrected_place_si(s))


def test_shift_rule_and_bad_input() -> None:
    assert metrics.shuffle.min_shift(150) == 7
    assert metrics.shuffle.min_shift(3) == 1
    pos = np.arange(5.0)
    with pytest.raises(ValueError, match="activity"):
        metrics.shuffle_spatial_information(np.zeros(5), pos)
    with pytest.raises(ValueError, match="n_shuffles"):
        metrics.shuffle_spatial_information(np.zeros((5, 1)), pos, n_shuffles=0)
    with pytest.raises(ValueError, match="percentile"):
        metrics.shuffle_spatial_information(np.zeros((5, 1)), pos, percentile=101)
    with pytest.raises(ValueError, match="2 samples"):
        metrics.shuffle_spatial_information(np.zeros((1, 1)), np.zeros(1))


def test_bounds_drop_samples_outside() -> None:
    pos = corridor_trajectory(200, seed=13)
    act = np.random.default_rng(14).exponential(size=(200, 5))
    s = metrics.shuffle_spatial_information(act, pos, n_shuffles=10, bounds=(0.0, Y_MAX))
    maps = metrics.rate_maps(act, pos, bounds=(0.0, Y_MAX))
    ref = metrics.spatial_information(maps.maps, maps.occupancy)
    np.testing.assert_allclose(s.si, ref, atol=1e-12)
