"""Figures of a sweep (Figure 3A-B, Figure 5B, Figures S1 and S2 of Ratzon,
Derdikman & Barak 2023) from its summary table and resampled time courses.

Every figure reads two inputs and never runs a simulation:

* ``summary``: a pandas DataFrame, one row per run (``id``, ``status``,
  ``algorithm``, ``noise_type``, ``noise_variance``, ``final_active_units``,
  ``log10_rate``, ``hessian_*``, ``authors_filter_kept``, ...);
* ``timecourses`` (S1, S2): an xarray Dataset over (``run``, ``point``) with
  ``step``, ``loss``, ``active`` and ``active_units``, each run resampled at 100
  points log-spaced over its own steps (NaN past a diverged run's end).

Runs are grouped by learning rule and added noise
(:func:`driftlab.sweep.groups.group_label`: "GD + update noise", "Adam", ...),
one colour per group in every figure (:func:`group_colours`). Only runs whose
status is ``complete`` are drawn (a diverged run's last values are not a final
state); each figure's title counts the others. ``kept_only=True`` keeps only the
runs the authors' collector would keep (``authors_filter_kept``).

**Figure 3** (``fig3``). A: histogram of the final fraction of active units,
``final_active_units`` (units active for at least one sample, the paper's
definition and the quantity of its panel), stacked by group on 20 shared bins
over [0, 1], n per group in the legend. B (the paper's update-noise scan): runs
with ``noise_type == "update"`` against the noise variance (sd^2; log axis),
one point per run. Top: the final fraction of active units. Bottom: log10 of
the sparsification rate (1 / tau of the exponential fitted to the active
fraction over steps; the paper plots log tau = -log10 rate, the right-hand
axis) with the least-squares line log10 rate = a + slope log10 variance
(:func:`driftlab.sweep.groups.fit_slope`), its slope's 95% interval as a fan of
lines through the data's centroid, and a dotted slope-1 reference (a rate
proportional to the variance).

**Figure 5B** (``fig5b``). The fraction of nonzero Hessian eigenvalues against
the fraction of active units at the same Hessian record, one point per run,
coloured by group. Dashed: the identity. With one hidden layer of H units and
P = H (d_in + 1 + d_out) parameters, each silent unit zeroes its d_in + 1 +
d_out rows of the Hessian (Methods eq. 16-17), so nonzero / P <= active units:
points sit on or below the line (Figure 4B of the preprint draws the same
relation for one run over time, axes swapped).

**Figure S1** (``s1``). One column per group; rows: the fraction of active
units and of active (sample, unit) pairs against the training step (log axis).
Thin translucent lines: single runs; bold: the group's mean over the runs that
reach that step.

**Figure S2** (``s2``). Update against label noise: the groups with
``noise_type`` update or label (with the ``update_vs_label`` preset, GD with
update noise and GD with label noise on the same networks). Mean over runs
(line) and interquartile range (band) of the fraction of active units, of
active pairs and of the loss against the step; the loss on a log axis, its line
the geometric mean 10^mean(log10 loss) (an arithmetic mean of losses spread
over decades sits above most runs).

Each ``draw_*`` writes ``OUT_DIR/<stem>.png`` (150 dpi) and ``.pdf`` and returns
their paths; each ``plot_*`` returns the matplotlib figure. numpy, pandas and
matplotlib only: no JAX.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftlab.sweep.groups import GROUP_ORDER, fit_slope, kept, labels_of, order_groups

HIST_BINS = 20
"""Bins of Figure 3A's histogram over [0, 1]."""
GRID_POINTS = 100
"""Points of the common log-step grid on which S1 and S2 average runs."""
MAX_THIN_LINES = 300
"""Most single runs drawn per group in S1 (the mean uses every run)."""

COLOURS: dict[str, str] = dict(
    zip(
        GROUP_ORDER,
        ("tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green", "0.35"),
        strict=True,
    )
)
EXTRA_COLOURS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray", "gold")

ROW_LABELS = {
    "active_units": "fraction of active units",
    "active": "fraction of active\n(sample, unit) pairs",
    "loss": "loss",
}


