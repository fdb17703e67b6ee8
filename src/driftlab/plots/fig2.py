"""Figure 2 B-E of Ratzon, Derdikman & Barak (2023) from a corridor run directory.

B: log loss over steps (0 = the mean estimator; ``loss="authors"``: the
authors' convention, see :func:`~driftlab.metrics.log_loss_authors_fig2b`). C:
fraction of active units and mean spatial information of place units over
steps. D: rate maps at four times in a 4 x 4 grid, row r sorted by each unit's
peak position at time r, every map normalised to its maximum. E: mean Pearson
correlation of rate maps between recorded times, over units that are place
units at both times.

Place units (``place``): ``"shuffle"`` (default) are the units whose spatial
information beats the 95th percentile of circularly shifted activity
(:func:`~driftlab.metrics.shuffle_spatial_information`), and panel C draws the
run's recorded ``mean_si_corrected``, their mean shuffle-corrected SI; runs
recorded before that variable existed fall back to the raw measure in panel C,
saying so in its label. ``"raw"`` is the paper's measure: SI > 0.01 bits and the
raw mean SI of those units, which at 150 samples over 100 bins mostly measures
the small-sample bias of SI (every active unit passes).

Reads stored results only (``timeseries.nc``, ``activity.nc``, ``data.nc``); it
never runs a simulation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from driftlab.metrics import (
    log_loss_authors_fig2b,
    place_units,
    rate_maps,
    ratemap_correlation_matrix,
    shuffle_spatial_information,
    signed_position,
    spatial_information,
)

N_BINS = 100
SMOOTH_SD = 6.0  # bins, as the paper displays rate maps
MAX_E_TIMES = 60
# shuffles per snapshot for the figure's place units: 20 m - 1 shuffles put the
# false-positive rate at exactly 5% (metrics.shuffle); 39 test 53 snapshots of
# 500 units x 150 samples in ~2-4 s (95% agreement with 999 shuffles)
FIG_SHUFFLES = 39

Place = Literal["shuffle", "raw"]
Loss = Literal["mean_estimator", "authors"]
PLACE_OPTIONS: tuple[str, ...] = ("shuffle", "raw")
LOSS_OPTIONS: tuple[str, ...] = ("mean_estimator", "authors")

SI_LABELS = {
    "shuffle": "mean SI of shuffle-tested place units,\nshuffle-corrected (bits)",
    "raw": "mean SI of place units, SI > 0.01 bits\n(raw, the paper's measure; bits)",
    "fallback": "mean SI of place units, SI > 0.01 bits\n(raw: run predates the shuffle test)",
}
LOSS_LABELS = {
    "mean_estimator": "log10 loss  (0 = mean estimator)",
    "authors": "log10(MSE / var y) - log10 MSE(mean est.)\n(authors' Fig. 2B convention)",
}


@dataclass(frozen=True)
class Fig2Data:
    """What Figure 2 plots, computed from a run (one network of its batch)."""

    title: str
    steps: np.ndarray  # (records,) of the time series
    log_loss_rel: np.ndarray  # (records,) log loss against the mean estimator
    loss: np.ndarray  # (records,) panel B's curve (log_loss_rel, or the authors' convention)
    loss_label: str  # panel B's y label
    active_units: np.ndarray  # (records,)
    mean_si: np.ndarray  # (records,) panel C's SI curve (see si_label)
    si_label: str  # panel C's SI label: which place units and which SI
    si_fallback: bool  # place="shuffle" asked, but the run has no mean_si_corrected: raw SI
    place_kind: str  # "shuffle" or "raw": the place units of panels D and E
    map_steps: np.ndarray  # (snapshots,) steps of the hidden-activity snapshots
    maps: np.ndarray  # (snapshots, units, bins) smoothed rate maps, NaN bins filled
    place: np.ndarray  # (snapshots, units) place units of panels D and E (see place_kind)
    place_tested: np.ndarray  # (snapshots,) snapshots whose place units were computed
    edges: np.ndarray  # (bins + 1,) signed-position bin edges
    corr: np.ndarray  # (k, k) rate-map correlation matrix over k <= 60 snapshots
    corr_steps: np.ndarray  # (k,)


def _fill_nan_bins(maps: np.ndarray) -> np.ndarray:
    """Linear interpolation over bins never visited, per map (display only)."""
    out = maps.copy()
    bins = np.arange(maps.shape[-1])
    for row in out.reshape(-1, maps.shape[-1]):
        ok = np.isfinite(row)
        if ok.any() and not ok.all():
            row[~ok] = np.interp(bins[~ok], bins[ok], row[ok])
    return out


def _title(config: dict[str, Any], network: int, coords: dict[str, float], run_dir: Path) -> str:
    model, train = config["model"], config["train"]
    form = config["noise"]["update"]["form"]
    return (
        f"{run_dir.name} (network {network}): corridor, H={model['hidden']} {model['init']}, "
        f"GD lr {coords['lr']:g}, {form}-noise sd {coords['update_sd']:g}, "
        f"seed {int(coords['seed'])}, {train['steps']:,} steps"
    )


def _check_option(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"--{name}: expected one of {', '.join(options)}; got {value!r}")


def _shuffle_place(hidden: np.ndarray, position: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Shuffle-tested place units (snapshots, units) of the snapshots ``which``; False elsewhere.

    Snapshot i uses ``rng=i``, so the figure is deterministic.
    """
    place = np.zeros((hidden.shape[0], hidden.shape[2]), dtype=bool)
    for i in which:
        place[i] = shuffle_spatial_information(
            hidden[i], position, n_shuffles=FIG_SHUFFLES, n_bins=N_BINS, rng=int(i)
        ).place
    return place


