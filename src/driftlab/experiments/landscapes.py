"""The two-dimensional landscapes: Figure 4A's valley and the ``(x y)^2`` drift against theory.

``run_xy_drift``
    Noisy GD (eq. 3) on ``L = (x y)^2`` from ``(x0, 0)`` for many trajectories,
    and on the control ``L = x0^2 y^2`` (the same curvature at the start, but
    independent of ``x``) with the same noise (common random numbers): the mean
    ``x`` of the first moves toward 0 as ``dx/dt = -s^2 / (2 x (1 - lr x^2))``
    (Methods eq. 8; :func:`driftlab.landscapes.xy_drift_theory`), the control's
    does not move. Stores ``xy_drift.npz`` and draws ``xy_drift.png``/``.pdf``.
``valley_trajectory`` / ``run_valley``
    Figure 4A: noisy GD on :func:`driftlab.landscapes.valley` from a random start
    up its wall; the runs converge to the floor, then wander, biased toward the
    flat side, while noise-free GD from the same start stops. ``run_valley``
    stores ``valley.npz`` and draws ``valley.png``/``.pdf``.

The defaults run in seconds on one CPU core. Ratzon, Derdikman & Barak (2023),
Figure 4A and Methods eq. 7-10.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from driftlab.landscapes import (
    VALLEY_STEEPEST,
    VALLEY_WIDTH,
    FlatFloor,
    Valley,
    control_theory,
    floor_variance,
    noisy_gd,
    xy_drift_theory,
    xy_squared,
)
from driftlab.storage import write_npz

XY_DRIFT_STEM = "xy_drift"
VALLEY_STEM = "valley"


def _summary(
    theta: np.ndarray, curvature: np.ndarray, *, lr: float, sd: float
) -> dict[str, np.ndarray]:
    """Mean and standard error of ``x`` per record; ``Var y`` against ``x``, binned.

    ``theta``: (r, n, 2); ``curvature``: (r, n) the half-curvature ``c`` across the
    floor at each run's ``x`` (``x^2`` for ``(x y)^2``). The records of the second
    half (where the runs' ``x`` have spread) are pooled and binned by ``x`` (25
    bins over its 1-99% range): per bin the mean ``x``, the mean ``y^2`` (the floor
    is ``y = 0``) with its standard error, and the theory
    :func:`~driftlab.landscapes.floor_variance` at the bin's mean ``c``.
    """
    x = theta[..., 0].astype(np.float64)  # (r, n)
    y = theta[..., 1].astype(np.float64)
    n = x.shape[1]
    late = slice(x.shape[0] // 2, None)
    px, py2, pc = x[late].ravel(), y[late].ravel() ** 2, curvature[late].ravel()
    low, high = np.quantile(px, [0.01, 0.99])
    edges = np.linspace(float(low), float(high), 26)
    which = np.digitize(px, edges) - 1  # bin index; -1 and 25 fall outside
    rows = []
    for b in range(len(edges) - 1):
        inside = which == b
        count = int(np.count_nonzero(inside))
        if count < 2:
            continue
        rows.append(
            (
                px[inside].mean(),
                py2[inside].mean(),
                py2[inside].std(ddof=1) / np.sqrt(count),
                float(floor_variance(pc[inside].mean(), lr=lr, sd=sd)),
            )
        )
    table = np.asarray(rows, np.float64).reshape(-1, 4)
    return {
        "x_mean": x.mean(axis=1),
        "x_se": x.std(axis=1, ddof=1) / np.sqrt(n),
        "bin_x": table[:, 0],
        "bin_y_var": table[:, 1],
        "bin_y_var_se": table[:, 2],
        "bin_y_var_theory": table[:, 3],
    }


def simulate_xy_drift(
    *,
    n_trajectories: int = 20_000,
    steps: int = 4_000,
    x0: float = 1.0,
    lr: float = 0.1,
    sd: float = 0.005,
    record_every: int = 40,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate ``(x y)^2`` and its control from ``(x0, 0)``; return the stored arrays.

    Keys: ``step`` (r,); for ``name`` in ``xy``, ``control``: ``{name}_x_mean``,
    ``{name}_x_se`` (standard error of the mean: sd across runs / sqrt(n)) and
    ``{name}_x_theory``, all (r,); ``{name}_bin_x``, ``{name}_bin_y_var``,
    ``{name}_bin_y_var_se``, ``{name}_bin_y_var_theory`` (b,): ``Var y`` against
    ``x`` over the second half of the run (:func:`_summary`); and the 0-d
    ``x0``, ``lr``, ``sd``, ``n_trajectories``, ``seed``. ``sd`` is the
    parameter-noise sd ``s`` (eq. 3). Both losses get the same noise.
    """
    noise_key = jax.random.fold_in(jax.random.key(seed), 0)
    start = np.tile(np.asarray([x0, 0.0], np.float32), (n_trajectories, 1))
    control = FlatFloor(curvature=x0**2)
    run = functools.partial(
        noisy_gd, lr=lr, sd=sd, steps=steps, key=noise_key, record_every=record_every
    )
    xy = run(xy_squared, start)
    ctl = run(control, start)
    x_xy = xy.theta[..., 0].astype(np.float64)
    out: dict[str, np.ndarray] = {"step": xy.step}
    for name, theta, curvature in (
        ("xy", xy.theta, x_xy**2),
        ("control", ctl.theta, np.full_like(x_xy, x0**2)),
    ):
        for key, value in _summary(theta, curvature, lr=lr, sd=sd).items():
            out[f"{name}_{key}"] = value
    out["xy_x_theory"] = xy_drift_theory(x0, lr=lr, sd=sd, steps=xy.step)
    out["control_x_theory"] = control_theory(x0, steps=xy.step)
    scalars = {"x0": x0, "lr": lr, "sd": sd, "n_trajectories": n_trajectories, "seed": seed}
    out.update({k: np.asarray(v) for k, v in scalars.items()})
    return out


