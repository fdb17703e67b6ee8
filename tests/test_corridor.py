"""The corridor task against its geometry (closed forms) and the authors' conventions."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from driftlab.tasks import CorridorParams, corridor_task
from driftlab.tasks.corridor import cast_rays, read_texture, trajectory, wall_texture

FIG2 = CorridorParams()


def test_shapes_and_ranges() -> None:
    d = corridor_task(jax.random.key(0))
    assert d.inputs.shape == (150, 18)
    assert d.targets.shape == (150, 17)
    assert d.positions is not None and d.positions.shape == (150, 2)
    assert d.headings is not None and d.headings.shape == (150,)
    # min-max scaling: visual values and velocity each span exactly [0, 1]
    assert d.inputs[:, :17].min() >= 0 and d.inputs[:, :17].max() <= 1
    assert d.inputs[:, 17].min() == 0 and d.inputs[:, 17].max() == 1
    views = np.concatenate([d.inputs[:, :17], d.targets[-1:]])
    assert views.min() == 0 and views.max() == 1
    # the target of sample t is the view of sample t+1
    np.testing.assert_array_equal(d.targets[:-1], d.inputs[1:, :17])


def test_agent_stays_in_reachable_corridor() -> None:
    d = corridor_task(jax.random.key(1))
    assert d.positions is not None
    np.testing.assert_array_equal(d.positions[:, 0], 0.0)  # buffer_x = 0.5 L_x: x stays 0
    y_max = FIG2.L_y / 2 - FIG2.buffer_y * FIG2.L_y
    assert np.isclose(y_max, 5.6)
    assert d.positions[:, 1].min() >= -y_max and d.positions[:, 1].max() <= y_max
    # mean step ~ V0 minus the clamping at the ends (docs/conventions.md: about 0.19)
    step = np.abs(np.diff(d.positions[:, 1])).mean()
    assert 0.17 < step < 0.2


def test_turnarounds_flip_heading_and_show_in_velocity() -> None:
    p = dataclasses.replace(FIG2, scale="none")
    d = corridor_task(jax.random.key(2), p)
    assert d.positions is not None and d.headings is not None
    y_max = FIG2.L_y / 2 - FIG2.buffer_y * FIG2.L_y
    at_limit = np.isclose(np.abs(d.positions[1:, 1]), y_max)
    turns = np.count_nonzero(at_limit[1:] & ~at_limit[:-1]) + int(at_limit[0])
    assert turns >= 2
    # heading change of the heading kept in [0, 2 pi), as the authors' code: ~0 while
    # running, ~pi at a turn-around, ~2 pi when a heading near 0 crosses 0
    v = d.inputs[:, -1]
    big = np.abs(v) > 1.0
    assert np.all(np.abs(v[~big]) < 6 * FIG2.sigma_theta)
    near_pi = np.isclose(np.abs(v[big]), np.pi, atol=0.1)
    near_2pi = np.isclose(np.abs(v[big]), 2 * np.pi, atol=0.1)
    assert np.all(near_pi | near_2pi)
    assert np.count_nonzero(near_pi) == turns  # one jump of pi per arrival at an end


def test_speed_input_is_step_length() -> None:
    p = dataclasses.replace(FIG2, velocity_input="speed", scale="none")
    d = corridor_task(jax.random.key(3), p)
    full = corridor_task(jax.random.key(3), dataclasses.replace(p, n_samples=151))
    assert full.positions is not None
    lengths = np.linalg.norm(np.diff(full.positions, axis=0), axis=1)[:150]
    np.testing.assert_allclose(d.inputs[:, -1], lengths, rtol=1e-12)


def test_central_ray_hits_far_wall_in_the_middle() -> None:
    pos = np.array([[0.0, 0.0]])
    heading = np.array([0.0])
    p = dataclasses.replace(FIG2, L_vis=3)
    coord = cast_rays(p, pos, heading)
    perimeter = 2 * (p.L_x + p.L_y)
    # top wall, clockwise from (-L_x/2, +L_y/2): the middle is at L_x/2 along
    assert np.isclose(coord[0, 1], (p.L_x / 2) / perimeter)
    # a ray at +theta_vis from the origin meets the right wall at y = 0.5 / tan(pi/8)
    y_hit = 0.5 / np.tan(p.theta_vis)
    assert np.isclose(coord[0, 2], (p.L_x + p.L_y / 2 - y_hit) / perimeter)
    # facing down the central ray reads the bottom wall's middle
    down = cast_rays(p, pos, np.array([np.pi]))
    assert np.isclose(down[0, 1], (p.L_x + p.L_y + p.L_x / 2) / perimeter)


def test_mappings_agree_on_a_square_arena() -> None:
    square = dataclasses.replace(FIG2, L_x=6.0, L_y=6.0, buffer_x=0.1)
    a = corridor_task(jax.random.key(4), square)
    b = corridor_task(jax.random.key(4), dataclasses.replace(square, texture_mapping="legacy"))
    np.testing.assert_allclose(a.inputs, b.inputs, atol=1e-9)


def test_legacy_mapping_clamps_about_a_fifth_of_views_in_the_corridor() -> None:
    fractions = []
    for seed in range(4):
        d = corridor_task(jax.random.key(seed), dataclasses.replace(FIG2, texture_mapping="legacy"))
        _, counts = np.unique(d.targets, return_counts=True)
        fractions.append(counts.max() / d.targets.size)
        fixed = corridor_task(jax.random.key(seed))
        _, counts = np.unique(fixed.targets, return_counts=True)
        assert counts.max() / fixed.targets.size < 0.01
    # docs/conventions.md: about 21% of visual values sit at one clamped constant
    assert 0.15 < float(np.mean(fractions)) < 0.28


def test_texture_smoothing_is_periodic_gaussian() -> None:
    n = 510
    delta = np.zeros(n)
    delta[0] = 1.0
    smooth = wall_texture(delta, 0.09)
    sd = 0.09 * n
    offsets = np.minimum(np.arange(n), n - np.arange(n))
    measured = np.sqrt(np.sum(smooth * offsets**2) / np.sum(smooth))
    assert abs(measured - sd) / sd < 0.02
    assert np.isclose(smooth[1], smooth[-1])  # wraps around


def test_read_texture_interpolates_periodically() -> None:
    tex = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        read_texture(tex, np.array([0.125, 0.875, 0.9375]), periodic=True), [0.5, 1.5, 0.75]
    )
    # legacy read clamps beyond 1 to the first sample
    assert read_texture(tex, np.array([1.2]), periodic=False)[0] == 0.0


def test_same_key_same_data_and_keys_differ() -> None:
    a, b = corridor_task(jax.random.key(5)), corridor_task(jax.random.key(5))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    c = corridor_task(jax.random.key(6))
    assert not np.array_equal(a.inputs, c.inputs)


def test_trajectory_reverses_at_limits() -> None:
    steps = 200
    pos, heading = trajectory(FIG2, np.zeros(steps), np.zeros(steps))
    # without noise: 0.2 per step, up to 5.6, then back down
    assert np.isclose(pos[28, 1], 5.6) and heading[28] == pytest.approx(np.pi)
    assert np.isclose(pos[29, 1], 5.4)


# --------------------------------------------------------------------------- velocity input


def _turns(headings: np.ndarray) -> np.ndarray:
    """Steps t whose heading flips direction (cos changes sign) between t and t + 1."""
    c = np.cos(headings)
    return np.flatnonzero(np.sign(c[1:]) != np.sign(c[:-1]))


@pytest.mark.parametrize("seed", range(6))
def test_velocity_input_stays_near_zero_except_at_turn_arounds(seed: int) -> None:
    p = dataclasses.replace(FIG2, scale="none")  # radians, unscaled
    d = corridor_task(jax.random.key(seed), p)
    assert d.headings is not None
    heading, v = d.headings, d.inputs[:, -1]
    turns = _turns(heading)
    assert turns.size >= 1
    others = np.setdiff1d(np.arange(v.size - 1), turns)
    # the heading's random walk: steps of sd sigma_theta; 6 sd bounds every non-turn step
    assert np.all(np.abs(v[others]) < 6 * p.sigma_theta)
    # turn-arounds: +pi at the top end (running down after), -pi at the bottom
    down_after = np.cos(heading[turns + 1]) < 0
    # |v| = pi minus the heading's deviation accumulated over one pass (<= 60 steps of
    # sd sigma_theta: sd 0.04 rad); 0.3 rad is over 6 of those sd
    np.testing.assert_allclose(np.abs(v[turns]), np.pi, atol=0.3)
    assert np.all(np.sign(v[turns]) == np.where(down_after, 1, -1))


def test_the_legacy_velocity_input_jumps_by_two_pi_at_heading_wraps() -> None:
    wraps = []
    for seed in range(6):
        p = dataclasses.replace(FIG2, scale="none", velocity_input="heading_change_mod2pi")
        v = corridor_task(jax.random.key(seed), p).inputs[:, -1]
        wraps.append(int(np.sum(np.abs(np.abs(v) - 2 * np.pi) < 0.5)))
    assert min(wraps) >= 1  # every seed's run "up" crosses heading 0 at least once


def test_without_heading_noise_all_heading_forms_agree_with_the_authors_data() -> None:
    """The authors' stored data: headings exactly 0 or pi, two off-baseline entries."""
    inputs = {}
    for kind in ("heading_change", "heading_change_mod2pi"):
        p = dataclasses.replace(FIG2, sigma_theta=0.0, velocity_input=kind)
        inputs[kind] = corridor_task(jax.random.key(0), p).inputs[:, -1]
    np.testing.assert_array_equal(inputs["heading_change"], inputs["heading_change_mod2pi"])
    values, counts = np.unique(inputs["heading_change"], return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0] and counts.tolist() == [1, 148, 1]
