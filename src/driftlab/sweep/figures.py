"""The figures drawn from a sweep directory: Figure 3A-B, 5B, S1 and S2.

Each reads the sweep's summary and time courses (:mod:`driftlab.sweep.summary`,
rebuilt from the run directories first if any run changed since, so a figure never
shows stale rows) and
draws with :mod:`driftlab.plots.sweep`. Needs no JAX.
"""

from __future__ import annotations

from pathlib import Path

from driftlab.storage import open_netcdf
from driftlab.sweep import store

SWEEP_FIGURES: tuple[str, ...] = ("fig3", "fig5b", "s1", "s2")


def draw(
    name: str, sweep_dir: str | Path, out: str | Path | None = None, *, kept_only: bool = False
) -> list[Path]:
    """Draw figure ``name`` (:data:`SWEEP_FIGURES`) of the sweep in ``sweep_dir`` into
    ``out`` (default ``SWEEP_DIR/figures``); returns the PNG and PDF paths.
    ``kept_only``: only the runs the authors' filter keeps."""
    import pandas as pd

    from driftlab.plots import sweep as plots
    from driftlab.sweep.summary import current_summary

    if name not in SWEEP_FIGURES:
        raise ValueError(f"figure {name!r}: not one of {', '.join(SWEEP_FIGURES)}")
    sweep_dir = Path(sweep_dir)
    store.read_plan(sweep_dir)  # a one-line error when it holds no sweep
    summary = pd.read_parquet(current_summary(sweep_dir))
    target = Path(out) if out is not None else sweep_dir / "figures"
    if name == "fig3":
        return plots.draw_fig3(summary, target, kept_only=kept_only)
    if name == "fig5b":
        return plots.draw_fig5b(summary, target, kept_only=kept_only)
    with open_netcdf(sweep_dir / store.TIMECOURSES) as courses:
        courses.load()
        if name == "s1":
            return plots.draw_s1(summary, courses, target, kept_only=kept_only)
        return plots.draw_s2(summary, courses, target, kept_only=kept_only)