def group_colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per group label: fixed for the paper's groups, then a cycle."""
    extra = iter(EXTRA_COLOURS * (1 + len(labels) // len(EXTRA_COLOURS)))
    return {g: COLOURS[g] if g in COLOURS else next(extra) for g in order_groups(labels)}


def _runs(summary: pd.DataFrame, kept_only: bool) -> tuple[pd.DataFrame, str]:
    """The complete runs (with a ``group`` column) and a phrase counting the rest."""
    frame = summary[kept(summary)] if kept_only else summary
    frame = frame.assign(group=labels_of(frame))
    complete = frame[frame["status"] == "complete"]
    others = frame.loc[frame["status"] != "complete", "status"].value_counts()
    rest = ", ".join(f"{count} {status}" for status, count in sorted(others.items()))
    note = _count(len(complete), "complete run") + (f" (not shown: {rest})" if rest else "")
    if kept_only:
        note += ", authors' filter applied"
    return complete, note


def _finite(values: Any) -> np.ndarray:
    return np.isfinite(np.asarray(values, dtype=np.float64))


def _say(ax: Any, text: str, *, blank: bool = True) -> None:
    """Write ``text`` in the middle of a panel; ``blank``: it has no data (no ticks)."""
    ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.3"
    )
    if blank:
        ax.tick_params(which="both", left=False, bottom=False, labelleft=False, labelbottom=False)
        ax.grid(False)


def _count(n: int, what: str = "run") -> str:
    """``n`` and ``what``, plural unless n == 1: "1 run", "3 runs", "2 complete runs"."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _save(fig: Any, out_dir: str | Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    from driftlab.plots.save import save_figure

    try:
        return save_figure(fig, Path(out_dir), stem)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- Figure 3


def _fig3a(ax: Any, runs: pd.DataFrame, colours: dict[str, str]) -> None:
    from matplotlib.ticker import MaxNLocator

    bins = np.linspace(0.0, 1.0, HIST_BINS + 1)
    data, labels, cols = [], [], []
    for g in order_groups(list(runs["group"])):
        v = runs.loc[runs["group"] == g, "final_active_units"].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            data.append(np.clip(v, 0.0, 1.0))
            labels.append(f"{g} (n = {v.size})")
            cols.append(colours[g])
    if data:
        ax.hist(data, bins=bins, stacked=True, color=cols, label=labels, edgecolor="white", lw=0.4)
        ax.legend(fontsize=8, loc="upper center", frameon=False)
        ax.set_ylim(0, ax.get_ylim()[1] * (1.2 + 0.06 * len(data)))  # room for the legend
    else:
        _say(ax, "no complete runs with a final fraction of active units")
    ax.set_xlim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("fraction of active units at the end")
    ax.set_ylabel("runs")
    ax.set_title("A  final fraction of active units", loc="left", fontsize=10)


def _fig3b(
    ax_top: Any, ax_bot: Any, runs: pd.DataFrame, colours: dict[str, str], level: float
) -> None:
    upd = runs[runs["noise_type"] == "update"]
    var = upd["noise_variance"].to_numpy(np.float64)
    pos = _finite(var) & (var > 0)
    dropped = len(upd) - int(pos.sum())
    upd, var = upd[pos], var[pos]
    ax_top.set_title("B  update-noise runs", loc="left", fontsize=10)
    ax_top.set_ylabel("fraction of active units\nat the end")
    ax_bot.set_ylabel("log10 sparsification rate\n(1 / steps)")
    ax_bot.set_xlabel("update-noise variance (sd$^2$)")
    for ax in (ax_top, ax_bot):
        ax.set_xscale("log")
    ax_top.set_ylim(-0.02, 1.02)
    if upd.empty:
        what = f" with a variance > 0 ({dropped} without)" if dropped else ""
        for ax in (ax_top, ax_bot):
            _say(ax, f"no runs with update noise{what}")
        return
    groups = order_groups(list(upd["group"]))
    for g in groups:
        part = upd["group"] == g
        x = var[part.to_numpy()]
        ax_top.scatter(
            x,
            upd.loc[part, "final_active_units"],
            s=14,
            color=colours[g],
            alpha=0.75,
            lw=0,
            label=f"{g} (n = {int(part.sum())})",
        )
        ax_bot.scatter(x, upd.loc[part, "log10_rate"], s=14, color=colours[g], alpha=0.75, lw=0)
    if len(groups) > 1:
        ax_top.legend(fontsize=7, loc="best", frameon=False)
    shown = groups[0] + ", " if len(groups) == 1 else ""
    ax_top.set_title(
        shown + _count(len(upd)) + (f" ({dropped} without a variance > 0)" if dropped else ""),
        loc="right",
        fontsize=8,
    )
    rate = upd["log10_rate"].to_numpy(np.float64)
    lx = np.log10(var)
    fit = fit_slope(lx, rate, level=level)
    missing = int((~np.isfinite(rate)).sum())
    lost = f"; {missing} without a rate (fit failed)" if missing else ""
    if not fit.ok:
        _say(ax_bot, f"too few runs to fit: {fit.n} with a rate{lost}", blank=False)
        if fit.n == 0:
            ax_bot.tick_params(left=False, labelleft=False)
        return
    grid = np.linspace(lx[np.isfinite(rate)].min(), lx[np.isfinite(rate)].max(), 50)
    fan = [fit.y_mean + s * (grid - fit.x_mean) for s in (fit.ci_low, fit.ci_high)]
    ax_bot.fill_between(
        10**grid,
        np.minimum(*fan),
        np.maximum(*fan),
        color="k",
        alpha=0.12,
        lw=0,
        label=f"slope's {level:.0%} CI (through the mean)",
    )
    sign = "+" if fit.slope >= 0 else "-"
    ax_bot.plot(
        10**grid,
        fit.intercept + fit.slope * grid,
        "k-",
        lw=1.5,
        label=f"least squares: {fit.intercept:.2f} {sign} {abs(fit.slope):.2f} log10 var",
    )
    ax_bot.plot(
        10**grid,
        fit.y_mean + (grid - fit.x_mean),
        ls=":",
        color="0.45",
        lw=1.2,
        label="slope 1 (rate $\\propto$ variance)",
    )
    if missing:
        ax_bot.plot([], [], " ", label=f"{missing} without a rate (fit failed)")
    ax_bot.legend(fontsize=7, loc="best", framealpha=0.85)
    ax_bot.set_title(
        f"slope {fit.slope:.2f}, {level:.0%} CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}];  "
        f"n = {fit.n}, R$^2$ = {fit.r2:.2f}",
        loc="right",
        fontsize=9,
    )
    ax_bot.secondary_yaxis("right", functions=(np.negative, np.negative)).set_ylabel(
        "log10 tau (steps)", fontsize=8
    )


def plot_fig3(summary: pd.DataFrame, *, kept_only: bool = False, level: float = 0.95) -> Any:
    """Figure 3A (left) and 3B (right, top and bottom); see the module docstring.

    ``level``: the confidence level of the slope's interval in B (bottom).
    """
    import matplotlib.pyplot as plt

    runs, note = _runs(summary, kept_only)
    colours = group_colours(list(runs["group"]))
    fig = plt.figure(figsize=(13, 6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1.1, 1.0))
    ax_a = fig.add_subplot(grid[:, 0])
    ax_top = fig.add_subplot(grid[0, 1])
    ax_bot = fig.add_subplot(grid[1, 1], sharex=ax_top)
    _fig3a(ax_a, runs, colours)
    _fig3b(ax_top, ax_bot, runs, colours, level)
    ax_top.tick_params(labelbottom=False)
    fig.suptitle(f"Generality of sparsification (Figure 3A-B): {note}", fontsize=11)
    return fig


def draw_fig3(
    summary: pd.DataFrame, out_dir: str | Path, *, kept_only: bool = False, level: float = 0.95
) -> list[Path]:
    """Write Figure 3A-B as ``out_dir/fig3.png`` and ``.pdf``; return their paths."""
    return _save(plot_fig3(summary, kept_only=kept_only, level=level), out_dir, "fig3")


# ---------------------------------------------------------------- Figure 5B

NO_HESSIANS = "no run of this sweep recorded Hessians (record.hessian): fig5b needs them"


def plot_fig5b(summary: pd.DataFrame, *, kept_only: bool = False) -> Any:
    """Figure 5B: nonzero Hessian eigenvalues against active units; see the module docstring.

    Raises ValueError when no run of ``summary`` has both Hessian columns finite.
    """
    import matplotlib.pyplot as plt

    cols = ("hessian_active_units", "hessian_nonzero_fraction")
    has = _finite(summary[cols[0]]) & _finite(summary[cols[1]])
    if not has.any():
        raise ValueError(NO_HESSIANS)
    runs, note = _runs(summary, kept_only)
    runs = runs[_finite(runs[cols[0]]) & _finite(runs[cols[1]])]
    colours = group_colours(list(runs["group"]))
    fig, ax = plt.subplots(figsize=(6.4, 5.8), layout="constrained")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="identity (nonzero fraction <= active units)")
    for g in order_groups(list(runs["group"])):
        part = runs[runs["group"] == g]
        ax.scatter(
            part[cols[0]],
            part[cols[1]],
            s=18,
            color=colours[g],
            alpha=0.75,
            lw=0,
            label=f"{g} (n = {len(part)})",
        )
    x = runs[cols[0]].to_numpy(np.float64)
    y = runs[cols[1]].to_numpy(np.float64)
    if runs.empty:
        _say(ax, "no complete run with Hessian records")
    else:
        above = int(np.count_nonzero(y > x + 1e-9))
        lines = [f"n = {_count(len(runs))}", f"{above} above the identity"]
        if len(runs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            lines.insert(1, f"Pearson r = {np.corrcoef(x, y)[0, 1]:.2f}")
        ax.text(
            0.97,
            0.03,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
        )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("fraction of active units (at the same records)")
    ax.set_ylabel(
        "fraction of nonzero Hessian eigenvalues\n(mean of the last ten records but the final one)"
    )
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    ax.set_title(f"Flatness and sparseness (Figure 5B)\n{note}", fontsize=10)
    return fig


def draw_fig5b(
    summary: pd.DataFrame, out_dir: str | Path, *, kept_only: bool = False
) -> list[Path]:
    """Write Figure 5B as ``out_dir/fig5b.png`` and ``.pdf``; return their paths.

    Raises ValueError (before writing anything) when no run recorded Hessians.
    """
    return _save(plot_fig5b(summary, kept_only=kept_only), out_dir, "fig5b")


# ---------------------------------------------------------------- time courses


def _courses(
    runs: pd.DataFrame, timecourses: Any, name: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids found in ``timecourses``, steps (n, points), values (n, points)) of ``runs``."""
    have = {str(r) for r in timecourses["run"].values}
    ids = [str(i) for i in runs["id"] if str(i) in have]
    if not ids:
        empty = np.empty((0, int(timecourses.sizes.get("point", 0))))
        return ids, empty, empty
    sel = timecourses.sel(run=ids)
    steps = np.asarray(sel["step"].transpose("run", "point").values, dtype=np.float64)
    values = np.asarray(sel[name].transpose("run", "point").values, dtype=np.float64)
    return ids, steps, values


def _on_grid(steps: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each run's values linearly interpolated in log10(step) at ``grid`` (NaN outside
    the run's finite range): runs of different lengths on one axis."""
    out = np.full((steps.shape[0], grid.size), np.nan)
    lg = np.log10(grid)
    for i, (s, v) in enumerate(zip(steps, values, strict=True)):
        ok = np.isfinite(s) & np.isfinite(v) & (s > 0)
        if ok.sum() >= 2:
            out[i] = np.interp(lg, np.log10(s[ok]), v[ok], left=np.nan, right=np.nan)
        elif ok.sum() == 1:
            out[i, np.isclose(lg, np.log10(s[ok][0]))] = v[ok][0]
    return out


def _grid(steps: np.ndarray) -> np.ndarray:
    ok = np.isfinite(steps) & (steps > 0)
    if not ok.any():
        return np.empty(0)
    lo, hi = float(steps[ok].min()), float(steps[ok].max())
    return np.geomspace(lo, hi, GRID_POINTS) if hi > lo else np.array([lo])


def _column_stats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, q25, q75) over runs (axis 0) of the finite values; NaN where there are none."""
    n_cols = rows.shape[1]
    mean, q25, q75 = (np.full(n_cols, np.nan) for _ in range(3))
    for j in range(n_cols):
        col = rows[:, j]
        col = col[np.isfinite(col)]
        if col.size:
            mean[j] = col.mean()
            q25[j], q75[j] = np.quantile(col, [0.25, 0.75])
    return mean, q25, q75


def plot_s1(summary: pd.DataFrame, timecourses: Any, *, kept_only: bool = False) -> Any:
    """Figure S1: active units and active pairs over steps, a column per group."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullLocator

    runs, note = _runs(summary, kept_only)
    groups = order_groups(list(runs["group"]))
    colours = group_colours(groups)
    rows = ("active_units", "active")
    n_col = max(len(groups), 1)
    fig, axes = plt.subplots(
        2,
        n_col,
        figsize=(max(2.2 + 2.9 * n_col, 9.0), 5.8),
        layout="constrained",
        sharey="row",
        squeeze=False,
    )
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(numticks=5))
        ax.xaxis.set_minor_locator(NullLocator())  # (and 8 x decades tick objects is slow)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.25, lw=0.5)
    if not groups:
        for ax in axes[:, 0]:
            _say(ax, "no complete runs")
    missing = 0
    for j, g in enumerate(groups):
        part = runs[runs["group"] == g]
        for i, name in enumerate(rows):
            ax = axes[i, j]
            ids, steps, values = _courses(part, timecourses, name)
            if i == 0:
                missing += len(part) - len(ids)
                ax.set_title(f"{g}\n(n = {len(ids)})", fontsize=9)
            if not ids:
                _say(ax, "no time courses", blank=False)
                continue
            thin = np.linspace(0, len(ids) - 1, min(len(ids), MAX_THIN_LINES)).astype(int)
            alpha = float(np.clip(6.0 / len(ids), 0.05, 0.5))
            for k in np.unique(thin):
                ax.plot(steps[k], values[k], color=colours[g], lw=0.6, alpha=alpha)
            grid = _grid(steps)
            if grid.size:
                mean, _, _ = _column_stats(_on_grid(steps, values, grid))
                ax.plot(grid, mean, color=colours[g], lw=2.4)
                ax.plot(grid, mean, color="k", lw=0.6)
    for j in range(n_col):
        axes[-1, j].set_xlabel("training step")
    for i, name in enumerate(rows):
        axes[i, 0].set_ylabel(ROW_LABELS[name])
    extra = f"; {missing} without time courses" if missing else ""
    fig.suptitle(
        f"Sparsification over training by rule and noise (Figure S1): {note}{extra}\n"
        "thin: single runs, bold: mean over the runs reaching that step",
        fontsize=10,
    )
    return fig


