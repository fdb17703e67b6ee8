"""The generality figure from the runs of :mod:`driftlab.reproduce.generality`.

Three panels over training steps, one curve per learning rule and noise (mean
over networks, band = min to max): active units and active (sample, unit) pairs,
each divided by its value at step 0, and log10 loss (0 = predicting the mean).
Reads stored results only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLOURS = ("black", "tab:red", "tab:orange", "tab:blue", "tab:purple", "tab:green")


def write_generality(out_dir: str | Path) -> list[Path]:
    """Write ``generality.png`` and ``generality.pdf`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from driftlab.reproduce.generality import CONDITIONS
    from driftlab.run import load_run
    from driftlab.storage import atomic_write

    out = Path(out_dir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    panels: list[tuple[Any, str, str]] = [
        (axes[0], "active_units", "active units / initial"),
        (axes[1], "active", "active (sample, unit) pairs / initial"),
        (axes[2], "log_loss", "log10 loss  (0 = mean predictor)"),
    ]
    found = 0
    for condition, colour in zip(CONDITIONS, COLOURS, strict=True):
        path = out / condition.name
        if not (path / "timeseries.nc").is_file():
            continue
        found += 1
        ts = load_run(path)["timeseries"]
        steps = np.maximum(ts.step.values, 1)
        for ax, name, _ in panels:
            values = ts[name].values  # (time, network)
            if name != "log_loss":
                values = values / values[0]
            ax.plot(steps, values.mean(axis=1), color=colour, lw=1.5, label=condition.label)
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
    first = (
        load_run(out / CONDITIONS[0].name)["timeseries"]
        if (out / CONDITIONS[0].name).is_dir()
        else None
    )
    n_net = first.sizes["network"] if first is not None else "?"
    fig.suptitle(
        "Generality: random task (d_in 20, d_out 5, 5 samples), H = 100 (rich); "
        f"mean and range over {n_net} networks per condition",
        fontsize=10,
    )
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"generality.{ext}"

        def save(p: Path, fmt: str = ext) -> None:
            fig.savefig(p, format=fmt, dpi=150)

        atomic_write(path, save)
        paths.append(path)
    plt.close(fig)
    return paths
