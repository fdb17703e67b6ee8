"""Inputs of the two Hebbian/anti-Hebbian models of Qin et al. (2023).

Ring model (Qin et al. 2023, Fig. 4): ``T`` points evenly spaced on a circle of
radius ``r``::

    x_t = r (cos theta_t, sin theta_t),   theta_t = 2 pi t / T,   t = 0 .. T-1.

1-D place-cell model (Qin et al. 2023, Fig. 5): ``P`` positions on a linear track
p = 1/P, 2/P, ..., 1 read by grid cells, each a 1-D slice of a 2-D hexagonal grid
field. The track is laid along the direction (1, tan phi) of the plane (slice
angle phi, the authors' ``ori``), so position p sits at r = p (1, tan phi). A grid
cell of spacing lambda, orientation theta and spatial phase r0 fires::

    g(r) = 2/3 (1/2 + 1/3 sum_{k=1..3} cos(4 pi / (sqrt(3) lambda) u_k . (r - r0))),
    u_k = (cos(2 pi k / 3 + theta), sin(2 pi k / 3 + theta)),

which lies in [0, 1]. The population is the product of ``n_scales`` spacings
lambda_i = lambda_0 s^i (lambda_0 = 0.2, s = 1.42), ``n_orientations``
orientations theta_j = j pi / (3 n_orientations) and a ``phases_x`` x
``phases_y`` lattice of phases r0 = (k / phases_x, l / phases_y) lambda_i, in
that nesting order: 5 x 6 x 3 x 3 = 270 grid cells by default, the authors'
``slice2Dgrid``. The input of position p is the vector of the 270 rates there.
"""

from __future__ import annotations

import numpy as np


def ring_inputs(n_inputs: int, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (T, 2) on the circle and their angles theta (T,) in [0, 2 pi)."""
    theta = 2 * np.pi * np.arange(n_inputs) / n_inputs
    x = radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return x, theta


def grid_field(r: np.ndarray, spacing: float, orientation: float, phase: np.ndarray) -> np.ndarray:
    """Rate of one hexagonal grid cell at points ``r`` (..., 2): values in [0, 1]."""
    angles = 2 * np.pi * np.arange(1, 4) / 3 + orientation
    u = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (3, 2)
    k = 4 * np.pi / (np.sqrt(3) * spacing)
    waves = np.cos(k * (r - phase) @ u.T)  # (..., 3)
    return np.asarray(2 / 3 * (waves.mean(axis=-1) + 0.5))


def place_inputs(
    n_positions: int = 200,
    *,
    n_scales: int = 5,
    n_orientations: int = 6,
    phases_x: int = 3,
    phases_y: int = 3,
    base_spacing: float = 0.2,
    scale_factor: float = 1.42,
    slice_angle: float = np.pi / 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid-cell inputs of the 1-D track: (P, n_grid) rates and the positions (P,) in (0, 1]."""
    position = np.arange(1, n_positions + 1) / n_positions
    r = position[:, None] * np.array([1.0, np.tan(slice_angle)])  # (P, 2)
    columns = []
    for i in range(n_scales):
        spacing = base_spacing * scale_factor**i
        for j in range(n_orientations):
            orientation = j * np.pi / (3 * n_orientations)
            for k in range(phases_x):
                for m in range(phases_y):
                    phase = np.array([k / phases_x, m / phases_y]) * spacing
                    columns.append(grid_field(r, spacing, orientation, phase))
    return np.stack(columns, axis=1), position
