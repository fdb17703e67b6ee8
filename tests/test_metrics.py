"""Tests of driftlab.metrics: closed forms and synthetic codes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from driftlab.metrics import (
    ExponentialFit,
    RateMaps,
    decoding_error,
    fit_exponential,
    fraction_active,
    fraction_active_units,
    log10_rate,
    log_loss,
    log_loss_rel,
    mean_estimator_mse,
    mean_place_si,
    place_units,
    population_vector_correlation,
    rate_maps,
    ratemap_correlation_matrix,
    signed_position,
    spatial_information,
)

L = 10.0  # corridor length of the synthetic trajectories


def back_and_forth(n_laps: int = 5, per_run: int = 200, low: float = 0.0) -> np.ndarray:
    """Triangle-wave positions: n_laps runs up then down over [low, low + L]."""
    up = np.linspace(low, low + L, per_run, endpoint=False)
    down = np.linspace(low + L, low, per_run, endpoint=False)
    return np.tile(np.concatenate([up, down]), n_laps)


def place_code(pos: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    """Gaussian tuning curves: activity (T, units)."""
    return np.exp(-((pos[:, None] - centres[None, :]) ** 2) / (2 * width**2))


# ---------------------------------------------------------------- loss


def test_log_loss_of_the_mean_predictors_is_zero() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 3)) + np.array([0.0, 5.0, -2.0])
    overall = np.mean((y - y.mean()) ** 2)
    per_output = np.mean((y - y.mean(axis=0)) ** 2)
    assert float(log_loss(overall, y)) == pytest.approx(0.0, abs=1e-12)
    assert float(log_loss_rel(per_output, y)) == pytest.approx(0.0, abs=1e-12)
    assert mean_estimator_mse(y) == pytest.approx(per_output)
    # per-output means beat the overall mean when the outputs' means differ
    assert float(log_loss(per_output, y)) < 0
    # arrays of mse broadcast; 0 gives -inf without a warning
    out = log_loss(np.array([overall, overall / 10, 0.0]), y)
    assert out.shape == (3,)
    assert out[1] == pytest.approx(-1.0)
    assert out[2] == -np.inf


# ---------------------------------------------------------------- activity


def test_fraction_active_pairs_vs_units_by_hand() -> None:
    h = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, -1.0]])
    assert float(fraction_active(h)) == pytest.approx(2 / 9)
    assert float(fraction_active_units(h)) == pytest.approx(1 / 3)
    assert float(fraction_active_units(h, threshold=1.5)) == pytest.approx(1 / 3)
    assert float(fraction_active(h, threshold=1.5)) == pytest.approx(1 / 9)
    stacked = np.stack([h, np.ones_like(h)])  # (times, samples, units)
    np.testing.assert_allclose(fraction_active(stacked), [2 / 9, 1.0])
    np.testing.assert_allclose(fraction_active_units(stacked), [1 / 3, 1.0])


# ---------------------------------------------------------------- rate maps


def test_signed_position_back_and_forth() -> None:
    pos = back_and_forth(n_laps=2, per_run=20)
    s = signed_position(pos, origin=0.0)
    going_up = np.append(np.diff(pos), -1.0) > 0  # the last sample runs down
    np.testing.assert_array_equal(s[going_up], pos[going_up])
    np.testing.assert_array_equal(s[~going_up], -pos[~going_up])
    # zero steps take the previous direction; a leading pause is +1
    np.testing.assert_array_equal(
        signed_position([1.0, 1.0, 2.0, 2.0, 1.0, 1.0], origin=0.0),
        [1.0, 1.0, 2.0, -2.0, -1.0, -1.0],
    )


def test_signed_position_centred_corridor_separates_directions() -> None:
    pos = back_and_forth(n_laps=2, per_run=20, low=-L / 2)  # y in [-5, 5)
    s = signed_position(pos)  # origin = min(pos)
    going_up = np.append(np.diff(pos), -1.0) > 0
    assert np.all(s[going_up] >= 0) and np.all(s[~going_up] <= 0)
    np.testing.assert_allclose(np.abs(s), pos - pos.min())
    with pytest.raises(ValueError, match="origin"):
        signed_position(pos, origin=0.0)


def test_rate_maps_recover_known_tuning() -> None:
    pos = back_and_forth()
    centres = np.array([1.0, 3.3, 5.0, 7.7, 9.2])
    rm = rate_maps(place_code(pos, centres, width=0.4), pos, 100)
    assert isinstance(rm, RateMaps)
    assert rm.maps.shape == (5, 100) and rm.edges.shape == (101,)
    assert rm.occupancy.sum() == pos.size
    bin_width = rm.edges[1] - rm.edges[0]
    peak = 0.5 * (rm.edges[:-1] + rm.edges[1:])[np.argmax(rm.maps, axis=1)]
    np.testing.assert_array_less(np.abs(peak - centres), 1.5 * bin_width)
    # smoothing (sd 6 bins) moves interior peaks little (edge peaks shift outwards)
    smooth = rate_maps(place_code(pos, centres, width=0.4), pos, 100, smooth_sd=6)
    peak_s = 0.5 * (rm.edges[:-1] + rm.edges[1:])[np.argmax(smooth.maps, axis=1)]
    np.testing.assert_array_less(np.abs(peak_s - centres)[1:4], 1.5 * bin_width)
    np.testing.assert_array_equal(smooth.occupancy, rm.occupancy)


def test_rate_maps_unvisited_bins_and_constant_smoothing() -> None:
    pos = back_and_forth(n_laps=1)
    act = np.full((pos.size, 2), 0.7)
    rm = rate_maps(act, pos, 50, bounds=(-L, 2 * L), smooth_sd=6)
    visited = rm.occupancy > 0
    assert 0 < visited.sum() < 50
    assert np.all(np.isnan(rm.maps[:, ~visited]))
    np.testing.assert_allclose(rm.maps[:, visited], 0.7, rtol=1e-12)


# ---------------------------------------------------------------- spatial information


def test_spatial_information_closed_forms() -> None:
    n = 16
    uniform = np.full((1, n), 3.0)
    one_hot = np.zeros((1, n))
    one_hot[0, 5] = 2.0
    occ = np.full(n, 7)
    assert spatial_information(uniform, occ)[0] == pytest.approx(0.0, abs=1e-12)
    assert spatial_information(one_hot, occ)[0] == pytest.approx(np.log2(n))


def test_spatial_information_two_level_map_by_hand() -> None:
    # equal occupancy, rates [3, 1, 1, 1]: r_bar = 1.5
    si = spatial_information(np.array([[3.0, 1.0, 1.0, 1.0]]), np.ones(4))[0]
    hand = 0.25 * 2.0 * np.log2(2.0) + 3 * 0.25 * (2 / 3) * np.log2(2 / 3)
    assert si == pytest.approx(hand)
    # unequal occupancy p = [0.5, 0.25, 0.25], rates [1, 2, 0]: r_bar = 1, SI = 0.25*2*1
    si2 = spatial_information(np.array([[1.0, 2.0, 0.0]]), np.array([0.5, 0.25, 0.25]))[0]
    assert si2 == pytest.approx(0.5)


def test_spatial_information_ignores_unvisited_and_silent_units() -> None:
    maps = np.array([[1.0, 0.0, np.nan, 5.0], [0.0, 0.0, np.nan, 0.0]])
    occ = np.array([1, 1, 0, 0])  # the last bin has a rate but no occupancy
    si = spatial_information(maps, occ)
    assert si[0] == pytest.approx(1.0)  # one of two equally visited bins
    assert si[1] == 0.0
    mask = place_units(np.array([0.0, 0.005, 0.02, np.nan, 1.0]))
    np.testing.assert_array_equal(mask, [False, False, True, False, True])
    assert float(mean_place_si(np.array([0.0, 0.02, 1.0]))) == pytest.approx(0.51)
    assert np.isnan(mean_place_si(np.zeros(3)))


# ---------------------------------------------------------------- drift


def test_ratemap_correlation_matrix() -> None:
    bins = np.arange(100)
    centres = np.array([20.0, 40.0, 60.0, 75.0])
    maps0 = np.exp(-((bins[None, :] - centres[:, None]) ** 2) / (2 * 6.0**2))
    shifted = np.exp(-((bins[None, :] - centres[:, None] - 15) ** 2) / (2 * 6.0**2))
    maps = np.stack([maps0, 2 * maps0 + 1, shifted])  # (times, units, bins)
    place = np.ones((3, 4), dtype=bool)
    c = ratemap_correlation_matrix(maps, place)
    assert c.shape == (3, 3)
    np.testing.assert_allclose(np.diag(c), 1.0)
    np.testing.assert_array_equal(c, c.T)
    assert c[0, 1] == pytest.approx(1.0)  # correlation ignores gain and offset
    assert c[0, 2] < 0.9
    # no unit that is a place unit at both times -> NaN; constant maps are skipped
    place2 = place.copy()
    place2[2] = False
    c2 = ratemap_correlation_matrix(maps, place2)
    assert np.isnan(c2[0, 2]) and np.isnan(c2[2, 2]) and c2[0, 0] == pytest.approx(1.0)
    flat = maps.copy()
    flat[1] = 0.5
    assert np.isnan(ratemap_correlation_matrix(flat, place)[0, 1])


def test_population_vector_correlation() -> None:
    rng = np.random.default_rng(1)
    maps = rng.random((30, 100))
    maps[:, 10] = np.nan  # an unvisited bin
    assert population_vector_correlation(maps, maps) == pytest.approx(1.0)
    other = rng.random((30, 100))
    assert abs(population_vector_correlation(maps, other)) < 0.2


def test_decoding_error_place_code_vs_noise() -> None:
    pos = back_and_forth(n_laps=4)
    centres = np.linspace(0, L, 40)
    rng = np.random.default_rng(2)
    code = place_code(pos, centres, width=0.5) + 0.02 * rng.normal(size=(pos.size, 40))
    err = decoding_error(code, pos)
    assert err < L / 50
    noise = rng.random((pos.size, 40))
    assert decoding_error(noise, pos) > L / 5


# ---------------------------------------------------------------- timescale


def test_fit_exponential_recovers_tau() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0, 2000, 10.0)
    tau = 300.0
    y = 0.25 + 0.6 * np.exp(-t / tau) + 0.005 * rng.normal(size=t.size)
    fit = fit_exponential(t, y)
    assert isinstance(fit, ExponentialFit)
    assert fit.ok and fit.reason == ""
    assert fit.tau == pytest.approx(tau, rel=0.05)
    assert fit.rate == pytest.approx(1 / fit.tau)
    assert fit.amplitude == pytest.approx(0.6, rel=0.05)
    assert fit.offset == pytest.approx(0.25, abs=0.01)
    assert log10_rate(fit) == pytest.approx(np.log10(1 / fit.tau))
    # a later time window: same tau, amplitude referred to t = 0
    late = fit_exponential(t + 1000, y)
    assert late.ok and late.tau == pytest.approx(fit.tau, rel=1e-4)
    assert late.amplitude == pytest.approx(fit.amplitude * np.exp(1000 / fit.tau), rel=1e-3)


@pytest.mark.parametrize(
    ("y", "words"),
    [
        (np.full(50, 0.4), "flat"),
        (1 - np.exp(-np.arange(50) / 10), "does not decay"),
        (np.exp(-np.arange(3.0)), "too short"),
        (np.full(50, np.nan), "too short"),
    ],
)
def test_fit_exponential_fails_with_reason(y: np.ndarray, words: str) -> None:
    fit = fit_exponential(np.arange(y.size, dtype=float), y)
    assert not fit.ok
    assert np.isnan(fit.tau) and np.isnan(fit.rate)
    assert words in fit.reason
    assert np.isnan(log10_rate(fit))


def test_fit_exponential_never_raises_on_bad_input() -> None:
    assert not fit_exponential(np.arange(5.0), np.arange(4.0)).ok
    linear = fit_exponential(np.arange(100.0), 1 - 1e-4 * np.arange(100.0))
    assert not linear.ok and "not resolved" in linear.reason


def test_decoder_on_the_corridor_trajectory() -> None:
    """On the real 150-sample corridor trajectory (which two plain halves would not
    cover alike) a smooth place code (Gaussian fields, sd 0.5) decodes to within two
    bin widths, and position-free activity stays near chance (> a fifth of the range)."""
    import jax

    from driftlab.tasks import corridor_task

    for seed in range(3):
        d = corridor_task(jax.random.key(seed))
        assert d.positions is not None
        pos = signed_position(d.positions[:, 1])
        span = pos.max() - pos.min()
        centres = np.linspace(pos.min(), pos.max(), 60)
        code = np.exp(-((pos[:, None] - centres[None]) ** 2) / (2 * 0.5**2))
        assert decoding_error(code, pos) < 2 * span / 100
        noise_code = np.random.default_rng(seed).random((150, 50))
        assert decoding_error(noise_code, pos) > span / 5