def run_xy_drift(
    out_dir: str | Path,
    *,
    n_trajectories: int = 20_000,
    steps: int = 4_000,
    x0: float = 1.0,
    lr: float = 0.1,
    sd: float = 0.005,
    record_every: int = 40,
    seed: int = 0,
) -> list[Path]:
    """Simulate (:func:`simulate_xy_drift`), store ``out_dir/xy_drift.npz``, draw the figure.

    Returns the figure's paths (``xy_drift.png``, ``xy_drift.pdf``). With the
    defaults (2 x 20,000 trajectories of 4,000 steps) it takes a few seconds on
    one CPU core; the theory then lies within about one standard error of the
    simulated mean (the mean moves by about 0.056, 25 standard errors).
    """
    from driftlab.plots.landscapes import write_xy_drift

    out = Path(out_dir)
    arrays = simulate_xy_drift(
        n_trajectories=n_trajectories,
        steps=steps,
        x0=x0,
        lr=lr,
        sd=sd,
        record_every=record_every,
        seed=seed,
    )
    write_npz(out / f"{XY_DRIFT_STEM}.npz", arrays)
    return write_xy_drift(out, stem=XY_DRIFT_STEM)


def valley_trajectory(
    *,
    n_trajectories: int = 100,
    steps: int = 10_000,
    lr: float = 0.1,
    sd: float = 0.02,
    record_every: int = 10,
    width: float = VALLEY_WIDTH,
    steepest: float = VALLEY_STEEPEST,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Noisy GD on the valley from one random start: Figure 4A's arrays.

    The start is drawn from ``seed``: ``x`` uniform on [-0.5, 1], ``y`` uniform
    on [0.6, 1.2] up the wall, with a random sign. Keys: ``theta`` (r, n, 2) the
    ``n_trajectories`` noisy runs (independent noise, one start), ``noise_free``
    (r, 2) GD without noise from the same start, ``step`` (r,), and the 0-d
    ``lr``, ``sd``, ``width``, ``steepest``, ``seed``. Draw them with
    :func:`driftlab.plots.landscapes.draw_valley`.
    """
    start_key, noise_key = jax.random.split(jax.random.key(seed))
    u = np.asarray(jax.random.uniform(start_key, (3,)), np.float64)
    start = np.asarray(
        [-0.5 + 1.5 * u[0], (0.6 + 0.6 * u[1]) * (1.0 if u[2] < 0.5 else -1.0)], np.float32
    )
    loss = Valley(width=width, steepest=steepest)
    run = functools.partial(noisy_gd, loss, lr=lr, steps=steps, record_every=record_every)
    noisy = run(np.tile(start, (n_trajectories, 1)), sd=sd, key=noise_key)
    clean = run(start[None], sd=0.0, key=noise_key)
    scalars = {"lr": lr, "sd": sd, "width": width, "steepest": steepest, "seed": seed}
    return {
        "step": noisy.step,
        "theta": noisy.theta,
        "noise_free": clean.theta[:, 0, :],
        **{k: np.asarray(v) for k, v in scalars.items()},
    }


def run_valley(
    out_dir: str | Path,
    *,
    n_trajectories: int = 100,
    steps: int = 10_000,
    lr: float = 0.1,
    sd: float = 0.02,
    seed: int = 0,
) -> list[Path]:
    """Simulate (:func:`valley_trajectory`), store ``out_dir/valley.npz``, draw Figure 4A.

    Returns the figure's paths (``valley.png``, ``valley.pdf``); a few seconds
    on one CPU core with the defaults. Figure 4's panel A can then be drawn from
    the folder with :func:`driftlab.plots.landscapes.draw_stored_valley`.
    """
    from driftlab.plots.landscapes import write_valley

    out = Path(out_dir)
    arrays = valley_trajectory(n_trajectories=n_trajectories, steps=steps, lr=lr, sd=sd, seed=seed)
    write_npz(out / f"{VALLEY_STEM}.npz", arrays)
    return write_valley(out, stem=VALLEY_STEM)