def _panel_b(ts: Any, data: Any, network: int, loss: str) -> tuple[np.ndarray, str]:
    rel = np.asarray(ts["log_loss_rel"].values[:, network], dtype=np.float64)
    if loss == "mean_estimator":
        return rel, LOSS_LABELS[loss]
    targets = np.asarray(data["targets"].values[network], dtype=np.float64)
    mse = np.asarray(ts["loss"].values[:, network], np.float64)  # recorded clean-data MSE
    return log_loss_authors_fig2b(mse, targets), LOSS_LABELS[loss]


def _panel_c(ts: Any, network: int, place: str) -> tuple[np.ndarray, str, bool]:
    """Panel C's SI curve, its label, and whether it fell back to the raw SI."""
    if place == "shuffle" and "mean_si_corrected" in ts:
        curve = np.asarray(ts["mean_si_corrected"].values[:, network])
        if np.isfinite(curve).any():  # all NaN: not recorded (record.place_shuffles 0)
            return curve, SI_LABELS["shuffle"], False
    fallback = place == "shuffle"
    label = SI_LABELS["fallback" if fallback else "raw"]
    return np.asarray(ts["mean_si"].values[:, network]), label, fallback


def fig2_data(
    run_dir: str | Path,
    network: int = 0,
    *,
    place: Place = "shuffle",
    loss: Loss = "mean_estimator",
) -> Fig2Data:
    """Compute every panel's data from a run directory.

    ``place``: ``"shuffle"`` (shuffle-tested place units in D and E, their mean
    shuffle-corrected SI in C; C falls back to the raw measure for runs without
    ``mean_si_corrected``) or ``"raw"`` (SI > 0.01 bits, the paper's measure).
    ``loss``: ``"mean_estimator"`` (log_loss_rel, 0 = the mean estimator) or
    ``"authors"`` (:func:`~driftlab.metrics.log_loss_authors_fig2b`).
    """
    from driftlab.rundir import load_run

    _check_option("place", place, PLACE_OPTIONS)
    _check_option("loss", loss, LOSS_OPTIONS)
    run_dir = Path(run_dir)
    ds = load_run(run_dir)
    if "activity" not in ds:
        raise FileNotFoundError(
            f"'{run_dir}' has no activity.nc: Figure 2 needs hidden-activity snapshots "
            "(record.hidden: true) of a finished run"
        )
    ts, act, data = ds["timeseries"], ds["activity"], ds["data"]
    n_networks = ts.sizes["network"]
    if not 0 <= network < n_networks:
        raise ValueError(f"--network: expected 0..{n_networks - 1}, got {network}")
    if "positions" not in data:
        raise ValueError(f"'{run_dir}': the task has no positions, so no rate maps")
    position = signed_position(data["positions"].values[network, :, 1])
    hidden = act["hidden"].values[:, network]  # (snapshots, samples, units)
    map_steps = act["step"].values
    raw = [rate_maps(h, position, N_BINS) for h in hidden]
    smooth = np.stack([rate_maps(h, position, N_BINS, smooth_sd=SMOOTH_SD).maps for h in hidden])
    pick = np.unique(np.linspace(0, len(hidden) - 1, min(len(hidden), MAX_E_TIMES)).astype(int))
    if place == "shuffle":
        tested = np.zeros(len(hidden), dtype=bool)
        tested[pick] = True
        tested[_four_times(map_steps)] = True
        place_mask = _shuffle_place(hidden, position, np.flatnonzero(tested))
    else:
        si = np.stack([spatial_information(r.maps, r.occupancy) for r in raw])
        place_mask = place_units(si)
        tested = np.ones(len(hidden), dtype=bool)
    corr = ratemap_correlation_matrix(smooth[pick], place_mask[pick])
    config = json.loads(ts.attrs["config"])
    coords = {k: float(ts[k].values[network]) for k in ("lr", "update_sd", "seed")}
    loss_curve, loss_label = _panel_b(ts, data, network, loss)
    mean_si, si_label, si_fallback = _panel_c(ts, network, place)
    return Fig2Data(
        title=_title(config, network, coords, run_dir),
        steps=ts["step"].values,
        log_loss_rel=ts["log_loss_rel"].values[:, network],
        loss=loss_curve,
        loss_label=loss_label,
        active_units=ts["active_units"].values[:, network],
        mean_si=mean_si,
        si_label=si_label,
        si_fallback=si_fallback,
        place_kind=place,
        map_steps=map_steps,
        maps=_fill_nan_bins(smooth),
        place=place_mask,
        place_tested=tested,
        edges=raw[0].edges,
        corr=corr,
        corr_steps=map_steps[pick],
    )


