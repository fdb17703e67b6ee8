"""Figures of the two-dimensional landscapes (:mod:`driftlab.landscapes`); reads stored arrays.

``draw_valley`` (arrays) / ``draw_stored_valley`` (a folder's ``valley.npz``)
    Figure 4A: the contour map of the valley ``L = c(x) y^2`` (zero on the
    horizontal axis, walls flattening toward the left), one noisy GD trajectory
    coloured by time from its start (red dot) to its end (black star), the ends
    of the other runs from the same start (grey dots) and where noise-free GD
    stops (blue cross).
``write_xy_drift``
    The drift on ``(x y)^2``: (A) the mean ``x(t)`` of many trajectories from
    ``(x0, 0)`` with its standard-error band against the theory (Methods eq. 8,
    :func:`driftlab.landscapes.xy_drift_theory`), and the control ``k y^2``
    (no drift); (B) the variance of ``y`` against its stationary value
    ``s^2 / (4 lr x^2 (1 - lr x^2))``.

Ratzon, Derdikman & Barak (2023), Figure 4A and Methods eq. 7-10.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from driftlab.landscapes import VALLEY_STEEPEST, VALLEY_WIDTH, valley


def _valley_loss(x: np.ndarray, y: np.ndarray, width: float, steepest: float) -> np.ndarray:
    """:func:`driftlab.landscapes.valley` on a grid, for the contour map."""
    import jax.numpy as jnp

    theta = jnp.asarray(np.stack([x, y], axis=-1), jnp.float32)
    return np.asarray(valley(theta, width=width, steepest=steepest), np.float64)


def draw_valley(
    ax: Any,
    theta: ArrayLike,
    *,
    step: ArrayLike | None = None,
    noise_free: ArrayLike | None = None,
    width: float = VALLEY_WIDTH,
    steepest: float = VALLEY_STEEPEST,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    colorbar: bool = True,
) -> None:
    """Draw Figure 4A on ``ax``: the valley's contour map and noisy GD on it.

    ``theta``: (r, 2) one trajectory or (r, n, 2) n runs from one start, recorded
    at r times: the first run is drawn as a path coloured by ``step`` (r,), the
    step counts of the records (default 0..r-1); the others' ends as dots; a
    dashed line marks the mean end ``x`` of all runs. ``noise_free``: (r, 2) or
    (2,) noise-free GD from the same start (its last point is marked).
    ``width``, ``steepest``: the valley's ``w`` and ``c_max``. Limits default to
    the data's extent.
    """
    from matplotlib.collections import LineCollection

    path = np.asarray(theta, np.float64)
    if path.ndim == 2:
        path = path[:, None, :]
    main = path[:, 0, :]  # (r, 2)
    ends = path[-1]  # (n, 2)
    points = path.reshape(-1, 2)
    if xlim is None:
        lo, hi = float(points[:, 0].min()), float(points[:, 0].max())
        pad = 0.1 * (hi - lo) + 0.2
        xlim = (lo - pad, hi + pad)
    if ylim is None:
        top = 1.15 * float(np.max(np.abs(points[:, 1]))) + 0.1
        ylim = (-top, top)
    gx, gy = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 200))
    loss = _valley_loss(gx, gy, width, steepest)
    levels = np.geomspace(1e-3, max(float(loss.max()), 2e-3), 12)
    ax.contourf(gx, gy, np.log10(np.maximum(loss, 1e-4)), levels=30, cmap="Greys", alpha=0.6)
    ax.contour(gx, gy, loss, levels=levels, colors="0.35", linewidths=0.5)
    ax.axhline(0, color="tab:green", lw=0.8, ls=":", zorder=1)

    segments = list(np.stack([main[:-1], main[1:]], axis=1))  # r - 1 of (2, 2)
    lines = LineCollection(segments, cmap="plasma", linewidths=0.8, zorder=3)
    times = np.arange(len(main)) if step is None else np.asarray(step, np.float64)
    lines.set_array(times[1:])
    ax.add_collection(lines)
    if ends.shape[0] > 1:
        ax.plot(
            ends[1:, 0],
            ends[1:, 1],
            ".",
            color="0.2",
            ms=2.5,
            alpha=0.6,
            zorder=2,
            label=f"ends of {ends.shape[0] - 1} other runs",
        )
        ax.axvline(
            float(ends[:, 0].mean()),
            color="0.2",
            ls="--",
            lw=1,
            label=f"mean end x of all {ends.shape[0]} runs",
        )
    ax.plot(*main[0], "o", color="red", ms=7, zorder=4, label="start")
    ax.plot(*main[-1], "*", color="black", ms=11, zorder=4, label="end")
    if noise_free is not None:
        stop = np.asarray(noise_free, np.float64).reshape(-1, 2)[-1]
        ax.plot(*stop, "x", color="tab:blue", ms=9, mew=2, zorder=4, label="noise-free GD stops")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x (along the zero-loss floor)")
    ax.set_ylabel("y")
    ax.text(0.02, 0.96, "flat side", transform=ax.transAxes, va="top", fontsize=9)
    ax.text(0.98, 0.96, "steep side", transform=ax.transAxes, va="top", ha="right", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    if colorbar:
        bar = ax.figure.colorbar(lines, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("step" if step is not None else "record")


def draw_stored_valley(
    ax: Any, folder: str | Path, *, stem: str = "valley", colorbar: bool = True
) -> dict[str, np.ndarray]:
    """Draw the valley stored in ``folder/stem.npz`` on ``ax`` (:func:`draw_valley`).

    The file holds ``theta`` (r, n, 2), ``noise_free`` (r, 2), ``step`` (r,) and
    the 0-d ``lr``, ``sd``, ``width``, ``steepest``
    (:func:`driftlab.experiments.landscapes.valley_trajectory`). Returns its arrays.
    """
    from driftlab.storage import read_npz

    data = read_npz(Path(folder) / f"{stem}.npz")
    draw_valley(
        ax,
        data["theta"],
        step=data["step"],
        noise_free=data["noise_free"],
        width=float(data["width"]),
        steepest=float(data["steepest"]),
        colorbar=colorbar,
    )
    return data


def write_valley(out_dir: str | Path, *, stem: str = "valley") -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` from ``out_dir/stem.npz``; return their paths."""
    import matplotlib.pyplot as plt

    from driftlab.plots.save import save_figure

    out = Path(out_dir)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    data = draw_stored_valley(ax, out, stem=stem)
    ax.set_title(
        f"Noisy GD on a valley that flattens to the left (lr {float(data['lr']):g}, "
        f"noise sd {float(data['sd']):g}, {int(data['step'][-1]):,} steps)",
        fontsize=9,
    )
    paths = save_figure(fig, out, stem)
    plt.close(fig)
    return paths


