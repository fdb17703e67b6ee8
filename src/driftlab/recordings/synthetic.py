"""Synthetic recordings with a known answer: place cells with known fields that drift.

An animal runs back and forth on a linear track of ``length`` (cm) at ``speed`` (cm/s,
jittered), pausing ``pause`` seconds at each end; ``n_cells`` cells are recorded at
``fps`` frames per second for ``duration`` seconds a session, over ``n_sessions``
sessions ``spacing`` days apart. Activity is Poisson event counts per frame:

    rate_c(x) = base_c + peak * exp(-(x - centre_c)^2 / (2 width^2))   (place cells, moving)
    rate_c    = base_c                                                 (otherwise)

with ``base_c`` drawn log-uniformly in [0.2, 2] events/s. A fraction
``place_fraction`` of the cells has a field in the first session; before each later
session each field moves to a new uniformly drawn centre with probability
``remap`` (drift by remapping) and vanishes with probability ``vanish``; the field
width may change linearly from ``width[0]`` to ``width[1]`` over the sessions
(narrower fields: more spatial information). :class:`Truth` records it all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftlab.metrics.sessions import Session


@dataclass(frozen=True)
class Truth:
    """What generated the recording: ``place`` (sessions, cells) bool, ``centres``
    (sessions, cells) in cm (NaN without a field), ``widths`` (sessions,) cm,
    ``stable`` (sessions, cells) bool: the field is the one of the first session."""

    place: np.ndarray
    centres: np.ndarray
    widths: np.ndarray
    stable: np.ndarray


def trajectory(
    duration: float, fps: float, length: float, speed: float, pause: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(time (T,), position (T,)): laps end to end at a jittered speed, pausing at the ends."""
    dt = 1.0 / fps
    n = round(duration * fps)
    pos = np.empty(n)
    x, direction, wait = 0.0, 1.0, 0.0
    v = speed
    for t in range(n):
        if wait > 0:
            wait -= dt
        else:
            x += direction * v * dt
            if not 0.0 <= x <= length:
                x = min(max(x, 0.0), length)
                direction, wait = -direction, pause
                v = speed * rng.uniform(0.7, 1.3)
        pos[t] = x
    return np.arange(n) * dt, pos


def synthetic_sessions(
    *,
    n_sessions: int = 5,
    n_cells: int = 200,
    place_fraction: float = 0.5,
    remap: float = 0.2,
    vanish: float = 0.0,
    width: tuple[float, float] = (8.0, 8.0),
    peak: float = 8.0,
    length: float = 100.0,
    speed: float = 20.0,
    pause: float = 2.0,
    duration: float = 300.0,
    fps: float = 20.0,
    spacing: float = 2.0,
    seed: int = 0,
) -> tuple[list[Session], Truth]:
    """Sessions of the same cells (ids 0..n_cells-1, every cell in every session) and
    their :class:`Truth` (see module docstring)."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(np.log(0.2), np.log(2.0), n_cells))
    place = np.zeros((n_sessions, n_cells), dtype=bool)
    centres = np.full((n_sessions, n_cells), np.nan)
    stable = np.zeros((n_sessions, n_cells), dtype=bool)
    place[0] = rng.random(n_cells) < place_fraction
    centres[0, place[0]] = rng.uniform(0.0, length, place[0].sum())
    stable[0] = place[0]
    for s in range(1, n_sessions):
        moved = rng.random(n_cells) < remap
        gone = rng.random(n_cells) < vanish
        place[s] = place[s - 1] & ~gone
        centres[s] = np.where(moved, rng.uniform(0.0, length, n_cells), centres[s - 1])
        centres[s, ~place[s]] = np.nan
        stable[s] = stable[s - 1] & place[s] & ~moved
    widths = np.linspace(width[0], width[1], n_sessions)
    sessions = []
    for s in range(n_sessions):
        time, pos = trajectory(duration, fps, length, speed, pause, rng)
        moving = np.abs(np.gradient(pos, time)) > 0
        field = np.exp(-((pos[:, None] - centres[s][None, :]) ** 2) / (2 * widths[s] ** 2))
        field = np.where(place[s][None, :] & moving[:, None], np.nan_to_num(field), 0.0)
        rate = base[None, :] + peak * field  # (T, cells), events per second
        counts = rng.poisson(rate / fps).astype(np.float64)
        sessions.append(
            Session(
                activity=counts,
                position=pos,
                time=time,
                cells=np.arange(n_cells),
                day=s * spacing,
                name=f"session {s + 1}",
            )
        )
    return sessions, Truth(place=place, centres=centres, widths=widths, stable=stable)
