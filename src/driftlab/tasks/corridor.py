"""The corridor predictive-coding task of Figure 2 (Methods, "Predictive coding task").

An agent runs back and forth along a corridor, seeing the textured walls through
a fan of ``L_vis`` rays; the network receives the current view plus one
"velocity" entry and must predict the next view (Recanatesi et al. 2021, as used
by Ratzon, Derdikman & Barak 2023, Fig. 2A).

Geometry (docs/conventions.md, "The corridor task"):

* walls at x = +-L_x/2 and y = +-L_y/2;
* reachable area |x| <= L_x/2 - buffer_x L_x and |y| <= L_y/2 - buffer_y L_y
  (Figure 2: x stays 0 and y runs over [-5.6, 5.6]);
* heading 0 points to +y; each step the agent moves by V0 + N(0, speed_sd)
  along its heading, the heading takes a random-walk step N(0, sigma_theta)
  (the authors' 2 pi N(0, pi 0.1 / 360), sigma_theta = 2 pi^2 0.1 / 360 rad),
  the position is clamped to the reachable area, and at the top limit the
  heading becomes pi, at the bottom 0;
* the wall texture is white noise of n_tiles = 2 (L_x + L_y) L_vis samples,
  smoothed periodically by a Gaussian of sd K_smooth n_tiles samples, laid
  around the perimeter; each ray reads it, linearly interpolated, where it hits.

Texture mappings (``texture_mapping``):

``"perimeter"`` (default)
    a hit point at arc length s along the perimeter (clockwise from the
    corner (-L_x/2, +L_y/2): top, right, bottom, left wall) reads the texture
    at s / perimeter, periodically: every wall point has its own texture.
``"legacy"``
    the authors' mapping, wall index / 4 + offset along the wall / perimeter,
    read with clamping at the texture's end. Right only for a square arena: in
    the 1 x 14 corridor the long walls overlap the next wall's texture and part
    of the left wall reads one clamped constant. Offered to reproduce their data.

Velocity input (``velocity_input``):

``"heading_change"`` (default)
    the change of the heading over the coming step, as a wrapped angle
    difference: ~0 while running (the heading's small random walk) and
    ~+pi at a turn-around at the top end, ~-pi at the bottom end, nothing
    else. A half-turn is +pi or -pi alike, so the turn-arounds take the sign
    of the authors' data (top +pi, bottom -pi) whatever the small heading
    deviation before them; with ``sigma_theta = 0`` (headings exactly 0 or pi,
    as in the authors' stored Figure 2 data) all three heading forms agree.
``"heading_change_wrapped"``
    the plain wrapped difference in (-pi, pi]: the same, except that a
    turn-around's sign follows the side of 0 (or pi) the heading was on just
    before it, so under heading noise it is +pi or -pi at random.
``"heading_change_mod2pi"`` (legacy, driftlab < 0.2)
    the difference of the heading kept in [0, 2 pi), as the authors' code
    computes it: besides the turn-arounds it jumps by ~+-2 pi whenever the
    heading of a run "up" random-walks across 0 (3-16 times in 150 steps for
    seeds 0-20), which injects a direction-dependent signal and, through the
    min-max scaling, squeezes the real turn-arounds to 0.25 / 0.75.
``"speed"``
    the length of the coming step.

Scaling (``scale="minmax"``): the visual values (all rays, all times) are
min-max scaled to [0, 1] together, and the velocity entry on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np
from scipy.ndimage import gaussian_filter1d

from driftlab import draws
from driftlab.tasks.base import TaskData

TEXTURE_MAPPINGS: tuple[str, ...] = ("perimeter", "legacy")
VELOCITY_INPUTS: tuple[str, ...] = (
    "heading_change",
    "heading_change_wrapped",
    "heading_change_mod2pi",
    "speed",
)
SCALINGS: tuple[str, ...] = ("minmax", "none")


@dataclass(frozen=True)
class CorridorParams:
    """Parameters of the corridor task, with the Figure 2 values as defaults.

    Each field's ``metadata`` holds its allowed values (``min``, ``max``, ``strict``,
    ``strict_max``, ``choices``), which the config (driftlab.config) checks. Every
    number has both bounds, generous: lengths and speeds up to 1,000 (Figure 2: a
    1 x 14 corridor), up to 1,000 rays, 10^6 samples, a heading sd up to 100 rad, a
    texture smoothing sd up to the whole perimeter (K_smooth <= 1; beyond it the
    texture is flat)."""

    L_x: float = field(default=1.0, metadata={"min": 0.0, "strict": True, "max": 1000.0})
    L_y: float = field(default=14.0, metadata={"min": 0.0, "strict": True, "max": 1000.0})
    L_vis: int = field(default=17, metadata={"min": 2, "max": 1000})
    theta_vis: float = field(
        default=float(np.pi / 8), metadata={"min": 0.0, "strict": True, "max": float(np.pi / 2)}
    )
    V0: float = field(default=0.2, metadata={"min": 0.0, "strict": True, "max": 1000.0})
    speed_sd: float = field(default=0.1, metadata={"min": 0.0, "max": 1000.0})
    sigma_theta: float = field(
        default=float(2 * np.pi * np.pi * 0.1 / 360), metadata={"min": 0.0, "max": 100.0}
    )
    K_smooth: float = field(default=0.09, metadata={"min": 0.0, "strict": True, "max": 1.0})
    buffer_x: float = field(default=0.5, metadata={"min": 0.0, "max": 0.5})
    buffer_y: float = field(default=0.1, metadata={"min": 0.0, "max": 0.5, "strict_max": True})
    n_samples: int = field(default=150, metadata={"min": 2, "max": 1_000_000})
    texture_mapping: str = field(default="perimeter", metadata={"choices": TEXTURE_MAPPINGS})
    velocity_input: str = field(default="heading_change", metadata={"choices": VELOCITY_INPUTS})
    scale: str = field(default="minmax", metadata={"choices": SCALINGS})

    @property
    def n_tiles(self) -> int:
        """Number of texture samples around the perimeter: 2 (L_x + L_y) L_vis."""
        return round(2 * (self.L_x + self.L_y) * self.L_vis)

    @property
    def d_in(self) -> int:
        return self.L_vis + 1

    @property
    def d_out(self) -> int:
        return self.L_vis


def wall_texture(white: np.ndarray, K_smooth: float) -> np.ndarray:
    """Periodic Gaussian smoothing of white noise, sd = K_smooth * len(white) samples."""
    return np.asarray(gaussian_filter1d(white, K_smooth * white.size, mode="wrap"))


def trajectory(
    p: CorridorParams, speed_noise: np.ndarray, heading_noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T+1, 2) and headings (T+1,) from the standard-normal draws of T steps."""
    x_max = p.L_x / 2 - p.buffer_x * p.L_x
    y_max = p.L_y / 2 - p.buffer_y * p.L_y
    steps = speed_noise.size
    pos = np.zeros((steps + 1, 2))
    heading = np.zeros(steps + 1)
    x, y, h = 0.0, 0.0, 0.0
    for t in range(steps):
        speed = p.V0 + p.speed_sd * speed_noise[t]
        x = min(max(x + speed * np.sin(h), -x_max), x_max)
        y = min(max(y + speed * np.cos(h), -y_max), y_max)
        h = h + p.sigma_theta * heading_noise[t]
        if y >= y_max:
            h = np.pi
        elif y <= -y_max:
            h = 0.0
        pos[t + 1] = x, y
        heading[t + 1] = h
    return pos, heading


