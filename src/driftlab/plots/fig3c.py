"""Figure 3C of Ratzon, Derdikman & Barak (2023) from a Hebbian run directory.

A: the similarity-matching loss (blue) and the fraction of active neurons (red)
over plasticity steps (log axis; the loss on a log axis too when it falls by
more than a factor 30), with the three phases shaded: fast convergence of the
loss (red), slow sparsification (yellow), then a steady fraction of active
neurons (green). Phase ends: the first record where 90% of the loss's fall (on
a log scale) is done, then the first record where 90% of the fraction's fall
to its steady value (median over the last third of the run) is done. B:
population-vector correlation between recorded times. C: mean squared
displacement of receptive-field centroids against the time lag in the steady
phase, with the diffusion constant fitted (MSD = 2 D tau) over lags up to a
quarter of that phase (the MSD saturates at long lags: on the ring at pi^2 / 3).

Reads stored results only (``timeseries.nc``, ``activity.nc``, ``inputs.nc``);
it never runs a simulation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from driftlab.metrics.similarity import (
    centroid_msd,
    diffusion_constant,
    pv_correlation_matrix,
    rf_centroids,
)

MAX_B_TIMES = 60
DROP_DONE = 0.9  # a phase ends when 90% of its fall is done


@dataclass(frozen=True)
class Fig3CData:
    """What Figure 3C plots, for one network of a run."""

    title: str
    steps: np.ndarray  # (records,)
    loss: np.ndarray  # (records,)
    fraction_active: np.ndarray  # (records,)
    converged_step: int  # end of phase 1
    sparse_step: int  # end of phase 2
    corr: np.ndarray  # (k, k) PV correlations; empty without activity.nc
    corr_steps: np.ndarray  # (k,)
    lags: np.ndarray  # (m,) step lags in the steady phase
    msd: np.ndarray  # (m,)
    diffusion: float  # fitted D (coordinate units^2 per step); NaN if not measurable
    fit_max_lag: float  # D is fitted over lags up to this (a quarter of the steady phase)
    unit: str  # of the centroid coordinate


def phase_ends(steps: np.ndarray, loss: np.ndarray, active: np.ndarray) -> tuple[int, int]:
    """(end of convergence, end of sparsification): the first record where 90% of the
    loss's fall from its start to its final median is done (on a log scale, as the loss
    may fall by decades: loss <= final (start / final)^0.1); after it, the first record
    where 90% of the active fraction's fall to its steady median is done (the last third
    of the run's steps defines 'final' and 'steady')."""
    late = steps >= steps[0] + (steps[-1] - steps[0]) * 2 / 3
    loss_end = float(np.nanmedian(loss[late]))
    if loss_end > 0 and loss[0] > 0:  # on a log scale: the loss may fall by decades
        loss_mark = loss_end * (loss[0] / loss_end) ** (1 - DROP_DONE)
    else:
        loss_mark = loss_end + (1 - DROP_DONE) * (loss[0] - loss_end)
    i1 = int(np.argmax(loss <= loss_mark)) if np.any(loss <= loss_mark) else 0
    steady = float(np.nanmedian(active[late]))
    mark = steady + (1 - DROP_DONE) * (active[i1] - steady)
    after = np.flatnonzero((np.arange(len(steps)) >= i1) & (active <= mark))
    i2 = int(after[0]) if after.size else i1
    return int(steps[i1]), int(steps[i2])


def fig3c_data(run_dir: str | Path, network: int = 0) -> Fig3CData:
    """Compute every panel's data from a Hebbian run directory."""
    from driftlab.rundir import load_hebbian_run

    run_dir = Path(run_dir)
    ds = load_hebbian_run(run_dir)
    ts = ds["timeseries"]
    if not 0 <= network < ts.sizes["network"]:
        raise ValueError(f"--network: expected 0..{ts.sizes['network'] - 1}, got {network}")
    config = json.loads(ts.attrs["config"])
    steps = ts["step"].values
    loss = ts["loss"].values[:, network]
    active = ts["fraction_active"].values[:, network]
    t1, t2 = phase_ends(steps, loss, active)
    corr = np.zeros((0, 0))
    corr_steps = lags = msd = np.zeros(0)
    diffusion = fit_max_lag = float("nan")
    ring = config["inputs"]["kind"] == "ring"
    if "activity" in ds:
        act = ds["activity"]
        y = act["y"].values[:, network].astype(np.float64)  # (records, T, n)
        act_steps = act["step"].values
        pick = np.unique(np.linspace(0, len(y) - 1, min(len(y), MAX_B_TIMES)).astype(int))
        corr, corr_steps = pv_correlation_matrix(y[pick]), act_steps[pick]
        coords = ds["inputs"]["coord"].values if "inputs" in ds else act["coord"].values
        meas = config["measure"]
        period = 2 * np.pi if ring else None
        steady = act_steps >= t2
        if steady.sum() >= 3:
            cents = np.stack(
                [
                    rf_centroids(
                        yi,
                        coords,
                        threshold=meas["threshold"],
                        min_inputs=meas["min_inputs"],
                        period=period,
                    )
                    for yi in y[steady]
                ]
            )
            lags, msd, _ = centroid_msd(cents, act_steps[steady], period=period)
            fit_max_lag = (act_steps[steady][-1] - act_steps[steady][0]) / 4
            short = lags <= fit_max_lag
            diffusion = diffusion_constant(lags[short], msd[short])
    net = ts.isel(network=network)
    title = (
        f"{run_dir.name} (network {network}): {config['inputs']['kind']} model, "
        f"{config['network']['neurons']} neurons, eta {float(net.eta):g}, "
        f"sigma {float(net.sigma):g}, seed {int(net.seed)}, {int(steps[-1]):,} steps"
    )
    return Fig3CData(
        title=title,
        steps=steps,
        loss=loss,
        fraction_active=active,
        converged_step=t1,
        sparse_step=t2,
        corr=corr,
        corr_steps=corr_steps,
        lags=lags,
        msd=msd,
        diffusion=diffusion,
        fit_max_lag=fit_max_lag,
        unit="rad" if ring else "track length",
    )


