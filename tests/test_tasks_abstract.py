"""The abstract tasks (Table 1 "task") against REFERENCE.md's conventions."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from driftlab.tasks.abstract import (
    ABSTRACT_KINDS,
    AbstractParams,
    abstract_task,
    read_ring,
    ring_texture,
    uniform,
)

NOISE_SCAN = AbstractParams()  # d_in 20, d_out 5, n 5 (Figure 3B)


def _msd_neighbours(a: np.ndarray) -> float:
    """Mean squared difference between neighbouring samples."""
    return float(np.mean(np.diff(a, axis=0) ** 2))


@pytest.mark.parametrize("kind", ABSTRACT_KINDS)
def test_shapes_and_ranges(kind: str) -> None:
    p = AbstractParams(kind=kind, d_in=7, d_out=3, n_samples=11)
    d = abstract_task(jax.random.key(0), p)
    d_out = 3 if kind in ("random", "smoothed") else 7
    assert p.effective_d_in == 7 and p.effective_d_out == d_out
    assert d.inputs.shape == (11, 7) and d.targets.shape == (11, d_out)
    assert d.inputs.dtype == np.float64 and d.targets.dtype == np.float64
    for a in (d.inputs, d.targets):
        assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0
    if kind == "predictive":
        assert d.positions is not None and d.positions.shape == (11, 2)
        assert d.headings is not None and d.headings.shape == (11,)
    else:
        assert d.positions is None and d.headings is None


def test_default_is_random_with_noise_scan_shapes() -> None:
    d = abstract_task(jax.random.key(0))
    assert NOISE_SCAN.kind == "random"
    assert d.inputs.shape == (5, 20) and d.targets.shape == (5, 5)


@pytest.mark.parametrize("kind", ["random", "smoothed"])
def test_autoencoder_target_is_input_and_shares_inputs(kind: str) -> None:
    p = AbstractParams(kind=f"{kind}_autoencoder", d_in=6, d_out=4, n_samples=9)
    d = abstract_task(jax.random.key(1), p)
    np.testing.assert_array_equal(d.targets, d.inputs)
    assert d.targets is not d.inputs
    plain = abstract_task(jax.random.key(1), dataclasses.replace(p, kind=kind))
    np.testing.assert_array_equal(d.inputs, plain.inputs)


def test_predictive_target_is_next_view_and_positions_on_ring() -> None:
    p = AbstractParams(kind="predictive", d_in=8, d_out=3, n_samples=40)
    d = abstract_task(jax.random.key(2), p)
    np.testing.assert_array_equal(d.targets[:-1], d.inputs[1:])
    assert d.positions is not None and d.headings is not None
    np.testing.assert_array_equal(d.positions[:, 0], 0.0)
    np.testing.assert_array_equal(d.headings, 0.0)
    s = d.positions[:, 1]
    assert s.min() >= 0.0 and s.max() < p.ring


def test_predictive_view_spans_field_of_view_from_position() -> None:
    p = AbstractParams(kind="predictive", d_in=4, n_samples=6)
    key = jax.random.key(3)
    d = abstract_task(key, p)
    assert d.positions is not None
    texture = ring_texture(uniform(jax.random.split(key)[0], (p.ring,)), p.texture_sd)
    assert texture.min() == 0.0 and texture.max() == 1.0
    # points at s, s + 10, s + 20, s + 30 for a 30-unit field of view and d_in 4
    units = d.positions[:, 1:2] + np.array([0.0, 10.0, 20.0, 30.0])
    np.testing.assert_allclose(d.inputs, read_ring(texture, units), rtol=0, atol=1e-12)


def test_predictive_steps_are_uniform_up_to_step() -> None:
    # small steps (at most 1 * 120 / 200 = 0.6 units), so the ring position unwraps
    p = AbstractParams(kind="predictive", n_samples=200, step_scale=1.0)
    assert p.step == pytest.approx(0.6)
    d = abstract_task(jax.random.key(4), p)
    assert d.positions is not None
    steps = np.mod(np.diff(d.positions[:, 1]), p.ring)
    assert steps.min() >= 0.0 and steps.max() < p.step
    assert abs(steps.mean() - p.step / 2) < 0.1 * p.step  # U[0, 1) * step: mean step / 2


def test_default_step_is_the_authors() -> None:
    p = AbstractParams(kind="predictive")
    assert (p.ring, p.texture_sd, p.field_of_view) == (120, 4.0, 30.0)
    assert p.step == pytest.approx(20 * 120 / 5)


def test_ring_texture_is_periodic() -> None:
    p = AbstractParams()
    texture = ring_texture(uniform(jax.random.key(5), (p.ring,)), p.texture_sd)
    assert texture.shape == (p.ring,)
    at = read_ring(texture, np.array([0.0, float(p.ring), 2.0 * p.ring, -3.5, p.ring - 3.5]))
    assert at[0] == at[1] == at[2] == texture[0]
    assert at[3] == pytest.approx(at[4])
    # interpolation between the last unit and the first wraps around
    assert read_ring(texture, np.array([p.ring - 0.5]))[0] == pytest.approx(
        0.5 * (texture[-1] + texture[0])
    )
    # the smoothing wraps: an impulse at unit 0 spreads equally to both sides
    delta = np.zeros(p.ring)
    delta[0] = 1.0
    spread = ring_texture(delta, p.texture_sd)
    assert spread[3] == pytest.approx(spread[-3])


def test_smoothed_is_smoother_and_less_variable_than_random() -> None:
    key = jax.random.key(6)
    rand = abstract_task(key, NOISE_SCAN)
    smooth = abstract_task(key, dataclasses.replace(NOISE_SCAN, kind="smoothed"))
    for r, s in ((rand.inputs, smooth.inputs), (rand.targets, smooth.targets)):
        # fixed seed: measured factors 61 and 24 (neighbours), 12 and 5.2 (variance)
        assert _msd_neighbours(s) < _msd_neighbours(r) / 10
        assert s.var() < r.var() / 4


def test_same_key_same_data_and_keys_differ() -> None:
    for kind in ABSTRACT_KINDS:
        p = AbstractParams(kind=kind)
        a, b = abstract_task(jax.random.key(7), p), abstract_task(jax.random.key(7), p)
        np.testing.assert_array_equal(a.inputs, b.inputs)
        np.testing.assert_array_equal(a.targets, b.targets)
        c = abstract_task(jax.random.key(8), p)
        assert not np.array_equal(a.inputs, c.inputs)
        assert not np.array_equal(a.targets, c.targets)


def test_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match="unknown abstract task kind 'corridor'"):
        abstract_task(jax.random.key(0), AbstractParams(kind="corridor"))