def cast_rays(p: CorridorParams, pos: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Texture coordinate in [0, 1) (legacy: may exceed 1) of each ray's hit: (T, L_vis).

    Ray j of time t leaves pos[t] at angle heading[t] + linspace(-theta_vis, theta_vis)[j]
    (angle 0 = +y, direction (sin a, cos a)) and stops at the first wall it meets.
    """
    angles = heading[:, None] + np.linspace(-p.theta_vis, p.theta_vis, p.L_vis)[None, :]
    dx, dy = np.sin(angles), np.cos(angles)
    x0, y0 = pos[:, 0:1], pos[:, 1:2]
    hx, hy = p.L_x / 2, p.L_y / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t_x = np.where(dx > 0, (hx - x0) / dx, np.where(dx < 0, (-hx - x0) / dx, np.inf))
        t_y = np.where(dy > 0, (hy - y0) / dy, np.where(dy < 0, (-hy - y0) / dy, np.inf))
    hits_side = t_x < t_y
    dist = np.minimum(t_x, t_y)
    xh = np.clip(x0 + dist * dx, -hx, hx)
    yh = np.clip(y0 + dist * dy, -hy, hy)
    # walls clockwise from the corner (-L_x/2, +L_y/2): 0 top, 1 right, 2 bottom, 3 left
    wall = np.where(hits_side, np.where(dx > 0, 1, 3), np.where(dy > 0, 0, 2))
    offset = np.choose(wall, [xh + hx, hy - yh, hx - xh, yh + hy])
    perimeter = 2 * (p.L_x + p.L_y)
    if p.texture_mapping == "legacy":
        return np.asarray(wall / 4 + offset / perimeter)
    wall_start = np.array([0.0, p.L_x, p.L_x + p.L_y, 2 * p.L_x + p.L_y])
    return np.asarray(np.mod((wall_start[wall] + offset) / perimeter, 1.0))


def read_texture(texture: np.ndarray, coord: np.ndarray, *, periodic: bool) -> np.ndarray:
    """Linear interpolation of the texture at coordinates in units of the whole texture."""
    n = texture.size
    if not periodic:  # the authors' read: periodic inside [0, 1], clamped beyond
        grid = np.arange(-1, n + 1)
        padded = np.concatenate([texture[-1:], texture, texture[:1]])
        return np.asarray(np.interp(coord * n, grid, padded))
    idx = coord * n
    i0 = np.floor(idx).astype(np.int64)
    frac = idx - i0
    return np.asarray(texture[i0 % n] * (1 - frac) + texture[(i0 + 1) % n] * frac)


def wrapped_angle(a: np.ndarray) -> np.ndarray:
    """An angle in (-pi, pi]: ``pi - mod(pi - a, 2 pi)``."""
    return np.asarray(np.pi - np.mod(np.pi - a, 2 * np.pi))


def velocity_input(kind: str, pos: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """The "velocity" entry of each of the T steps, from positions (T+1, 2) and headings (T+1,).

    With ``d_t = heading[t+1] - heading[t]``:

    * ``heading_change``: ``wrap(d_t - s_t pi) + s_t pi``, where ``s_t`` is +1 at a
      turn-around at the top end (the agent runs down after it), -1 at the bottom
      end, 0 elsewhere; ``wrap`` maps to (-pi, pi];
    * ``heading_change_wrapped``: ``wrap(d_t)``;
    * ``heading_change_mod2pi``: ``mod(heading[t+1], 2 pi) - mod(heading[t], 2 pi)``
      (the authors' form, with +-2 pi jumps when the heading crosses 0);
    * ``speed``: ``|pos[t+1] - pos[t]|``.

    >>> h = np.array([0.0, 0.01, -0.01, np.pi, np.pi - 0.01, 0.0])
    >>> np.round(velocity_input("heading_change", np.zeros((6, 2)), h), 2).tolist()
    [0.01, -0.02, 3.15, -0.01, -3.13]
    >>> np.round(velocity_input("heading_change_mod2pi", np.zeros((6, 2)), h), 2).tolist()
    [0.01, 6.26, -3.13, -0.01, -3.13]
    """
    d = np.diff(heading)
    if kind == "heading_change":
        turn = np.abs(wrapped_angle(d)) > np.pi / 2
        down_after = np.cos(heading[1:]) < 0
        s = np.where(turn, np.where(down_after, 1.0, -1.0), 0.0)
        return np.asarray(wrapped_angle(d - s * np.pi) + s * np.pi)
    if kind == "heading_change_wrapped":
        return wrapped_angle(d)
    if kind == "heading_change_mod2pi":
        return np.asarray(np.diff(np.mod(heading, 2 * np.pi)))
    if kind == "speed":
        return np.asarray(np.linalg.norm(np.diff(pos, axis=0), axis=1))
    raise ValueError(f"velocity_input {kind!r}: allowed: {', '.join(VELOCITY_INPUTS)}")


def _minmax(a: np.ndarray) -> np.ndarray:
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def corridor_task(key: jax.Array, p: CorridorParams | None = None) -> TaskData:
    """One trajectory of the corridor task: inputs (T, L_vis+1), targets (T, L_vis).

    Sample t has input [view_t, velocity_t] and target view_{t+1}; ``positions``
    (T, 2) and ``headings`` (T,) are those at which view_t was seen. All random
    numbers come from ``key`` (texture, speed and heading noise from split keys).
    """
    p = p or CorridorParams()
    key_tex, key_speed, key_heading = jax.random.split(key, 3)
    steps = p.n_samples
    # drawn in float32 whatever JAX's precision mode, so the data never depend on it
    white = np.asarray(draws.normal(key_tex, (p.n_tiles,)), np.float64)
    speed_noise = np.asarray(draws.normal(key_speed, (steps,)), np.float64)
    heading_noise = np.asarray(draws.normal(key_heading, (steps,)), np.float64)

    texture = wall_texture(white, p.K_smooth)
    pos, heading = trajectory(p, speed_noise, heading_noise)
    coord = cast_rays(p, pos, heading)
    view = read_texture(texture, coord, periodic=p.texture_mapping == "perimeter")
    velocity = velocity_input(p.velocity_input, pos, heading)
    if p.scale == "minmax":
        view, velocity = _minmax(view), _minmax(velocity)
    inputs = np.concatenate([view[:steps], velocity[:, None]], axis=1)
    return TaskData(
        inputs=inputs, targets=view[1:], positions=pos[:steps], headings=heading[:steps]
    )
