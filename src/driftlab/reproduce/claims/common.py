"""What every claim reads: a stage's runs, time series, sweep summaries; windows
of a run; the thresholds (see :mod:`driftlab.reproduce.claims`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.results import UNTESTABLE, ClaimResult

FLAT_DECADES = 0.3
FAST_FRACTION = 0.01
SPARSIFIED = 0.9
UNCHANGED = 0.02
LATE = 0.1  # the last 10% of a run's steps


# ---------------------------------------------------------------- reading results


def plan_runs(stage_dir: Path, branch: str | None = None) -> list[tuple[str, int, Path]]:
    """(branch, index, run directory) of a stage's finished runs, in plan order."""
    from driftlab.sweep import store

    if not (stage_dir / store.PLAN).is_file():
        return []
    found = []
    for entry in store.read_plan(stage_dir).runs:
        path = store.run_dir(stage_dir, entry.id)
        if (branch is None or entry.branch == branch) and (path / "timeseries.nc").is_file():
            found.append((entry.branch, entry.index, path))
    return found


def timeseries(path: Path) -> Any:
    from driftlab.storage import open_netcdf

    with open_netcdf(path / "timeseries.nc") as ts:
        return ts.load()


def convergence_index(log_loss: np.ndarray) -> int:
    """The first record where 90% of the log loss's fall (from the first record to
    the median of the last third of records) is done."""
    finite = np.isfinite(log_loss)
    if not finite.any():
        return 0
    n = len(log_loss)
    end = float(np.nanmedian(log_loss[2 * n // 3 :]))
    start = float(log_loss[np.flatnonzero(finite)[0]])
    mark = end + 0.1 * (start - end)
    below = np.flatnonzero(finite & (log_loss <= mark))
    return int(below[0]) if below.size else 0


def window(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    inside = (steps >= lo) & (steps <= hi) & np.isfinite(values)
    return float(np.median(values[inside])) if inside.any() else float("nan")


def late(steps: np.ndarray, values: np.ndarray) -> float:
    """Median over the last :data:`LATE` of the run's steps."""
    return window(steps, values, steps[-1] * (1 - LATE), steps[-1])


def after(steps: np.ndarray, values: np.ndarray, step: float) -> float:
    """Median over the decade of steps after ``step`` (at least its own record)."""
    return window(steps, values, step, max(10 * step, step + 1))


def result(
    cid: str, figure: str, claim: str, paper: str, test: str, decision: v.Decision
) -> ClaimResult:
    return ClaimResult(
        cid, figure, claim, paper, decision.measured, test, decision.verdict, decision.why
    )


def no_results(cid: str, figure: str, claim: str, paper: str, test: str, what: str) -> ClaimResult:
    return ClaimResult(cid, figure, claim, paper, "-", test, UNTESTABLE, f"no finished {what}")


def sweep_summary(sweep_dir: Path) -> Any:
    from driftlab.sweep import store

    if not (sweep_dir / store.PLAN).is_file():
        return None
    import pandas as pd

    from driftlab.sweep.summary import current_summary

    return pd.read_parquet(current_summary(sweep_dir))