def _four_times(steps: np.ndarray) -> np.ndarray:
    """Four snapshot indices: just after the fast phase, two in between, the last.

    The first is the first snapshot at or after 1% of the run, then log-spaced.
    """
    last = len(steps) - 1
    start = int(np.searchsorted(steps, 0.01 * steps[-1]))
    start = min(max(start, 1), last)
    idx = np.unique(np.round(np.geomspace(start, last, 4)).astype(int))
    while len(idx) < 4:  # few snapshots: repeat the last
        idx = np.append(idx, last)
    return idx


def _step_axis(ax: Any, steps: np.ndarray) -> np.ndarray:
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    return np.asarray(np.maximum(steps, 1))


def plot_fig2(d: Fig2Data) -> Any:
    """The matplotlib figure of panels B-E."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 9.5), layout="constrained")
    subfigs: Any = fig.subfigures(2, 1, height_ratios=[1, 1.45])
    top, bottom = subfigs[0], subfigs[1]
    ax_b, ax_c, ax_e = top.subplots(1, 3, width_ratios=[1, 1.15, 1])
    fig.suptitle(d.title, fontsize=10)

    x = _step_axis(ax_b, d.steps)
    ax_b.plot(x, d.loss, color="black", lw=1.2)
    ax_b.axhline(0, color="grey", lw=0.8, ls=":")
    ax_b.set_ylabel(d.loss_label)
    ax_b.set_title("B  loss", loc="left", fontweight="bold")

    x = _step_axis(ax_c, d.steps)
    ax_c.plot(x, d.active_units, color="tab:red", lw=1.2)
    ax_c.set_ylabel("fraction of active units", color="tab:red")
    ax_c.set_ylim(0, 1.02)
    ax_si = ax_c.twinx()
    ax_si.plot(x, d.mean_si, color="tab:blue", lw=1.2)
    ax_si.set_ylabel(d.si_label, color="tab:blue", fontsize=9)
    ax_c.set_title(
        "C  sparsification and information"
        + ("\n(raw SI: run has no shuffle test)" * d.si_fallback),
        loc="left",
        fontweight="bold",
    )

    ticks = np.arange(len(d.corr_steps))
    im = ax_e.imshow(d.corr, vmin=0, vmax=1, cmap="viridis", origin="lower")
    labels = [f"{s:.0e}" if s >= 1000 else str(int(s)) for s in d.corr_steps]
    every = max(1, len(ticks) // 5)
    ax_e.set_xticks(ticks[::every], labels[::every], rotation=45, fontsize=7)
    ax_e.set_yticks(ticks[::every], labels[::every], fontsize=7)
    ax_e.set_xlabel("training step")
    ax_e.set_ylabel("training step")
    top.colorbar(im, ax=ax_e, shrink=0.8, label="rate-map correlation")
    which = "shuffle-tested" if d.place_kind == "shuffle" else "SI > 0.01 bits"
    ax_e.set_title(f"E  rate-map correlation\n({which} place units)", loc="left", fontweight="bold")

    times = _four_times(d.map_steps)
    axes = bottom.subplots(4, 4, sharex=True)
    bottom.suptitle(
        "D  rate maps at four times (columns); row r sorted by peak position at time r; "
        "each map normalised to its maximum; place units of the sorting time "
        + ("(shuffle test)" if d.place_kind == "shuffle" else "(SI > 0.01 bits)"),
        fontsize=9,
        x=0.02,
        ha="left",
    )
    extent = (d.edges[0], d.edges[-1], 0, 1)
    for r, t_sort in enumerate(times):
        units = np.flatnonzero(d.place[t_sort])
        order = (
            units[np.argsort(np.nanargmax(d.maps[t_sort][units], axis=1))] if units.size else units
        )
        for c, t_show in enumerate(times):
            ax = axes[r, c]
            m = d.maps[t_show][order]
            peak = np.nanmax(m, axis=1, keepdims=True) if m.size else m
            with np.errstate(invalid="ignore", divide="ignore"):
                img = np.where(peak > 0, m / peak, 0.0) if m.size else np.zeros((1, N_BINS))
            ax.imshow(
                img,
                aspect="auto",
                cmap="jet",
                vmin=0,
                vmax=1,
                extent=extent,
                interpolation="nearest",
            )
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {int(d.map_steps[t_show]):,}", fontsize=9)
            if c == 0:
                ax.set_ylabel(
                    f"sorted @ {int(d.map_steps[t_sort]):,}\n{len(order)} units", fontsize=8
                )
            if r == 3:
                ax.set_xlabel("signed position (- down, + up)", fontsize=8)
    return fig


def write_fig2(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    network: int = 0,
    place: Place = "shuffle",
    loss: Loss = "mean_estimator",
) -> list[Path]:
    """Write ``fig2.png`` and ``fig2.pdf`` (default: RUN_DIR/figures); returns the paths.

    ``place`` and ``loss`` as :func:`fig2_data`.
    """
    from driftlab.plots.save import write_run_figure

    fig = plot_fig2(fig2_data(run_dir, network, place=place, loss=loss))
    return write_run_figure(fig, run_dir, out_dir, "fig2", network=network)