def write_xy_drift(out_dir: str | Path, *, stem: str = "xy_drift") -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` from ``out_dir/stem.npz``; return their paths.

    The file's arrays are those of :func:`driftlab.experiments.landscapes.simulate_xy_drift`.
    """
    import matplotlib.pyplot as plt

    from driftlab.plots.save import save_figure
    from driftlab.storage import read_npz

    out = Path(out_dir)
    d = read_npz(out / f"{stem}.npz")
    t = d["step"]
    x0, lr, sd, n = float(d["x0"]), float(d["lr"]), float(d["sd"]), int(d["n_trajectories"])
    fig, (ax_x, ax_y) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")

    for name, colour, label in (
        ("xy", "tab:red", "(x y)^2: simulated mean"),
        ("control", "tab:blue", f"control {x0**2:g} y^2: simulated mean"),
    ):
        mean, se = d[f"{name}_x_mean"], d[f"{name}_x_se"]
        ax_x.plot(t, mean, color=colour, lw=1.5, label=label)
        ax_x.fill_between(t, mean - 2 * se, mean + 2 * se, color=colour, alpha=0.25, lw=0)
    ax_x.plot(t, d["xy_x_theory"], "k--", lw=1.2, label="theory: dx/dt = -s^2 / (2x (1 - lr x^2))")
    ax_x.plot(t, d["control_x_theory"], "k:", lw=1.2, label="theory, control: no drift")
    ax_x.set_xlabel("step")
    ax_x.set_ylabel("mean x  (band: 2 standard errors)")
    ax_x.set_title("A  drift along the zero-loss floor", loc="left", fontsize=10)
    ax_x.legend(fontsize=7, loc="lower left")

    for name, colour, label in (("xy", "tab:red", "(x y)^2"), ("control", "tab:blue", "control")):
        bx, var, se = d[f"{name}_bin_x"], d[f"{name}_bin_y_var"], d[f"{name}_bin_y_var_se"]
        ax_y.errorbar(bx, var, yerr=2 * se, fmt="o", ms=3, color=colour, label=f"{label}: measured")
        ax_y.plot(bx, d[f"{name}_bin_y_var_theory"], "-", color="k", lw=0.9)
    ax_y.plot(
        [], [], "-", color="k", lw=0.9, label="theory s^2 / (4 lr c (1 - lr c)), c = x^2 or x0^2"
    )
    ax_y.set_yscale("log")
    ax_y.set_xlabel("x  (runs pooled over the second half, binned)")
    ax_y.set_ylabel("variance of y  (bars: 2 standard errors)")
    ax_y.set_title("B  y is an Ornstein-Uhlenbeck process at each x", loc="left", fontsize=10)
    ax_y.legend(fontsize=7)
    fig.suptitle(
        f"Noisy GD from ({x0:g}, 0): lr {lr:g}, parameter noise sd {sd:g}, {n:,} trajectories",
        fontsize=10,
    )
    paths = save_figure(fig, out, stem)
    plt.close(fig)
    return paths
