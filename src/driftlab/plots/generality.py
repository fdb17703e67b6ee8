"""The generality figure from the runs of :mod:`driftlab.experiments.generality`.

Three panels over training steps, one curve per learning rule and noise (mean
over networks, band = min to max): active units and active (sample, unit) pairs,
each divided by its value at step 0, and log10 loss (0 = predicting the mean).
Reads stored results only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

COLOURS = ("black", "tab:red", "tab:orange", "tab:blue", "tab:purple", "tab:green")


def write_generality(
    out_dir: str | Path, conditions: Sequence[tuple[str, str]], *, title: str = "Generality"
) -> list[Path]:
    """Write ``generality.png`` and ``generality.pdf`` into ``out_dir``; return their paths.

    ``conditions``: (run folder name, legend label) pairs, drawn in this order;
    ``title`` heads the figure (the networks per condition are appended).
    """
    import matplotlib.pyplot as plt

    from driftlab.plots.save import save_figure
    from driftlab.rundir import load_run

    out = Path(out_dir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    panels: list[tuple[Any, str, str]] = [
        (axes[0], "active_units", "active units / initial"),
        (axes[1], "active", "active (sample, unit) pairs / initial"),
        (axes[2], "log_loss", "log10 loss  (0 = mean predictor)"),
    ]
    found = 0
    for (folder, label), colour in zip(conditions, COLOURS, strict=False):
        path = out / folder
        if not (path / "timeseries.nc").is_file():
            continue
        found += 1
        ts = load_run(path)["timeseries"]
        steps = np.maximum(ts.step.values, 1)
        for ax, name, _ in panels:
            values = ts[name].values  # (time, network)
            if name != "log_loss":
                values = values / values[0]
            ax.plot(steps, values.mean(axis=1), color=colour, lw=1.5, label=label)
            ax.fill_between(steps, values.min(axis=1), values.max(axis=1), color=colour, alpha=0.15)
    if not found:
        plt.close(fig)
        raise FileNotFoundError(f"'{out}' holds no generality runs")
    for ax, _, ylabel in panels:
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
    axes[0].set_ylim(0, 1.3)
    axes[1].set_ylim(0, 1.3)
    axes[0].legend(fontsize=8, loc="lower left")
    n_net = ts.sizes["network"]  # of the last condition drawn
    fig.suptitle(f"{title}; mean and range over {n_net} networks per condition", fontsize=10)
    paths = save_figure(fig, out, "generality")
    plt.close(fig)
    return paths