def draw_s1(
    summary: pd.DataFrame, timecourses: Any, out_dir: str | Path, *, kept_only: bool = False
) -> list[Path]:
    """Write Figure S1 as ``out_dir/s1.png`` and ``.pdf``; return their paths."""
    return _save(plot_s1(summary, timecourses, kept_only=kept_only), out_dir, "s1")


def plot_s2(summary: pd.DataFrame, timecourses: Any, *, kept_only: bool = False) -> Any:
    """Figure S2: update against label noise, mean and interquartile band over runs."""
    import matplotlib.pyplot as plt

    runs, note = _runs(summary, kept_only)
    runs = runs[runs["noise_type"].isin(["update", "label"])]
    groups = order_groups(list(runs["group"]))
    colours = group_colours(groups)
    names = ("active_units", "active", "loss")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    drawn = False
    for g in groups:
        part = runs[runs["group"] == g]
        label = g
        for ax, name in zip(axes, names, strict=True):
            ids, steps, values = _courses(part, timecourses, name)
            grid = _grid(steps)
            if not ids or not grid.size:
                continue
            if name == "loss":  # geometric: the mean of log10 loss, as the axis is drawn
                values = np.log10(np.where(values > 0, values, np.nan))
            mean, q25, q75 = _column_stats(_on_grid(steps, values, grid))
            if name == "loss":
                mean, q25, q75 = 10**mean, 10**q25, 10**q75
            if not np.isfinite(mean).any():
                continue
            label = f"{g} (n = {len(ids)})"
            ax.fill_between(grid, q25, q75, color=colours[g], alpha=0.2, lw=0)
            ax.plot(grid, mean, color=colours[g], lw=1.8, label=label)
            drawn = True
    for ax, name in zip(axes, names, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(ROW_LABELS[name].replace("\n", " "))
        ax.grid(alpha=0.25, lw=0.5)
        if not drawn:
            _say(ax, "no complete runs with update or label noise")
        if name == "loss":
            if drawn:
                ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
    if drawn:
        axes[0].legend(fontsize=8, loc="lower left", frameon=False)
    titles = ("A  active units", "B  active (sample, unit) pairs", "C  loss (geometric mean)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, loc="left", fontsize=10)
    fig.suptitle(
        f"Update against label noise (Figure S2): {note}\n"
        "line: mean over runs (geometric for the loss), band: interquartile range",
        fontsize=10,
    )
    return fig


def draw_s2(
    summary: pd.DataFrame, timecourses: Any, out_dir: str | Path, *, kept_only: bool = False
) -> list[Path]:
    """Write Figure S2 as ``out_dir/s2.png`` and ``.pdf``; return their paths."""
    return _save(plot_s2(summary, timecourses, kept_only=kept_only), out_dir, "s2")


__all__ = [
    "draw_fig3",
    "draw_fig5b",
    "draw_s1",
    "draw_s2",
    "group_colours",
    "plot_fig3",
    "plot_fig5b",
    "plot_s1",
    "plot_s2",
]
