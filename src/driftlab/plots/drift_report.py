"""The drift report: Figure 2F's measures over sessions and the across-session curves.

Top row, one point per session against its day (first to last session: the paper's
"start vs end"): the place-cell fraction (of active cells; of all cells dashed), the mean spatial
information of place cells (shuffle-corrected, solid; raw, dashed), the
within-session decoding error. Bottom row, one point per pair of sessions against
the days between them, with the mean at each lag: the rate-map correlation of
matched place cells, the population-vector correlation, the error of decoding one
session from another's rate maps. Each dataset (a recording or a simulation's
virtual experiment) in its own colour, with its straight-line trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftlab.plots.save import save_figure
from driftlab.recordings.analyze import DriftReport

_TOP = (
    ("place_fraction", "place cells: of active cells (of all, dashed)"),
    ("mean_si_corrected", "mean SI of place cells, bits: corrected (raw, dashed)"),
    ("decoding_error", "decoding error (position units), within a session"),
)
_BOTTOM = (
    ("ratemap_corr", "rate-map correlation (matched place cells)"),
    ("pv_corr", "population-vector correlation"),
    ("decoding_error", "decoding error (position units), across sessions"),
)


def _trend_line(ax: Any, x: np.ndarray, y: np.ndarray, color: str) -> None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        xs = np.array([x[ok].min(), x[ok].max()])
        ax.plot(xs, intercept + slope * xs, color=color, lw=1, alpha=0.6, ls=":")


def drift_report_figure(reports: Sequence[DriftReport], labels: Sequence[str]) -> Any:
    """The figure (2 x 3 panels) for one or several reports."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (report, label) in enumerate(zip(reports, labels, strict=True)):
        color = colors[k % len(colors)]
        s = report.sessions
        day = s["day"].to_numpy(float)
        for ax, (column, title) in zip(axes[0], _TOP, strict=True):
            y = s[column].to_numpy(float)
            ax.plot(day, y, "o-", color=color, label=label)
            if column == "mean_si_corrected":
                ax.plot(day, s["mean_si"].to_numpy(float), "o--", color=color, alpha=0.5, ms=3)
            if column == "place_fraction" and "place_fraction_all" in s:
                all_cells = s["place_fraction_all"].to_numpy(float)
                ax.plot(day, all_cells, "o--", color=color, alpha=0.5, ms=3)
            _trend_line(ax, day, y, color)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("session day")
        p = report.pairs
        if len(p) == 0:
            continue
        lag = p["lag"].to_numpy(float)
        for ax, (column, title) in zip(axes[1], _BOTTOM, strict=True):
            y = p[column].to_numpy(float)
            ax.plot(lag, y, "o", color=color, alpha=0.35, ms=4)
            lags = np.unique(lag)
            means = [np.nanmean(y[lag == v]) for v in lags]
            ax.plot(lags, means, "-", color=color, lw=2, label=label)
            _trend_line(ax, lag, y, color)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("days between sessions")
    axes[0, 0].set_ylim(0, 1)
    axes[1, 0].set_ylim(-0.1, 1)
    axes[1, 1].set_ylim(-0.1, 1)
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle("Drift across sessions (dotted: straight-line trends)")
    return fig


def write_drift_report(
    reports: Sequence[DriftReport], labels: Sequence[str], folder: str | Path
) -> list[Path]:
    """Draw :func:`drift_report_figure` into ``folder/drift-report.png`` and ``.pdf``."""
    import matplotlib.pyplot as plt

    fig = drift_report_figure(reports, labels)
    paths = save_figure(fig, Path(folder), "drift-report")
    plt.close(fig)
    return paths