def plot_fig3c(d: Fig3CData) -> Any:
    """The matplotlib figure of panels A-C."""
    import matplotlib.pyplot as plt

    fig, (ax_a, ax_b, ax_c) = plt.subplots(
        1, 3, figsize=(14, 4.3), layout="constrained", width_ratios=[1.25, 1, 1]
    )
    fig.suptitle(d.title, fontsize=10)

    x = np.maximum(d.steps, 1)
    ax_a.set_xscale("log")
    lo, hi = x[0], x[-1]
    for a, b, color in (
        (lo, max(d.converged_step, 1), "tab:red"),
        (max(d.converged_step, 1), max(d.sparse_step, 1), "gold"),
        (max(d.sparse_step, 1), hi, "tab:green"),
    ):
        if b > a:
            ax_a.axvspan(a, b, color=color, alpha=0.15, lw=0)
    ax_a.plot(x, d.loss, color="tab:blue", lw=1.4)
    positive = d.loss[np.isfinite(d.loss)]
    if positive.size and positive.min() > 0 and positive.max() / positive.min() > 30:
        ax_a.set_yscale("log")
    ax_a.set_xlabel("plasticity step")
    ax_a.set_ylabel("similarity-matching loss", color="tab:blue")
    ax_a.tick_params(axis="y", colors="tab:blue")
    ax_r = ax_a.twinx()
    ax_r.plot(x, d.fraction_active, color="tab:red", lw=1.4)
    ax_r.set_ylabel("fraction of active neurons", color="tab:red")
    ax_r.tick_params(axis="y", colors="tab:red")
    ax_r.set_ylim(0, 1.02)
    ax_a.set_title(
        f"A  converged by {d.converged_step:,}, sparse by {d.sparse_step:,} steps",
        loc="left",
        fontweight="bold",
        fontsize=10,
    )

    if d.corr.size:
        ticks = np.arange(len(d.corr_steps))
        im = ax_b.imshow(d.corr, vmin=0, vmax=1, cmap="viridis", origin="lower")
        labels = [f"{s:.0e}" if s >= 1000 else str(int(s)) for s in d.corr_steps]
        every = max(1, len(ticks) // 5)
        ax_b.set_xticks(ticks[::every], labels[::every], rotation=45, fontsize=7)
        ax_b.set_yticks(ticks[::every], labels[::every], fontsize=7)
        ax_b.set_xlabel("plasticity step")
        ax_b.set_ylabel("plasticity step")
        fig.colorbar(im, ax=ax_b, shrink=0.85, label="population-vector correlation")
    else:
        ax_b.text(0.5, 0.5, "no activity.nc", ha="center", va="center", transform=ax_b.transAxes)
    ax_b.set_title("B  PV correlation", loc="left", fontweight="bold", fontsize=10)

    if d.lags.size:
        ok = np.isfinite(d.msd)
        ax_c.plot(d.lags[ok], d.msd[ok], "o", ms=3, color="black")
        if np.isfinite(d.diffusion):
            tau = np.linspace(0, d.fit_max_lag, 50)
            ax_c.plot(
                tau,
                2 * d.diffusion * tau,
                color="tab:orange",
                label=f"MSD = 2 D lag, D = {d.diffusion:.2e}",
            )
            ax_c.legend(fontsize=8, loc="upper left")
        ax_c.set_xlabel("lag (plasticity steps)")
        ax_c.set_ylabel(f"centroid MSD ({d.unit}$^2$)")
    else:
        ax_c.text(
            0.5, 0.5, "too few steady records", ha="center", va="center", transform=ax_c.transAxes
        )
    ax_c.set_title(
        "C  RF-centroid drift (steady phase)", loc="left", fontweight="bold", fontsize=10
    )
    return fig


def write_fig3c(
    run_dir: str | Path, out_dir: str | Path | None = None, *, network: int = 0
) -> list[Path]:
    """Write ``fig3c.png`` and ``fig3c.pdf`` (default: RUN_DIR/figures); returns the paths."""
    from driftlab.plots.save import write_run_figure

    fig = plot_fig3c(fig3c_data(run_dir, network))
    return write_run_figure(fig, run_dir, out_dir, "fig3c", network=network)
