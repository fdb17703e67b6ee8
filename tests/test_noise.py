"""Statistical properties of the counter-based noise (moments, independence, reproducibility)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from driftlab import noise

N = 1_000_000


def _draws(generator: str, step: int = 3, n: int = N, key: int = 0) -> np.ndarray:
    stream = noise.make_stream(generator, jax.random.key(key))  # type: ignore[arg-type]
    return np.asarray(noise.normal(generator, stream, jnp.int32(step), (n,)), np.float64)  # type: ignore[arg-type]


@pytest.mark.parametrize("generator", noise.GENERATORS)
def test_normal_moments(generator: str) -> None:
    z = _draws(generator)
    se = 1 / np.sqrt(N)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z, fisher=False) - 3) < 5 * np.sqrt(24) * se
    # tails: P(|z| > 3) = 0.0027, binomial sd over N draws
    p3 = 2 * stats.norm.sf(3)
    assert abs(np.mean(np.abs(z) > 3) - p3) < 5 * np.sqrt(p3 / N)


def test_hash_normal_distribution_ks() -> None:
    z = _draws("hash")
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_hash_polynomials_are_accurate() -> None:
    u = jnp.linspace(2.0**-32, 1, 200_001, dtype=jnp.float32)
    err_log = np.max(
        np.abs(np.asarray(noise._log_unit(u), np.float64) - np.log(np.asarray(u, np.float64)))
    )
    assert err_log < 2e-6
    words = jnp.asarray(np.arange(0, 2**32, 40_961, dtype=np.uint64).astype(np.uint32))
    cos, sin = noise._cos_sin_turn(words)
    w = np.asarray(words, np.float64)
    frac = np.floor(w / 64) % 2**24 / 2**24
    angle = np.floor(w / 2**30) * np.pi / 2 + np.pi / 4 + (frac - 0.5) * np.pi / 2
    assert np.max(np.abs(np.asarray(cos) - np.cos(angle))) < 1e-6
    assert np.max(np.abs(np.asarray(sin) - np.sin(angle))) < 1e-6


def test_steps_and_streams_are_independent() -> None:
    a, b, c = _draws("hash", step=5), _draws("hash", step=6), _draws("hash", step=5, key=1)
    bound = 5 / np.sqrt(N)
    assert abs(np.corrcoef(a, b)[0, 1]) < bound
    assert abs(np.corrcoef(a, c)[0, 1]) < bound
    # neighbouring elements within one draw (Box-Muller pairs included)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < bound
    half = N // 2
    assert abs(np.corrcoef(a[:half] ** 2, a[half:] ** 2)[0, 1]) < bound * 3


def test_same_counter_same_numbers() -> None:
    np.testing.assert_array_equal(_draws("hash", step=7, n=1000), _draws("hash", step=7, n=1000))
    # a prefix of a longer draw is not required, but the same size and counter is
    assert not np.array_equal(_draws("hash", step=7, n=1000), _draws("hash", step=8, n=1000))


@pytest.mark.parametrize("generator", noise.GENERATORS)
def test_uniform_moments(generator: str) -> None:
    stream = noise.make_stream(generator, jax.random.key(0))  # type: ignore[arg-type]
    u = np.asarray(noise.uniform(generator, stream, jnp.int32(1), (N,)), np.float64)  # type: ignore[arg-type]
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / N)


def test_no_correlation_across_lanes_or_lags() -> None:
    """A (steps x lanes) block of draws: lag-k autocorrelations and lane-lane
    correlations are those of independent numbers (|r| < 5/sqrt(samples))."""
    stream = noise.make_stream("hash", jax.random.key(3))
    steps, lanes = 2000, 1000
    draw = jax.jit(jax.vmap(lambda t: noise.hash_normal(stream, t, lanes)))
    z = np.asarray(draw(jnp.arange(steps, dtype=jnp.int32)), np.float64)
    for lag in (1, 2, 3, 7, 64):
        r = np.mean(z[lag:] * z[:-lag]) / np.mean(z * z)
        assert abs(r) < 5 / np.sqrt(z[lag:].size)
    corr = np.corrcoef(z[:, :200].T)
    off = corr[~np.eye(200, dtype=bool)]
    # 19,900 pairs: the largest |r| of independent series of 2000 stays below ~5/sqrt(2000)
    assert np.max(np.abs(off)) < 5.5 / np.sqrt(steps)
    # mean pairwise r of n independent series: sd sqrt(2 / steps) / (n - 1)
    assert abs(off.mean()) < 5 * np.sqrt(2 / steps) / 199
    # per-lane means over time behave like means of 2000 independent normals
    lane_means = z.mean(axis=0)
    assert abs(lane_means.var() * steps - 1) < 5 * np.sqrt(2 / lanes)
